#!/bin/sh
# Print "N passed, N failed" for the TAP results under the build trees given
# (each a directory where make check ran), summing every test case.
pass=0
fail=0
skip=0
for dir in "$@"; do
    for f in $(find "$dir" -name '*.trs' 2>/dev/null); do
        p=$(grep -c '^:test-result: PASS' "$f")
        x=$(grep -c '^:test-result: XFAIL' "$f")
        s=$(grep -c '^:test-result: SKIP' "$f")
        n=$(grep -cE '^:test-result: (FAIL|ERROR|XPASS)' "$f")
        pass=$((pass + p + x))
        skip=$((skip + s))
        fail=$((fail + n))
    done
done
if [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
