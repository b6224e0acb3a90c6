#!/usr/bin/env bash
# Installs a Debian package when its binary is missing (CI runs as root on a fresh machine); idempotent.
#   bash tools/apt_install.sh PACKAGE BINARY      e.g. pgbouncer /usr/sbin/pgbouncer, nginx /usr/sbin/nginx
# Not root and missing: says how to install it and exits 0, leaving the verdict to the caller (the tests skip
# locally and fail under CI=true; the pgbouncer harness refuses to start without its binary).
set -euo pipefail
package="$1"
binary="$2"
if [ -x "$binary" ] || command -v "$(basename "$binary")" >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "$package is missing and this is not root: install it with 'apt-get install -y $package'" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$package" >/dev/null
# Packages like these enable a system service on a default port; the tests run their own instances instead.
if command -v service >/dev/null 2>&1; then service "$package" stop >/dev/null 2>&1 || true; fi
