#!/usr/bin/env bash
# tests/integration/test-fed-newfed.sh: an aggregator restarted on a new,
# EMPTY checkpoint folder starts a new federation (issue 11, "must not
# lock retailers out"; protocols/wire-v1.md §2.3, §6.1 "A new
# federation"). Real fedbundle-server and three fedbundle-client processes
# (user-level DP), the clients never restarted:
#   A. a first aggregator trains a few rounds and is stopped; it drew a
#      federation id, which its plans carry and the clients keep in their
#      state;
#   S. restarted on the SAME checkpoint folder it keeps the id and goes on
#      numbering: the clients train on, no reset; it is then killed while
#      it collects, so the clients hold unacknowledged updates;
#   N. a new aggregator on an EMPTY folder (same keys, roster, catalogue)
#      draws a new id and numbers its rounds from 1 again: the clients give
#      up resending their old updates (never counted in the new
#      federation), log the new federation, reset their round counters and
#      train all its rounds; their ledgers carry over (every release
#      counted, within budget).
# Before the fix, N fails: every client refuses every plan of the new
# aggregator as already completed (wrong-round), for ever.
source "$(dirname "$0")/lib.sh"

fed_data 3
fast='"reconnect_min_ms": 50, "reconnect_max_ms": 200'
for i in 0 1 2; do policy "$i" "\"epsilon\": 50, \"delta\": 1e-5, $fast"; done
round_json='{"granularity": "user", "q": 0.5, "local_steps": 2,
 "noise_multiplier": 2.0, "delta": 1e-5, "clip": 1.0}'
json_field() { # json_field LEDGER KEY
	"$FB_TOOL" ledger verify "$1" --json | sed -n "s/.*\"$2\": \([^,}]*\).*/\1/p"
}
eps_of() { # the epsilon a ledger's releases spend at delta 1e-5 (PLD)
	"$FB_TOOL" ledger verify "$1" --delta 1e-5 --json |
		awk -F '"epsilon_pld": ' '{ split($2, a, "}"); print a[1] }'
}
fed_id() { cat "$WORK/checkpoint/federation-id" 2>/dev/null || true; }
# trained FIRST LAST NAME: how many of rounds FIRST..LAST NAME sent an
# update for (metrics.jsonl).
trained() {
	local r n=0
	for ((r = $1; r <= $2; r++)); do
		[ "$(client_field "$r" "$3" status)" = update ] && n=$((n + 1))
	done
	echo "$n"
}
# wait_pid_any PID SECONDS: like wait_pid, whatever the exit status.
wait_pid_any() {
	local t=0
	while kill -0 "$1" 2>/dev/null; do
		if [ "$t" -ge $(($2 * TIME_SCALE * 10)) ]; then
			kill -9 "$1" 2>/dev/null || true
			return 1
		fi
		sleep 0.1
		t=$((t + 1))
	done
	wait "$1" 2>/dev/null || true
}
stop_server() {
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	wait_pid "$SERVER_PID" 30 || true
}

# ---- A. the first federation ----
PLAN_WAIT_MS=1000 server_config 1000 3 20000 "$round_json"
start_server .A
for i in 0 1 2; do start_client "$i"; done
check "A: three rounds committed" wait_for "$WORK/metrics.jsonl" '"round": 3,' 60
stop_server
fed_a=$(fed_id)
planned_a=$(cat "$WORK/checkpoint/planned-round")
echo "# A: federation $fed_a, $planned_a round(s) planned"
check "A: the aggregator drew a federation id" grep -Eqx '[0-9a-f]{32}' \
	"$WORK/checkpoint/federation-id"
check "A: it logged it" grep -q "new federation $fed_a (previous id: none)" \
	"$WORK/server.A.err"
for i in 0 1 2; do
	check "A: retailer-$i trained rounds 1-3" test "$(trained 1 3 retailer-$i)" = 3
	check "A: retailer-$i keeps the federation in its state" grep -aq \
		"\"federation\": \"$fed_a\"" "$WORK/state-$i/state.fbc"
done

# ---- S. the same checkpoint folder: same federation, numbering goes on ----
s_first=$((planned_a + 1))
s_held=$((s_first + 2))
PLAN_WAIT_MS=1000 server_config 1000 3 20000 "$round_json"
# Killed at the 7th update counted: in round s_held, once two rounds
# committed with 3 updates each; updates of s_held are then counted or
# sent, never acknowledged.
FB_CRASH_AT=agg.collect#7 start_server .S
check "S: the aggregator was killed collecting round $s_held" wait_pid_any "$SERVER_PID" 90
check "S: at the crash point" grep -q "crashpoint agg.collect#7: SIGKILL" "$WORK/server.S.err"
check "S: the federation id is kept" test "$(fed_id)" = "$fed_a"
check "S: the aggregator resumed it" grep -q \
	"federation $fed_a: round numbering resumed after round $planned_a" \
	"$WORK/server.S.err"
for i in 0 1 2; do
	check "S: retailer-$i trained rounds $s_first-$((s_first + 1))" \
		test "$(trained "$s_first" $((s_first + 1)) retailer-$i)" = 2
	check "S: retailer-$i was not told a new federation" bash -c \
		"! grep -q 'new federation' '$WORK/client-$i.err'"
done

# ---- N. a new, empty checkpoint folder: a new federation ----
sleep 1 # a client still training the killed aggregator's round writes its ledger
declare -a before
for i in 0 1 2; do before[$i]=$(json_field "$WORK/state-$i/privacy.ledger" releases); done
mv "$WORK/checkpoint" "$WORK/checkpoint.old"
mv "$WORK/metrics.jsonl" "$WORK/metrics.old.jsonl"
PLAN_WAIT_MS=1000 server_config 3 3 20000 "$round_json"
start_server .N
check "N: the new aggregator finished its 3 rounds" wait_pid "$SERVER_PID" 120
sed 's/^/# N: /' "$WORK/server.N.out"
fed_n=$(fed_id)
echo "# N: federation $fed_n (was $fed_a)"
check "N: it drew a new federation id" test -n "$fed_n" -a "$fed_n" != "$fed_a"
for i in 0 1 2; do
	check "N: retailer-$i (never restarted) finished" wait_pid "${CLIENT_PID[$i]}" 30
	n=$(trained 1 3 retailer-$i)
	statuses=$(for r in 1 2 3; do client_field "$r" "retailer-$i" status; done | tr '\n' ' ')
	echo "# N: retailer-$i: rounds 1-3: $statuses"
	check "N: retailer-$i trained the new federation's rounds 1-3 ($n of 3)" test "$n" = 3
	check "N: retailer-$i logged the new federation" grep -q \
		"the aggregator started a new federation $fed_n (was $fed_a); round numbering restarts; the privacy ledger carries over" \
		"$WORK/client-$i.err"
	check "N: retailer-$i keeps the new federation in its state" grep -aq \
		"\"federation\": \"$fed_n\"" "$WORK/state-$i/state.fbc"
	check "N: retailer-$i's last completed round is the new federation's 3" \
		grep -aq '"last_completed": 3,' "$WORK/state-$i/state.fbc"
	led=$WORK/state-$i/privacy.ledger
	after=$(json_field "$led" releases)
	check "N: retailer-$i's ledger carried over: ${before[$i]} + 6 releases = $after" \
		test "$after" = $((before[i] + 6))
	check "N: retailer-$i's ledger verifies" quiet "$FB_TOOL" ledger verify "$led"
	e=$(eps_of "$led")
	check "N: retailer-$i within its budget ($e of 50)" ge 50 "$e"
done
# An update held from the killed aggregator is offered to the new one
# (POLL UPLOAD, §6.1): refused there as a round never offered, then given
# up; it is never counted in the new federation (each round below has the
# 3 fresh updates, and the ledgers just the new rounds' releases).
held=0
for i in 0 1 2; do
	f=$WORK/client-$i.err
	if grep -q "round $s_held: its ACK did not arrive" "$f"; then
		held=$((held + 1))
		check "N: retailer-$i gave up its update of the old round $s_held" \
			grep -q "round $s_held: giving up resending the update after 5 attempts" "$f"
	fi
done
echo "# N: $held client(s) held an unacknowledged update of the old federation"
check "N: at least one client held one" test "$held" -ge 1
for r in 1 2 3; do
	check "N: round $r committed with the 3 fresh updates" grep -q \
		"\"round\": $r, \"status\": \"committed\", .*\"updates\": 3," \
		"$WORK/metrics.jsonl"
done
finish
