#!/usr/bin/env bash
# tests/integration/test-sim-dropout.sh: simulated dropouts (`fedbundle
# simulate` key "dropout"): each retailer, independently each round and
# from the run's seed, leaves a round after its plan. With secure
# aggregation it leaves at a stage drawn uniformly (before advertising,
# after advertising, after its shares, after its masked input), so the
# aggregator's dropout recovery (protocols/secagg-v1.md §3.5) runs: a
# round commits only from an unmasked sum that passed the honest bound
# (§10.4), which a dropped party's mask left in the sum would break.
# Checked, on 8 retailers of the toy data, seed 1 (round 1 loses one
# party after its advertisement, one after its shares and one after its
# masked input; round 2 one after its masked input): every round commits
# with U1 > U2 > U3 > U4 as drawn, the metrics are finite, a second run
# writes the same per-round lines (but for the traffic), the processes drop the same parties and reach
# the same final model; a plain user-level run with dropouts commits
# without them; an out-of-range dropout is refused naming the key.
source "$(dirname "$0")/lib.sh"

"$FB_TOOL" datagen --preset toy --seed 1 --out "$WORK/data" >/dev/null 2>&1
# Dropped parties hold a stage until its end: short stages and deadline
# (FB_TIME_SCALE lengthens them on a slow machine).
stage=$((2500 * TIME_SCALE))
deadline=$((8000 * TIME_SCALE))
cat >"$WORK/sec.json" <<EOF2
{"data": "data", "retailers": 8, "rounds": 2, "privacy": "user",
 "epsilon": 4, "seed": 1, "accountant": "rdp", "dropout": 0.15,
 "server": {"deadline_ms": $deadline},
 "round": {"q": 0.25, "clip": 1, "dim": 16, "lr": 20, "bias": true,
  "train_items": false, "bundle_rank": 8, "secure_aggregation": true,
  "secagg_stage_ms": $stage, "secagg_min_survivors": 5}}
EOF2

sim() { # sim CONFIG OUT [OPTIONS...]
	local cfg=$1 out=$2
	shift 2
	quiet "$FB_TOOL" simulate --config "$WORK/$cfg.json" --out "$WORK/$out" \
		--quiet "$@"
}
usets() { grep -o '"status": "[a-z]*".*"secagg_u": \[[0-9, ]*\]' "$1/rounds.jsonl" |
	sed 's/"status": "\([a-z]*\)".*"secagg_u": \(.*\)/\1 \2/'; }
check "a secure simulation with dropouts runs" sim sec run1
check "round 1 committed, a party lost at each of three stages" \
	test "$(usets "$WORK/run1" | sed -n 1p)" = "committed [8, 7, 6, 5]"
check "round 2 committed, a party lost before the unmask" \
	test "$(usets "$WORK/run1" | sed -n 2p)" = "committed [8, 8, 8, 7]"
check "the aggregator recorded the survivors' updates" \
	test "$(grep -c '"status": "committed".*"updates": 6,.*"secagg_u3": 6, "secagg_u4": 5' \
		"$WORK/run1/aggregator.jsonl")" -eq 1
finite() { # every round's Recall@20 and the final one are numbers
	! grep -q '"recall@20": \(null\|nan\|inf\)' "$1/rounds.jsonl" &&
		grep -q '"final_recall@20": [0-9]' "$1/summary.json"
}
check "the metrics are finite" finite "$WORK/run1"
check "it runs again" sim sec run2
# Byte for byte but the traffic: how often a waiting client polls while
# a dropped party's stage runs out its time depends on the clock.
notraffic() { sed 's/"bytes_in": [0-9]*, "bytes_out": [0-9]*, //' "$1/rounds.jsonl"; }
check "same seed: the same dropouts, identical per-round lines" \
	cmp <(notraffic "$WORK/run1") <(notraffic "$WORK/run2")
check "as processes over tcp" sim sec runp --processes
check "the processes lose the same parties" \
	test "$(usets "$WORK/run1")" = "$(usets "$WORK/runp")"
final() { grep -o '"final_recall@20": [0-9.e-]*' "$1/summary.json"; }
check "the processes reach the same final model" \
	test "$(final "$WORK/run1")" = "$(final "$WORK/runp")"

# Without secure aggregation a dropped retailer simply does not upload.
cat >"$WORK/plain.json" <<EOF2
{"data": "data", "retailers": 8, "rounds": 2, "privacy": "user",
 "epsilon": 4, "seed": 1, "accountant": "rdp", "dropout": 0.15,
 "server": {"deadline_ms": $((3000 * TIME_SCALE))},
 "round": {"q": 0.25, "clip": 1, "dim": 16, "lr": 20, "bias": true,
  "train_items": false, "bundle_rank": 8}}
EOF2
check "a plain simulation with dropouts runs" sim plain plain1
updates() { grep -o '"status": "[a-z]*", .*"updates": [0-9]*' "$1/rounds.jsonl" |
	sed 's/"status": "\([a-z]*\)".*"updates": \([0-9]*\)/\1 \2/' | paste -sd' '; }
check "its rounds committed without the dropped retailers' updates" \
	test "$(updates "$WORK/plain1")" = "committed 5 committed 7"
check "the metrics are finite" finite "$WORK/plain1"

printf '{"data": "data", "dropout": 1.5}\n' >"$WORK/bad.json"
refused() {
	local out
	if out=$("$FB_TOOL" simulate --config "$WORK/bad.json" 2>&1); then
		return 1
	fi
	printf '%s\n' "$out" | grep -q -- 'dropout' || { echo "# got: $out"; return 1; }
}
check "a dropout of 1.5 is refused naming the key" refused
finish
