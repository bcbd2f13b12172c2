#!/usr/bin/env bash
# tests/integration/test-fed-diskfault.sh: a full disk (ENOSPC injected by
# FB_FAULT_WRITE_AFTER for atomic files, common/util/fsutil.c, and by
# FB_FAULT_LEDGER_APPEND for ledger appends, common/privacy/ledger.c: half a line
# written, then ENOSPC) must stop the process with an error naming the
# file and the cause, leave the previous checkpoint / state / ledger /
# model byte for byte (no temporary file behind), and a restart without
# the fault must go on from there:
#   1. the aggregator's checkpoint write fails in round 3;
#   2. the aggregator's ledger append fails (client-level DP, round 2);
#   3. a client's ledger append fails (user-level DP) and another client's
#      state write fails;
#   4. `fedbundle train --dp user`: its ledger append fails, then its
#      model write fails.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-hard.sh"

fed_data 4
for i in 0 1 2 3; do hard_policy "$i" '"epsilon": 20, "delta": 1e-5'; done
ckpt=$WORK/checkpoint/checkpoint.fbc

# ---- 1. the aggregator's checkpoint ----
server_config 4 4 20000 '{"granularity": "none", "local_epochs": 1}' '"public_init": false'
"$FB_SERVER" --config "$WORK/server.json" --metrics-out "$WORK/metrics.jsonl" \
	--rounds 2 >"$WORK/server.1a.out" 2>"$WORK/server.1a.err" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
for i in 0 1 2 3; do start_client "$i" .1a; done
wait_exit "$SERVER_PID" 60
check "1: two rounds committed" test "$RC" = 0 -a "$(meta_num "$ckpt" last_committed)" = 2
for i in 0 1 2 3; do wait_exit "${CLIENT_PID[$i]}" 30; done
cp "$ckpt" "$WORK/ckpt.round2"
export FB_FAULT_WRITE_AFTER=100000
start_server .1b
unset FB_FAULT_WRITE_AFTER
for i in 0 1 2 3; do start_client "$i" .1b; done
wait_exit "$SERVER_PID" 60
check "1: the aggregator stops when its checkpoint cannot be written" test "$RC" = 1
grep "checkpoint" "$WORK/server.1b.err" | tail -2 | sed 's/^/# /'
check "1: the error names the checkpoint and ENOSPC" grep -q \
	"round 3: checkpoint not written: .*checkpoint.fbc.*No space left on device" "$WORK/server.1b.err"
check "1: the checkpoint of round 2 is untouched" cmp -s "$ckpt" "$WORK/ckpt.round2"
check "1: no temporary file left" test "$(tmp_leftovers "$WORK/checkpoint")" = 0
check "1: round 3 logged as abandoned" grep -q '"round": 3, "status": "abandoned"' "$WORK/metrics.jsonl"
start_server .1c
wait_exit "$SERVER_PID" 60
check "1: the restarted aggregator finished" test "$RC" = 0
check "1: it resumed from round 2 (round 3 abandoned)" grep -q \
	"last committed round 2, last planned round 3" "$WORK/server.1c.err"
check "1: round 4 committed on top of round 2" test \
	"$(meta_num "$ckpt" last_committed)" = 4 -a "$(meta_num "$ckpt" optimizer_steps)" = 3
for i in 0 1 2 3; do
	wait_exit "${CLIENT_PID[$i]}" 30
	check "1: client $i finished" test "$RC" = 0
done

# ---- 2. the aggregator's privacy ledger (client-level DP) ----
rm -rf "$WORK/checkpoint" "$WORK"/state-* "$WORK/metrics.jsonl"
server_config 3 4 20000 '{"granularity": "client", "local_epochs": 1, "clip": 1.0,
 "target_epsilon": 20, "delta": 1e-5}' '"public_init": false'
export FB_FAULT_LEDGER_APPEND=2
start_server .2a
unset FB_FAULT_LEDGER_APPEND
for i in 0 1 2 3; do start_client "$i" .2; done
wait_exit "$SERVER_PID" 60
ledger=$WORK/checkpoint/aggregator.ledger
check "2: the aggregator stops when its ledger cannot be appended" test "$RC" = 1
check "2: the error names the ledger and ENOSPC" grep -q \
	"round 2 not run: .*aggregator.ledger: ledger append failed (No space left on device)" \
	"$WORK/server.2a.err"
check "2: the ledger verifies with round 1's entry only" sh -c \
	"'$FB_TOOL' ledger verify '$ledger' >/dev/null && test \$(grep -c seq '$ledger') = 1"
check "2: the checkpoint is round 1's" test "$(meta_num "$ckpt" last_committed)" = 1
start_server .2b
wait_exit "$SERVER_PID" 60
check "2: the restarted aggregator finished" test "$RC" = 0
check "2: one ledger entry per committed round" test \
	"$(grep -c seq "$ledger")" = "$(meta_num "$ckpt" optimizer_steps)"
for i in 0 1 2 3; do wait_exit "${CLIENT_PID[$i]}" 30; done

# ---- 3. clients: a ledger append and a state write ----
rm -rf "$WORK/checkpoint" "$WORK"/state-* "$WORK/metrics.jsonl"
PLAN_WAIT_MS=1500 server_config 5 2 4000 '{"granularity": "user", "q": 0.5,
 "local_steps": 2, "target_epsilon": 20, "delta": 1e-5, "clip": 1.0}'
start_server .3
for i in 0 1; do start_client "$i" .3; done
export FB_FAULT_WRITE_AFTER=1000
start_client 2 .3a
unset FB_FAULT_WRITE_AFTER
# Its 4th append: the 1st records its budget at start (a budget entry),
# the 2nd and 3rd are round 1's releases, the 4th round 2's first.
export FB_FAULT_LEDGER_APPEND=4
start_client 3 .3a
unset FB_FAULT_LEDGER_APPEND
wait_exit "${CLIENT_PID[3]}" 60
check "3: a client stops when its ledger cannot be appended" test "$RC" = 1
check "3: its error names the ledger and ENOSPC" grep -q \
	"privacy.ledger: ledger append failed (No space left on device)" "$WORK/client-3.3a.err"
l3=$WORK/state-3/privacy.ledger
check "3: its ledger verifies with its budget and round 1's 2 entries" sh -c \
	"'$FB_TOOL' ledger verify '$l3' >/dev/null && test \$(grep -c seq '$l3') = 3 &&
	test \$(grep -c '\"round\":1,' '$l3') = 2"
check "3: its state (round 1) loads" quiet "$FB_CLIENT" eval --policy "$WORK/policy-3.json"
wait_exit "${CLIENT_PID[2]}" 60
check "3: a client stops when its state cannot be written" test "$RC" = 1
check "3: its error names the state file and ENOSPC" grep -q \
	"cannot write the state: .*state.fbc.*No space left on device" "$WORK/client-2.3a.err"
# Only the stopped clients' folders: clients 0 and 1 and the aggregator
# still run, and their atomic writes may be in flight at this moment.
check "3: no temporary file left" test \
	"$(tmp_leftovers "$WORK/state-2")" = 0 -a "$(tmp_leftovers "$WORK/state-3")" = 0
start_client 3 .3b
start_client 2 .3b
wait_exit "$SERVER_PID" 120
check "3: the aggregator finished" test "$RC" = 0
for i in 0 1 2 3; do
	wait_exit "${CLIENT_PID[$i]}" 30
	check "3: client $i finished" test "$RC" = 0
done
for i in 2 3; do
	n=0
	for r in 3 4 5; do
		[ "$(client_field "$r" "retailer-$i" status)" = update ] && n=$((n + 1))
	done
	check "3: retailer-$i took part again after its restart ($n rounds)" test "$n" -gt 0
	check "3: retailer-$i's ledger verifies" quiet "$FB_TOOL" ledger verify "$WORK/state-$i/privacy.ledger"
done

# ---- 4. fedbundle train --dp user ----
t="$FB_TOOL train --data $WORK/data --dp user --users 500 --epochs 2 --quiet"
$t --new-ledger --ledger "$WORK/t.ledger" --out "$WORK/m.fbm" >/dev/null 2>&1
cp "$WORK/m.fbm" "$WORK/m.before"
rc=0
FB_FAULT_LEDGER_APPEND=3 $t --new-ledger --ledger "$WORK/t2.ledger" \
	--out "$WORK/m.fbm" >/dev/null 2>"$WORK/train.err" || rc=$?
sed 's/^/# /' "$WORK/train.err"
check "4: train stops when its ledger cannot be appended" test "$rc" = 1
check "4: the error names the ledger and ENOSPC" grep -q \
	"t2.ledger: ledger append failed (No space left on device)" "$WORK/train.err"
check "4: its ledger verifies with the 2 entries before" sh -c \
	"'$FB_TOOL' ledger verify '$WORK/t2.ledger' >/dev/null && test \$(grep -c seq '$WORK/t2.ledger') = 2"
check "4: the previous model is untouched" cmp -s "$WORK/m.fbm" "$WORK/m.before"
rc=0
FB_FAULT_WRITE_AFTER=1000 $t --new-ledger --ledger "$WORK/t3.ledger" \
	--out "$WORK/m.fbm" >/dev/null 2>"$WORK/train.err" || rc=$?
sed 's/^/# /' "$WORK/train.err"
check "4: train fails when its model cannot be written" test "$rc" = 1
check "4: the error names the model and ENOSPC" grep -q \
	"m.fbm: write failed: No space left on device" "$WORK/train.err"
check "4: the previous model is untouched" cmp -s "$WORK/m.fbm" "$WORK/m.before"
check "4: the ledger of that run verifies" quiet "$FB_TOOL" ledger verify "$WORK/t3.ledger"
check "4: no temporary file left" test "$(tmp_leftovers "$WORK")" = 0
finish
