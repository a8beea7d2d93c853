#!/bin/sh
# hpod's whole ask/tell loop with curl and jq: create a study, then ask for a
# trial, train (here a formula stands in for it), report intermediate values,
# complete the trial, and ask again until the study is finished.
#
#   HPO_SERVER=http://127.0.0.1:8080 HPO_TOKEN=... sh ask_tell.sh [STUDY]
#
# HPO_TOKEN may stay empty while the daemon has no tokens (loopback only).
set -eu
HPO_SERVER=${HPO_SERVER:-http://127.0.0.1:8080}
HPO_TOKEN=${HPO_TOKEN:-}
STUDY=${1:-curl-demo}
WORKER="$(hostname):curl"

# 1. Create the study: 201, or 200 when the same spec is already there.
curl -sS --fail-with-body -X POST "$HPO_SERVER/api/v1/studies" \
  -H "Authorization: Bearer $HPO_TOKEN" -H 'Content-Type: application/json' \
  -d "{\"name\": \"$STUDY\",
       \"objective\": {\"name\": \"loss\", \"direction\": \"minimize\"},
       \"params\": [{\"name\": \"x\", \"type\": \"float\", \"low\": -5, \"high\": 5},
                    {\"name\": \"layers\", \"type\": \"int\", \"low\": 1, \"high\": 4},
                    {\"name\": \"act\", \"type\": \"categorical\", \"choices\": [\"relu\", \"tanh\"]}],
       \"budget\": {\"max_trials\": 8}}" | jq -c '{name, state, counts}'

while :; do
  # 2. Ask: lease a trial; the daemon holds the request up to wait_s seconds
  #    when no trial can be handed out yet.
  reply=$(curl -sS --fail-with-body -X POST "$HPO_SERVER/api/v1/studies/$STUDY/suggest" \
    -H "Authorization: Bearer $HPO_TOKEN" -H 'Content-Type: application/json' \
    -d "{\"worker\": \"$WORKER\", \"wait_s\": 20}")
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
    action=$(curl -sS --fail-with-body -X POST "$HPO_SERVER/api/v1/trials/$id/report" \
      -H "Authorization: Bearer $HPO_TOKEN" -H 'Content-Type: application/json' \
      -d "{\"worker\": \"$WORKER\", \"step\": $step, \"value\": $loss}" | jq -r .action)
    if [ "$action" = prune ]; then state=pruned; break; fi
  done

  # 4. Tell: complete the trial with its final value.
  curl -sS --fail-with-body -X POST "$HPO_SERVER/api/v1/trials/$id/complete" \
    -H "Authorization: Bearer $HPO_TOKEN" -H 'Content-Type: application/json' \
    -d "{\"worker\": \"$WORKER\", \"state\": \"$state\", \"value\": $loss}" \
    | jq -c '{number, state, value}'
done

# 5. The best trial.
curl -sS --fail-with-body "$HPO_SERVER/api/v1/studies/$STUDY/best" \
  -H "Authorization: Bearer $HPO_TOKEN" | jq '{number, value, params}'
