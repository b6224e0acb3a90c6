#!/usr/bin/env bash
# Installs Debian's nginx when it is missing (CI runs as root on a fresh machine); idempotent. Not root and missing:
# says how to install it and leaves the decision to tests/cache (skipped locally, failed under CI=true).
set -euo pipefail
if [ -x /usr/sbin/nginx ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "nginx is missing and this is not root: install it with 'apt-get install -y nginx-light' (or nginx)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nginx >/dev/null
# The package enables a system service on port 80; the tests run their own instance on a free loopback port.
if command -v service >/dev/null 2>&1; then service nginx stop >/dev/null 2>&1 || true; fi
