#!/usr/bin/env bash
# tests/integration/test-fed-security.sh: a running aggregator with 4
# honest clients and `mallory`, an enrolled client that misbehaves on
# purpose (tests/integration/mallory.c): a HELLO with an unenrolled key, a
# replayed sealed POLL, a sealed POLL of another version and one on another
# connection than its session's, an UPDATE with a flipped byte, truncated
# messages and a well-sealed UPDATE for a round it was not offered. Each must be
# refused with its reason code, the aggregator's log must name each
# refusal (a message that did not open only by its connection), the run
# must finish, and nothing may change: every round counts
# the 4 honest updates only, and the global metrics equal those of the same
# run without mallory (non-private, fixed seeds: deterministic).
source "$(dirname "$0")/lib.sh"
: "${FB_MALLORY:?set by meson test}"

fed_data 4
round='{"granularity": "none", "local_epochs": 2, "report_eval": true}'
for i in 0 1 2 3; do policy "$i" '"report_eval": true'; done

# The reference run, without mallory.
server_config 4 4 20000 "$round" '"min_clients": 4'
start_server
for i in 0 1 2 3; do start_client "$i" .ref; done
check "reference run finished" wait_pid "$SERVER_PID" 120
for i in 0 1 2 3; do wait_pid "${CLIENT_PID[$i]}" 30 || true; done
mv "$WORK/metrics.jsonl" "$WORK/metrics.ref.jsonl"
rm -rf "$WORK"/checkpoint "$WORK"/state-*

# The same with mallory enrolled, and a stranger's key that is not.
"$FB_TOOL" keygen --out "$WORK/keys/mallory" --name mallory >/dev/null 2>&1
"$FB_TOOL" keygen --out "$WORK/keys/stranger" --name stranger >/dev/null 2>&1
cat "$WORK/keys/mallory.pub" >>"$WORK/roster.txt"
PLAN_WAIT_MS=1000 server_config 4 4 20000 "$round" '"min_clients": 5'
start_server
for i in 0 1 2 3; do start_client "$i"; done
"$FB_MALLORY" "$SOCK" "$WORK/keys/aggregator.pub" "$WORK/keys/mallory.key" \
	"$WORK/keys/stranger.key" >"$WORK/mallory.out" 2>&1 &
MALLORY_PID=$!
PIDS+=("$MALLORY_PID")
check "mallory's attacks were all refused as specified" wait_pid "$MALLORY_PID" 60
sed 's/^/# mallory: /' "$WORK/mallory.out"
check "aggregator finished its run" wait_pid "$SERVER_PID" 120
for i in 0 1 2 3; do
	check "client $i finished" wait_pid "${CLIENT_PID[$i]}" 30
done
sed "s/^/# /" "$WORK/server.out"
grep "refused" "$WORK/server.err" | sed 's/^/# /'

log="$WORK/server.err"
check "log names the unenrolled key" grep -q "refused HELLO from pipe [0-9]*: unknown-key" "$log"
# A message that did not open is named by its connection only: its type
# and round are unauthenticated claims (issue 11).
check "log names the replay, on mallory's connection" grep -q \
	"refused a sealed message on mallory's connection (pipe [0-9]*): replay" "$log"
check "log names the tampered and the truncated UPDATE, on mallory's connection" test \
	"$(grep -c "refused a sealed message on mallory's connection (pipe [0-9]*): auth-failed" "$log")" -eq 2
check "log names the message below the envelope" grep -q "refused a sealed message from pipe [0-9]*: malformed" "$log"
check "log names the other version by its connection only" grep -q \
	"refused a sealed message from pipe [0-9]*: unsupported-version" "$log"
check "log names a session used on another connection by that connection only" grep -q \
	"refused a sealed message from pipe [0-9]*: wrong-connection" "$log"
check "no log line names the type or round of a message that did not open" test -z \
	"$(grep -E "refused (POLL|UPDATE|REFUSE|ERROR) .*: (replay|auth-failed|unknown-session)" "$log")"
check "log names the wrong round" grep -q "refused UPDATE from mallory (round [0-9]*): wrong-round" "$log"

check "4 rounds committed" test "$(grep -c '"status": "committed"' "$WORK/metrics.jsonl")" -eq 4
check "every round counted exactly the 4 honest updates" test "$(grep -c '"updates": 4,' "$WORK/metrics.jsonl")" -eq 4
check "mallory's update was never counted" test -z "$(grep -o '"name": "mallory", "status": "update"' "$WORK/metrics.jsonl")"
for r in 1 2 3 4; do
	a=$(metric "$r" recall@20)
	b=$(awk -v r="\"round\": $r," 'index($0, r) == 2' "$WORK/metrics.ref.jsonl" |
		awk -F '"recall@20": ' '{ split($2, x, ","); print x[1] }')
	echo "# round $r: Recall@20 $a with mallory, $b without"
	check "round $r: global metrics reported" sh -c "test -n '$a' -a -n '$b'"
	check "round $r: global metrics unchanged by mallory" near "$a" "$b" 1e-6
done
finish
