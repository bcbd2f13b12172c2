#!/usr/bin/env bash
# tests/integration/test-fed-lockout.sh: a hostile or misconfigured
# aggregator must not lock retailers out (issue 11), nor make them
# overspend. Three parts, real processes:
#   A. a fake hostile aggregator (tests/integration/evilagg.c) sends a real
#      fedbundle-client (user-level DP, epsilon 4) plans with extreme sigma,
#      q, steps, clip, shapes, granularities and round ids, then one honest
#      plan: every hostile plan is refused with a sensible reason, the
#      client polls READY throughout, trains the honest plan, and its
#      ledger holds that one release only, within its budget;
#   B. fedbundle-server configured with a noise_multiplier far too small
#      for the clients' budget: the clients refuse (policy-refused, not
#      exhausted); the aggregator is stopped and restarted with a correct
#      sigma, and the same clients, never restarted, rejoin and train;
#   C. a client that has spent its budget (its policy's epsilon lowered
#      below what its ledger spends) reports BUDGET_EXHAUSTED and does not
#      train; after its epsilon is raised and it is restarted, it trains
#      again, and its ledger records the budget decisions.
# Before the fix, B and C fail: a refused over-budget plan marked the
# client exhausted for good, in its state file.
source "$(dirname "$0")/lib.sh"
: "${FB_EVILAGG:?set by meson test}"

fed_data 3
# eps_of LEDGER: the epsilon its releases spend at delta 1e-5 (PLD, the
# policies' accountant).
eps_of() {
	"$FB_TOOL" ledger verify "$1" --delta 1e-5 --json |
		awk -F '"epsilon_pld": ' '{ split($2, a, "}"); print a[1] }'
}
json_field() { # json_field LEDGER KEY
	"$FB_TOOL" ledger verify "$1" --json | sed -n "s/.*\"$2\": \([^,}]*\).*/\1/p"
}
fast='"reconnect_min_ms": 50, "reconnect_max_ms": 200'

# ---- A. the hostile aggregator ----
policy 0 "\"epsilon\": 4, \"delta\": 1e-5, \"max_dim\": 32, $fast"
sed -i 's/"allow_none": true/"allow_none": false/' "$WORK/policy-0.json"
"$FB_EVILAGG" "$SOCK" "$WORK/keys/aggregator.key" "$WORK/roster.txt" \
	"$WORK/parts/retailer-00" >"$WORK/evilagg.out" 2>&1 &
EVIL_PID=$!
PIDS+=("$EVIL_PID")
start_client 0 .A
check "A: the hostile aggregator's checks hold" wait_pid "$EVIL_PID" 150
sed 's/^/# evilagg: /' "$WORK/evilagg.out"
check "A: the client finished (DONE), not stopped by a plan" wait_pid "${CLIENT_PID[0]}" 30
led0=$WORK/state-0/privacy.ledger
check "A: the client's ledger verifies" quiet "$FB_TOOL" ledger verify "$led0"
e0=$(eps_of "$led0")
rel0=$(json_field "$led0" releases)
echo "# A: ledger of retailer-0: $rel0 release(s), epsilon $e0 spent of 4"
check "A: one release only (the honest plan's single step)" test "$rel0" = 1
check "A: spent within the policy's epsilon 4 ($e0)" ge 4 "$e0"
check "A: the client never marked itself exhausted" bash -c \
	"! grep -q 'privacy budget exhausted' '$WORK/client-0.A.err'"
check "A: its state says not exhausted" grep -aq '"exhausted": false' \
	"$WORK/state-0/state.fbc"

# ---- B. an aggregator whose sigma overspends, then restarted right ----
# Three fresh clients with epsilon 4; the aggregator's explicit
# noise_multiplier 0.35 (above the policies' minimum 0.3) makes a round of
# 2 steps at q 0.5 cost about 13. Its rounds are refused; it is stopped
# after a few and restarted on the same checkpoint with sigma 2.
rm -rf "$WORK/state-0"
for i in 0 1 2; do policy "$i" "\"epsilon\": 4, \"delta\": 1e-5, $fast"; done
round_json() { # round_json SIGMA
	echo "{\"granularity\": \"user\", \"q\": 0.5, \"local_steps\": 2,
 \"noise_multiplier\": $1, \"delta\": 1e-5, \"clip\": 1.0}"
}
PLAN_WAIT_MS=1000 server_config 1000000 2 20000 "$(round_json 0.35)"
start_server .B1
for i in 0 1 2; do start_client "$i" .B; done
# Three rounds refused by all three clients.
check "B: the clients refuse the overspending rounds" wait_for \
	"$WORK/metrics.jsonl" '"round": 3,' 60
kill -TERM "$SERVER_PID" 2>/dev/null || true
wait_pid "$SERVER_PID" 30 || true
planned=$(cat "$WORK/checkpoint/planned-round")
refusals=$(grep -o '"reason": "[a-z-]*"' "$WORK/metrics.jsonl" | sort | uniq -c | tr '\n' ';')
echo "# B: aggregator with sigma 0.35 stopped after planning $planned round(s); refusals: $refusals"
check "B: every refusal was policy-refused" test \
	"$(grep -o '"reason": "[a-z-]*"' "$WORK/metrics.jsonl" | grep -vc policy-refused)" = 0
check "B: no client claimed budget-exhausted" bash -c \
	"! grep -q 'budget-exhausted' '$WORK/metrics.jsonl' '$WORK/server.B1.out' '$WORK/server.B1.err'"
for i in 0 1 2; do
	check "B: retailer-$i said what the plan would spend and what remains" \
		grep -q "over budget: the round's 2 releases (q 0.5, sigma 0.35) would bring epsilon to .*: 0.0000 spent, 4.0000 remains" \
		"$WORK/client-$i.B.err"
	check "B: retailer-$i released nothing" test "$(json_field "$WORK/state-$i/privacy.ledger" releases)" = 0
	check "B: retailer-$i is still running" kill -0 "${CLIENT_PID[$i]}"
done
b_first=$((planned + 1))
PLAN_WAIT_MS=1000 server_config $((planned + 3)) 2 20000 "$(round_json 2.0)"
start_server .B2
check "B: the restarted aggregator finished" wait_pid "$SERVER_PID" 120
sed 's/^/# B: /' "$WORK/server.B2.out"
for i in 0 1 2; do
	check "B: retailer-$i (never restarted) finished" wait_pid "${CLIENT_PID[$i]}" 30
	n=0
	for ((r = b_first; r <= planned + 3; r++)); do
		[ "$(client_field "$r" "retailer-$i" status)" = update ] && n=$((n + 1))
	done
	check "B: retailer-$i trained the restarted aggregator's rounds ($n of 3)" test "$n" = 3
	e=$(eps_of "$WORK/state-$i/privacy.ledger")
	check "B: retailer-$i within its budget ($e of 4)" ge 4 "$e"
done

# ---- C. a client that really spent its budget, then raised it ----
# retailer-2's epsilon is lowered below what its ledger spends: it is
# exhausted at start, polls BUDGET_EXHAUSTED and is not planned, while the
# others train. Then its epsilon is raised to 8 and it is restarted.
led2=$WORK/state-2/privacy.ledger
spent2=$(eps_of "$led2")
policy 2 "\"epsilon\": 0.5, \"delta\": 1e-5, $fast"
check "C: retailer-2 has spent more than 0.5 ($spent2)" gt "$spent2" 0.5
c_first=$((planned + 4))
PLAN_WAIT_MS=1000 server_config $((planned + 5)) 2 20000 "$(round_json 2.0)"
start_server .C1
for i in 0 1 2; do start_client "$i" .C1; done
check "C: the aggregator finished its two rounds" wait_pid "$SERVER_PID" 120
for i in 0 1 2; do
	check "C: retailer-$i finished" wait_pid "${CLIENT_PID[$i]}" 30
done
check "C: retailer-2 found its budget exhausted at start" grep -q \
	"privacy budget exhausted: epsilon .* spent of 0.5" "$WORK/client-2.C1.err"
check "C: retailer-2 recorded the lowered budget" grep -q \
	"budget lowered from 4 to 0.5 .*recorded as ledger entry" "$WORK/client-2.C1.err"
# The restarted aggregator does not carry exhaustion over from its
# checkpoint: it may plan retailer-2 before its first POLL, which then
# drops it from the round (status dropped), or not plan it at all.
for ((r = c_first; r <= planned + 5; r++)); do
	s2=$(client_field "$r" retailer-2 status)
	check "C: retailer-2 did not train round $r while exhausted (${s2:-not planned})" \
		test -z "$s2" -o "$s2" = dropped
	check "C: retailer-0 trained round $r" test "$(client_field "$r" retailer-0 status)" = update
done
before=$(json_field "$led2" releases)
check "C: retailer-2 released nothing while exhausted" test "$before" = 6
policy 2 "\"epsilon\": 8, \"delta\": 1e-5, $fast"
PLAN_WAIT_MS=1000 server_config $((planned + 7)) 3 20000 "$(round_json 2.0)"
start_server .C2
for i in 0 1 2; do start_client "$i" .C2; done
# Its exit status is 1 when every round of this run was abandoned (the
# other two retailers are near their own budgets): what matters here is
# that it ran its rounds to the end with retailer-2 back.
wait_pid "$SERVER_PID" 120 || true
check "C: the aggregator finished with retailer-2 back" \
	grep -q "training over: all" "$WORK/server.C2.err"
for i in 0 1 2; do
	check "C: retailer-$i finished again" wait_pid "${CLIENT_PID[$i]}" 30
done
check "C: retailer-2 logged the raise as a recorded decision" grep -q \
	"budget raised from 0.5 to 8 (delta 1e-05 to 1e-05), recorded as ledger entry" \
	"$WORK/client-2.C2.err"
for ((r = planned + 6; r <= planned + 7; r++)); do
	check "C: retailer-2 trained round $r after the raise" \
		test "$(client_field "$r" retailer-2 status)" = update
done
after=$(json_field "$led2" releases)
check "C: retailer-2 released again ($before -> $after)" test "$after" -gt "$before"
check "C: retailer-2's ledger verifies" quiet "$FB_TOOL" ledger verify "$led2"
"$FB_TOOL" ledger show "$led2" | sed 's/^/# C: /'
check "C: its ledger holds the three budget decisions (4, 0.5, 8)" test \
	"$("$FB_TOOL" ledger show "$led2" | awk '$3 == "BUDGET" { printf "%s ", $5 }')" = "4, 0.5, 8, "
check "C: the last budget is 8" test "$(json_field "$led2" epsilon_budget)" = 8
e2=$(eps_of "$led2")
check "C: retailer-2 within its raised budget ($e2 of 8)" ge 8 "$e2"
finish
