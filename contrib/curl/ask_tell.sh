#!/usr/bin/env bash
# hpod's whole ask/tell loop with curl and jq: create a study, then ask for a
# trial, train (here a formula stands in for it), report intermediate values,
# complete the trial, and ask again until the study is finished. Several
# copies may run at once on one study, on one machine or many.
#
#   HPO_SERVER=http://127.0.0.1:8080 HPO_TOKEN=... bash ask_tell.sh [STUDY]
#
# HPO_TOKEN may stay empty while the daemon has no tokens (loopback only).
# Any HTTP error (a 409 for a lease another worker holds, a 401, ...) stops
# the loop with the daemon's message and a non-zero exit.
set -euo pipefail
HPO_SERVER=${HPO_SERVER:-http://127.0.0.1:8080}
HPO_TOKEN=${HPO_TOKEN:-}
STUDY=${1:-curl-demo}
# One worker name per copy of this loop (host and process id): a worker that
# asks again is handed back its running trial, so copies must not share one.
WORKER="$(hostname)-$$"

# api METHOD PATH [JSON]: print the answer; on an HTTP error print the status
# and the daemon's message to stderr and fail, which stops the script.
api() {
  local data=() out status
  if [ $# -ge 3 ]; then data=(-d "$3"); fi
  out=$(curl -sS -X "$1" "$HPO_SERVER/api/v1$2" -w '\n%{http_code}' \
    -H "Authorization: Bearer $HPO_TOKEN" -H 'Content-Type: application/json' "${data[@]}") || return
  status=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "$status" -ge 400 ]; then
    echo "ask_tell.sh: $1 /api/v1$2 answered HTTP $status: $out" >&2
    return 1
  fi
  printf '%s\n' "$out"
}

# 1. Create the study: 201, or 200 when the same spec is already there.
api POST /studies "{\"name\": \"$STUDY\",
  \"objective\": {\"name\": \"loss\", \"direction\": \"minimize\"},
  \"params\": [{\"name\": \"x\", \"type\": \"float\", \"low\": -5, \"high\": 5},
               {\"name\": \"layers\", \"type\": \"int\", \"low\": 1, \"high\": 4},
               {\"name\": \"act\", \"type\": \"categorical\", \"choices\": [\"relu\", \"tanh\"]}],
  \"budget\": {\"max_trials\": 8}}" | jq -c '{name, state, counts}'

while :; do
  # 2. Ask: lease a trial; the daemon holds the request up to wait_s seconds
  #    when no trial can be handed out yet.
  reply=$(api POST "/studies/$STUDY/suggest" "{\"worker\": \"$WORKER\", \"wait_s\": 20}")
  id=$(echo "$reply" | jq -r '.trials[0].id // empty')
  if [ -z "$id" ]; then
    # An empty list: stop when the study is finished, else ask again later.
    [ "$(echo "$reply" | jq -r .study_state)" = finished ] && break
    sleep "$(echo "$reply" | jq -r .retry_after_s)"
    continue
  fi
  x=$(echo "$reply" | jq -r '.trials[0].params.x')
  layers=$(echo "$reply" | jq -r '.trials[0].params.layers')
  act=$(echo "$reply" | jq -r '.trials[0].params.act')
  echo "trial $id: x=$x layers=$layers act=$act"

  # 3. Train, reporting the loss after each epoch; stop early on "prune".
  state=completed
  for step in 1 2 3; do
    loss=$(awk -v x="$x" -v l="$layers" -v a="$act" -v s="$step" \
      'BEGIN { print (x - 1) ^ 2 + 0.1 * l + (a == "tanh" ? 0.2 : 0) + 1 / s }')
    action=$(api POST "/trials/$id/report" \
      "{\"worker\": \"$WORKER\", \"step\": $step, \"value\": $loss}" | jq -r .action)
    if [ "$action" = prune ]; then state=pruned; break; fi
  done

  # 4. Tell: complete the trial with its final value (409 if the lease was lost).
  api POST "/trials/$id/complete" \
    "{\"worker\": \"$WORKER\", \"state\": \"$state\", \"value\": $loss}" \
    | jq -c '{number, state, value}'
done

# 5. The best trial.
api GET "/studies/$STUDY/best" | jq '{number, value, params}'
