#!/usr/bin/env bash
# tests/integration/test-fed-crash-server.sh: the aggregator is killed
# (SIGKILL, include/fedbundle/util/crashpoint.h) at every distinct step of a
# round and restarted; 4 non-private clients (fixed seeds), 4 rounds,
# quorum 4, the crash in round 2. After each restart the run must finish;
# round ids must strictly increase and never be reused; the checkpoint
# must hold exactly the committed rounds (its optimizer step count equals
# the number of distinct committed ids, its last_committed their maximum);
# every committed round must have its metrics line (killed after the
# checkpoint and before the line, the restart appends the line kept in
# the checkpoint folder); a client whose ACK died with the aggregator must
# get an answer to its resent update at once; every client's state must
# load.
#
# Determinism. Local training depends only on the seed, the round id, the
# global model received and the client's own user factors, so the final
# model is a function of the *abandon pattern*; a crash in round 2 gives
# one of three patterns, and every crash point of a pattern must end in a
# model identical to the last bit:
#   none      no round lost: the crash-free reference and agg.after_commit
#             (the checkpoint of round 2 was durable);
#   early     round 2 abandoned before any client trained on it:
#             agg.after_plan and agg.broadcast#5 (before the first PLAN of
#             round 2 left);
#   late      round 2 abandoned after every client trained on it:
#             agg.collect#8 (the 4th update of round 2 counted, not
#             acknowledged), agg.aggregate#2 (applied in memory) and
#             rename:checkpoint.fbc#2 (temporary file written, not renamed).
# agg.broadcast#6 and agg.collect#6 fall between patterns (which clients
# trained on the lost round depends on timing): only the invariants are
# checked. Two DP runs check the ledgers: client-level DP killed after the
# aggregator's ledger entry and before its checkpoint (the ledger may
# over-count, never under-count, and must still match the checkpoint's
# anchor), and user-level DP killed mid-collection (every counted update
# has its ledger entries).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-hard.sh"

fed_data 4
for i in 0 1 2 3; do hard_policy "$i" '"epsilon": 20, "delta": 1e-5'; done

# scenario NAME CRASH_AT EXPECT_COMMITTED_AT_RESUME: one crash + restart.
scenario() {
	local name=$1 at=$2 resume=$3
	rm -rf "$WORK/checkpoint" "$WORK"/state-* "$WORK/metrics.jsonl"
	if [ -n "$at" ]; then
		export FB_CRASH_AT=$at
	fi
	start_server ".$name.1"
	unset FB_CRASH_AT
	local i
	for i in 0 1 2 3; do start_client "$i" ".$name"; done
	wait_exit "$SERVER_PID" 60
	if [ -n "$at" ]; then
		check "$name: killed at $at" test "$RC" = 137
		grep -q "crashpoint ${at%%+*}" "$WORK/server.$name.1.err" ||
			grep -q "crashpoint ${at%%+*}#1" "$WORK/server.$name.1.err" ||
			echo "# no crashpoint line for $at"
		start_server ".$name.2"
		wait_exit "$SERVER_PID" 90
		check "$name: restarted aggregator finished" test "$RC" = 0
		local line
		line=$(grep -o "last committed round [0-9]*, last planned round [0-9]*" \
			"$WORK/server.$name.2.err" || true)
		echo "# $name: resumed with $line"
		check "$name: resumed from the checkpoint of round $resume" \
			test -n "$(echo "$line" | grep "last committed round $resume,")"
	else
		check "$name: finished" test "$RC" = 0
	fi
	for i in 0 1 2 3; do
		wait_exit "${CLIENT_PID[$i]}" 60
		check "$name: client $i finished" test "$RC" = 0
	done
	local ckpt=$WORK/checkpoint/checkpoint.fbc
	local ids steps last want
	ids=$( (committed_ids; if [ -n "$at" ]; then echo "$resume"; fi) | sed '/^0*$/d' | sort -n -u)
	steps=$(meta_num "$ckpt" optimizer_steps)
	last=$(meta_num "$ckpt" last_committed)
	echo "# $name: committed ids $(echo $ids), checkpoint: $steps rounds applied, last $last"
	check "$name: round ids in the log strictly increase" sh -c "$(declare -f all_ids strictly_increasing); WORK='$WORK'; all_ids | strictly_increasing"
	check "$name: the checkpoint applied each committed round once ($steps)" \
		test "$steps" = "$(echo "$ids" | wc -w)"
	check "$name: the checkpoint's last round is the last committed id" \
		test "$last" = "$(echo "$ids" | tail -1)"
	want=4
	[ "$resume" = 1 ] && want=3
	check "$name: $want rounds committed" test "$(echo "$ids" | wc -w)" = "$want"
	local id lost=""
	for id in $ids; do
		grep -q "^{\"round\": $id, \"status\": \"committed\"" "$WORK/metrics.jsonl" || lost="$lost $id"
	done
	check "$name: a metrics line for every committed round${lost:+ (missing:$lost)}" test -z "$lost"
	# A client whose ACK died with the aggregator offers its update again
	# after the restart and is answered at once: the round is closed
	# (wire-v1 §6.3), not wrong-round five times.
	check "$name: no client gave up resending an update" test -z \
		"$(cat "$WORK"/client-*."$name".err | grep "giving up resending")"
	if [ "$name" = collect_last ]; then
		check "$name: the client whose ACK was lost resent and got ACK late" sh -c \
			"cat '$WORK'/client-*.'$name'.err | grep -A1 'round 2: its ACK did not arrive' | grep -q 'round 2: .* late (late)'"
	fi
	check "$name: no temporary file left" test "$(tmp_leftovers "$WORK")" = 0
	for i in 0 1 2 3; do
		check "$name: client $i state loads" quiet "$FB_CLIENT" eval --policy "$WORK/policy-$i.json"
	done
	tfile_tensors_save "$ckpt" "$WORK/model-$name.txt"
}

server_config 4 4 20000 '{"granularity": "none", "local_epochs": 1}' '"public_init": false'
scenario reference "" 2
scenario after_commit "agg.after_commit#2" 2
scenario after_plan "agg.after_plan#2" 1
scenario broadcast_first "agg.broadcast#5" 1
scenario collect_last "agg.collect#8" 1
scenario aggregate "agg.aggregate#2" 1
scenario checkpoint "rename:checkpoint.fbc#2" 1
scenario broadcast_mid "agg.broadcast#6" 1
scenario collect_mid "agg.collect#6" 1

# same NAME1 NAME2: the final models of two scenarios are the same model:
# within 1e-4 (relative L2). Updates are summed in arrival order and float
# addition is not associative, so two runs of one pattern differ by
# rounding (~1e-6 here); a lost round moves the model by ~0.1.
same() {
	local d
	d=$(model_distance "$WORK/model-$1.txt" "$WORK/model-$2.txt")
	echo "# distance $1 - $2: $d"
	awk -v d="$d" 'BEGIN { exit !(d < 1e-4) }'
}
differ() {
	! same "$@"
}
check "pattern none: after_commit ends in the reference model" same after_commit reference
check "pattern early: broadcast#5 ends in after_plan's model" same broadcast_first after_plan
check "pattern late: aggregate ends in collect#8's model" same aggregate collect_last
check "pattern late: checkpoint ends in collect#8's model" same checkpoint collect_last
check "patterns differ: early vs none" differ after_plan reference
check "patterns differ: late vs early" differ collect_last after_plan
check "patterns differ: late vs none" differ collect_last reference

# Client-level DP (central noise): the aggregator's ledger entry of round
# 2 is durable, its checkpoint is not.
server_config 4 4 20000 '{"granularity": "client", "local_epochs": 1, "clip": 1.0,
 "target_epsilon": 20, "delta": 1e-5}' '"public_init": false'
scenario dp_client "agg.aggregate#2" 1
ledger=$WORK/checkpoint/aggregator.ledger
check "dp_client: the aggregator's ledger verifies" quiet "$FB_TOOL" ledger verify "$ledger"
n=$(grep -c '"seq"' "$ledger")
echo "# dp_client: aggregator ledger has $n releases for 3 committed rounds"
check "dp_client: ledger kept the lost round's release (4 entries)" test "$n" = 4
for r in $(committed_ids); do
	check "dp_client: committed round $r has its ledger entry" test "$(ledger_rounds "$ledger" "$r")" = 1
done

# User-level DP: the aggregator dies with 2 updates of round 2 counted.
server_config 4 4 20000 '{"granularity": "user", "q": 0.5, "local_steps": 2,
 "target_epsilon": 20, "delta": 1e-5, "clip": 1.0}'
scenario dp_user "agg.collect#6" 1
for i in 0 1 2 3; do
	l=$WORK/state-$i/privacy.ledger
	check "dp_user: retailer-$i's ledger verifies" quiet "$FB_TOOL" ledger verify "$l"
	bad=0
	for r in 1 2 3 4; do
		if [ "$(client_field "$r" "retailer-$i" status)" = update ] &&
			[ "$(ledger_rounds "$l" "$r")" -lt 2 ]; then
			bad=$((bad + 1))
		fi
	done
	check "dp_user: every counted update of retailer-$i has its 2 ledger entries" test "$bad" = 0
done
finish
