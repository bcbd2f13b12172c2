#!/usr/bin/env bash
# tests/integration/test-fed-roster-secure.sh: revoking a retailer by
# SIGHUP (server/reload.h) while secure rounds run (server/secround.c):
# four retailers, secure aggregation; right after round 2 is planned,
# retailer-3's line leaves the roster. The round it was in goes on
# without it (a dropped party) and commits or is abandoned for a secure
# reason, never crashes; later rounds are planned with the three others
# and commit; the aggregator ends normally.
source "$(dirname "$0")/lib.sh"

fed_data 4
PLAN_WAIT_MS=500
server_config 12 3 20000 '{"granularity": "user", "q": 0.25, "clip": 1,
 "dim": 16, "lr": 20, "bias": true, "train_items": false, "bundle_rank": 8,
 "secure_aggregation": true, "secagg_stage_ms": '$((8000 * TIME_SCALE))',
 "target_epsilon": 40, "delta": 1e-5}'
for i in 0 1 2 3; do policy "$i" '"epsilon": 40, "delta": 1e-5, "roster": "roster.txt"'; done
start_server
for i in 0 1 2 3; do start_client "$i"; done
check "round 2 is planned" wait_for "$WORK/server.err" "round 2 planned" 60
grep -v ' retailer-3$' "$WORK/roster.txt" >"$WORK/roster.new"
mv "$WORK/roster.new" "$WORK/roster.txt"
kill -HUP "$SERVER_PID"
check "the revocation is logged" \
	wait_for "$WORK/server.err" "reloaded: 3 client(s) enrolled; added: none; revoked: retailer-3" 10
check "the aggregator finished its rounds" wait_pid "$SERVER_PID" 120
grep -E 'round [0-9]+ (committed|abandoned)|left the secure|reloaded' "$WORK/server.err" |
	cut -c 25- | sed 's/^/# /' | head -30
later=$(awk '/^{"round": / { r = $2; sub(/,/, "", r); if (r + 0 > 3) print }' "$WORK/metrics.jsonl")
check "rounds after the revocation" test -n "$later"
check "... none has retailer-3" bash -c '! grep -q "\"name\": \"retailer-3\"" <<<"$1"' _ "$later"
check "... and they commit" \
	bash -c '[ "$(grep -c "\"status\": \"committed\"" <<<"$1")" -ge 1 ]' _ "$later"
r2=$(awk '/^{"round": 2,/ { print }' "$WORK/metrics.jsonl")
check "the round it was in closed" test -n "$r2"
check "... committed or abandoned for a secure-aggregation reason" \
	bash -c 'grep -qE "\"status\": \"committed\"|\"abandoned\": \"(secagg-[a-z-]+|quorum)\"" <<<"$1"' _ "$r2"
finish
