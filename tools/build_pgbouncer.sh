#!/usr/bin/env bash
# Builds a PgBouncer >= 1.21 (max_prepared_statements) from Debian trixie's *source* package, against bookworm's
# libraries, into a cache directory; prints the binary's path on the last line of stdout. Idempotent: a cached
# binary that is new enough is reused without network access.
#
# Debian 12's pgbouncer (1.18) cannot carry protocol-level prepared statements in transaction mode. Nothing here
# touches the system's apt configuration or installs anything from trixie: apt reads a deb-src-only list kept in the
# cache directory (own lists dir, no binary `deb` line, so no package can be upgraded from it), downloads the source
# (hashes checked against trixie's signed Release), and the upstream tarball inside it (.orig.tar.gz, which ships
# the built man pages: no pandoc) is compiled with bookworm's gcc, libevent, OpenSSL and c-ares.
#
#     PGBOUNCER_PREFIX   install prefix (default /var/cache/todo-api/pgbouncer); the binary is $PGBOUNCER_PREFIX/bin/pgbouncer
#     PGBOUNCER_SUITE    the Debian suite to take the source from (default trixie)
set -euo pipefail

PREFIX="${PGBOUNCER_PREFIX:-/var/cache/todo-api/pgbouncer}"
SUITE="${PGBOUNCER_SUITE:-trixie}"
MIN_MINOR=21
BIN="$PREFIX/bin/pgbouncer"

new_enough() {
    [ -x "$1" ] || return 1
    local version
    version="$("$1" --version 2>/dev/null | sed -n 's/^PgBouncer \([0-9]*\)\.\([0-9]*\).*/\1 \2/p' | head -n1)"
    [ -n "$version" ] || return 1
    local major minor
    read -r major minor <<<"$version"
    [ "$major" -gt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -ge "$MIN_MINOR" ]; }
}

if new_enough "$BIN"; then
    echo "$BIN"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "no PgBouncer >= 1.$MIN_MINOR at $BIN and this is not root (apt-get is needed): run this script as root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# One build at a time (parallel CI steps, xdist workers); the second waits, then finds the first one's binary.
mkdir -p "$(dirname "$PREFIX")"
exec 9>"$PREFIX.lock"
flock 9
if new_enough "$BIN"; then
    echo "$BIN"
    exit 0
fi

# Build dependencies, from bookworm only (the system's own sources).
missing=()
for pkg in gcc make pkg-config libevent-dev libssl-dev libc-ares-dev xz-utils; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "build_pgbouncer: installing ${missing[*]} from the system's (bookworm) sources" >&2
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A private apt state for the source index: the system's sources.list(.d), lists and caches stay as they are.
APT_DIR="$PREFIX.apt"
SRC_DIR="$PREFIX.src"
mkdir -p "$APT_DIR/lists/partial" "$SRC_DIR"
cat >"$APT_DIR/sources.list" <<EOF
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main
EOF
apt_src=(
    -o "Dir::Etc::SourceList=$APT_DIR/sources.list"
    -o "Dir::Etc::SourceParts=-"
    -o "Dir::State::Lists=$APT_DIR/lists"
    -o "Dir::Cache::pkgcache="
    -o "Dir::Cache::srcpkgcache="
    -o "APT::Sandbox::User=root"
    -o "Acquire::Languages=none"
)
echo "build_pgbouncer: fetching the pgbouncer source index of Debian $SUITE (deb-src only)" >&2
apt-get "${apt_src[@]}" update -qq
rm -rf "$SRC_DIR" && mkdir -p "$SRC_DIR"
(cd "$SRC_DIR" && apt-get "${apt_src[@]}" source --download-only -qq pgbouncer >&2)
orig="$(find "$SRC_DIR" -maxdepth 1 -name 'pgbouncer_*.orig.tar.*' | head -n1)"
echo "build_pgbouncer: building $(basename "$orig")" >&2
tar -xf "$orig" -C "$SRC_DIR"
tree="$(find "$SRC_DIR" -mindepth 1 -maxdepth 1 -type d -name 'pgbouncer-*' | head -n1)"

(
    cd "$tree"
    ./configure --quiet --prefix="$PREFIX" --with-cares --without-systemd --without-pam >&2
    make -j"$(nproc)" >&2
    make install >&2
)
new_enough "$BIN" || { echo "build_pgbouncer: $BIN was built but is not PgBouncer >= 1.$MIN_MINOR" >&2; exit 1; }
# Only the binary is kept: the source and trixie's source index (~20 MB) are fetched again if it is ever rebuilt.
rm -rf "$SRC_DIR" "$APT_DIR"
echo "$BIN"
