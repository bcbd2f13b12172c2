#!/usr/bin/env bash
# tests/integration/test-fed-crash-client.sh: a client is killed (SIGKILL,
# include/fedbundle/util/crashpoint.h) at each distinct step of its round and
# restarted. User-level DP, 4 clients, 5 rounds, quorum 3, local_steps 2
# (two ledger entries per round); retailer-3 dies
#   first_round   in round 1, after its first ledger entry and before it
#                 ever wrote a state file (a restart used to be refused:
#                 "the first 0 entries differ ... the ledger was replaced");
# or in round 2:
#   train         mid-training (after its first DP step of round 2);
#   after_ledger  right after its last ledger entry of round 2 was fsync'd;
#   pending       its copy of the UPDATE of round 2 saved, nothing sent;
#   send          1 ms into sending its UPDATE of round 2 (mid-send);
#   after_ack     its UPDATE of round 2 acknowledged, state not yet written.
# Each time: the state file it left loads (user factors intact), the ledger
# it left verifies against the state's anchor (the restart refuses
# otherwise), the restarted client finishes and takes part again in a
# later round, its ledger never under-counts (every round in which the
# aggregator counted its UPDATE has both of its ledger entries, written
# before the UPDATE left), and its last reported epsilon is its ledger's.
# Once the copy of its UPDATE is saved (pending, send, after_ack), the
# restarted client offers that copy again and never trains round 2 again
# (wire-v1 §6.1 "A lost ACK"): round 2 has exactly its two ledger entries.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-hard.sh"

fed_data 4
for i in 0 1 2 3; do hard_policy "$i" '"epsilon": 20, "delta": 1e-5'; done
PLAN_WAIT_MS=1500 server_config 5 3 4000 '{"granularity": "user", "q": 0.5,
 "local_steps": 2, "target_epsilon": 20, "delta": 1e-5, "clip": 1.0}'

scenario() {
	local name=$1 at=$2 once=${3:-} i
	rm -rf "$WORK/checkpoint" "$WORK"/state-* "$WORK/metrics.jsonl"
	start_server ".$name"
	for i in 0 1 2; do start_client "$i" ".$name"; done
	export FB_CRASH_AT=$at
	start_client 3 ".$name.1"
	unset FB_CRASH_AT
	wait_exit "${CLIENT_PID[3]}" 60
	check "$name: retailer-3 killed at $at" test "$RC" = 137
	check "$name: the crash point was reached" grep -q "^crashpoint ${at%%+*}" "$WORK/client-3.$name.1.err"
	local ledger=$WORK/state-3/privacy.ledger
	local at_kill
	at_kill=$(grep -c '"seq"' "$ledger" 2>/dev/null || true)
	echo "# $name: $at_kill ledger entries when killed"
	if [ -f "$WORK/state-3/state.fbc" ]; then
		check "$name: the state left by the crash loads" \
			quiet "$FB_CLIENT" eval --policy "$WORK/policy-3.json"
	fi
	check "$name: the ledger left by the crash verifies" quiet "$FB_TOOL" ledger verify "$ledger"
	start_client 3 ".$name.2"
	wait_exit "$SERVER_PID" 120
	check "$name: aggregator finished" test "$RC" = 0
	for i in 0 1 2 3; do
		wait_exit "${CLIENT_PID[$i]}" 60
		check "$name: client $i finished" test "$RC" = 0
	done
	local rejoined="" r bad=0 updates=0
	for r in 1 2 3 4 5; do
		if [ "$(client_field "$r" retailer-3 status)" = update ]; then
			updates=$((updates + 1))
			[ "$r" -ge 3 ] && [ -z "$rejoined" ] && rejoined=$r
			if [ "$(ledger_rounds "$ledger" "$r")" -lt 2 ]; then
				bad=$((bad + 1))
				echo "# $name: round $r counted with $(ledger_rounds "$ledger" "$r") ledger entries"
			fi
		fi
	done
	local total
	total=$(grep -c '"seq"' "$ledger" || true)
	echo "# $name: retailer-3 rejoined in round ${rejoined:-never}; $updates updates counted, $total ledger entries"
	check "$name: retailer-3 took part again after the restart" test -n "$rejoined"
	check "$name: every counted update has its ledger entries" test "$bad" = 0
	check "$name: the ledger kept every entry written before the crash" test "$total" -ge "$at_kill"
	check "$name: ledger verifies at the end" quiet "$FB_TOOL" ledger verify "$ledger"
	if [ -n "$once" ]; then
		check "$name: the restarted client offered its saved update" grep -q \
			"round 2: an update whose ACK did not arrive before the restart" \
			"$WORK/client-3.$name.2.err"
		check "$name: round 2 trained once ($(ledger_rounds "$ledger" 2) ledger entries)" \
			test "$(ledger_rounds "$ledger" 2)" = 2
		check "$name: no saved update left" test ! -e "$WORK/state-3/pending-update.fbp"
	fi
	check "$name: final state loads" quiet "$FB_CLIENT" eval --policy "$WORK/policy-3.json"
	local last="" e from_ledger
	for r in 1 2 3 4 5; do
		e=$(client_field "$r" retailer-3 epsilon)
		[ -n "$e" ] && last=$e
	done
	from_ledger=$("$FB_TOOL" ledger verify "$ledger" --delta 1e-5 --json |
		awk -F '"epsilon_pld": ' '{ split($2, a, "}"); print a[1] }')
	check "$name: last reported epsilon ($last) is the ledger's ($from_ledger)" near "$last" "$from_ledger" 1e-5
	check "$name: no temporary file left" test "$(tmp_leftovers "$WORK")" = 0
}

scenario first_round "client.after_ledger#1"
scenario train "client.train#3"
scenario after_ledger "client.after_ledger#4"
scenario pending "client.pending_saved#2" once
scenario send "client.send#2+1" once
scenario after_ack "client.after_ack#2" once
finish
