#!/bin/sh
# Build hpod and run its whole test suite (make check): unit tests (Check), API
# tests against a daemon on port 0, end-to-end tests with real workers, and the
# page tests in headless Chromium. Installs missing Debian packages first.
set -e
top=$(cd "$(dirname "$0")" && pwd)
cd "$top"
scripts/deps.sh --tests
scripts/npm.sh
scripts/build.sh --enable-werror
cd build
status=0
make -j"$(nproc)" check >make-check.out 2>&1 || status=$?
grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP|XFAIL):' make-check.out | grep -vE '^(PASS|SKIP)' || true
"$top/scripts/summary.sh" . || true
if [ $status -ne 0 ]; then
    echo "make check failed; logs: build/test-suite.log and build/tests/**/*.log" >&2
    tail -60 make-check.out >&2
fi
exit $status
