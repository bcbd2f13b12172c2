#!/usr/bin/env bash
# tests/integration/test-fed-secagg-refusals.sh: a client's refusals in a
# round of secure aggregation (protocols/secagg-v1.md §3.2, §3.4) against
# a malicious aggregator (tests/integration/sneaky.c) and three real
# clients: the one whose inbox holds a tampered bundle refuses the round
# (secagg-refused, naming the sender) before any release, so its ledger
# holds none; the one asked to reveal as if it had dropped refuses with a
# sealed ERROR secagg-refused and logs it at warning (indices only); the
# one asked honestly signs the sets (secagg-v1 §3.5) but, sent its own
# signature alone (threshold 2), refuses to reveal. Each client's ledger
# verifies; the two that released have one distributed-noise entry each.
# Then (sneaky --few) a request to reveal for fewer survivors than the
# plan's n_min but at least t is refused, the others answering.
# Then (sneaky --split, issue 13) each client is sent other survivor sets
# (one is told 3 dropped, one that all survived, one that 2 dropped): each
# signs its own, the aggregator forwards the three signatures, and every
# client refuses to reveal (the consistency check of secagg-v1 §3.5),
# logging why: no share is revealed.
# Then the real aggregator and three real clients, one of which holds a
# roster with the same keys in another order: the consortium id it
# computes from its pinned aggregator key and its roster (secagg-v1
# §3.6) is not the plan's, so it refuses the round (policy-refused,
# naming both ids) before any release, and the other two commit it.
source "$(dirname "$0")/lib.sh"
: "${FB_SNEAKY:?set by meson test}"

fed_data 3
for i in 0 1 2; do policy "$i" '"epsilon": 10, "delta": 1e-5, "roster": "roster.txt"'; done
"$FB_SNEAKY" "$SOCK" "$WORK/keys/aggregator.key" "$WORK/roster.txt" \
	"$WORK/parts/retailer-00" >"$WORK/sneaky.out" 2>&1 &
SNEAKY_PID=$!
PIDS+=("$SNEAKY_PID")
for i in 0 1 2; do start_client "$i"; done
check "the malicious aggregator's checks hold" wait_pid "$SNEAKY_PID" 120
sed 's/^/# sneaky: /' "$WORK/sneaky.out"
for i in 0 1 2; do
	check "client $i finished" wait_pid "${CLIENT_PID[$i]}" 30
done
releases() { # releases I: the release count of retailer I's ledger
	"$FB_TOOL" ledger verify "$WORK/state-$1/privacy.ledger" --json |
		sed 's/.*"releases": \([0-9]*\),.*/\1/'
}
for i in 0 1 2; do
	check "client $i: ledger verifies" quiet "$FB_TOOL" ledger verify \
		"$WORK/state-$i/privacy.ledger"
done
check "the client that refused the tampered bundle released nothing" \
	test "$(releases 1)" -eq 0
check "the other two released once each" \
	test "$(releases 0)" -eq 1 -a "$(releases 2)" -eq 1
check "their entries are distributed-noise releases" \
	grep -q '"ddg_releases": 1' <("$FB_TOOL" ledger verify \
		"$WORK/state-0/privacy.ledger" --json)
check "the refused unmask request is logged at warning" \
	grep -q " W .*round 1: secure aggregation: unmask request refused" \
	"$WORK/client-0.err"
check "the tampered bundle is logged, naming its sender" \
	grep -q "the shares of index 1 do not open" "$WORK/client-1.err"

# --few: the plan's n_min is 3 of 3; index 1 is asked to reveal for 2
# survivors (>= t 2, < n_min): a sum with less noise than it accounted.
rm -rf "$WORK"/state-*
"$FB_SNEAKY" --few "$SOCK" "$WORK/keys/aggregator.key" "$WORK/roster.txt" \
	"$WORK/parts/retailer-00" >"$WORK/sneaky-few.out" 2>&1 &
SNEAKY_PID=$!
PIDS+=("$SNEAKY_PID")
for i in 0 1 2; do start_client "$i" .few; done
check "below n_min: the malicious aggregator's checks hold" wait_pid "$SNEAKY_PID" 120
sed 's/^/# sneaky --few: /' "$WORK/sneaky-few.out"
for i in 0 1 2; do
	check "below n_min: client $i finished" wait_pid "${CLIENT_PID[$i]}" 30
done
check "below n_min: the refusal names n_min" \
	grep -q "needs 3 (n_min)" "$WORK/client-0.few.err"

# --split: three survivor sets for three clients (secagg-v1 §3.5).
absent() { ! grep -q "$1" "$2"; }
rm -rf "$WORK"/state-*
"$FB_SNEAKY" --split "$SOCK" "$WORK/keys/aggregator.key" "$WORK/roster.txt" \
	"$WORK/parts/retailer-00" >"$WORK/sneaky-split.out" 2>&1 &
SNEAKY_PID=$!
PIDS+=("$SNEAKY_PID")
for i in 0 1 2; do start_client "$i" .split; done
check "split sets: the malicious aggregator's checks hold" wait_pid "$SNEAKY_PID" 120
sed 's/^/# sneaky --split: /' "$WORK/sneaky-split.out"
for i in 0 1 2; do
	check "split sets: client $i finished" wait_pid "${CLIENT_PID[$i]}" 30
	check "split sets: client $i logged the failed consistency check" \
		grep -q " W .*unmask request refused .*the consistency check fails: .*does not verify over these sets" \
		"$WORK/client-$i.split.err"
	check "split sets: client $i revealed nothing" \
		absent "shares revealed" "$WORK/client-$i.split.err"
done

rm -rf "$WORK"/state-*
tac "$WORK/roster.txt" >"$WORK/roster-reordered.txt"
policy 1 '"epsilon": 10, "delta": 1e-5, "roster": "roster-reordered.txt"'
server_config 1 2 20000 '{"granularity": "user", "q": 0.5, "local_steps": 1,
 "target_epsilon": 10, "delta": 1e-5, "clip": 1.0,
 "secure_aggregation": true, "secagg_stage_ms": 3000}' '"accountant": "rdp"'
start_server .real
for i in 0 1 2; do start_client "$i" .real; done
check "the real aggregator finished" wait_pid "$SERVER_PID" 60
for i in 0 1 2; do
	check "client $i finished (real aggregator)" wait_pid "${CLIENT_PID[$i]}" 30
done
id=$(sed -n 's/.*secure aggregation: consortium \([0-9a-f]*\) .*/\1/p' "$WORK/server.real.err")
echo "# the aggregator's consortium id: $id"
check "the client with a reordered roster refused naming both ids" \
	grep -q "policy-refused: secure aggregation: plan consortium $id is not [0-9a-f]\{32\}, its own (pinned aggregator key + roster)" \
	<(cat "$WORK/client-1.real.err" "$WORK/metrics.jsonl")
check "it released nothing" test "$(releases 1)" -eq 0
check "its refusal is counted by the aggregator" \
	test "$(client_field 1 retailer-1 status)" = refused
check "the other two committed the round" \
	grep -q '"round": 1, "status": "committed".*"secagg_u3": 2' "$WORK/metrics.jsonl"
finish
