#!/usr/bin/env bash
# tests/integration/test-fed-hostile.sh: an enrolled hostile peer
# (tests/integration/mallory.c --hostile, --flood) against a running
# aggregator with 4 honest clients, non-private (fixed seeds), 10 rounds.
# Rounds 1-4: in each, mallory sends one UPDATE bent to be refused
# (too few rows, too many rows, too few columns, a missing tensor), and in
# round 1 first NaN, +infinity, a body cut inside a valid envelope, UPDATEs
# for rounds it was not offered and a message 1 MiB over the announced
# maximum. Then it pauses and floods: 4 processes keep 64 connections busy
# with HELLOs, unknown sessions, garbage (each connection replaced after 3
# refusals: the aggregator closes it at 4) and POLLs for 4 s while the honest
# rounds go on. Each refusal must carry its reason code; the aggregator
# must count only the 4 honest updates in every round and end with the
# global metrics of the same run without mallory; its resident memory
# after the flood may exceed the level before it by at most 16 MB
# (per-connection buffers, all released when the connections close).
# A second run with client-level DP: an UPDATE whose claimed clip differs
# from the plan's is refused with privacy-mismatch, one whose norm is far
# above the clip with over-bound (wire-v1 §9.7), and no round counts them.
# (User-level updates beyond their bound: test-fed-bound.sh.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-hard.sh"
: "${FB_MALLORY:?set by meson test}"

fed_data 4
round='{"granularity": "none", "local_epochs": 1, "report_eval": true}'
for i in 0 1 2 3; do hard_policy "$i" '"report_eval": true'; done

# The reference run, without mallory.
server_config 10 4 20000 "$round" '"min_clients": 4, "public_init": false'
start_server .ref
for i in 0 1 2 3; do start_client "$i" .ref; done
wait_exit "$SERVER_PID" 120
check "reference run finished" test "$RC" = 0
for i in 0 1 2 3; do wait_exit "${CLIENT_PID[$i]}" 30; done
mv "$WORK/metrics.jsonl" "$WORK/metrics.ref.jsonl"
rm -rf "$WORK"/checkpoint "$WORK"/state-*

"$FB_TOOL" keygen --out "$WORK/keys/mallory" --name mallory >/dev/null 2>&1
cat "$WORK/keys/mallory.pub" >>"$WORK/roster.txt"
# Once mallory has gone, every round waits plan_wait_ms for a fifth
# client: 2 s keeps the aggregator running through the 4 s flood below
# (rounds 6-10 take at least 10 s) with room on a busy machine.
PLAN_WAIT_MS=2000 server_config 10 4 20000 "$round" '"min_clients": 5, "public_init": false'
start_server
for i in 0 1 2 3; do start_client "$i"; done
"$FB_MALLORY" --hostile "$SOCK" "$WORK/keys/aggregator.pub" "$WORK/keys/mallory.key" \
	"errors+under,over,cols,missing" >"$WORK/mallory.out" 2>&1 &
MALLORY_PID=$!
PIDS+=("$MALLORY_PID")
wait_exit "$MALLORY_PID" 90
sed 's/^/# mallory: /' "$WORK/mallory.out"
check "every hostile UPDATE was refused as specified" test "$RC" = 0
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0; }
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0; }
before=$(rss)
"$FB_MALLORY" --flood "$SOCK" "$WORK/keys/aggregator.pub" "$WORK/keys/mallory.key" \
	4 64 >"$WORK/flood.out" 2>&1 &
FLOOD_PID=$!
PIDS+=("$FLOOD_PID")
wait_exit "$FLOOD_PID" 60
sed 's/^/# /' "$WORK/flood.out"
check "every flooding request got its one reply" test "$RC" = 0
sleep 0.5
after=$(rss)
peak=$(hwm)
echo "# aggregator VmRSS before the flood ${before} kB, after ${after} kB; VmHWM ${peak} kB"
check "the aggregator was still running after the flood" test "$after" -gt 0
check_memory "resident memory after the flood within 16 MB of before" test $((after - before)) -le 16384
wait_exit "$SERVER_PID" 150
check "aggregator finished its run" test "$RC" = 0
for i in 0 1 2 3; do
	wait_exit "${CLIENT_PID[$i]}" 30
	check "client $i finished" test "$RC" = 0
done
log="$WORK/server.err"
grep "refused" "$log" | grep mallory | sed 's/^/# /' | head -20
check "log names the NaN/infinity/cut UPDATEs" test \
	"$(grep -c "refused UPDATE from mallory (round 1): malformed" "$log")" -ge 3
check "log names the shape mismatches" test \
	"$(grep -c "refused UPDATE from mallory (round [0-9]*): shape-mismatch" "$log")" -eq 4
check "log names the wrong rounds" test \
	"$(grep -c "refused UPDATE from mallory (round [0-9]*): wrong-round" "$log")" -eq 2
check "10 rounds committed" test "$(grep -c '"status": "committed"' "$WORK/metrics.jsonl")" -eq 10
check "every round counted exactly the 4 honest updates" test "$(grep -c '"updates": 4,' "$WORK/metrics.jsonl")" -eq 10
check "mallory's updates were never counted" test -z "$(grep -o '"name": "mallory", "status": "update"' "$WORK/metrics.jsonl")"
for r in 1 4 7 10; do
	a=$(metric "$r" recall@20)
	b=$(awk -v r="\"round\": $r," 'index($0, r) == 2' "$WORK/metrics.ref.jsonl" |
		awk -F '"recall@20": ' '{ split($2, x, ","); print x[1] }')
	echo "# round $r: Recall@20 $a with mallory, $b without"
	check "round $r: the honest run's Recall@20 is reported" \
		sh -c "test -n '$a' -a -n '$b'"
	check "round $r: the honest run's Recall@20 is unchanged" near "$a" "$b" 1e-6
done

# Client-level DP: the privacy claims and the norm bound.
rm -rf "$WORK"/checkpoint "$WORK"/state-* "$WORK/metrics.jsonl"
PLAN_WAIT_MS=1000 server_config 3 4 20000 '{"granularity": "client",
 "local_epochs": 1, "clip": 1.0, "target_epsilon": 20, "delta": 1e-5}' \
	'"min_clients": 5, "public_init": false'
start_server .dp
for i in 0 1 2 3; do start_client "$i" .dp; done
"$FB_MALLORY" --hostile "$SOCK" "$WORK/keys/aggregator.pub" "$WORK/keys/mallory.key" \
	"claim,norm" >"$WORK/mallory.dp.out" 2>&1 &
MALLORY_PID=$!
PIDS+=("$MALLORY_PID")
wait_exit "$MALLORY_PID" 90
sed 's/^/# mallory: /' "$WORK/mallory.dp.out"
check "client-level: the claim and the norm were refused" test "$RC" = 0
wait_exit "$SERVER_PID" 120
check "client-level: aggregator finished" test "$RC" = 0
grep "above the bound" "$WORK/server.dp.err" | sed 's/^/# /'
check "client-level: the log names the norm" grep -q \
	"refused UPDATE from mallory (round 2): over-bound: update norm .* above the bound 1.00001" "$WORK/server.dp.err"
check "client-level: every round counted the 4 honest updates only" test \
	"$(grep -c '"updates": 4,' "$WORK/metrics.jsonl")" -eq 3
for i in 0 1 2 3; do wait_exit "${CLIENT_PID[$i]}" 30; done
finish
