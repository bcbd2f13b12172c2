#!/usr/bin/env bash
# tests/integration/test-fed-resend.sh: an UPDATE lost on the way is sent
# again, not trained again (protocols/wire-v1.md §6.1). User-level DP, 2
# clients over tcp loopback, 3 rounds, quorum 2. Retailer 1 reaches the
# aggregator through delayproxy, which cuts its first connection in the
# middle of its first UPDATE (200 kB of 0.6 MB). The client must offer
# the same bytes again on a new session (POLL UPLOAD, then the UPDATE),
# every round must commit with both updates, and retailer 1's privacy
# ledger must hold exactly local_steps releases per round: a client that
# trained the round again would have spent its budget twice.
# Part 2: retailer 1 alone, its first ACK dropped on the way back, so its
# round commits before it offers the copy again: the answer must be ACK
# rejected duplicate (counted and used), not late.
# Part 3: retailer 1 alone behind a slow link (1.5 s each way), stopped
# with SIGTERM while its UPDATE of round 1 is on its way and restarted:
# it must resend the copy saved in its state folder, not train round 1
# again (its ledger: 4 releases in round 1, not 8).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-hard.sh"

fed_data 2
PORT=$(test_port)
SOCK="tcp://127.0.0.1:$PORT"
server_config 3 2 30000 '{"granularity": "user", "q": 0.5, "local_steps": 4,
 "target_epsilon": 8, "delta": 1e-5, "clip": 1.0}'
hard_policy 0 '"epsilon": 8, "delta": 1e-5'
CLIENT_URL="tcp://127.0.0.1:$((PORT + 1))" hard_policy 1 '"epsilon": 8, "delta": 1e-5'
"$FB_DELAYPROXY" 127.0.0.1 $((PORT + 1)) 127.0.0.1 "$PORT" 0 200000 2>"$WORK/proxy.err" &
PIDS+=("$!")
start_server
start_client 0
start_client 1

wait_exit "$SERVER_PID" 120
check "the aggregator finished" test "$RC" = 0
for i in 0 1; do
	wait_exit "${CLIENT_PID[$i]}" 30
	check "client $i finished" test "$RC" = 0
done
check "the proxy cut retailer-1's first connection mid-upload" grep -q "cut after 200000 bytes" "$WORK/proxy.err"
check "retailer-1 offered the same update again" grep -q "round 1: its ACK did not arrive: offering the same update again" "$WORK/client-1.err"
for r in 1 2 3; do
	check "round $r committed with both updates" test -n \
		"$(grep "\"round\": $r, \"status\": \"committed\", .*\"updates\": 2," "$WORK/metrics.jsonl")"
	check "retailer-1's ledger: 4 releases in round $r" test "$(ledger_rounds "$WORK/state-1/privacy.ledger" "$r")" = 4
done
check "retailer-1 trained round 1 once" test "$(grep -c "round 1: plan received" "$WORK/client-1.err")" = 1
check "retailer-1's ledger verifies" quiet "$FB_TOOL" ledger verify "$WORK/state-1/privacy.ledger"

# Part 2: the UPDATE arrives and is counted, its ACK is lost, and the
# round commits before the copy is offered again (retailer 1 alone, so
# the round commits as soon as its update is in). The resend must be told
# the truth (§6.3): ACK rejected duplicate, the update was counted and
# used; not ACK late, which says it was not used.
mv "$WORK/metrics.jsonl" "$WORK/metrics-1.jsonl"
rm -rf "$WORK"/checkpoint "$WORK"/state-*
grep retailer-1 "$WORK/roster.txt" >"$WORK/roster-1.txt"
mv "$WORK/roster-1.txt" "$WORK/roster.txt"
server_config 2 1 30000 '{"granularity": "user", "q": 0.5, "local_steps": 4,
 "target_epsilon": 8, "delta": 1e-5, "clip": 1.0}'
CLIENT_URL="tcp://127.0.0.1:$((PORT + 2))" hard_policy 1 '"epsilon": 8, "delta": 1e-5'
"$FB_DELAYPROXY" 127.0.0.1 $((PORT + 2)) 127.0.0.1 "$PORT" 0 r400000 2>"$WORK/proxy-2.err" &
PIDS+=("$!")
start_server .2
start_client 1 .2
wait_exit "$SERVER_PID" 120
check "part 2: the aggregator finished" test "$RC" = 0
wait_exit "${CLIENT_PID[1]}" 30
check "part 2: the client finished" test "$RC" = 0
check "part 2: the proxy dropped the ACK of round 1" grep -q "reply dropped after" "$WORK/proxy-2.err"
check "part 2: round 1 committed with the update" test -n \
	"$(grep '"round": 1, "status": "committed", .*"updates": 1,' "$WORK/metrics.jsonl")"
check "part 2: the update was offered again" grep -q "round 1: its ACK did not arrive: offering the same update again" "$WORK/client-1.2.err"
grep "round 1:" "$WORK/client-1.2.err" | sed 's/^/# /'
check "part 2: the resend was answered rejected (duplicate)" grep -q "round 1: .*update 0.00 MB rejected (duplicate)" "$WORK/client-1.2.err"
check "part 2: never late" test -z "$(grep "round 1: .* late" "$WORK/client-1.2.err")"
check "part 2: 4 releases in round 1" test "$(ledger_rounds "$WORK/state-1/privacy.ledger" 1)" = 4

mv "$WORK/metrics.jsonl" "$WORK/metrics-2.jsonl"
rm -rf "$WORK"/checkpoint "$WORK"/state-*
CLIENT_URL="tcp://127.0.0.1:$((PORT + 3))" hard_policy 1 '"epsilon": 8, "delta": 1e-5'
"$FB_DELAYPROXY" 127.0.0.1 $((PORT + 3)) 127.0.0.1 "$PORT" 1500 2>"$WORK/proxy-3.err" &
PIDS+=("$!")
start_server .3
start_client 1 .3
check "part 3: round 1's plan arrives through the slow link" wait_for \
	"$WORK/client-1.3.err" "round 1: plan received" 60
# Its copy is saved before it asks for the slot; the ACK is 3 s away.
check "part 3: the update is on its way" wait_for \
	"$WORK/client-1.3.err" "round 1: upload slot granted: sending the update" 30
check "part 3: the client is still waiting for its ACK" kill -0 "${CLIENT_PID[1]}"
t0=$(date +%s%N)
kill -TERM "${CLIENT_PID[1]}" 2>/dev/null || true
wait_exit "${CLIENT_PID[1]}" 10
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# SIGTERM to exit while uploading: $ms ms"
check "part 3: SIGTERM ends an uploading client within 1.5 s" test "$ms" -lt 1500
check "part 3: no round-1 result was logged before the stop" \
	test -z "$(grep "round 1: 4 DP steps" "$WORK/client-1.3.err")"
check "part 3: the ledger verifies after the stop" quiet "$FB_TOOL" ledger verify "$WORK/state-1/privacy.ledger"
CLIENT_URL="$SOCK" hard_policy 1 '"epsilon": 8, "delta": 1e-5'
start_client 1 .3b
wait_exit "$SERVER_PID" 120
check "part 3: the aggregator finished" test "$RC" = 0
wait_exit "${CLIENT_PID[1]}" 30
check "part 3: the restarted client finished" test "$RC" = 0
check "part 3: round 1 was trained once" test \
	"$(cat "$WORK/client-1.3.err" "$WORK/client-1.3b.err" | grep -c "round 1: plan received")" = 1
check "part 3: 4 releases in round 1" test "$(ledger_rounds "$WORK/state-1/privacy.ledger" 1)" = 4
finish
