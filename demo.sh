#!/bin/sh
# The main job: build hpod, start it on a fresh database, create a study that
# tunes a real model (an SVM on the UCI digits), run two workers until the
# budget is spent, then print the best trial and the web address.
set -e
top=$(cd "$(dirname "$0")" && pwd)
cd "$top"
scripts/deps.sh
scripts/npm.sh
scripts/build.sh
B="$top/build"
run="$top/demo"
rm -rf "$run"
mkdir -p "$run"

# the page: its files, with the chart library the build put beside them
mkdir -p "$run/www"
cp -R "$top/www/." "$run/www/"
[ -d "$B/www/vendor" ] && cp -R "$B/www/vendor" "$run/www/"
"$B/hpod" --db "$run/hpod.db" --listen 127.0.0.1:0 --www "$run/www" \
    >"$run/hpod.url" 2>"$run/hpod.log" &
hpod_pid=$!
w1=""
w2=""
cleanup() {
    # shellcheck disable=SC2086
    kill $hpod_pid $w1 $w2 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
i=0
while ! grep -q listening "$run/hpod.url" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 $hpod_pid 2>/dev/null; then
        echo "hpod did not start:" >&2
        cat "$run/hpod.log" >&2
        exit 1
    fi
    sleep 0.1
done
url=$(awk '{print $NF}' "$run/hpod.url")
export HPO_SERVER="$url"
echo "hpod is serving $url (log: demo/hpod.log)"

"$B/hpo" study create contrib/examples/svm-digits.json >/dev/null
echo "study svm-digits created: 30 trials, sampler auto (Sobol, then Gaussian-process BO)"
echo "two workers start; each trial trains an SVM with 3-fold cross-validation"

job="/usr/bin/python3 $top/contrib/examples/svm_digits.py --params-file {params_file}"
# shellcheck disable=SC2086
"$B/hpo" worker --study svm-digits --id demo-a --work-dir "$run/trials" -- $job \
    >"$run/worker-a.log" 2>&1 &
w1=$!
# shellcheck disable=SC2086
"$B/hpo" worker --study svm-digits --id demo-b --work-dir "$run/trials" -- $job \
    >"$run/worker-b.log" 2>&1 &
w2=$!

last=""
while kill -0 $w1 2>/dev/null || kill -0 $w2 2>/dev/null; do
    line=$("$B/hpo" --json study show svm-digits 2>/dev/null | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
c = s["counts"]
done = c["completed"] + c["failed"] + c["pruned"]
best = s.get("best_value")
best = "-" if best is None else "%.4f" % best
print("  %d/%d trials finished, %d running, %d failed, best val_error %s"
      % (done, s["max_trials"], c["running"], c["failed"], best))
' 2>/dev/null || true)
    if [ -n "$line" ] && [ "$line" != "$last" ]; then
        echo "$line"
        last=$line
    fi
    sleep 1
done
wait $w1 || { echo "worker a failed; see demo/worker-a.log" >&2; exit 1; }
wait $w2 || { echo "worker b failed; see demo/worker-b.log" >&2; exit 1; }

echo
echo "best trial:"
"$B/hpo" best svm-digits
echo
"$B/hpo" study show svm-digits
echo
echo "web page: $url/  (trials, charts)"
if [ -t 0 ]; then
    printf 'hpod keeps serving; press Enter to stop it. '
    read -r _
fi
