#!/bin/sh
# dist.sh OUT AMD64 ARM64 [WIN64]: packs the release artifacts of `make dist` into
# OUT (emptied first) from the static binaries in the folders AMD64 and ARM64
# (gnatsd, nats-server, mkpasswd) and, when given, WIN64 (gnatsd.exe, mkpasswd.exe).
#
#   gnatsd-c-VERSION-linux-amd64.tar.gz   gnatsd, nats-server (the same file under the
#   gnatsd-c-VERSION-linux-arm64.tar.gz   reference's name), mkpasswd, README.md,
#   gnatsd-c-VERSION-windows-amd64.zip    docs/, gnatsd.conf (a starting config)
#   gnatsd-c-VERSION-src.tar.gz           `git archive` of HEAD, VERSION stamped
#   SHA256SUMS                            `sha256sum -c SHA256SUMS` checks them
#                                         (the Linux archives also hold man/ when
#                                         MAN names make man's folder; the .exe
#                                         files are stripped of their debug info)
#   image/                                the container image's build context
#                                         (docker/Dockerfile says how to build it)
#
# VERSION is tools/version.sh's. Archive members carry the commit's time and root
# ownership, and gzip no name or time, so the same commit packs to the same bytes.
set -eu
out=$1 amd64=$2 arm64=$3 win=${4:-}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for f in "$amd64/gnatsd" "$amd64/mkpasswd" "$arm64/gnatsd" "$arm64/mkpasswd"; do
    [ -x "$f" ] || { echo "dist: $f is missing" >&2; exit 1; }
done
if [ -n "$win" ]; then
    for f in "$win/gnatsd.exe" "$win/mkpasswd.exe"; do
        [ -f "$f" ] || { echo "dist: $f is missing (the win64 target must build both)" >&2; exit 1; }
    done
fi

version=$(tools/version.sh | sed -n 1p)
commit=$(tools/version.sh | sed -n 2p)
if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct HEAD)
else
    SOURCE_DATE_EPOCH=$(stat -c %Y VERSION)
fi
name=gnatsd-c-$version
stage=$(mktemp -d /tmp/gnatsd-dist.XXXXXX)
trap 'rm -rf "$stage"' EXIT
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)

tgz() { # tgz ARCHIVE DIR: DIR (relative to $stage) packed reproducibly
    tar -C "$stage" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
        -cf - "$2" | gzip -9n >"$1"
}

docs() { # docs DIR: what every binary archive holds beside the programs
    mkdir -p "$1/docs"
    cp README.md "$1/"
    cp docs/config.md docs/monitoring.md docs/security.md "$1/docs/"
    cp docs/gnatsd.conf "$1/gnatsd.conf"
}

for arch in amd64 arm64; do
    if [ $arch = amd64 ]; then bin=$amd64; else bin=$arm64; fi
    d=$stage/$name-linux-$arch
    mkdir -p "$d"
    cp "$bin/gnatsd" "$bin/mkpasswd" "$d/"
    if [ -n "${MAN:-}" ]; then
        mkdir -p "$d/man"
        cp "$MAN/gnatsd.8" "$MAN/gnatsd-mkpasswd.1" "$d/man/"
    fi
    ln "$d/gnatsd" "$d/nats-server"
    docs "$d"
    tgz "$out/$name-linux-$arch.tar.gz" "$name-linux-$arch"
done

if [ -n "$win" ]; then
    d=$stage/$name-windows-amd64
    mkdir -p "$d"
    cp "$win/gnatsd.exe" "$win/mkpasswd.exe" "$d/"
    # the build keeps its debug info for the tests' backtraces; the release does not.
    # strip rewrites the PE header's time stamp: SOURCE_DATE_EPOCH makes it the commit's
    SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH ${WIN_STRIP:-x86_64-w64-mingw32-strip} \
        "$d/gnatsd.exe" "$d/mkpasswd.exe"
    cp "$d/gnatsd.exe" "$d/nats-server.exe"
    docs "$d"
    find "$d" -exec touch -d "@$SOURCE_DATE_EPOCH" {} +
    (cd "$stage" && find "$name-windows-amd64" | sort | python3 -c '
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for p in sys.stdin.read().split():
        z.write(p)
' "$out/$name-windows-amd64.zip")
fi

# the sources as committed, with VERSION saying what they are: a build from the
# tarball has no git to ask (tools/version.sh)
if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
    git archive --format=tar --prefix="$name/" HEAD | tar -C "$stage" -xf -
    printf '%s\n%s\n' "${version%-dirty}" "$commit" >"$stage/$name/VERSION"
    tgz "$out/$name-src.tar.gz" "$name"
else
    echo "dist: not a git checkout, no source tarball"
fi

artifacts=$(cd "$out" && ls -- *.tar.gz *.zip 2>/dev/null || true)
(cd "$out" && sha256sum -- $artifacts >SHA256SUMS)

# the image's build context: docker/Dockerfile, its config, a binary per platform
img=$out/image
mkdir -p "$img/linux-amd64" "$img/linux-arm64"
cp docker/Dockerfile docker/nats-server.conf "$img/"
cp "$amd64/gnatsd" "$img/linux-amd64/nats-server"
cp "$arm64/gnatsd" "$img/linux-arm64/nats-server"

echo "dist: $out ($version)"
(cd "$out" && ls -l -- $artifacts SHA256SUMS)
