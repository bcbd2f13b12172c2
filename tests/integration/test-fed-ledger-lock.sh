#!/usr/bin/env bash
# tests/integration/test-fed-ledger-lock.sh: a privacy ledger has one
# writer (issue 10, finding 5). Retailer 0 starts and holds its ledger;
# before any round (the quorum needs retailer 1, started later), a second
# fedbundle-client on the same policy and a `fedbundle train --dp user
# --ledger FILE --new-ledger` on the same file must both exit non-zero at
# once with an error naming the ledger, instead of replaying it and
# spending the same budget again. A reader (`fedbundle ledger verify`)
# still works while it is held. Then the first client trains every round
# as if nothing had happened, and its ledger holds its own releases only.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-hard.sh"

fed_data 2
server_config 3 2 60000 '{"granularity": "user", "q": 0.5, "local_steps": 2,
 "target_epsilon": 4, "delta": 1e-5, "clip": 1.0}'
for i in 0 1; do policy "$i" '"epsilon": 4, "delta": 1e-5'; done
ledger="$WORK/state-0/privacy.ledger"

start_server
start_client 0
check "retailer-0 started (holds its ledger)" \
	wait_for "$WORK/client-0.err" "session established" 30

# A second client on the same policy, hence the same ledger.
"$FB_CLIENT" run --policy "$WORK/policy-0.json" \
	>"$WORK/client-0.second.out" 2>"$WORK/client-0.second.err" &
second=$!
PIDS+=("$second")
wait_exit "$second" 15
sed 's/^/# second client: /' "$WORK/client-0.second.err"
check "a second client on the same ledger exits non-zero at once" \
	test "$RC" != 0 -a "$RC" != timeout
check "... naming the ledger" grep -q "$ledger" "$WORK/client-0.second.err"
check "... saying it is in use by another process" \
	grep -q "in use: another process" "$WORK/client-0.second.err"

# The centralized trainer on the same file.
"$FB_TOOL" train --data "$WORK/parts/retailer-00" --dp user --users 125 --epochs 1 \
	--epsilon 4 --delta 1e-5 --ledger "$ledger" --new-ledger --quiet \
	>"$WORK/train.out" 2>"$WORK/train.err" &
train=$!
PIDS+=("$train")
wait_exit "$train" 60
sed 's/^/# train: /' "$WORK/train.err"
check "fedbundle train --ledger on a held ledger exits non-zero" \
	test "$RC" != 0 -a "$RC" != timeout
check "... naming the ledger" grep -q "$ledger.*in use" "$WORK/train.err"
# Release lines (a budget entry, which retailer-0 wrote at its start, has
# no "q").
check "nothing was appended by them" test "$(grep -c '"q":' "$ledger" || true)" = 0

# Readers need no lock.
check "ledger verify reads a held ledger" quiet "$FB_TOOL" ledger verify "$ledger"
check "retailer-0 still runs" kill -0 "${CLIENT_PID[0]}"

start_client 1
check "aggregator finished" wait_pid "$SERVER_PID" 150
for i in 0 1; do
	check "client $i finished" wait_pid "${CLIENT_PID[$i]}" 30
done
check "3 rounds committed" test "$(grep -c '"status": "committed"' "$WORK/metrics.jsonl")" -eq 3
for r in 1 2 3; do
	check "retailer-0 sent its update in round $r" \
		test "$(client_field "$r" retailer-0 status)" = update
done
check "retailer-0's ledger verifies" quiet "$FB_TOOL" ledger verify "$ledger"
check "... and holds its 6 releases only" test "$(grep -c '"q":' "$ledger")" = 6
from_ledger=$("$FB_TOOL" ledger verify "$ledger" --delta 1e-5 --json |
	awk -F '"epsilon_pld": ' '{ split($2, a, "}"); print a[1] }')
check "retailer-0's reported epsilon is its ledger's" \
	near "$(client_field 3 retailer-0 epsilon)" "$from_ledger" 1e-5
# A client that only reads (eval) opens the ledger read-only.
check "fedbundle-client eval reads its state and ledger" quiet \
	"$FB_CLIENT" eval --policy "$WORK/policy-0.json"
finish
