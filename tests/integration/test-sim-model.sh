#!/usr/bin/env bash
# tests/integration/test-sim-model.sh: `fedbundle sim-model` gathers a
# simulation's federated model (the aggregator's shared factors plus each
# retailer's user factors at their global ids) into one model file that
# `fedbundle eval` and `complete-eval` read: evaluated on the whole
# dataset it gives the Recall@20 the simulation reported for its last
# round over every retailer's test users, so no user lands on another's
# factors. A run without saved partitions fails with one line saying so.
source "$(dirname "$0")/lib.sh"

"$FB_TOOL" datagen --preset toy --seed 1 --out "$WORK/data" >/dev/null 2>&1
cat >"$WORK/sim.json" <<JSON
{"data": "data", "retailers": 3, "rounds": 3, "privacy": "none", "seed": 7,
 "save_partitions": true,
 "round": {"local_epochs": 1, "dim": 16, "optimizer": "sgd", "lr": 20,
  "bias": true, "train_items": false, "bundle_rank": 8}}
JSON
check "simulate runs" quiet "$FB_TOOL" simulate --config "$WORK/sim.json" \
	--out "$WORK/run" --quiet
check "sim-model writes the model" quiet "$FB_TOOL" sim-model \
	--sim "$WORK/run" --out "$WORK/fed.fbm"

last=$(tail -n 1 "$WORK/run/rounds.jsonl" |
	sed 's/.*"recall@20": \([0-9.e-]*\),.*/\1/')
got=$("$FB_TOOL" eval --data "$WORK/data" --model "$WORK/fed.fbm" --json |
	sed 's/"popularity.*//; s/.*"recall@20": \([0-9.e-]*\).*/\1/')
echo "# simulation's last round recall@20 $last, eval of the gathered model $got"
check "eval of the gathered model = the simulation's last round" \
	near "$got" "$last" 0.00005
check "complete-eval reads it" quiet "$FB_TOOL" complete-eval \
	--data "$WORK/data" --model "$WORK/fed.fbm" --weight 16

sed 's/"save_partitions": true,//' "$WORK/sim.json" >"$WORK/nopart.json"
quiet "$FB_TOOL" simulate --config "$WORK/nopart.json" --out "$WORK/np" --quiet
err=$("$FB_TOOL" sim-model --sim "$WORK/np" --out "$WORK/np.fbm" 2>&1) && rc=0 || rc=$?
check "without partitions: exit 1" test "$rc" -eq 1
check "... one line naming save_partitions" bash -c \
	"[ \$(printf '%s\n' \"\$1\" | wc -l) -eq 1 ] && grep -q save_partitions <<<\"\$1\"" _ "$err"
check "... and no model written" test ! -e "$WORK/np.fbm"
finish
