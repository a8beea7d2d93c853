#!/bin/sh
# Print "N passed, N failed" for the TAP results under the build trees given
# (each a directory where make check ran), summing every test case.
results=$(for dir in "$@"; do
    [ -d "$dir" ] && find "$dir" -name '*.trs' -exec grep -h '^:test-result: ' {} +
done)
count() {
    printf '%s\n' "$results" | grep -cE "^:test-result: ($1)\$"
}
pass=$(count 'PASS|XFAIL')
skip=$(count 'SKIP')
fail=$(count 'FAIL|ERROR|XPASS')
if [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
