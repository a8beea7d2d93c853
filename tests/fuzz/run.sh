#!/bin/sh
# Build the libFuzzer harnesses with clang and AddressSanitizer +
# UndefinedBehaviorSanitizer in a tree of their own and run each for SECONDS
# (default 60) on a copy of its seed corpus. Each run leaves NAME.log and a
# NAME.trs that scripts/summary.sh counts (PASS, or FAIL with the crash kept
# as NAME-crash-* next to it). Run from anywhere:
#   sh tests/fuzz/run.sh [SECONDS]        (build dir: ./build-fuzz, or $FUZZ_BUILD)
set -u
seconds=${1:-60}
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD:-$(pwd)/build-fuzz}
cc=${FUZZ_CC:-clang}
names="fuzz_spec fuzz_http fuzz_metricline fuzz_reply"

mkdir -p "$build" || exit 1
cd "$build" || exit 1
rm -f ./*.trs

result() { # name PASS|FAIL
    printf ':test-result: %s\n:global-test-result: %s\n:recheck: %s\n:copy-in-global-log: %s\n' \
        "$2" "$2" "$([ "$2" = PASS ] && echo no || echo yes)" \
        "$([ "$2" = PASS ] && echo no || echo yes)" >"$1.trs"
    echo "$2: $1"
}

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "fuzz: $cc not found (Debian packages clang and libclang-rt-14-dev)" >&2
    for n in $names; do result "$n" FAIL; done
    exit 1
fi
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
if [ ! -f Makefile ]; then
    "$src/configure" -q CC="$cc" CFLAGS="-g -O1 -fno-omit-frame-pointer $san" \
        LDFLAGS="-fsanitize=address,undefined" >configure.log 2>&1 ||
        { tail -20 configure.log; for n in $names; do result "$n" FAIL; done; exit 1; }
fi
if ! make -j"$(nproc 2>/dev/null || echo 2)" fuzz-harnesses >build.log 2>&1; then
    grep -E 'error|Error' build.log | head -20
    for n in $names; do result "$n" FAIL; done
    exit 1
fi

fail=0
for n in $names; do
    corpus=$build/corpus-$n
    mkdir -p "$corpus"
    [ -d "$src/tests/fuzz/corpus/$n" ] && cp -n "$src/tests/fuzz/corpus/$n"/* "$corpus"/ 2>/dev/null
    opts="-max_total_time=$seconds -timeout=20 -rss_limit_mb=4096 -max_len=8192 -print_final_stats=1"
    # the daemon harness allocates on its own threads: leak checks per input would mislead
    [ "$n" = fuzz_http ] && opts="$opts -detect_leaks=0"
    rm -f "$n"-crash-* "$n"-leak-* "$n"-timeout-* "$n"-oom-*
    # shellcheck disable=SC2086
    ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "./tests/fuzz/$n" $opts -artifact_prefix="$build/$n-" "$corpus" >"$n.log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        result "$n" PASS
        grep -E '^stat::number_of_executed_units' "$n.log" | sed "s/^/  $n: /"
    else
        result "$n" FAIL
        fail=1
        grep -E 'ERROR|SUMMARY|fuzz_[a-z]+:' "$n.log" | head -5 | sed "s/^/  /"
        find "$build" -maxdepth 1 -name "$n-*" | sed 's/^/  reproducer: /'
    fi
done
exit $fail
