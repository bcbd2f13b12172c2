#!/usr/bin/env bash
# tests/integration/test-fed-dp-eval.sh: federated metrics under
# user-level DP. 4 clients x 3 rounds, each with 2 releases of the model
# (q = 0.5), the plan asking for Recall@20 / NDCG@20 sums. Each client's
# sums and user count leave only as a release of their own (client/
# evalrelease.h): one more ledger entry per round (q 1, the policy's
# eval_noise_multiplier, clip 2), checked with the training releases
# against the budget, and the epsilon each client reports must be what
# its whole ledger gives. The aggregator's reported Recall@20 is noised:
# near the retailers' exact local evaluation (`fedbundle-client eval`),
# not equal to it. A client-level DP plan asking for metrics is refused.
source "$(dirname "$0")/lib.sh"

fed_data 4
server_config 3 4 60000 '{"granularity": "user", "q": 0.5, "local_steps": 2,
 "target_epsilon": 6, "delta": 1e-5, "clip": 1.0, "report_eval": true}'
for i in 0 1 2 3; do
	policy "$i" '"epsilon": 8, "delta": 1e-5, "report_eval": true, "eval_noise_multiplier": 4'
done
start_server
for i in 0 1 2 3; do start_client "$i"; done
check "aggregator finished" wait_pid "$SERVER_PID" 150
for i in 0 1 2 3; do
	check "client $i finished" wait_pid "${CLIENT_PID[$i]}" 30
done
check "3 rounds committed" test "$(grep -c '"status": "committed"' "$WORK/metrics.jsonl")" -eq 3
for r in 1 2 3; do
	check "round $r: metrics reported" test -n "$(metric "$r" recall@20)"
done
for i in 0 1 2 3; do
	name=retailer-$i
	ledger="$WORK/state-$i/privacy.ledger"
	check "$name: ledger verifies" quiet "$FB_TOOL" ledger verify "$ledger"
	check "$name: 3 x (2 training + 1 metric) releases" test "$(grep -c '"q":' "$ledger")" -eq 9
	check "$name: 3 metric releases (q 1, clip 2)" test \
		"$(grep -c '"q":1,"sigma":4,.*"clip":2,' "$ledger")" -eq 3
	json=$("$FB_TOOL" ledger verify "$ledger" --delta 1e-5 --json)
	from_ledger=$(echo "$json" | awk -F '"epsilon_pld": ' '{ split($2, a, "}"); print a[1] }')
	reported=$(client_field 3 "$name" epsilon)
	echo "# $name: reported epsilon $reported, ledger gives $from_ledger"
	check "$name: reported epsilon equals the whole ledger's" near "$reported" "$from_ledger" 1e-5
done
# The exact local metrics of round 3's model against the noised sums.
exact_r=0
exact_n=0
for i in 0 1 2 3; do
	j=$("$FB_CLIENT" eval --policy "$WORK/policy-$i.json" --json 2>/dev/null)
	exact_r=$(awk -v a="$exact_r" -v j="$j" 'BEGIN { split(j, x, "\"recall@20_sum\": "); split(x[2], y, ","); print a + y[1] }')
	exact_n=$(awk -v a="$exact_n" -v j="$j" 'BEGIN { split(j, x, "\"users\": "); split(x[2], y, /[,}]/); print a + y[1] }')
done
noised=$(metric 3 recall@20)
users=$(metric 3 eval_users)
exact=$(awk -v s="$exact_r" -v n="$exact_n" 'BEGIN { printf "%.6f", s / n }')
echo "# round 3: Recall@20 noised $noised over $users users, exact $exact over $exact_n users"
# Noise std 8 on each client's sum, 16 on the total: about 0.1 on the mean
# over some 170 users; 5 standard deviations, plus the difference between
# round 3's model and the final one.
check "noised Recall@20 near the exact one (within 5 noise std)" near "$noised" "$exact" 0.6
check "the noised user count is near the true one" near "$users" "$exact_n" 60

# Client-level DP: a plan asking for metrics is refused.
rm -rf "$WORK/checkpoint" "$WORK"/state-* "$WORK/metrics.jsonl"
PLAN_WAIT_MS=1000 server_config 1 1 10000 '{"granularity": "client", "local_epochs": 1,
 "clip": 1.0, "target_epsilon": 30, "delta": 1e-5, "report_eval": true}' '"public_init": false'
policy 0 '"allow_client": true, "report_eval": true'
start_server .c
start_client 0 .c
wait_pid "$SERVER_PID" 60 || true
wait_pid "${CLIENT_PID[0]}" 30 || true
check "client-level DP: metrics are refused" grep -q "metrics are not released in client-level DP rounds" "$WORK/client-0.c.err"
finish
