#!/bin/sh
# Run the API tests (tests/api/api.py) against hpod under valgrind's memcheck:
#   sh tests/valgrind.sh BUILD      (BUILD: a build tree holding ./hpod, e.g. build)
# Results go to build-valgrind/ next to BUILD: api-valgrind.log (the TAP output),
# valgrind-PID.log (one per daemon started) and api-valgrind.trs, PASS when the
# tests passed and valgrind reported no error and no definite leak.
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd) || exit 2
out=$(dirname "$build")/build-valgrind
mkdir -p "$out" || exit 1
rm -f "$out"/valgrind-*.log "$out"/api-valgrind.*

result() {
    printf ':test-result: %s\n:global-test-result: %s\n:recheck: no\n:copy-in-global-log: no\n' \
        "$1" "$1" >"$out/api-valgrind.trs"
    echo "$1: api-valgrind ($2)"
}

if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind not installed (Debian package valgrind)" >&2
    result FAIL "no valgrind"
    exit 1
fi
[ -x "$build/hpod" ] || (cd "$build" && make hpod hpo >/dev/null) || { result FAIL "no hpod"; exit 1; }

# The daemon under test is a script that execs valgrind on the real binary, so
# that signals (SIGTERM at the end of a test) reach it.
cat >"$out/hpod" <<WRAP
#!/bin/sh
exec valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \\
    --show-leak-kinds=definite --error-exitcode=99 --track-fds=no \\
    --log-file="$out/valgrind-%p.log" "$build/hpod" "\$@"
WRAP
chmod +x "$out/hpod"

HPOD_BIN=$out/hpod HPO_BIN=$build/hpo TOP_SRCDIR=$src TOP_BUILDDIR=$build \
    PYTHONPATH=$src/tests/lib:$src/contrib/python PYTHONDONTWRITEBYTECODE=1 \
    /usr/bin/python3 "$src/tests/api/api.py" >"$out/api-valgrind.log" 2>&1
rc=$?
errors=$(cat "$out"/valgrind-*.log 2>/dev/null | grep -c '^==[0-9]*==' || true)
if [ $rc -eq 0 ] && [ "$errors" -eq 0 ]; then
    result PASS "tests passed, no valgrind error"
    exit 0
fi
grep '^not ok' "$out/api-valgrind.log" | head -10
for f in "$out"/valgrind-*.log; do
    [ -s "$f" ] && { echo "== $f"; head -60 "$f"; }
done
result FAIL "tests exit $rc, $errors valgrind report line(s)"
exit 1
