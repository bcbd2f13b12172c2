#!/usr/bin/env bash
# tests/integration/test-fed-secagg-users.sh: the users a retailer declares
# in a secure round (protocols/secagg-v1.md §10.4), and the budget of
# secure rounds (`fedbundle-client budget --secure`).
# Five retailers, two secure rounds. retailer-3 and retailer-4 over-declare
# their users a thousandfold; retailer-3's roster line caps it at its true
# count (max_users), retailer-4's has no cap and round.secagg_max_users
# (10000) applies. The aggregator refuses both advertisements, naming the
# retailer, the declared and the allowed numbers and where the cap comes
# from, and every round commits with the three others; the two liars
# release nothing. Then `budget --secure` on a retailer's
# ledger: its projection of one more round equals the epsilon the ledger
# recorded for round 2 when read from the ledger as it was after round 1
# (the distributed-noise accountant, not the plain one), fewer rounds fit
# than the plain projection at the same central sigma allows, and a ledger
# without a secure release is refused.
source "$(dirname "$0")/lib.sh"

fed_data 5
u3=$(declared_users "$WORK/parts/retailer-03")
u4=$(declared_users "$WORK/parts/retailer-04")
# retailer-3's line carries its cap; the others have none.
awk -v cap="$u3" '/ retailer-3$/ { $0 = $0 " max_users=" cap } { print }' \
	"$WORK/roster.txt" >"$WORK/roster.new" && mv "$WORK/roster.new" "$WORK/roster.txt"
# The refused parties never advertise, so each advertisement stage waits
# its whole secagg_stage_ms (scaled for the sanitizer builds).
server_config 2 3 $((20000 * TIME_SCALE)) '{"granularity": "user", "q": 0.5, "local_steps": 1,
 "clip": 1.0, "dim": 16, "lr": 20, "bias": true, "train_items": false,
 "bundle_rank": 8, "target_epsilon": 20, "delta": 1e-5,
 "secure_aggregation": true, "secagg_min_survivors": 3, "secagg_stage_ms": '$((4000 * TIME_SCALE))',
 "secagg_max_users": 10000}' '"accountant": "pld"'
# Budgets above the plan's target: room for more rounds.
for i in 0 1 2 3 4; do policy "$i" '"epsilon": 40, "delta": 1e-5, "roster": "roster.txt", "accountant": "pld"'; done
sed -i "s/\"users\": $u3,/\"users\": $((u3 * 1000)),/" "$WORK/policy-3.json"
sed -i "s/\"users\": $u4,/\"users\": $((u4 * 1000)),/" "$WORK/policy-4.json"
check "retailer-3 and retailer-4 over-declare" \
	grep -q "\"users\": $((u4 * 1000))," "$WORK/policy-4.json" "$WORK/policy-3.json"
check "... beyond the default cap" test "$((u4 * 1000))" -gt 10000 -a "$u3" -le 10000
start_server
for i in 0 1 2 3 4; do start_client "$i"; done
check "the aggregator finished" wait_pid "$SERVER_PID" 120
# The liars resend their advertisements until each stage closes (a sealed
# ERROR is answered like a lost reply); it is stopped at the end.
for i in 0 1 2; do
	check "client $i finished" wait_pid "${CLIENT_PID[$i]}" 30
done
{ grep 'secround.c.*refused SA_ADVERT' "$WORK/server.err" || true; } |
	cut -c 25- | sed 's/^/# /'
check "the over-declaring advertisement is refused, naming retailer, declared and allowed" \
	grep -q "refused SA_ADVERT from retailer-3 (round 1): it declares $((u3 * 1000)) users, above the $u3 allowed (its roster line's max_users); left out of the round" \
	"$WORK/server.err"
check "... and the one above round.secagg_max_users" \
	grep -q "refused SA_ADVERT from retailer-4 (round 1): it declares $((u4 * 1000)) users, above the 10000 allowed (round.secagg_max_users); left out of the round" \
	"$WORK/server.err"
check "both rounds commit with the three others" \
	test "$(grep -c '"status": "committed".*"secagg_u1": 3' "$WORK/metrics.jsonl")" -eq 2
releases() { # releases I: the release count of retailer I's ledger
	"$FB_TOOL" ledger verify "$WORK/state-$1/privacy.ledger" --json |
		sed 's/.*"releases": \([0-9]*\),.*/\1/'
}
check "retailer-3 and retailer-4 released nothing" \
	test "$(releases 3)" -eq 0 -a "$(releases 4)" -eq 0
check "retailer-0 released in both rounds" test "$(releases 0)" -eq 2

# ---- fedbundle-client budget --secure ----
pol="$WORK/policy-0.json"
b=$("$FB_CLIENT" budget --policy "$pol" --secure --json 2>"$WORK/budget.err" || true)
echo "# budget --secure: $b"
check "budget --secure reports the secure plan" \
	sh -c "echo '$b' | grep -q '\"secure_plan\": {\"from_entry\": [0-9]*, \"q\": 0.5, '"
# The ledger as it was after round 1: its lines up to the first release.
ledger="$WORK/state-0/privacy.ledger"
first=$(grep -n '"mech":"secagg-ddg"' "$ledger" | head -1 | cut -d: -f1)
mkdir -p "$WORK/r1"
head -n "$first" "$ledger" >"$WORK/r1/privacy.ledger"
sed "s#\"state_dir\": \"state-0\"#\"state_dir\": \"r1\"#" "$pol" >"$WORK/policy-r1.json"
b1=$("$FB_CLIENT" budget --policy "$WORK/policy-r1.json" --secure --json || true)
echo "# budget --secure after round 1: $b1"
next=$(echo "$b1" | json_field epsilon_next)
recorded=$(grep '"mech":"secagg-ddg"' "$ledger" | sed -n 2p |
	sed 's/.*"eps_assumed":\([0-9.e+-]*\).*/\1/')
echo "# projected after round 1: $next; recorded for round 2: $recorded"
check "its projection of round 2 is the epsilon the ledger recorded" \
	near "${next:-0}" "${recorded:-1}" 1e-5
sfit=$(echo "$b" | json_field rounds_fit)
q=0.5
sigma=$(grep '"mech":"secagg-ddg"' "$ledger" | tail -1 |
	sed 's/.*"sigma":\([0-9.e+-]*\).*/\1/')
bp=$("$FB_CLIENT" budget --policy "$pol" --json --q "$q" --sigma "$sigma" --steps 1 || true)
pfit=$(echo "$bp" | json_field rounds_fit)
echo "# rounds that fit: secure $sfit, plain at sigma $sigma $pfit"
# At this grid (2^26 noise steps) the grid's terms are small: the plain
# count is an upper bound (test-budget shows a grid where it is too high).
check "some secure rounds fit, no more than the plain projection says" \
	test "${sfit:-0}" -gt 0 -a "${sfit:-0}" -le "${pfit:-0}"
b2=$("$FB_CLIENT" budget --policy "$pol" --secure --honest 1 --json || true)
check "with one honest share a round costs more" \
	gt "$(echo "$b2" | json_field epsilon_next)" "${next:-0}"
check "budget --secure text names the plan" sh -c \
	"'$FB_CLIENT' budget --policy '$pol' --secure | grep -q '^secure rounds like ledger entry [0-9]* (q 0.5, .* 3 honest shares, .*rounds that fit: $sfit\$'"
check "budget --secure without a secure release is refused" sh -c \
	"! '$FB_CLIENT' budget --policy '$WORK/policy-3.json' --secure 2>'$WORK/b3.err'"
check "... naming the ledger" grep -q "state-3/privacy.ledger: no secure (secagg-ddg) release" "$WORK/b3.err"
check "--secure does not go with --q" sh -c \
	"! '$FB_CLIENT' budget --policy '$pol' --secure --q 0.5 --sigma 1 --steps 1 2>/dev/null"
finish
