#!/usr/bin/env bash
# tests/integration/test-fed-central.sh: client-level DP (central noise at
# the aggregator) with Poisson-sampled participation: 4 clients, each
# planned in a round with probability 1/2, quorum 3, 6 rounds. Whether a
# round commits must not depend on how many clipped updates arrive (that
# count changes with one retailer), and every sampled round must be
# accounted: the aggregator's ledger holds exactly one entry per planned
# round, written when it was planned, and every planned round commits,
# also the ones with fewer updates than the quorum (most of them here).
# Before this rule, such rounds were abandoned without a ledger entry.
source "$(dirname "$0")/lib.sh"

fed_data 4
server_config 6 3 20000 '{"granularity": "client", "local_epochs": 1,
 "clip": 1.0, "target_epsilon": 30, "delta": 1e-5}' \
	'"participation": "sampled", "q_clients": 0.5, "public_init": false'
for i in 0 1 2 3; do policy "$i" '"allow_client": true'; done
start_server
for i in 0 1 2 3; do start_client "$i"; done
check "aggregator finished" wait_pid "$SERVER_PID" 120
for i in 0 1 2 3; do
	check "client $i finished" wait_pid "${CLIENT_PID[$i]}" 30
done
sed "s/^/# /" "$WORK/server.out"
planned=$(grep -c '"round"' "$WORK/metrics.jsonl")
committed=$(grep -c '"status": "committed"' "$WORK/metrics.jsonl")
small=$(awk -F '"updates": ' 'NF > 1 { split($2, a, ","); if (a[1] + 0 < 3) n++ } END { print n + 0 }' "$WORK/metrics.jsonl")
ledger=$WORK/checkpoint/aggregator.ledger
entries=$(grep -c '"seq"' "$ledger")
echo "# $planned rounds planned, $committed committed, $small of them with fewer than 3 updates; $entries ledger entries"
check "6 rounds planned" test "$planned" -eq 6
check "every planned round committed, whatever arrived" test "$committed" -eq "$planned"
check "the aggregator's ledger verifies" quiet "$FB_TOOL" ledger verify "$ledger"
check "one ledger entry per planned round" test "$entries" -eq "$planned"
for r in 1 2 3 4 5 6; do
	check "round $r has its ledger entry" test "$(grep -c "\"round\":$r," "$ledger")" -eq 1
done
finish
