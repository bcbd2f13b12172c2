#!/usr/bin/env bash
# tests/integration/test-fed-roster-reload.sh: the roster changes while
# the aggregator runs (SIGHUP, server/reload.h; docs/operations.md §1).
# Two retailers enrolled, a third one refused (its client stops: not
# enrolled); then its .pub line is appended and SIGHUP enrols it: started
# again, it joins a later round. Then
# retailer-1's line is removed: it is revoked at once (no round after the
# reload has it, its handshakes are refused). A roster with a bad line is
# refused naming the file and line, and the old one stays in force (rounds
# go on with the same two). SIGTERM then ends the aggregator cleanly.
source "$(dirname "$0")/lib.sh"

fed_data 3
cp "$WORK/roster.txt" "$WORK/roster-all.txt"
head -n 2 "$WORK/roster-all.txt" >"$WORK/roster.txt"
PLAN_WAIT_MS=300
server_config 1000 1 3000 '{"granularity": "none", "local_epochs": 1, "dim": 16}'
for i in 0 1 2; do
	policy "$i" '"reconnect_min_ms": 100, "reconnect_max_ms": 400'
done
start_server
for i in 0 1 2; do start_client "$i"; done

# the first committed round whose line says NAME's status is STATUS, after
# round AFTER.
round_with() { # round_with AFTER NAME STATUS
	grep -o '^{"round": [0-9]*,.*' "$WORK/metrics.jsonl" 2>/dev/null |
		awk -v a="$1" -v n="{\"name\": \"$2\", \"status\": \"$3\"" '
			{ r = $2; sub(/,/, "", r) }
			r + 0 > a + 0 && index($0, n) > 0 { print r; exit }'
}
wait_round_with() { # wait_round_with AFTER NAME STATUS SECONDS
	local t=0 r
	while :; do
		r=$(round_with "$1" "$2" "$3")
		[ -n "$r" ] && { echo "$r"; return 0; }
		[ "$t" -ge $(($4 * 10 * TIME_SCALE)) ] && return 1
		sleep 0.1
		t=$((t + 1))
	done
}
last_round() {
	grep -o '^{"round": [0-9]*' "$WORK/metrics.jsonl" | tail -n 1 | grep -o '[0-9]*$'
}

r1=$(wait_round_with 0 retailer-1 update 30) || r1=
check "two enrolled retailers train" test -n "$r1"
check "the third is refused while not enrolled" \
	wait_for "$WORK/server.err" "unknown-key" 10
wait_pid "${CLIENT_PID[2]}" 20 || true

# Enrol retailer-2.
cat "$WORK/roster-all.txt" >"$WORK/roster.txt"
kill -HUP "$SERVER_PID"
check "SIGHUP: the reload is logged at warning with the name added" \
	wait_for "$WORK/server.err" "W .*roster .* reloaded: 3 client(s) enrolled; added: retailer-2; revoked: none" 10
start_client 2 .enrolled
r2=$(wait_round_with "$r1" retailer-2 update 30) || r2=
echo "# retailer-2 first trained in round ${r2:-none}"
check "the enrolled retailer joins a round" test -n "$r2"
check "the aggregator kept running" kill -0 "$SERVER_PID"

# Revoke retailer-1.
grep -v ' retailer-1$' "$WORK/roster-all.txt" >"$WORK/roster.txt"
kill -HUP "$SERVER_PID"
check "the revocation is logged with the name" \
	wait_for "$WORK/server.err" "reloaded: 2 client(s) enrolled; added: none; revoked: retailer-1" 10
at=$(last_round)
r3=$(wait_round_with "$((at + 1))" retailer-2 update 30) || r3=
check "rounds go on after the revocation" test -n "$r3"
after=$(awk -v a="$((at + 1))" '/^{"round": / { r = $2; sub(/,/, "", r); if (r + 0 > a + 0) print }' \
	"$WORK/metrics.jsonl")
# A round's line lists its participants.
check "no round planned after the reload has retailer-1" \
	bash -c '[ -n "$1" ] && ! grep -q "\"name\": \"retailer-1\"" <<<"$1"' _ "$after"
check "its handshakes are refused again" \
	bash -c "tail -n +\$(grep -n 'revoked: retailer-1' '$WORK/server.err' | cut -d: -f1) '$WORK/server.err' | grep -q 'unknown-key'"

# A roster with a bad line.
cp "$WORK/roster.txt" "$WORK/roster-good.txt"
printf 'fedbundle-ed25519 not-base64 retailer-9\n' >>"$WORK/roster.txt"
kill -HUP "$SERVER_PID"
check "a bad roster is refused, naming the file and line" \
	wait_for "$WORK/server.err" "roster reload refused, the old roster stays in force: .*roster.txt:3" 10
at=$(last_round)
r4=$(wait_round_with "$at" retailer-2 update 30) || r4=
check "... and the old roster stays in force" test -n "$r4"
check "... with retailer-0 training too" test -n "$(wait_round_with "$at" retailer-0 update 30 || true)"

kill -TERM "$SERVER_PID"
wait_pid "$SERVER_PID" 20 && rc=0 || rc=$?
check "SIGTERM ends the aggregator with status 0" test "$rc" = 0
finish
