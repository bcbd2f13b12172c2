#!/usr/bin/env bash
# tests/integration/test-sim-secure.sh: a consortium of 4 retailers on the
# toy data runs secure aggregation (protocols/secagg-v1.md) through
# `fedbundle simulate`: the aggregator's stages (server/secround.c) with
# the retailers' (client/secround.c), in one process and as processes.
# Checked: every round commits with all four parties in U1..U4, the
# in-process run is byte-for-byte reproducible, the processes reach the
# same final model (the unmasked sum is exact, whatever the arrival
# order) in the ring Z_(2^48) the aggregator picks for fedbundle's grid
# (secagg-v1 §2.2: the PLAN's secagg_ring field, u48 masked inputs), the
# aggregator's metrics carry the stage counts, and a secure
# configuration with more than one release per round is refused naming
# the key.
source "$(dirname "$0")/lib.sh"

"$FB_TOOL" datagen --preset toy --seed 1 --out "$WORK/data" >/dev/null 2>&1
cat >"$WORK/sec.json" <<EOF2
{"data": "data", "retailers": 4, "rounds": 2, "privacy": "user",
 "epsilon": 4, "seed": 7, "accountant": "rdp",
 "round": {"q": 0.25, "clip": 1, "dim": 16, "lr": 20, "bias": true,
  "train_items": false, "bundle_rank": 8, "secure_aggregation": true,
  "secagg_stage_ms": 20000}}
EOF2

sim() { # sim OUT [OPTIONS...]
	local out=$1
	shift
	quiet "$FB_TOOL" simulate --config "$WORK/sec.json" --out "$WORK/$out" \
		--quiet "$@"
}
check "a secure simulation runs" sim run1
check "every round committed with U1..U4 all four parties" \
	test "$(grep -c '"status": "committed".*"secagg_parties": 4, "secagg_u": \[4, 4, 4, 4\]' \
		"$WORK/run1/rounds.jsonl")" -eq 2
check "the aggregator's metrics carry the stages" \
	grep -q '"secure": true, "secagg_parties": 4, "secagg_u1": 4, "secagg_u2": 4, "secagg_u3": 4, "secagg_u4": 4' \
	"$WORK/run1/aggregator.jsonl"
check "the trust line names the collusion assumption, not 'no party'" \
	grep -q '"trust": "the aggregator learns only the sum.*collude' \
	"$WORK/run1/manifest.json"
check "the resolved configuration has one sgd release per round" \
	grep -q '"local_steps": 1' "$WORK/run1/config.json"
check "it runs again" sim run2
check "same seed: byte-identical per-round lines" \
	cmp "$WORK/run1/rounds.jsonl" "$WORK/run2/rounds.jsonl"
siml() { # siml OUT [OPTIONS...]: sim, its info log kept in OUT.log
	local out=$1
	shift
	"$FB_TOOL" simulate --config "$WORK/sec.json" --out "$WORK/$out" \
		--quiet --log-level info "$@" >/dev/null 2>"$WORK/$out.log" ||
		{ sed 's/^/# /' "$WORK/$out.log" | tail -20; return 1; }
}
check "as processes over tcp" siml runp --processes
check "every round planned in Z_(2^48)" \
	test "$(grep -c 'secure aggregation of 4 parties.*ring Z_(2^48)' \
		"$WORK/runp.log")" -eq 2
check "no masked input refused (u48 tensors of the release length)" \
	eval '! grep -q "refused UPDATE" "$WORK/runp.log"'
final() { grep -o '"final_recall@20": [0-9.e-]*' "$1/summary.json"; }
check "the processes reach the same final model" \
	test "$(final "$WORK/run1")" = "$(final "$WORK/runp")"

bad() { printf '%s\n' "$2" >"$WORK/$1.json"; }
bad c1 '{"data": "data", "round": {"secure_aggregation": true, "local_steps": 2}}'
refused() { # refused PATTERN CONFIG
	local out
	if out=$("$FB_TOOL" simulate --config "$2" 2>&1); then
		return 1
	fi
	printf '%s\n' "$out" | grep -q -- "$1" || { echo "# got: $out"; return 1; }
}
check "secure aggregation with local_steps 2 is refused naming the key" \
	refused 'round.local_steps' "$WORK/c1.json"
bad c2 '{"data": "data", "privacy": "client", "round": {"secure_aggregation": true}}'
check "secure aggregation at client level is refused" \
	refused 'round.granularity' "$WORK/c2.json"
finish
