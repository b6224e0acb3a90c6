#!/usr/bin/env bash
# Installs Debian's pgbouncer when it is missing (CI runs as root on a fresh machine); idempotent.
set -euo pipefail
if command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "pgbouncer is missing and this is not root: install it with 'apt-get install -y pgbouncer'" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null
# The package enables a system service on the default port; the tests run their own instance instead.
if command -v service >/dev/null 2>&1; then service pgbouncer stop >/dev/null 2>&1 || true; fi
