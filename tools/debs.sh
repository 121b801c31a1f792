#!/bin/sh
# debs.sh [--foreign ARCH] PKG...: makes sure Debian packages are installed. The
# missing ones are installed with apt-get when run as root; otherwise they are named
# and the exit status is 1. --foreign ARCH adds that dpkg architecture first (for
# PKG:ARCH names, e.g. libssl-dev:arm64). The one check the Makefile's deps steps and
# tools/cross-deps.sh share.
#
# A name without an architecture means the machine's own: once libssl-dev:arm64 is
# installed, `dpkg -s libssl-dev` fails as ambiguous, so each name is asked as
# NAME:NATIVE first, then as NAME alone (packages of architecture "all" answer only so).
set -eu
foreign=""
if [ "${1:-}" = --foreign ]; then
    foreign=$2
    shift 2
fi
native=$(dpkg --print-architecture)

installed() {
    case "$1" in
    *:*) set -- "$1" ;;
    *) set -- "$1:$native" "$1" ;;
    esac
    for q in "$@"; do
        s=$(dpkg-query -W -f='${db:Status-Status}\n' "$q" 2>/dev/null) || continue
        [ "$s" = installed ] && return 0
    done
    return 1
}

missing=""
for p in "$@"; do installed "$p" || missing="$missing $p"; done
[ -n "$missing" ] || exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing packages:$missing (run as root or install them)" >&2
    exit 1
fi
echo "installing:$missing" >&2
if [ -n "$foreign" ] && ! dpkg --print-foreign-architectures | grep -qx "$foreign"; then
    dpkg --add-architecture "$foreign"
fi
(apt-get update -qq || true) >&2
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
