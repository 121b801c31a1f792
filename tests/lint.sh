#!/usr/bin/env bash
# Static analysis of src/ with clang-tidy and the checks of .clang-tidy (which
# says why each one left out is left out). One result per file: a file passes
# when every finding in it is fixed or listed in tests/lint-suppressions.txt
# (file, check, the code on the reported line, and why it is not a bug). An entry
# matches by check and code, in whatever file the code has moved to; one that
# matches nothing any more is reported (delete it). Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
TIDY=${CLANG_TIDY:-clang-tidy}
if ! command -v "$TIDY" >/dev/null; then
    echo "FAIL $TIDY not found (make deps installs clang-tidy)"
    echo "0 passed, 1 failed"
    exit 1
fi
out=$(mktemp -d /tmp/gnatsd-lint.XXXXXX)
trap 'rm -rf "$out"' EXIT
export TIDY out
# the language flags of the normal build (Makefile CFLAGS_BASE); files given as
# arguments limit the run to them
if [ $# -gt 0 ]; then printf '%s\n' "$@"; else ls src/*/*.c; fi | xargs -P "$JOBS" -I{} sh -c \
    '"$TIDY" --quiet "{}" -- -std=gnu11 -D_GNU_SOURCE -pthread -Isrc \
        >"$out/$(echo "{}" | tr / _).log" 2>&1; echo "{} $?" >>"$out/status"'
python3 - "$out" <<'PY'
import os, re, sys
out = sys.argv[1]
sup = []
for ln in open("tests/lint-suppressions.txt"):
    if ln.strip() and not ln.startswith("#"):
        f, check, code, why = [x.strip() for x in ln.split("|", 3)]
        sup.append([f, check, code, why, 0])
diag = re.compile(r"^(/\S+|src/\S+):(\d+):\d+: (?:warning|error): .*\[([\w.-]+)(?:,[^\]]*)?\]$")
status = dict(l.rsplit(" ", 1) for l in open(os.path.join(out, "status")).read().split("\n") if l)
npass = nfail = 0
for f in sorted(status):
    text = open(os.path.join(out, f.replace("/", "_") + ".log"), errors="replace").read()
    lines = text.split("\n")
    left = []
    for i, l in enumerate(lines):
        m = diag.match(l)
        if not m:
            continue
        path = os.path.relpath(m.group(1)) if m.group(1).startswith("/") else m.group(1)
        src = open(path, errors="replace").read().split("\n")[int(m.group(2)) - 1].strip()
        hit = [s for s in sup if s[1] == m.group(3) and s[2] in src]
        if hit:
            hit[0][4] += 1
            continue
        left.append("\n".join(lines[i:i + 1] + [x for x in lines[i + 1:i + 40] if "note:" in x][:25]))
    other = [l for l in lines if ("error:" in l or "warning:" in l) and not diag.match(l)]
    ok = not left and not other
    if ok:
        npass += 1
        print("ok   lint " + f)
    else:
        nfail += 1
        print("FAIL lint " + f)
        for d in left:
            print("    " + d.replace("\n", "\n    "))
        for l in other:
            print("    " + l)
for s in sup:
    if s[4] == 0:
        print("note: suppression matches nothing any more (delete it): %s | %s | %s" % tuple(s[:3]))
print("%d passed, %d failed" % (npass, nfail))
sys.exit(1 if nfail else 0)
PY
