#!/usr/bin/env bash
# tests/integration/test-fed-roster-enrol.sh: enrolling a new member into
# a secure consortium without restarting anyone (client/reload.h,
# server/reload.h; docs/operations.md "Enrolling a retailer"). Three
# retailers run secure rounds, each with its own copy of the roster. A
# broken copy sent by SIGHUP is refused naming file:line and the old
# roster stays. Then retailer-3 is added to the aggregator's roster and
# to the three copies, SIGHUP everywhere, retailer-3 starts: it joins,
# secure rounds commit with four, and the three first clients are the
# same processes (their PIDs) that started. Last, a roster that would
# leave two retailers, too few for secure aggregation, is refused. Rounds planned while the
# aggregator and the clients disagree on the roster are refused
# (consortium id) and abandoned; the rest commit.
source "$(dirname "$0")/lib.sh"

fed_data 4
grep -v ' retailer-3$' "$WORK/roster.txt" >"$WORK/roster.new"
mv "$WORK/roster.new" "$WORK/roster.txt"
PLAN_WAIT_MS=500
server_config 400 2 20000 '{"granularity": "user", "q": 0.25, "clip": 1,
 "dim": 16, "lr": 20, "bias": true, "train_items": false, "bundle_rank": 8,
 "secure_aggregation": true, "secagg_stage_ms": 6000,
 "target_epsilon": 40, "delta": 1e-5}'
for i in 0 1 2 3; do
	cp "$WORK/roster.txt" "$WORK/roster-$i.txt"
	policy "$i" "\"epsilon\": 40, \"delta\": 1e-5, \"roster\": \"roster-$i.txt\""
done
start_server
for i in 0 1 2; do start_client "$i"; done
PIDS0="${CLIENT_PID[0]} ${CLIENT_PID[1]} ${CLIENT_PID[2]}"
check "a secure round commits with three" \
	wait_for "$WORK/metrics.jsonl" '"status": "committed"' 90

# A broken copy is refused, naming the file and the line.
cp "$WORK/roster-0.txt" "$WORK/roster-0.good"
echo "not a key line" >>"$WORK/roster-0.txt"
bad=$(wc -l <"$WORK/roster-0.txt")
kill -HUP "${CLIENT_PID[0]}"
check "a broken roster is refused naming file:line" \
	wait_for "$WORK/client-0.err" "roster reload refused, the old roster stays in force: $WORK/roster-0.txt:$bad" 20
cp "$WORK/roster-0.good" "$WORK/roster-0.txt"

# Enrol retailer-3: the aggregator's roster and every client's copy.
for f in roster roster-0 roster-1 roster-2 roster-3; do
	cat "$WORK/keys/retailer-3.pub" >>"$WORK/$f.txt"
done
# One signal for all (docs/operations.md): while the aggregator and a
# client disagree on the roster, plans are refused (consortium id).
kill -HUP "$SERVER_PID" "${CLIENT_PID[0]}" "${CLIENT_PID[1]}" "${CLIENT_PID[2]}"
for i in 0 1 2; do
	check "client $i reloads its roster" wait_for "$WORK/client-$i.err" \
		"roster $WORK/roster-$i.txt reloaded: 4 member(s); added: retailer-3; removed: none" 30
done
check "the aggregator enrols retailer-3" \
	wait_for "$WORK/server.err" "added: retailer-3" 30
start_client 3
check "retailer-3 completes a secure round" \
	wait_for "$WORK/client-3.err" "accepted" 120
wait_for "$WORK/metrics.jsonl" '"name": "retailer-3", "status": "update"' 60 || true
four=$(grep '"status": "committed"' "$WORK/metrics.jsonl" |
	grep '"name": "retailer-3", "status": "update"' | head -1 || true)
echo "$four" | cut -c 1-300 | sed 's/^/# /'
check "a committed secure round has retailer-3's update" test -n "$four"
check "... four parties, four updates" \
	bash -c 'grep -q "\"updates\": 4,.*\"secure\": true, \"secagg_parties\": 4," <<<"$1"' _ "$four"
check "the three first clients were never restarted" \
	test "${CLIENT_PID[0]} ${CLIENT_PID[1]} ${CLIENT_PID[2]}" = "$PIDS0"
check "... and still run" bash -c 'for p in $1; do kill -0 "$p" || exit 1; done' _ "$PIDS0"
# Revoking down to two would leave no secure round possible: refused.
cp "$WORK/roster.txt" "$WORK/roster.good"
head -2 "$WORK/roster.good" >"$WORK/roster.txt"
kill -HUP "$SERVER_PID"
check "a roster of two in a secure consortium is refused" \
	wait_for "$WORK/server.err" "old roster stays in force: $WORK/roster.txt: enrolls 2 client(s): secure aggregation cannot run" 20
check "... and retailer-3 stays enrolled" \
	bash -c '! grep -q "revoked: retailer-" "$1"' _ "$WORK/server.err"
grep -hE 'reloaded|refused' "$WORK"/client-*.err "$WORK/server.err" | cut -c 1-200 | sed 's/^/# /'
kill -TERM "$SERVER_PID"
wait_pid "$SERVER_PID" 30 || true
for i in 0 1 2 3; do kill -TERM "${CLIENT_PID[$i]}" 2>/dev/null || true; done
finish
