#!/usr/bin/env bash
# cross-deps.sh TARGET: OpenSSL and libxcrypt for a target Debian ships no build of,
# cross-built from Debian's own source packages (apt-get source: the upstream tarball
# with Debian's patches), installed as static libraries into
#   ${GNATSD_DEPS_DIR:-$HOME/.cache/gnatsd-c/deps}/TARGET/{include,lib}
# and printed on stdout. A cache outside the tree: a clean clone (CI, each worktree)
# builds them once per machine, not once per checkout (OpenSSL takes minutes on 2
# cores). zlib needs no build: Debian ships libz-mingw-w64-dev.
#
# TARGET: mingw64 (x86_64-w64-mingw32). aarch64 needs nothing from here: Debian's
# multiarch packages (libssl-dev:arm64 ...) carry static libraries.
#
# Why these, not Windows' own TLS and password hashing: the server's TLS code and its
# bcrypt are the same code on every OS (docs/internals.md "Build").
set -euo pipefail

target=${1:?usage: cross-deps.sh mingw64}
case "$target" in
mingw64) host=x86_64-w64-mingw32 ossl_target=mingw64 ;;
*) echo "cross-deps.sh: unknown target $target" >&2; exit 2 ;;
esac

root=${GNATSD_DEPS_DIR:-${HOME:-/root}/.cache/gnatsd-c/deps}
prefix="$root/$target"
mkdir -p "$root"
exec 9>"$root/.$target.lock"
flock 9 # two builds at once (parallel CI stages, worktrees) share one result

stamp="$prefix/.complete"
# libxcrypt's bcrypt variants: "bcrypt" alone is $2b$ only; the server verifies the $2a$
# hashes Go's bcrypt and mkpasswd make, and $2x$/$2y$ ones from other tools (measured:
# with "bcrypt" alone, crypt_rn failed with EINVAL for every $2a$ hash under wine).
xcrypt_hashes=bcrypt,bcrypt_a,bcrypt_x,bcrypt_y
xstamp="$prefix/.xcrypt-$xcrypt_hashes"
if [ -f "$stamp" ] && [ -f "$xstamp" ]; then echo "$prefix"; exit 0; fi

log() { echo "cross-deps: $*" >&2; }

# Build tools and the cross compiler (apt-get when root, as the Makefile's deps step).
"$(dirname "$0")/debs.sh" gcc-mingw-w64-x86-64 libz-mingw-w64-dev dpkg-dev autoconf automake libtool \
    pkg-config perl make >&2

# Source packages need a deb-src line for the archive the machine already uses.
if ! apt-cache showsrc openssl 2>/dev/null | grep '^Version:' >/dev/null; then # not -q: pipefail + SIGPIPE
    if [ "$(id -u)" != 0 ]; then log "no deb-src entry for Debian's archive; add one (as root) and retry"; exit 1; fi
    src=/etc/apt/sources.list.d/gnatsd-c-src.sources
    log "adding $src (deb-src for Debian's archive)"
    cat >"$src" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt-get update -qq >&2 || true
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/gnatsd-cross-deps.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Fetches and unpacks source package $1 into $work/$1, trying its versions newest
# first: a mirror may list a version whose files it no longer holds.
fetch() {
    local pkg=$1 v
    for v in $(apt-cache showsrc "$pkg" | awk '/^Version:/ {print $2}' | sort -rV | uniq); do
        rm -rf "$work/dl" && mkdir -p "$work/dl"
        if (cd "$work/dl" && apt-get source -qq --download-only "$pkg=$v" >/dev/null 2>&1); then
            (cd "$work/dl" && dpkg-source -x ./*.dsc "$work/$pkg" >/dev/null)
            log "$pkg $v"
            echo "$v" >"$work/$pkg.version"
            return 0
        fi
        log "$pkg $v: not fetchable, trying an older version"
    done
    log "$pkg: no version of the source package could be fetched"
    return 1
}

jobs=$(nproc 2>/dev/null || echo 2)

# libxcrypt into prefix $1
build_xcrypt() {
    fetch libxcrypt
    (
        cd "$work/libxcrypt"
        ./autogen.sh >"$work/xcrypt.log" 2>&1
        mkdir b && cd b
        # bcrypt only: salts come from the caller (base/bcrypt.c), so libxcrypt's
        # /dev/urandom fallback is never used.
        ../configure --host="$host" --disable-shared --enable-static \
            --enable-hashes="$xcrypt_hashes" --enable-obsolete-api=no \
            --disable-xcrypt-compat-files --disable-werror --prefix="$1" >>"$work/xcrypt.log" 2>&1
        make -j"$jobs" >>"$work/xcrypt.log" 2>&1 || { tail -30 "$work/xcrypt.log" >&2; exit 1; }
        make install >>"$work/xcrypt.log" 2>&1
    )
}

if [ -f "$stamp" ]; then
    # OpenSSL is there; libxcrypt was built with other hashes: it alone again, swapped in
    # with a rename so a build linking meanwhile sees the old or the new library.
    log "rebuilding libxcrypt with $xcrypt_hashes"
    build_xcrypt "$work/xc"
    cp "$work/xc/lib/libcrypt.a" "$prefix/lib/libcrypt.a.new"
    mv "$prefix/lib/libcrypt.a.new" "$prefix/lib/libcrypt.a"
    cp "$work/xc/include/crypt.h" "$prefix/include/crypt.h"
    sed -i "s/^libxcrypt .*/libxcrypt $(cat "$work/libxcrypt.version")/" "$prefix/VERSIONS"
    touch "$xstamp"
    echo "$prefix"
    exit 0
fi

rm -rf "$prefix"
mkdir -p "$prefix"

fetch openssl
(
    cd "$work/openssl"
    # Static libraries only; no engines, legacy provider or DSO loading: the server
    # uses TLS and the default provider, and a static .exe must not look for modules.
    ./Configure "$ossl_target" --cross-compile-prefix="$host-" no-shared no-tests no-dso \
        no-engine no-legacy no-module --prefix="$prefix" --libdir=lib >&2
    make -j"$jobs" build_libs >"$work/openssl.log" 2>&1 || { tail -30 "$work/openssl.log" >&2; exit 1; }
    make install_dev >>"$work/openssl.log" 2>&1
)

build_xcrypt "$prefix"

{
    echo "openssl $(cat "$work/openssl.version")"
    echo "libxcrypt $(cat "$work/libxcrypt.version")"
} >"$prefix/VERSIONS"
touch "$stamp" "$xstamp"
echo "$prefix"
