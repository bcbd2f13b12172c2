#!/usr/bin/env bash
# tests/integration/test-fed-status.sh: the aggregator's status page
# (config status_listen, server/status.h; docs/operations.md
# "Monitoring"). During a run of two retailers under client-level DP,
# GET /metrics answers the Prometheus text format with the rounds
# committed, the current round, the clients enrolled and connected, the
# traffic, the last round's time and the aggregator's epsilon; another
# path is 404; every sample line parses; a port already taken is refused
# at start-up naming the URL. Read with curl.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "1..0 # SKIP curl is not installed"; exit 0; }

fed_data 2
PORT=$(test_port)
URL="http://127.0.0.1:$PORT"
PLAN_WAIT_MS=300
server_config 1000 1 3000 '{"granularity": "none", "local_epochs": 1, "dim": 16}' \
	"\"status_listen\": \"$URL\""
for i in 0 1; do policy "$i"; done
start_server
check "the server logs where the page is" \
	wait_for "$WORK/server.err" "status page on $URL/metrics" 10
for i in 0 1; do start_client "$i"; done
wait_for "$WORK/metrics.jsonl" '"round": 3, "status": "committed"' 30 || true

page() { curl -sS --max-time 5 "$URL/metrics"; }
val() { # val NAME[{labels}]: the value of one sample of the page in $P
	awk -v n="$1" '$1 == n { print $2 }' <<<"$P"
}
P=$(page) || P=
echo "$P" | grep -v '^#' | sed 's/^/# /' | head -40
check "GET /metrics answers" test -n "$P"
check "the page is up" test "$(val fedbundle_up)" = 1
check "rounds committed >= 3" test "$(val fedbundle_rounds_committed_total)" -ge 3
check "the current round is at least the last committed" \
	test "$(val fedbundle_round)" -ge "$(val fedbundle_round_last_committed)"
check "no round abandoned for the quorum" \
	test "$(val 'fedbundle_rounds_abandoned_total{reason="quorum"}')" = 0
check "two clients enrolled" test "$(val fedbundle_clients_enrolled)" = 2
check "two clients connected" test "$(val fedbundle_clients_connected)" = 2
check "bytes received counted" test "$(val fedbundle_received_bytes_total)" -gt 100000
check "bytes sent counted" test "$(val fedbundle_sent_bytes_total)" -gt 100000
check "the last round's seconds" ge "$(val fedbundle_last_round_seconds)" 0
check "one stage is 1" test "$(grep -c '^fedbundle_round_stage{.*} 1$' <<<"$P")" = 1
check "the start time is this process's (within a minute)" \
	bash -c 'a=$1; b=$(date +%s); awk -v a="$a" -v b="$b" "BEGIN { exit !(a <= b && b - a < 60) }"' _ \
	"$(val process_start_time_seconds)"
check "no epsilon without client-level DP" test -z "$(val fedbundle_dp_epsilon_spent)"
check "every sample line is NAME[{LABELS}] NUMBER" \
	bash -c '! grep -v "^#" <<<"$1" | grep -qvE "^[a-z_:][a-z0-9_:]*(\{[a-z_]+=\"[a-z0-9_-]+\"\})? -?[0-9.e+-]+$"' _ "$P"
check "every sample has a TYPE line" \
	bash -c 'for n in $(grep -v "^#" <<<"$1" | sed "s/[{ ].*//" | sort -u); do grep -q "^# TYPE $n " <<<"$1" || exit 1; done' _ "$P"
check "the content type is Prometheus text 0.0.4" \
	bash -c "curl -sS -D - -o /dev/null '$URL/metrics' | grep -qi '^Content-Type: text/plain; version=0.0.4'"
check "HEAD /metrics answers 200" \
	test "$(curl -s -I -o /dev/null -w '%{http_code}' "$URL/metrics")" = 200
check "another path is 404" \
	test "$(curl -s -o /dev/null -w '%{http_code}' "$URL/")" = 404
r1=$(val fedbundle_rounds_committed_total)
sleep 1
P=$(page) || P=
check "the page moves on" test "$(val fedbundle_rounds_committed_total)" -gt "$r1"

# A second aggregator on the same status port is refused at start-up.
cp "$WORK/server.json" "$WORK/server2.json"
sed -i "s#\"listen\": \"[^\"]*\"#\"listen\": \"ipc://$WORK/agg2.sock\"#; s#\"checkpoint\"#\"checkpoint2\"#" "$WORK/server2.json"
"$FB_SERVER" --config "$WORK/server2.json" >"$WORK/server2.out" 2>"$WORK/server2.err" && rc=0 || rc=$?
check "a taken status port: exit 1" test "$rc" = 1
check "... naming the URL" grep -q "status_listen '$URL'" "$WORK/server2.err"

kill -TERM "$SERVER_PID"
wait_pid "$SERVER_PID" 20 && rc=0 || rc=$?
check "SIGTERM ends the aggregator with status 0" test "$rc" = 0
for i in 0 1; do kill -TERM "${CLIENT_PID[$i]}" 2>/dev/null || true; done
for i in 0 1; do wait_pid "${CLIENT_PID[$i]}" 10 || true; done

# Client-level DP: the aggregator's own epsilon, from its ledger.
rm -rf "$WORK"/checkpoint "$WORK"/state-* "$WORK/metrics.jsonl"
server_config 50 2 20000 '{"granularity": "client", "local_epochs": 1,
 "clip": 1.0, "target_epsilon": 30, "delta": 1e-5}' \
	"\"public_init\": false, \"status_listen\": \"$URL\""
for i in 0 1; do policy "$i" '"allow_client": true'; done
start_server .dp
for i in 0 1; do start_client "$i" .dp; done
wait_for "$WORK/metrics.jsonl" '"round": 2, "status": "committed"' 60 || true
P=$(page) || P=
grep '^fedbundle_dp' <<<"$P" | sed 's/^/# /'
check "client-level DP: epsilon spent in (0, 30]" \
	bash -c 'awk -v e="$1" "BEGIN { exit !(e > 0 && e <= 30) }"' _ "$(val fedbundle_dp_epsilon_spent)"
check "... the budget" test "$(val fedbundle_dp_epsilon_budget)" = 30
check "... and its delta" ge "$(val fedbundle_dp_delta)" 1e-5
kill -TERM "$SERVER_PID"
wait_pid "$SERVER_PID" 20 || true
finish
