#!/usr/bin/env bash
# tests/integration/test-fed-restart-server.sh: the aggregator is killed
# with SIGKILL right after committing round 3 (crash point
# agg.after_commit: checkpoint durable, metrics line not yet written; a
# kill from outside once round 3's line appeared could land after round 4
# too, rounds here take a quarter of a second) and started again. It must
# resume from its checkpoint (model and last committed round 3), never
# reuse a round id (a round planned when it died is abandoned: the next id
# follows the planned-round marker), never commit a round twice, and
# finish all 6 rounds with the clients, which reconnect on their own. The
# model starts from random factors (public_init false), so a restart from
# scratch would show as a drop of Recall@20 to round 1's level.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-hard.sh"

fed_data 4
server_config 6 4 20000 '{"granularity": "none", "local_epochs": 2,
 "report_eval": true}' '"public_init": false'
for i in 0 1 2 3; do hard_policy "$i" '"report_eval": true'; done
export FB_CRASH_AT=agg.after_commit#3
start_server .1
unset FB_CRASH_AT
for i in 0 1 2 3; do start_client "$i"; done
wait_exit "$SERVER_PID" 120
check "killed right after committing round 3" test "$RC" = 137
planned=$(cat "$WORK/checkpoint/planned-round")
echo "# aggregator killed after round 3; last planned round $planned"
check "the planned-round marker is 3 or 4" test "$planned" -ge 3 -a "$planned" -le 4

start_server .2
check "restarted aggregator finished" wait_pid "$SERVER_PID" 150
for i in 0 1 2 3; do
	check "client $i finished" wait_pid "${CLIENT_PID[$i]}" 30
done
sed "s/^/# /" "$WORK/server.2.out"
check "resumed from the checkpoint of round 3" grep -q \
	"resuming from .*checkpoint.fbc: last committed round 3, last planned round $planned" \
	"$WORK/server.2.err"
check "round 3's metrics line recovered at the restart" grep -q \
	'^{"round": 3, "status": "committed".*"recovered": true}$' "$WORK/metrics.jsonl"
ids=$(grep -o '^{"round": [0-9]*' "$WORK/metrics.jsonl" | awk '{ print $2 }' | tr '\n' ' ')
echo "# round ids in the metrics, in order: $ids"
first_after=$(echo "$ids" | awk '{ print $4 }')
check "the first round after the restart is $((planned + 1))" test "$first_after" = $((planned + 1))
check "no round id appears twice" test "$(echo "$ids" | tr ' ' '\n' | sed '/^$/d' | sort | uniq -d | wc -l)" -eq 0
check "round ids increase" sh -c "echo '$ids' | tr ' ' '\n' | sed '/^$/d' | sort -n -c"
check "the last committed round is 6" grep -q "last committed round 6" "$WORK/server.2.out"
check "rounds 1-3 and $((planned + 1))-6 committed" test \
	"$(grep -c '"status": "committed"' "$WORK/metrics.jsonl")" -eq $((3 + 6 - planned))
r1=$(metric 1 recall@20)
rn=$(metric "$((planned + 1))" recall@20)
echo "# Recall@20: round 1 $r1, round $((planned + 1)) (after the restart) $rn"
check "training continued from the checkpoint, not from scratch" gt "$rn" "$(awk -v a="$r1" 'BEGIN { print a + 0.05 }')"
finish
