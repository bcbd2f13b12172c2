#!/usr/bin/env bash
# tests/integration/test-fed-kill-client.sh: user-level DP, 4 clients, 5
# rounds, quorum 3. Retailer 3 is killed with SIGKILL while it trains
# round 2, right after its ledger took the round's first release (the
# crash point client.after_ledger#7: round 1 took 6). Round 2
# must still commit at its deadline with the 3 other updates; retailer 3
# restarts from its state (last completed round 1), its ledger verifies
# against the state's anchor and keeps the releases of the killed round
# (the ledger may over-count, never under-count), and it rejoins a later
# round. A copy of its state with the ledger removed, or with the ledger's
# last entry cut off, must refuse to start.
source "$(dirname "$0")/lib.sh"

fed_data 4
server_config 5 3 10000 '{"granularity": "user", "q": 0.5, "local_steps": 6,
 "target_epsilon": 8, "delta": 1e-5, "clip": 1.0}'
for i in 0 1 2 3; do policy "$i" '"epsilon": 8, "delta": 1e-5'; done
start_server
for i in 0 1 2; do start_client "$i"; done
export FB_CRASH_AT=client.after_ledger#7
start_client 3
unset FB_CRASH_AT

# A kill at a crash point, not from outside: a poll of the ledger could
# come too late on a busy machine, after the update was sent.
rc=0
wait "${CLIENT_PID[3]}" || rc=$?
check "retailer-3 killed at its 7th release" test "$rc" = 137
check "the release it was killed after is round 2's first" test \
	"$(tail -n 1 "$WORK/state-3/privacy.ledger" | grep -c '"round":2,')" = 1
check "round 2 closed" wait_for "$WORK/metrics.jsonl" '"round": 2,' 60
check "round 2 committed with the quorum" test "$(metric 2 updates)" -eq 3 -a \
	-n "$(grep '"round": 2, "status": "committed"' "$WORK/metrics.jsonl")"
check "retailer-3 counted as missing in round 2" test "$(client_field 2 retailer-3 status)" = missing
# Release lines only (its budget entry, written at start, has no "q").
releases_at_kill=$(grep -c '"q":' "$WORK/state-3/privacy.ledger" || true)
echo "# retailer-3's ledger had $releases_at_kill releases when it was killed"

start_client 3 .restart
check "aggregator finished" wait_pid "$SERVER_PID" 150
for i in 0 1 2 3; do
	check "client $i finished" wait_pid "${CLIENT_PID[$i]}" 30
done
sed "s/^/# /" "$WORK/server.out"
check "retailer-3 resumed from its state" grep -q "last completed round 1" "$WORK/client-3.restart.err"
rejoined=""
for r in 3 4 5; do
	[ "$(client_field "$r" retailer-3 status)" = update ] && rejoined=$r && break
done
echo "# retailer-3 rejoined in round ${rejoined:-never}"
check "retailer-3 rejoined a later round" test -n "$rejoined"
check "all 5 rounds committed" test "$(grep -c '"status": "committed"' "$WORK/metrics.jsonl")" -eq 5
ledger="$WORK/state-3/privacy.ledger"
check "retailer-3's ledger verifies" quiet "$FB_TOOL" ledger verify "$ledger"
total=$(grep -c '"seq"' "$ledger")
releases=$(grep -c '"q":' "$ledger")
updates=$(grep -o '"name": "retailer-3", "status": "update"' "$WORK/metrics.jsonl" | wc -l)
echo "# retailer-3: $updates updates counted, $releases releases in its ledger"
check "the killed round's releases stayed in the ledger" test "$releases" -ge $((updates * 6 + releases_at_kill - 6))
check "the ledger accounts for more than the updates counted" test "$releases" -gt $((updates * 6))
last=""
for r in 1 2 3 4 5; do
	e=$(client_field "$r" retailer-3 epsilon)
	[ -n "$e" ] && last=$e
done
from_ledger=$("$FB_TOOL" ledger verify "$ledger" --delta 1e-5 --json |
	awk -F '"epsilon_pld": ' '{ split($2, a, "}"); print a[1] }')
check "retailer-3's last reported epsilon ($last) is its ledger's ($from_ledger)" near "$last" "$from_ledger" 1e-5

# A missing or shortened ledger refuses the start.
cp -r "$WORK/state-3" "$WORK/state-x"
sed 's/"state-3"/"state-x"/' "$WORK/policy-3.json" >"$WORK/policy-x.json"
rm "$WORK/state-x/privacy.ledger"
check "a missing ledger refuses the start" sh -c \
	"! '$FB_CLIENT' run --policy '$WORK/policy-x.json' 2>'$WORK/x.err' && grep -q 'ledger is missing' '$WORK/x.err'"
head -n "$((total - 1))" "$ledger" >"$WORK/state-x/privacy.ledger"
check "a shortened ledger refuses the start" sh -c \
	"! '$FB_CLIENT' run --policy '$WORK/policy-x.json' 2>'$WORK/x.err' && grep -q 'entries were removed' '$WORK/x.err'"
sed 's/^/# /' "$WORK/x.err"
finish
