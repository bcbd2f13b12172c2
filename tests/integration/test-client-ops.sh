#!/usr/bin/env bash
# tests/integration/test-client-ops.sh: operating a client (issue 14,
# "Operating it"): `fedbundle-client budget`, errors that used to be
# silent (a wrong pinned aggregator key, SIGTERM while dialing, `train
# --dp` on a spent ledger, the missing-ledger hint), the client state's
# file mode, and `ledger verify` reporting a torn final entry.
source "$(dirname "$0")/lib.sh"

fed_data 2
# Rounds planned for epsilon 2 against a budget of 4: room is left.
server_config 2 2 60000 '{"granularity": "user", "q": 0.5, "local_steps": 2,
 "target_epsilon": 2, "delta": 1e-5, "clip": 1.0}'
for i in 0 1; do policy "$i" '"epsilon": 4, "delta": 1e-5'; done
start_server
for i in 0 1; do start_client "$i"; done
check "aggregator finished" wait_pid "$SERVER_PID" 150
for i in 0 1; do check "client $i finished" wait_pid "${CLIENT_PID[$i]}" 30; done

# ---- files with customer data are owner-only ----
check "state.fbc is 0600" test "$(stat -c %a "$WORK/state-0/state.fbc")" = 600
check "the ledger is 0600" test "$(stat -c %a "$WORK/state-0/privacy.ledger")" = 600

# ---- fedbundle-client budget ----
ledger="$WORK/state-0/privacy.ledger"
b=$("$FB_CLIENT" budget --policy "$WORK/policy-0.json" --json \
	--q 0.5 --sigma 2 --steps 2 2>"$WORK/budget.err" || true)
echo "# budget: $b"
check "budget --json runs" test -n "$b"
spent=$(echo "$b" | json_field epsilon_spent)
left=$(echo "$b" | json_field epsilon_left)
v=$("$FB_TOOL" ledger verify "$ledger" --delta 1e-5 --json || true)
pld=$(echo "$v" | json_field epsilon_pld)
check "budget: spent is the ledger's (PLD, the policy's accountant)" near "$spent" "$pld" 1e-4
check "budget: something was spent" gt "$spent" 0
check "budget: left = 4 - spent" near "$left" "$(awk -v s="$spent" 'BEGIN { print 4 - s }')" 1e-4
check "budget: the last budget decision is reported" sh -c "echo '$b' | grep -q '\"last_decision\": {\"entry\": [0-9]*, \"round\": [0-9]*, \"epsilon\": 4,'"
fit=$(echo "$b" | sed -n 's/.*"rounds_fit": \([0-9]*\).*/\1/p')
check "budget: some rounds of the plan fit" test "${fit:-0}" -gt 0
anchor=$(echo "$b" | sed -n 's/.*"anchor": "\([0-9]*:[0-9a-f]*\)".*/\1/p')
check "budget reports an anchor" test -n "$anchor"
check "budget: its anchor verifies" quiet "$FB_TOOL" ledger verify "$ledger" --anchor "$anchor"
b2=$("$FB_CLIENT" budget --policy "$WORK/policy-0.json" --json --q 0.5 --sigma 1000 --steps 2 || true)
fit2=$(echo "$b2" | sed -n 's/.*"rounds_fit": \([0-9]*\).*/\1/p')
check "budget: more rounds fit with more noise" test "${fit2:-0}" -gt "${fit:-0}"
check "budget: text output names spent, left and the anchor" sh -c \
	"'$FB_CLIENT' budget --policy '$WORK/policy-0.json' | grep -q '^spent: epsilon' && \
	 '$FB_CLIENT' budget --policy '$WORK/policy-0.json' | grep -q '^left: epsilon' && \
	 '$FB_CLIENT' budget --policy '$WORK/policy-0.json' | grep -q 'anchor (for fedbundle ledger verify --anchor): $anchor'"

# ---- ledger verify reports a torn final entry ----
cp "$ledger" "$WORK/torn.ledger"
printf '{"seq": 99, "round' >>"$WORK/torn.ledger"
t=$("$FB_TOOL" ledger verify "$WORK/torn.ledger" --json 2>/dev/null || true)
echo "# torn: $t"
check "verify --json reports the torn entry's bytes" test "$(echo "$t" | json_field torn_bytes)" = 18
check "verify --json: torn_bytes 0 on a whole ledger" test \
	"$("$FB_TOOL" ledger verify "$ledger" --json | json_field torn_bytes || true)" = 0
check "verify (text) reports the torn entry" sh -c \
	"'$FB_TOOL' ledger verify '$WORK/torn.ledger' 2>/dev/null | grep -q 'torn final entry: 18 bytes'"

# ---- a wrong pinned aggregator key is an error, on both sides ----
"$FB_TOOL" keygen --out "$WORK/keys/impostor" --name aggregator >/dev/null 2>&1
policy 1 '"epsilon": 4, "delta": 1e-5'
sed -i 's|keys/aggregator.pub|keys/impostor.pub|; s|"give_up_ms": 30000|"give_up_ms": 60000|' \
	"$WORK/policy-1.json"
rm -rf "$WORK/checkpoint"
server_config 5 1 60000 '{"granularity": "user", "q": 0.5, "local_steps": 2,
 "target_epsilon": 4, "delta": 1e-5, "clip": 1.0}'
start_server .pin
start_client 1 .pin
check "client logs the key mismatch at the default level" wait_for \
	"$WORK/client-1.pin.err" " E .*is not the pinned key.*check server_key" 30
check "aggregator logs the abandoned handshake" wait_for \
	"$WORK/server.pin.err" "handshake of retailer-1 abandoned" 30
# NNG 1.5.2's nng_close() can deadlock against the aggregator dropping
# the refused connection: the client used to hang here (CI, stop 21).
t0=$(date +%s%N)
kill "${CLIENT_PID[1]}" 2>/dev/null || true
check "a client stopped while its handshakes are refused exits" \
	wait_pid "${CLIENT_PID[1]}" 10
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# SIGTERM to exit, handshakes refused: $ms ms"
check "SIGTERM ends a refused client within 1.5 s" test "$ms" -lt 1500
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true

# ---- SIGTERM ends a client dialing a dead address within a second ----
policy 1 '"epsilon": 4, "delta": 1e-5'
sed -i 's|"server_url": "[^"]*"|"server_url": "tcp://127.0.0.1:1"|;
	s|"give_up_ms": 30000|"give_up_ms": 600000|;
	s|"request_timeout_ms": 20000|"request_timeout_ms": 60000|' "$WORK/policy-1.json"
start_client 1 .dead
sleep 2
check "the client is still dialing after 2 s" kill -0 "${CLIENT_PID[1]}"
t0=$(date +%s%N)
kill -TERM "${CLIENT_PID[1]}" || true
wait "${CLIENT_PID[1]}" 2>/dev/null || true
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# SIGTERM to exit: $ms ms"
check "SIGTERM ends a dialing client within 1.5 s" test "$ms" -lt 1500

# ---- SIGTERM ends a client in the middle of its training ----
# 4000 DP steps (each appends a ledger entry with fsync: some 10 s): the
# stop comes between two steps, not after the round.
policy 1 '"epsilon": 1000, "delta": 1e-5'
rm -rf "$WORK/checkpoint" "$WORK/state-1"
server_config 1 1 120000 '{"granularity": "user", "q": 0.5, "local_steps": 4000,
 "target_epsilon": 500, "delta": 1e-5, "clip": 1.0}'
start_server .train
start_client 1 .train
check "the client starts training" wait_for "$WORK/client-1.train.err" \
	"round 1: plan received" 60
sleep 1
check "the client is still training after 1 s" kill -0 "${CLIENT_PID[1]}"
t0=$(date +%s%N)
kill -TERM "${CLIENT_PID[1]}" || true
wait "${CLIENT_PID[1]}" 2>/dev/null && rc=0 || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# SIGTERM to exit while training: $ms ms"
check "SIGTERM ends a training client within 1.5 s" test "$ms" -lt 1500
check "it exits 0" test "$rc" -eq 0
check "it says where training stopped" grep -q \
	"stopped during the training of round 1 after [0-9]* of 4000 DP steps; nothing was sent" \
	"$WORK/client-1.train.err"
check "the ledger verifies after the stop" quiet "$FB_TOOL" ledger verify "$WORK/state-1/privacy.ledger"
n=$(grep -c "\"round\":1," "$WORK/state-1/privacy.ledger" || true)
echo "# releases recorded before the stop: $n"
check "some, not all, of the 4000 releases were made" test "$n" -gt 0 -a "$n" -lt 4000
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true

# ---- fedbundle train --dp: a spent ledger, a missing ledger ----
tl="$WORK/train.ledger"
"$FB_TOOL" train --data "$WORK/parts/retailer-00" --dp user --users 125 --epochs 1 \
	--epsilon 0.5 --delta 1e-5 --ledger "$tl" --new-ledger --quiet >/dev/null 2>&1 || true
"$FB_TOOL" train --data "$WORK/parts/retailer-00" --dp user --users 125 --epochs 1 \
	--epsilon 0.5 --delta 1e-5 --ledger "$tl" --quiet --out "$WORK/spent.fbm" \
	>/dev/null 2>"$WORK/spent.err" && rc=0 || rc=$?
sed 's/^/# /' "$WORK/spent.err"
check "train --dp on a spent ledger exits non-zero" test "$rc" -ne 0
check "train --dp on a spent ledger writes no model" test ! -e "$WORK/spent.fbm"
check "train --dp on a spent ledger says so" grep -q "budget spent" "$WORK/spent.err"
"$FB_TOOL" train --data "$WORK/parts/retailer-00" --dp user --users 125 --epochs 1 \
	--ledger "$WORK/nope.ledger" --quiet >/dev/null 2>"$WORK/missing.err" || true
sed 's/^/# /' "$WORK/missing.err"
check "the missing-ledger error names --new-ledger" grep -q -- "--new-ledger" "$WORK/missing.err"
finish
