#!/bin/sh
# version.sh: what gnatsd-c says it is. Prints two lines: the version
# (GNATSD_C_VERSION) and the short git commit (GNATSD_C_GIT, empty when unknown).
#
# In a git checkout of this tree: a tag on the way to HEAD gives
# `git describe --tags --always --dirty` without its leading "v" (v0.2.0 -> 0.2.0,
# 0.2.0-3-g1a2b3c4, ...-dirty); with no tag yet, the VERSION file's first line
# plus "-dev." and the commit (0.1.0-dev.1a2b3c4[-dirty]), so that a build between
# releases never passes for one. Outside a checkout (a source tarball: `git
# archive`, GitHub's download, `make dist`'s -src.tar.gz), VERSION alone:
# line 1 the version, line 2 the commit, which `git archive` fills in from
# "$Format:%h$" (.gitattributes: export-subst).
#
# GNATSD_C_VERSION and GNATSD_C_GIT in the environment, when set, replace what
# this would print (`make GNATSD_C_VERSION=1.2.3-4`: a packager's own numbering).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${GNATSD_C_VERSION:-}" ] || [ -n "${GNATSD_C_GIT:-}" ]; then
    derived=$(GNATSD_C_VERSION='' GNATSD_C_GIT='' "$0")
    echo "${GNATSD_C_VERSION:-$(echo "$derived" | sed -n 1p)}"
    echo "${GNATSD_C_GIT:-$(echo "$derived" | sed -n 2p)}"
    exit 0
fi
base=$(sed -n 1p "$root/VERSION")
stamp=$(sed -n 2p "$root/VERSION")

# only this tree's own repository counts: a tarball unpacked inside some other
# checkout must not take that one's history
top=$(git -C "$root" rev-parse --show-toplevel 2>/dev/null || true)
if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$(cd "$root" && pwd -P)" ]; then
    commit=$(git -C "$root" rev-parse --short=7 HEAD)
    if desc=$(git -C "$root" describe --tags --dirty 2>/dev/null); then
        echo "${desc#v}"
    else
        dirty=$(git -C "$root" describe --always --dirty | sed -n 's/.*\(-dirty\)$/\1/p')
        echo "$base-dev.$commit$dirty"
    fi
    echo "$commit"
    exit 0
fi

echo "$base"
case "$stamp" in
'$Format'*) echo "" ;; # not expanded: copied from a checkout by hand
*) echo "$stamp" ;;
esac
