#!/usr/bin/env bash
# make fuzz-long: runs every libFuzzer harness (build/fuzz/fuzz_<name>, built from
# tests/fuzz/fuzz_<name>.c by `make fuzz`) for FUZZ_LONG_SECONDS each (default 600),
# one after another (the machine has few cores), then merges what it found into the
# committed corpus.
#
# Per harness: the seeds are tests/fuzz/corpus/<name>/ (created if missing), the
# dictionary tests/fuzz/<name>.dict if there is one. New inputs go to a scratch
# directory; afterwards `-set_cover_merge=1` copies into the corpus a smallest set of
# those that add coverage, and when the corpus passes FUZZ_CORPUS_MAX files (default
# 300) the fuzzer's own inputs in it are minimized again to the edges they cover, so
# the committed corpus stays small (hand-written seeds, any name but a SHA-1, stay).
#
# A crash, leak, timeout (FUZZ_TIMEOUT seconds per input, default 60) or memory
# blow-up (FUZZ_RSS_MB, default 2048) stops the run with status 1 and prints the
# input that did it (kept under build/fuzz/artifacts/<name>/).
# FUZZ_HARNESSES="conf parser" limits the run to those harnesses.
set -uo pipefail
cd "$(dirname "$0")/../.."

SECONDS_EACH=${FUZZ_LONG_SECONDS:-600}
PER_INPUT=${FUZZ_TIMEOUT:-60}
RSS_MB=${FUZZ_RSS_MB:-2048}
CORPUS_MAX=${FUZZ_CORPUS_MAX:-300}
ONLY=${FUZZ_HARNESSES:-}

count() { find "$1" -maxdepth 1 -type f | wc -l; }

# minimize BIN CORPUS: the smallest set of the fuzzer's own inputs (named by their
# SHA-1) that keeps the corpus's edge coverage, next to every hand-written seed, kept as is.
minimize() {
    local bin=$1 corpus=$2 min found f
    min=$(mktemp -d /tmp/gnatsd-fuzz-min.XXXXXX)
    found=$(mktemp -d /tmp/gnatsd-fuzz-found.XXXXXX)
    for f in "$corpus"/*; do
        [ -f "$f" ] || continue
        if [[ $(basename "$f") =~ ^[0-9a-f]{40}$ ]]; then cp "$f" "$found"/; else cp "$f" "$min"/; fi
    done
    # -use_counters=0: keep every edge, not every hit-count bucket of it (far fewer files)
    if "$bin" -set_cover_merge=1 -use_counters=0 -timeout="$PER_INPUT" -rss_limit_mb="$RSS_MB" \
        "$min" "$found"; then
        find "$corpus" -maxdepth 1 -type f -delete
        cp "$min"/* "$corpus"/
    fi
    rm -rf "$min" "$found"
}

ran=0
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    name=${name#fuzz_}
    if [ -n "$ONLY" ] && [[ " $ONLY " != *" $name "* ]]; then continue; fi
    bin=build/fuzz/fuzz_$name
    if [ ! -x "$bin" ]; then
        echo "fuzz-long: $bin missing (run make fuzz)" >&2
        exit 2
    fi
    corpus=tests/fuzz/corpus/$name
    arts=build/fuzz/artifacts/$name
    work=$(mktemp -d "/tmp/gnatsd-fuzz-$name.XXXXXX")
    log=build/fuzz/long-$name.log
    mkdir -p "$corpus" "$arts"
    dict=()
    [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
    before=$(count "$corpus")
    echo "== fuzz $name: ${SECONDS_EACH}s, corpus $corpus ($before files), log $log"
    "$bin" -max_total_time="$SECONDS_EACH" -timeout="$PER_INPUT" -rss_limit_mb="$RSS_MB" \
        -artifact_prefix="$arts/" -print_final_stats=1 "${dict[@]}" "$work" "$corpus" \
        >"$log" 2>&1
    rc=$?
    # Keep what the run learned even when it ended in a finding: the corpus
    # gets only the inputs that add coverage (crashing ones are skipped).
    if [ "$(count "$work")" -gt 0 ]; then
        "$bin" -set_cover_merge=1 -timeout="$PER_INPUT" -rss_limit_mb="$RSS_MB" "${dict[@]}" \
            "$corpus" "$work" >>"$log" 2>&1
    fi
    if [ "$(count "$corpus")" -gt "$CORPUS_MAX" ]; then
        minimize "$bin" "$corpus" >>"$log" 2>&1
    fi
    rm -rf "$work"
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units)' "$log" | tail -n 1
    echo "   corpus $corpus: $before -> $(count "$corpus") files"
    if [ $rc -ne 0 ]; then
        echo "!! fuzz $name found something (exit $rc); log $log"
        grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' "$log" |
            head -n 5
        grep -E 'Test unit written to|written to' "$log" | head -n 3
        exit 1
    fi
    ran=$((ran + 1))
done
if [ $ran -eq 0 ]; then
    echo "fuzz-long: no harness ran" >&2
    exit 2
fi
echo "fuzz-long: $ran harnesses, ${SECONDS_EACH}s each, no finding"
