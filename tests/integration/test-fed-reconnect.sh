#!/usr/bin/env bash
# tests/integration/test-fed-reconnect.sh: how a client behaves towards an
# aggregator that will not let it take part (protocols/wire-v1.md §1.4,
# §6.1). Against `refuser` (tests/integration/refuser.c), a fake
# aggregator that refuses every HELLO, or authenticates the client and
# then answers every POLL with a sealed ERROR, or sends it a PLAN that
# does not decode, the client must back off exponentially (policy
# reconnect_min_ms 100, reconnect_max_ms 2000): over 8 s at most 16
# handshakes and, from 2 s after the first on, at most 3 in any second;
# a PLAN it cannot use must be answered with a sealed ERROR malformed.
# Then a real aggregator whose model is larger than a client's max_dim
# allows: the client cannot receive its PLAN, so it must stop at once
# (exit 1, naming both sizes) instead of reconnecting for ever.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-hard.sh"
: "${FB_REFUSER:?set by meson test}"

fed_data 1
PORT=$(test_port)
SOCK="tcp://127.0.0.1:$PORT"
hard_policy 0 '"reconnect_min_ms": 100, "reconnect_max_ms": 2000'

for mode in hello poll badplan; do
	"$FB_REFUSER" "$SOCK" "$WORK/keys/aggregator.key" "$WORK/roster.txt" \
		"$mode" 8 2 >"$WORK/refuser-$mode.out" 2>&1 &
	REFUSER_PID=$!
	PIDS+=("$REFUSER_PID")
	sleep 0.3
	start_client 0 ".$mode"
	wait_exit "$REFUSER_PID" 30
	kill -9 "${CLIENT_PID[0]}" 2>/dev/null || true
	wait "${CLIENT_PID[0]}" 2>/dev/null || true
	hellos=$(awk '$1 == "hellos" { print $2 }' "$WORK/refuser-$mode.out")
	peak=$(awk '$1 == "max_per_second" { print $2 }' "$WORK/refuser-$mode.out")
	echo "# $mode: $hellos handshakes in 8 s, at most $peak in a second after 2 s"
	grep "HELLO at" "$WORK/refuser-$mode.out" | tr '\n' ' ' | sed 's/# HELLO at //g; s/^/# at: /'
	echo
	check "$mode: the client kept trying" test "${hellos:-0}" -ge 3
	check "$mode: at most 16 handshakes in 8 s" test "${hellos:-99}" -le 16
	check "$mode: at most 3 handshakes a second once backed off" test "${peak:-99}" -le 3
done
check "badplan: the unusable PLAN was answered with a sealed ERROR malformed" \
	test "$(awk '$1 == "error_malformed" { print $2 }' "$WORK/refuser-badplan.out")" -ge 1

# A real aggregator with dim 32, a client whose max_dim is 16.
server_config 1 1 20000 '{"granularity": "none", "local_epochs": 1, "dim": 32}'
hard_policy 0 '"max_dim": 16'
start_server
start_client 0 .dim
wait_exit "${CLIENT_PID[0]}" 20
check "a model over the client's limit: it stops with status 1" test "$RC" = 1
check "... naming the sizes" grep -q "over this client's limit of [0-9]* (its catalogue at max_dim 16)" "$WORK/client-0.dim.err"
check "... after one handshake" test "$(grep -c "session established" "$WORK/client-0.dim.err")" -le 1
kill -9 "$SERVER_PID" 2>/dev/null || true
finish
