#!/usr/bin/env bash
# tests/integration/test-fed-netns.sh: the aggregator and 4 clients, each
# in a network namespace of its own, every client joined to the
# aggregator's namespace by a veth pair, over tcp://. Nothing is added to
# the root namespace, so addresses or links left over elsewhere (a killed
# run, the host's own) cannot shadow the test's routes; user-level DP (d = 8, so an update is ~80 KB),
# 5 rounds, quorum 2, deadline 12 s. Every link gets 200 ms of round-trip
# latency and 5% packet loss each way: with `tc netem` where the kernel
# has it; otherwise the latency comes from tests/integration/delayproxy
# (100 ms each way, inside the client's namespace) and the loss from
# iptables' statistic match (inside the namespace, both directions).
# Retailer-3's link is taken down when round 2 is planned and brought back
# one second after round 3 is planned: it misses round 2 entirely.
# Quorum 2: over lossy links a client may take several seconds to connect
# (SYN and handshake retransmissions), so a round may be planned with 3
# of the 4; with retailer-3 cut off, 2 updates must still commit it. The
# training must complete, and retailer-3 must take part again afterwards.
# Skips (TAP) without root, without `ip`, or where namespaces cannot be
# made (no CAP_NET_ADMIN).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-hard.sh"

skip() {
	echo "1..0 # SKIP $1"
	exit 0
}
[ "$(id -u)" = 0 ] || skip "network namespaces need root"
command -v ip >/dev/null || skip "no ip command (apt-get install iproute2)"
tag="f$(($$ % 100000))"
HUB=${tag}s
ip netns add "$HUB" 2>/dev/null || skip "cannot create a network namespace (no CAP_NET_ADMIN?)"
net=10.213
PORT=$(test_port)
NS=()
# Deleting a namespace destroys the veth ends inside it, and so the pairs.
cleanup_net() {
	local i
	for i in 0 1 2 3; do
		ip netns del "${tag}n$i" 2>/dev/null || true
	done
	ip netns del "$HUB" 2>/dev/null || true
}
trap 'cleanup; cleanup_net' EXIT

ip -n "$HUB" link set lo up
for i in 0 1 2 3; do
	ns=${tag}n$i
	ip netns add "$ns"
	NS[$i]=$ns
	ip -n "$HUB" link add "${tag}h$i" type veth peer name "${tag}c$i" netns "$ns"
	ip -n "$HUB" addr add "$net.$i.1/24" dev "${tag}h$i"
	ip -n "$HUB" link set "${tag}h$i" up
	ip -n "$ns" addr add "$net.$i.2/24" dev "${tag}c$i"
	ip -n "$ns" link set "${tag}c$i" up
	ip -n "$ns" link set lo up
done

# Impairment: netem, or delayproxy + iptables.
mode=""
if tc -n "$HUB" qdisc add dev "${tag}h0" root netem delay 100ms loss 5% 2>/dev/null; then
	mode=netem
	for i in 0 1 2 3; do
		[ "$i" = 0 ] || tc -n "$HUB" qdisc add dev "${tag}h$i" root netem delay 100ms loss 5%
		tc -n "${NS[$i]}" qdisc add dev "${tag}c$i" root netem delay 100ms loss 5%
	done
elif [ -n "${FB_DELAYPROXY:-}" ] && command -v iptables >/dev/null &&
	ip netns exec "${NS[0]}" iptables -A INPUT -i "${tag}c0" -m statistic \
		--mode random --probability 0.05 -j DROP 2>/dev/null; then
	mode=proxy
	for i in 0 1 2 3; do
		[ "$i" = 0 ] || ip netns exec "${NS[$i]}" iptables -A INPUT -i "${tag}c$i" \
			-m statistic --mode random --probability 0.05 -j DROP
		ip netns exec "${NS[$i]}" iptables -A OUTPUT -o "${tag}c$i" \
			-m statistic --mode random --probability 0.05 -j DROP
		ip netns exec "${NS[$i]}" "$FB_DELAYPROXY" 127.0.0.1 7000 "$net.$i.1" "$PORT" 100 \
			>"$WORK/proxy-$i.err" 2>&1 &
		PIDS+=("$!")
	done
else
	skip "no tc netem, and no delayproxy with iptables (apt-get install iptables) to emulate it"
fi
echo "# impairment: $mode (200 ms round trip, 5% loss each way)"

fed_data 4
urls="tcp://$net.0.1:$PORT,tcp://$net.1.1:$PORT,tcp://$net.2.1:$PORT,tcp://$net.3.1:$PORT"
SOCK=$urls PLAN_WAIT_MS=2000 server_config 5 2 12000 '{"granularity": "user", "q": 0.5,
 "local_steps": 2, "dim": 8, "target_epsilon": 20, "delta": 1e-5, "clip": 1.0}' '"min_clients": 4'
for i in 0 1 2 3; do
	if [ "$mode" = netem ]; then
		CLIENT_URL="tcp://$net.$i.1:$PORT"
	else
		CLIENT_URL="tcp://127.0.0.1:7000"
	fi
	CLIENT_URL=$CLIENT_URL REQ_TIMEOUT_MS=5000 GIVE_UP_MS=120000 \
		hard_policy "$i" '"epsilon": 20, "delta": 1e-5'
done
t0=$(date +%s)
ip netns exec "$HUB" "$FB_SERVER" --config "$WORK/server.json" \
	--metrics-out "$WORK/metrics.jsonl" >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
for i in 0 1 2 3; do
	ip netns exec "${NS[$i]}" "$FB_CLIENT" run --policy "$WORK/policy-$i.json" \
		>"$WORK/client-$i.out" 2>"$WORK/client-$i.err" &
	CLIENT_PID[$i]=$!
	PIDS+=("${CLIENT_PID[$i]}")
done
# Every client must reach the aggregator through its namespace before any
# fault is injected; if not, the set-up is broken: say why and stop rather
# than wait out every later timeout.
if ! check "round 1 planned (all 4 clients reached the aggregator)" \
	wait_for "$WORK/server.err" "round 1 planned" 90; then
	tail -n 5 "$WORK/server.err" "$WORK"/client-*.err | sed 's/^/# /'
	finish
	exit 1
fi
check "round 2 planned" wait_for "$WORK/server.err" "round 2 planned" 120
ip -n "$HUB" link set "${tag}h3" down
echo "# retailer-3 cut off at round 2 ($(($(date +%s) - t0)) s)"
check "round 3 planned" wait_for "$WORK/server.err" "round 3 planned" 120
sleep 1
ip -n "$HUB" link set "${tag}h3" up
echo "# retailer-3 back at round 3 ($(($(date +%s) - t0)) s)"
wait_exit "$SERVER_PID" 300
check "the aggregator finished" test "$RC" = 0
for i in 0 1 2 3; do
	wait_exit "${CLIENT_PID[$i]}" 120
	check "client $i finished" test "$RC" = 0
done
echo "# wall time $(($(date +%s) - t0)) s"
sed 's/^/# /' "$WORK/server.out" | head -8
committed=$(grep -c '"status": "committed"' "$WORK/metrics.jsonl" || true)
check "training completed (5 rounds committed)" test "$committed" = 5
check "retailer-3 missed round 2" test "$(client_field 2 retailer-3 status)" != update
back=""
for r in 3 4 5; do
	[ "$(client_field "$r" retailer-3 status)" = update ] && [ -z "$back" ] && back=$r
done
echo "# retailer-3 took part again in round ${back:-never}"
check "retailer-3 rejoined after the cut" test -n "$back"
for i in 0 1 2 3; do
	check "retailer-$i's ledger verifies" quiet "$FB_TOOL" ledger verify "$WORK/state-$i/privacy.ledger"
done
finish
