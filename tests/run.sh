#!/usr/bin/env bash
# Runs every test: the normal build, then the same tests under
# AddressSanitizer + UndefinedBehaviorSanitizer, the threaded unit tests
# under ThreadSanitizer, and a short libFuzzer run per parser. Each stage
# prints "N passed, N failed"; this script sums them and ends with the total.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
total_pass=0
total_fail=0
failed_stages=()

# tally STAGE LOGFILE RC: adds the last "N passed, N failed" line of a stage.
tally() {
    local stage=$1 log=$2 rc=$3 line p f
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        p=0
        f=1
        echo "!! $stage: no result line (exit $rc)"
        tail -n 30 "$log"
    else
        p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            f=1
            echo "!! $stage: exit status $rc although no test failed"
        fi
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    [ "$f" -eq 0 ] || failed_stages+=("$stage")
    echo "== $stage: $p passed, $f failed"
}

run_stage() {
    local stage=$1
    shift
    local log
    log=$(mktemp /tmp/gnatsd-test.XXXXXX)
    echo "== $stage"
    "$@" >"$log" 2>&1
    local rc=$?
    # failures with their context (traceback, server log tail) so a CI log explains itself
    grep -E -A 30 '^(FAIL|!!)' "$log" | head -n 300
    tally "$stage" "$log" "$rc"
    rm -f "$log"
}

# unit BUILD [NAMES]: runs the unit test binaries of a build tree (all, or the named ones).
unit_tests() {
    local dir=$1 only=${2:-} p=0 f=0 t line
    for t in "$dir"/unit/test_*; do
        [ -x "$t" ] || continue
        case "$t" in *.log | *.d) continue ;; esac
        if [ -n "$only" ] && [[ " $only " != *" $(basename "$t") "* ]]; then continue; fi
        echo "-- $(basename "$t")"
        "$t" >"$t.log" 2>&1
        local rc=$?
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$t.log" | tail -n 1)
        if [ -z "$line" ] || [ $rc -ne 0 ]; then
            grep -E '^FAIL|CHECK|ERROR|Sanitizer' "$t.log" | head -n 20 | sed 's/^/FAIL /'
        fi
        if [ -z "$line" ]; then
            f=$((f + 1))
            echo "FAIL $(basename "$t") (exit $rc, no result line)"
            tail -n 20 "$t.log"
            continue
        fi
        p=$((p + $(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')))
        local nf
        nf=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
        [ $rc -ne 0 ] && [ "$nf" -eq 0 ] && nf=1
        f=$((f + nf))
    done
    echo "$p passed, $f failed"
}

integration_tests() {
    local build=$1
    # the libnats client programs are ordinary clients: the normal build's serve every stage
    GNATSD_BIN="$PWD/$build/gnatsd" LIBNATS_TEST_BIN="$PWD/build/itest/libnats_test" \
        python3 tests/integration/run.py
}

fuzz_tests() {
    local p=0 f=0 h
    mkdir -p build/fuzz
    for h in build/fuzz/fuzz_*; do
        [ -x "$h" ] || continue
        local name corpus work
        name=$(basename "$h" | sed 's/^fuzz_//')
        corpus=tests/fuzz/corpus/$name
        work=$(mktemp -d /tmp/gnatsd-fuzz.XXXXXX)
        [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
        local dict=()
        [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
        if "$h" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 "${dict[@]}" "$work" \
            >"$work.log" 2>&1; then
            p=$((p + 1))
            echo "ok   fuzz $name"
        else
            f=$((f + 1))
            echo "FAIL fuzz $name"
            tail -n 30 "$work.log"
        fi
        rm -rf "$work" "$work.log"
    done
    echo "$p passed, $f failed"
}

echo "== build (normal)"
if ! make -j"$JOBS" all unit itest man >/tmp/gnatsd-build.log 2>&1; then
    cat /tmp/gnatsd-build.log | tail -n 40
    echo "0 passed, 1 failed"
    exit 1
fi
run_stage "unit" unit_tests build
run_stage "integration" integration_tests build

echo "== build (asan+ubsan)"
if make -j"$JOBS" asan >/tmp/gnatsd-build-asan.log 2>&1; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    run_stage "unit (asan+ubsan)" unit_tests build/asan
    run_stage "integration (asan+ubsan)" integration_tests build/asan
    unset ASAN_OPTIONS UBSAN_OPTIONS
else
    tail -n 40 /tmp/gnatsd-build-asan.log
    total_fail=$((total_fail + 1))
    failed_stages+=("asan build")
fi

echo "== build (tsan)"
if make -j"$JOBS" tsan >/tmp/gnatsd-build-tsan.log 2>&1; then
    export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
    # ThreadSanitizer is for the threaded parts: the unit tests that run threads
    # (sublist + qsbr, the logger, the buffer pool) and the whole server under the
    # integration suite.
    run_stage "unit (tsan)" unit_tests build/tsan "test_sublist test_qsbr test_log test_bufpool"
    run_stage "integration (tsan)" integration_tests build/tsan
    unset TSAN_OPTIONS
else
    tail -n 40 /tmp/gnatsd-build-tsan.log
    total_fail=$((total_fail + 1))
    failed_stages+=("tsan build")
fi

echo "== build (fuzz)"
if make -j"$JOBS" fuzz >/tmp/gnatsd-build-fuzz.log 2>&1; then
    run_stage "fuzz (${FUZZ_SECONDS}s each)" fuzz_tests
else
    tail -n 40 /tmp/gnatsd-build-fuzz.log
    total_fail=$((total_fail + 1))
    failed_stages+=("fuzz build")
fi

# The tree stays as .clang-format wants it (`make format` fixes it): one check.
format_check() {
    local bad=() file
    for file in src/*/*.[ch] tests/unit/*.[ch] tests/fuzz/*.c tests/integration/*.[ch] tools/*.[ch] \
        bench/*.[ch]; do
        clang-format --dry-run --Werror "$file" >/dev/null 2>&1 || bad+=("$file")
    done
    if [ ${#bad[@]} -eq 0 ]; then
        echo "1 passed, 0 failed"
    else
        echo "FAIL not clang-formatted (make format): ${bad[*]}"
        echo "0 passed, 1 failed"
    fi
}
if command -v clang-format >/dev/null; then
    run_stage "format" format_check
else
    echo "== format: skipped (no clang-format)"
fi

# Static analysis: clang-tidy with .clang-tidy over src/ (tests/lint.sh; findings that
# are not bugs are listed with the reason in tests/lint-suppressions.txt).
if command -v clang-tidy >/dev/null; then
    run_stage "lint (clang-tidy)" env JOBS="$JOBS" tests/lint.sh
else
    echo "== lint: skipped (no clang-tidy)"
fi

# The Windows build under wine (tests/wine.sh): the platform seams' unit tests, a
# subset of the integration suite against build/win64/gnatsd.exe, and the service
# scenario under wine's SCM. make win-deps installs wine and mingw-w64 (as root) and
# cross-builds OpenSSL and libxcrypt once per machine (~5 min); where that cannot be
# had, nothing of it runs and nothing is counted.
if make -s win-deps >/tmp/gnatsd-win-deps.log 2>&1 && command -v wine >/dev/null; then
    run_stage "windows unit (wine)" env JOBS="$JOBS" tests/wine.sh unit
    run_stage "windows integration (wine)" env JOBS="$JOBS" tests/wine.sh integration
    run_stage "windows service (wine)" env JOBS="$JOBS" tests/wine.sh service
else
    echo "== windows (wine): skipped ($(tail -n 1 /tmp/gnatsd-win-deps.log); make win-deps installs wine and mingw-w64 as root)"
fi

# Layers point one way and modules include no circle (tools/layers.py).
layers_check() {
    if python3 tools/layers.py src; then
        echo "1 passed, 0 failed"
    else
        echo "FAIL layer check (tools/layers.py)"
        echo "0 passed, 1 failed"
    fi
}
run_stage "layers" layers_check

# The release artifacts (`make dist`: static x86-64 and aarch64 builds, archives,
# SHA256SUMS, the image's build context) and their smoke tests: the aarch64 server
# under qemu-user, the image's root filesystem in a chroot (tests/dist_smoke.py).
# It costs the aarch64 compile of the tree (~35 s on 2 cores from nothing, only the
# changed files after that; the x86-64 one relinks the normal build's objects) and
# 5-15 s of checks. Skipped, with the reason, where the cross tools cannot be had.
if make -s dist-deps win-deps >/tmp/gnatsd-dist-deps.log 2>&1 && command -v aarch64-linux-gnu-gcc >/dev/null; then
    run_stage "dist" env JOBS="$JOBS" python3 tests/dist_smoke.py
else
    echo "== dist: skipped ($(tail -n 1 /tmp/gnatsd-dist-deps.log); make dist-deps win-deps install them as root)"
fi

if [ ${#failed_stages[@]} -gt 0 ]; then
    echo "failed stages: ${failed_stages[*]}"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
