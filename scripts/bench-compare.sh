#!/bin/sh
# Compare the server's throughput of two trees on this machine, in one run:
# a git revision (default: the commit before "server/ in layers", the layer
# split) built in a temporary worktree, and the current tree as it is on disk.
# Both run `make bench-server` at one worker count, taking turns, ROUNDS times
# each (the first side alternates between rounds), so that a slow spell of a
# shared machine falls on both. Printed: the median trials/s of each side and
# their ratio, and beside it hpod's CPU time per trial (steadier on a loaded
# machine, since it leaves out the time hpod waited for a core).
#
# usage: scripts/bench-compare.sh [--rounds N] [--seconds S] [--workers N] [REV]
#   (defaults: 3 rounds of 10 s at 32 workers)
# The Optuna side of bench-server is left out (BENCH_OPTUNA is empty): only
# hpod against hpod. Exit status 0 when both sides ran.
set -eu

rounds=3
seconds=10
workers=32
rev=
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench-compare: unknown option \"$1\"" >&2; exit 2 ;;
    *) rev=$1; shift ;;
    esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ -z "$rev" ]; then
    split=$(git log --format=%H -1 --grep='^server/ in layers')
    if [ -z "$split" ]; then
        echo "bench-compare: no commit \"server/ in layers\" in the history: name a revision" >&2
        exit 2
    fi
    rev="$split^"
fi
base_commit=$(git rev-parse --verify -q "$rev^{commit}") || {
    echo "bench-compare: \"$rev\" is not a commit" >&2
    exit 2
}
dirty=$(git status --porcelain --untracked-files=no | head -1)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-compare-XXXXXX")
cleanup() {
    git -C "$top" worktree remove --force "$tmp/base" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

jobs=$(nproc 2>/dev/null || echo 2)
build() { # build SRC BUILD_DIR LOG
    (
        cd "$1"
        [ -x configure ] || autoreconf -fi
        mkdir -p "$2"
        cd "$2"
        "$1/configure" -q
        make -j"$jobs" hpod hpo tests/bench/load
    ) >"$3" 2>&1 || {
        echo "bench-compare: building $1 failed; the end of $3:" >&2
        tail -20 "$3" >&2
        exit 1
    }
}

echo "bench-compare: base $(git log --format='%h %s' -1 "$base_commit" | cut -c1-72)"
echo "bench-compare: current tree at $(git log --format='%h %s' -1 HEAD | cut -c1-60)${dirty:+ (with uncommitted changes)}"
git worktree add --detach -q "$tmp/base" "$base_commit"
echo "bench-compare: building both"
build "$tmp/base" "$tmp/base-build" "$tmp/base-build.log"
build "$top" "$tmp/cur-build" "$tmp/cur-build.log"

# One bench-server run for side $1 in build dir $2; appends
# "side trials/s cpu-us-per-trial errors" to the figures file.
run() {
    side=$1
    log="$tmp/$side-run.log"
    rm -f "$2/bench-server.json"
    if ! make -C "$2" -s bench-server BENCH_WORKERS="$workers" BENCH_ROUNDS=1 \
        BENCH_SECONDS="$seconds" BENCH_OPTUNA= >"$log" 2>&1; then
        echo "bench-compare: make bench-server failed for the $side side; the end of its output:" >&2
        tail -20 "$log" >&2
        exit 1
    fi
    figures=$(python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
rows = [r for r in doc["load"] if r["workers"] == int(sys.argv[2])]
if rows:
    r = rows[0]
    print(r["trials_per_s"], r.get("hpod_cpu_us_per_trial") or 0, r.get("errors", 0))
' "$2/bench-server.json" "$workers")
    if [ -z "$figures" ]; then
        echo "bench-compare: no figure for $workers workers in the $side side's bench-server.json" >&2
        exit 1
    fi
    echo "$side $figures" >>"$tmp/figures"
    # three numbers: split on purpose
    # shellcheck disable=SC2086
    set -- $figures
    echo "  round $r, $side: $1 trials/s, $2 us of hpod CPU per trial, $3 errors"
}

echo "bench-compare: $rounds rounds of make bench-server, $workers workers, $seconds s each"
r=1
while [ "$r" -le "$rounds" ]; do
    if [ $((r % 2)) -eq 1 ]; then
        run base "$tmp/base-build"
        run current "$tmp/cur-build"
    else
        run current "$tmp/cur-build"
        run base "$tmp/base-build"
    fi
    r=$((r + 1))
done

python3 -c '
import statistics, sys
tps = {"base": [], "current": []}
cpu = {"base": [], "current": []}
errors = {"base": 0, "current": 0}
for line in open(sys.argv[1]):
    side, t, c, e = line.split()
    tps[side].append(float(t))
    cpu[side].append(float(c))
    errors[side] += int(float(e))
for side in ("base", "current"):
    label = side + ":"
    print(f"{label:9s}median {statistics.median(tps[side]):.0f} trials/s at {sys.argv[2]} "
          "workers (runs: " + ", ".join(f"{x:.0f}" for x in tps[side]) + "); median "
          f"{statistics.median(cpu[side]):.0f} us of hpod CPU per trial; {errors[side]} errors")
b, c = statistics.median(tps["base"]), statistics.median(tps["current"])
print(f"ratio of trials/s, current / base: {c / b:.3f} (above 1: faster)")
bc, cc = statistics.median(cpu["base"]), statistics.median(cpu["current"])
if bc > 0 and cc > 0:
    print(f"ratio of CPU per trial, current / base: {cc / bc:.3f} (below 1: cheaper)")
' "$tmp/figures" "$workers"
