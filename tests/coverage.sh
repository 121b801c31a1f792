#!/usr/bin/env bash
# Line coverage of src/ by the tests `make test` runs: the unit tests, the
# integration suite and the fuzz corpora (each input replayed once through its
# harness), all against the gcov-instrumented tree in build/cov (`make coverage`
# builds it). Counters are written when a process exits normally: the servers the
# integration suite stops with SIGTERM exit through main and write theirs; one it
# has to SIGKILL (or a SIGQUIT test) loses its own counts only.
# Prints the per-file table, lowest first, then "coverage: src/ lines NN.N%".
set -uo pipefail
cd "$(dirname "$0")/.."
COV=${COV:-build/cov}
JOBS=${JOBS:-2}

find "$COV" -name '*.gcda' -delete

echo "== unit ($COV)"
for t in "$COV"/unit/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.log | *.d | *.gcno | *.gcda) continue ;; esac
    printf '%-16s %s\n' "$(basename "$t")" "$("$t" 2>&1 | tail -n 1)"
done

echo "== integration ($COV/gnatsd)"
GNATSD_BIN="$PWD/$COV/gnatsd" LIBNATS_TEST_BIN="$PWD/build/itest/libnats_test" \
    python3 tests/integration/run.py -j "$JOBS" >"$COV/integration.log" 2>&1
grep -E '^FAIL' "$COV/integration.log" | head -n 20
tail -n 1 "$COV/integration.log"

echo "== fuzz corpora"
for h in "$COV"/replay/fuzz_*; do
    [ -x "$h" ] || continue
    case "$h" in *.gcno | *.gcda | *.d) continue ;; esac
    name=$(basename "$h" | sed 's/^fuzz_//')
    printf '%-10s %s\n' "$name" "$("$h" "tests/fuzz/corpus/$name" 2>/dev/null | tail -n 1)"
done

echo "== line coverage of src/ (gcovr)"
summary=$(mktemp /tmp/gnatsd-cov.XXXXXX)
gcovr --root . --filter 'src/' --object-directory "$COV" -j "$JOBS" \
    --gcov-ignore-parse-errors --txt - --print-summary "$COV" >"$summary" 2>&1
# the per-file rows, lowest coverage first, then the total
printf '%-44s %7s %7s %6s\n' File Lines Exec Cover
grep -E '^src/' "$summary" | sort -k4,4n -k1,1 | awk '{printf "%-44s %7s %7s %6s\n", $1, $2, $3, $4}'
grep -E '^TOTAL' "$summary" | awk '{printf "%-44s %7s %7s %6s\n", $1, $2, $3, $4}'
pct=$(grep -E '^lines:' "$summary" | sed -E 's/^lines: ([0-9.]+)%.*/\1/')
rm -f "$summary"
echo "coverage: src/ lines ${pct:-?}%"
[ -n "$pct" ]
