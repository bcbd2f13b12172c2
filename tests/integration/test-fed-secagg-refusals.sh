#!/usr/bin/env bash
# tests/integration/test-fed-secagg-refusals.sh: a client's refusals in a
# round of secure aggregation (protocols/secagg-v1.md §3.2, §3.4) against
# a malicious aggregator (tests/integration/sneaky.c) and three real
# clients: the one whose inbox holds a tampered bundle refuses the round
# (secagg-refused, naming the sender) before any release, so its ledger
# holds none; the one asked to reveal as if it had dropped refuses with a
# sealed ERROR secagg-refused and logs it at warning (indices only); the
# one asked honestly answers with its shares. Each client's ledger
# verifies; the two that released have one distributed-noise entry each.
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
finish
