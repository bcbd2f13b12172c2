#!/usr/bin/env bash
# tests/integration/test-fed-dp.sh: 4 clients x 4 rounds with user-level
# DP (each client samples its users with q = 0.5, clips each user's
# gradient to 1 and adds discrete Gaussian noise; sigma calibrated by the
# aggregator so that 4 rounds x 2 releases spend epsilon 4 at delta 1e-5).
# Retailers 0-2 have a budget of epsilon 4; retailer 3 only 3 (two rounds), so it must
# refuse a round with policy-refused ("over budget", with what it would
# spend and what remains) once the next round would exceed it, and stay
# READY (client/budget.h: budget left is not exhaustion), so it is planned
# again and refuses again, never spending past 3. Every
# client's ledger must verify (`fedbundle ledger verify`) and the epsilon
# each client reported must equal what its ledger gives (PLD accountant).
source "$(dirname "$0")/lib.sh"

fed_data 4
server_config 4 3 60000 '{"granularity": "user", "q": 0.5, "local_steps": 2,
 "target_epsilon": 4, "delta": 1e-5, "clip": 1.0}'
for i in 0 1 2; do policy "$i" '"epsilon": 4, "delta": 1e-5'; done
policy 3 '"epsilon": 3, "delta": 1e-5'
start_server
for i in 0 1 2 3; do start_client "$i"; done
check "aggregator finished" wait_pid "$SERVER_PID" 150
for i in 0 1 2 3; do
	check "client $i finished" wait_pid "${CLIENT_PID[$i]}" 30
done
sed "s/^/# /" "$WORK/server.out"
check "4 rounds committed" test "$(grep -c '"status": "committed"' "$WORK/metrics.jsonl")" -eq 4

for i in 0 1 2 3; do
	name=retailer-$i
	ledger="$WORK/state-$i/privacy.ledger"
	check "$name: ledger verifies" quiet "$FB_TOOL" ledger verify "$ledger"
	json=$("$FB_TOOL" ledger verify "$ledger" --delta 1e-5 --json)
	from_ledger=$(echo "$json" | awk -F '"epsilon_pld": ' '{ split($2, a, "}"); print a[1] }')
	last=""
	for r in 1 2 3 4; do
		e=$(client_field "$r" "$name" epsilon)
		[ -n "$e" ] && last=$e
	done
	echo "# $name: reported epsilon $last, ledger gives $from_ledger"
	check "$name: reported epsilon equals the ledger's" near "$last" "$from_ledger" 1e-5
done
for i in 0 1 2; do
	check "retailer-$i: spent its budget of 4 (within 1e-4)" near \
		"$(client_field 4 "retailer-$i" epsilon)" 4 1e-4
done

# Retailer 3: some rounds trained, then a refusal of each later round.
refused_round=""
for r in 4 3 2 1; do
	if [ "$(client_field "$r" retailer-3 reason)" = "policy-refused" ]; then
		refused_round=$r
	fi
done
echo "# retailer-3 first refused round ${refused_round:-none}"
check "retailer-3 refused a round with policy-refused" test -n "$refused_round"
check "retailer-3 trained before refusing" test "${refused_round:-1}" -gt 1
for ((r = ${refused_round:-4} + 1; r <= 4; r++)); do
	check "retailer-3 still planned (not exhausted) in round $r, and refused it" \
		test "$(client_field "$r" retailer-3 reason)" = policy-refused
done
check "retailer-3 never claimed budget-exhausted" bash -c \
	"! grep -q 'budget-exhausted' '$WORK/metrics.jsonl'"
e3=$("$FB_TOOL" ledger verify "$WORK/state-3/privacy.ledger" --delta 1e-5 --json |
	awk -F '"epsilon_pld": ' '{ split($2, a, "}"); print a[1] }')
check "retailer-3 stayed within its budget of 3 ($e3)" ge 3 "$e3"
check "retailer-3 said what the round would spend and what remains" grep -q \
	"over budget: the round's 2 releases .* would bring epsilon to .*, over the policy's 3 .*: .* spent, .* remains" \
	"$WORK/client-3.err"
check "retailer-3 did not mark itself exhausted" bash -c \
	"! grep -q 'privacy budget exhausted' '$WORK/client-3.err'"
finish
