#!/usr/bin/env bash
# tests/integration/test-fed-nonprivate.sh: 4 clients x 10 rounds without
# privacy over ipc:// on the toy consortium. The global Recall@20 must
# rise, and the final federated Recall@20 (each client's test split scored
# with its own user factors and the final global model; sum of sums over
# sum of users) must be within 5% of a centralized `fedbundle train` on
# the same, unpartitioned data with the same hyper-parameters (pinned
# below for both: the tuned defaults of fedbundle train, d=64, Adam lr
# 0.003, l2 6e-4, item weight 0.2, two negatives, 2048 users per batch,
# init std 0.05, random (not public) initialisation; the centralized run
# keeps its early stopping on the tune split). Federated settings: FedAvg, server lr 1, 8 local epochs a round.
source "$(dirname "$0")/lib.sh"

fed_data 4
hyper='"dim": 64, "lr": 0.003, "l2": 0.0006, "item_weight": 0.2,
 "batch_users": 2048, "lr_user": 0.05, "optimizer": "adam", "item_view": true,
 "use_attrs": true, "user_item_view": true'
server_config 10 4 60000 "{\"granularity\": \"none\", \"local_epochs\": 8,
 \"report_eval\": true,
 \"negatives\": 2, \"init_std\": 0.05, $hyper}" \
	'"init_std": 0.05, "public_init": false, "server_optimizer": "fedavg",
 "server_lr": 1.0'
echo "{$hyper, \"neg_per_pos\": 2, \"init_std\": 0.05, \"public_init\": false}" \
	>"$WORK/central.json"
for i in 0 1 2 3; do policy "$i" '"report_eval": true'; done
start_server
for i in 0 1 2 3; do start_client "$i"; done
check "aggregator finished" wait_pid "$SERVER_PID" 150
for i in 0 1 2 3; do
	check "client $i finished" wait_pid "${CLIENT_PID[$i]}" 30
done
sed "s/^/# /" "$WORK/server.out"

check "10 rounds committed" test "$(grep -c '"status": "committed"' "$WORK/metrics.jsonl")" -eq 10
check "every round had 4 updates" test "$(grep -c '"updates": 4,' "$WORK/metrics.jsonl")" -eq 10
first=$(metric 1 recall@20)
last=$(metric 10 recall@20)
echo "# global Recall@20 reported: round 1 $first, round 10 $last"
check "global Recall@20 rises (round 10 > round 1 + 0.1)" gt "$last" "$(awk -v a="$first" 'BEGIN { print a + 0.1 }')"

fed=$(federated_eval 4)
central=$("$FB_TOOL" train --data "$WORK/data" --config "$WORK/central.json" \
	--threads 1 --json --quiet |
	awk -F '"recall@20": ' '{ split($2, a, ","); print a[1]; exit }')
echo "# final federated Recall@20 $fed, centralized Recall@20 $central"
check "federated within 5% of centralized" rel_within "$fed" "$central" 0.05
finish
