#!/usr/bin/env bash
# tests/integration/test-fed-client-status.sh: the retailer's status page
# (policy key status_listen, client/status.h; docs/operations.md
# "Monitoring"). Four retailers train with secure aggregation; retailer-0
# serves its page, and so does retailer-3, whose policy refuses every
# plan. Once the aggregator stopped (the ledgers stand still), each
# page's epsilon spent and left, budget and releases are what
# `fedbundle-client budget --json` prints, the last secure release's
# eps_assumed and eps_alone are the ledger's, retailer-3's page shows its
# refusals and why; the page holds none of the customers' ids (string ids
# in users.map), only known metric names and a reason label; a taken
# port is refused at start naming the URL. Read with curl.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "1..0 # SKIP curl is not installed"; exit 0; }

fed_data 4
# Customers' original ids as a retailer's export has them: strings.
for d in "$WORK"/parts/retailer-0*; do
	awk -F '\t' 'BEGIN { OFS = "\t" } { print $1, "cust-" $2 "-qz" }' \
		"$d/users.map" >"$d/users.map.new"
	mv "$d/users.map.new" "$d/users.map"
done
PORT=$(test_port)
URL0="http://127.0.0.1:$PORT"
URL3="http://127.0.0.1:$((PORT + 1))"
PLAN_WAIT_MS=500
server_config 40 3 20000 '{"granularity": "user", "q": 0.25, "clip": 1,
 "dim": 16, "lr": 20, "bias": true, "train_items": false, "bundle_rank": 8,
 "secure_aggregation": true, "secagg_stage_ms": 3000,
 "target_epsilon": 40, "delta": 1e-5}'
P='"epsilon": 40, "delta": 1e-5, "roster": "roster.txt"'
policy 0 "$P, \"status_listen\": \"$URL0\""
for i in 1 2; do policy "$i" "$P"; done
policy 3 "$P, \"status_listen\": \"$URL3\", \"min_noise_multiplier\": 100000"
start_server
for i in 0 1 2 3; do start_client "$i"; done
check "the client logs where its page is" \
	wait_for "$WORK/client-0.err" "status page on $URL0/metrics" 10
check "round 2 commits" \
	wait_for "$WORK/metrics.jsonl" '"round": 2, "status": "committed"' 90

page() { curl -sS --max-time 5 "$1/metrics"; }
val() { # val NAME[{labels}]: the value of one sample of the page in $PG
	awk -v n="$1" '$1 == n { print $2 }' <<<"$PG"
}
PG=$(page "$URL0") || PG=
check "GET /metrics answers while the client trains" test -n "$PG"
u1=$(val fedbundle_client_uptime_seconds)

# The aggregator stops: the clients retry, their ledgers stand still.
kill -TERM "$SERVER_PID"
wait_pid "$SERVER_PID" 30 || true
sleep 1
PG=$(page "$URL0") || PG=
echo "$PG" | grep -v '^#' | sed 's/^/# /'
"$FB_CLIENT" budget --policy "$WORK/policy-0.json" --json >"$WORK/budget-0.json"
sed 's/^/# budget: /' "$WORK/budget-0.json"
bj() { json_field "$2" <"$WORK/budget-$1.json"; }
six() { awk -v v="$1" 'BEGIN { printf "%.6f", v }'; }
check "the ledger was read for the page" test "$(val fedbundle_client_ledger_ok)" = 1
check "epsilon spent > 0" gt "$(val fedbundle_client_epsilon_spent)" 0
check "epsilon spent is budget's" \
	test "$(six "$(val fedbundle_client_epsilon_spent)")" = "$(bj 0 epsilon_spent)"
check "epsilon left is budget's" \
	test "$(six "$(val fedbundle_client_epsilon_left)")" = "$(bj 0 epsilon_left)"
check "the budget is the policy's" test "$(val fedbundle_client_epsilon_budget)" = 40
check "releases are budget's" test "$(val fedbundle_client_releases)" = "$(bj 0 releases)"
check "not exhausted" test "$(val fedbundle_client_budget_exhausted)" = 0
LAST=$(grep secagg-ddg "$WORK/state-0/privacy.ledger" | tail -1)
lf() { sed -E "s/.*\"$1\":([^,}]*).*/\1/" <<<"$LAST"; }
check "a secure release in the ledger" test -n "$LAST"
check "the last secure release's round is the ledger's" \
	test "$(val fedbundle_client_secagg_last_round)" = "$(lf round)"
check "... eps_assumed is the ledger's" \
	near "$(val fedbundle_client_secagg_last_eps_assumed)" "$(lf eps_assumed)" 1e-9
check "... eps_alone is the ledger's" \
	near "$(val fedbundle_client_secagg_last_eps_alone)" "$(lf eps_alone)" 1e-9
check "... and its honest shares" \
	test "$(val fedbundle_client_secagg_last_shares)" = "$(lf shares)"
check "rounds trained >= 1" ge "$(val fedbundle_client_rounds_trained_total)" 1
check "the last round trained is the last completed" test \
	"$(val fedbundle_client_round_last_trained)" = "$(val fedbundle_client_round_last_completed)"
check "nothing refused" test "$(val fedbundle_client_round_last_refused)" = 0
check "uptime grows" gt "$(val fedbundle_client_uptime_seconds)" "$u1"
check "the start time is this process's (within 5 minutes)" \
	bash -c 'a=$1; b=$(date +%s); awk -v a="$a" -v b="$b" "BEGIN { exit !(a <= b && b - a < 300) }"' _ \
	"$(val process_start_time_seconds)"

# Nothing about a customer: none of their ids, no label but the reason.
PG3=$(page "$URL3") || PG3=
cut -f2 "$WORK"/parts/retailer-0*/users.map >"$WORK/ids.txt"
check "no customer id on either page" \
	bash -c '! grep -qwF -f "$1" <<<"$2$3"' _ "$WORK/ids.txt" "$PG" "$PG3"
check "only the client's metric names, only a reason label" \
	bash -c '! grep -v "^#" <<<"$1$2" | grep -qvE "^(process_start_time_seconds|fedbundle_client_[a-z0-9_]+)(\{reason=\"[a-z0-9-]+\"\})? -?[0-9.e+-]+$"' \
	_ "$PG" "$PG3"
check "every sample has a TYPE line" \
	bash -c 'for n in $(grep -v "^#" <<<"$1" | sed "s/[{ ].*//" | sort -u); do grep -q "^# TYPE $n " <<<"$1" || exit 1; done' _ "$PG"
check "another path is 404" \
	test "$(curl -s -o /dev/null -w '%{http_code}' "$URL0/")" = 404

# Retailer-3 refused every plan (its smallest noise multiplier).
PG=$PG3
echo "$PG" | grep -E 'refused|spent|releases' | grep -v '^#' | sed 's/^/# 3: /'
"$FB_CLIENT" budget --policy "$WORK/policy-3.json" --json >"$WORK/budget-3.json"
check "retailer-3: the last round refused" gt "$(val fedbundle_client_round_last_refused)" 0
check "... why: policy-refused" \
	test "$(val 'fedbundle_client_round_last_refused_reason{reason="policy-refused"}')" = 1
check "... counted by reason" \
	ge "$(val 'fedbundle_client_rounds_refused_total{reason="policy-refused"}')" 2
check "... nothing trained" test "$(val fedbundle_client_rounds_trained_total)" = 0
check "... nothing spent, as budget says" \
	test "$(six "$(val fedbundle_client_epsilon_spent)")" = "$(bj 3 epsilon_spent)"
check "... no secure release" test -z "$(val fedbundle_client_secagg_last_round)"

# A second client on retailer-0's status port is refused at start-up.
sed "s#$URL3#$URL0#; s#\"state-3\"#\"state-x\"#" "$WORK/policy-3.json" >"$WORK/policy-4.json"
"$FB_CLIENT" run --policy "$WORK/policy-4.json" >"$WORK/client-x.out" 2>"$WORK/client-x.err" && rc=0 || rc=$?
sed 's/^/# x: /' "$WORK/client-x.err" | tail -2
check "a taken status port: exit 1" test "$rc" = 1
check "... naming the URL" grep -q "status_listen '$URL0'" "$WORK/client-x.err"

for i in 0 1 2 3; do kill -TERM "${CLIENT_PID[$i]}" 2>/dev/null || true; done
check "SIGTERM ends the client serving its page" wait_pid "${CLIENT_PID[0]}" 10
for i in 1 2 3; do wait_pid "${CLIENT_PID[$i]}" 10 || true; done
finish
