#!/usr/bin/env bash
# tests/integration/test-audit-sensitivity.sh: `fedbundle audit
# sensitivity` (issue 10) proves the user-level and client-level
# sensitivity by test, and can fail. On the toy consortium every mode
# passes (user level: items frozen and trained, 1 and 2 threads, 4 steps;
# client level: 4 retailers' clipped updates); with the test switch that
# restores the shared negative stream of before the fix, the user-level
# modes must fail with distances well above C. Where Youshu is present
# (FB_DATA_ROOT/youshu, as the unit tests find it) every mode runs on it
# with a few users; skipped under the sanitizer builds (FB_TIME_SCALE > 1),
# where it would take minutes. Bad input fails with exit status 2 and one
# line naming the input. The secure modes have their own test
# (test-audit-sensitivity-secure.sh).
source "$(dirname "$0")/lib.sh"

"$FB_TOOL" datagen --preset toy --seed 1 --out "$WORK/toy" >/dev/null 2>&1

# field NAME FILE [LEVEL]: the value of "NAME" of every mode (of LEVEL,
# user or client) in the JSON of FILE, one a line. A mode's own fields
# come before its "by_kind" object, which repeats some names per kind.
field() {
	grep -o '"mode": "[^"]*"[^{]*' "$2" | grep "\"level\": \"${3:-}" |
		grep -o "\"$1\": [^,}]*" | sed 's/^[^:]*: //'
}

# run OUT EXPECTED_STATUS ARGS...: runs the audit with --json into
# $WORK/OUT.json, stderr into $WORK/OUT.err; fails unless the exit
# status is EXPECTED_STATUS.
run() {
	local out=$1 want=$2 rc=0
	shift 2
	"$FB_TOOL" audit sensitivity --json --quiet "$@" \
		>"$WORK/$out.json" 2>"$WORK/$out.err" || rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "# exit status $rc, expected $want"
		sed 's/^/# /' "$WORK/$out.err"
		return 1
	fi
}

# most FILE NAME [LEVEL]: the largest value of field NAME.
most() {
	field "$2" "$1" "${3:-}" | sort -g | tail -n 1
}

# --- the fixed code: every mode passes on the toy consortium ---
t0=$SECONDS
check "toy: every mode passes (exit 0)" run toy 0 --data "$WORK/toy" \
	--mode user,client
echo "# toy: all modes in $((SECONDS - t0)) s"
check "toy: overall ok" grep -q '"ok": true}$' "$WORK/toy.json"
check "toy: six modes, each ok" \
	test "$(grep -o '"ok": true' "$WORK/toy.json" | wc -l)" -eq 7
check "toy: 24 users checked at user level, 4 retailers at client level" \
	test "$(field checked "$WORK/toy.json" | tr '\n' ' ')" = \
	"24 24 24 24 4 4 "
check "toy: zero-contribution users among them" \
	grep -q '"zero-contribution": {"checked": [1-9]' "$WORK/toy.json"
check "toy: no violation, no diverged state, no thread mismatch" \
	test "$(field violations "$WORK/toy.json" |
		cat - <(field state_divergences "$WORK/toy.json") \
			<(field thread_mismatches "$WORK/toy.json") |
		sort -u)" = 0
user_max=$(most "$WORK/toy.json" max_distance_c user)
client_max=$(most "$WORK/toy.json" max_distance_c client)
client_bound=$(most "$WORK/toy.json" bound_c client)
echo "# toy, fixed code: max distance per mode" \
	"$(field max_distance_c "$WORK/toy.json" | tr '\n' ' ')(C);" \
	"user level bound 1 C, client level bound $client_bound C"
check "toy: user level, every distance within C (and some clipped to it)" \
	awk -v m="$user_max" 'BEGIN { exit !(m > 0.99 && m <= 1) }'
check "toy: client level within C (1 + grid sqrt(D) / C)" \
	awk -v m="$client_max" -v b="$client_bound" \
	'BEGIN { exit !(m > 0.99 && m <= b && b < 1.001) }'

# --- the test switch: the old shared stream must fail, well above C ---
t0=$SECONDS
check "toy, --test-shared-stream: the audit fails (exit 1)" \
	run shared 1 --data "$WORK/toy" --mode user --test-shared-stream \
	--no-noise
echo "# toy, shared stream: user modes in $((SECONDS - t0)) s"
check "toy, --test-shared-stream: overall not ok" \
	grep -q '"ok": false}$' "$WORK/shared.json"
check "toy, --test-shared-stream: every user-level mode fails" \
	test "$(grep -o '"ok": false' "$WORK/shared.json" | wc -l)" -eq 5
shared_max=$(most "$WORK/shared.json" max_distance_c)
echo "# toy, shared stream (noise off): max distance $shared_max C per mode:" \
	"$(field max_distance_c "$WORK/shared.json" | tr '\n' ' ')"
check "toy, --test-shared-stream: a distance above 3 C" \
	awk -v m="$shared_max" 'BEGIN { exit !(m > 3) }'
check "toy, --test-shared-stream: 2 threads differ from 1" \
	test "$(most "$WORK/shared.json" thread_mismatches)" -gt 0

# --- text output ---
check "text output: a table per mode and a verdict" bash -c \
	"'$FB_TOOL' audit sensitivity --data '$WORK/toy' --mode user-frozen-1t \
	--users 4 --steps 2 --quiet | grep -q '^ok: no distance above'"

# --- bad input: exit status 2, one line naming the input ---
one_line() { # one_line PATTERN ARGS...: exit status 2, one line
	local pattern=$1 out rc=0
	shift
	out=$("$FB_TOOL" audit sensitivity "$@" 2>&1) || rc=$?
	if [ "$rc" -ne 2 ] || [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ] ||
		! printf '%s\n' "$out" | grep -q -- "$pattern"; then
		echo "# status $rc, got: $out"
		return 1
	fi
}
check "a missing dataset is named" one_line "$WORK/nope" \
	--data "$WORK/nope"
printf '{"dim": 16, "colour": 1}\n' >"$WORK/bad.json"
check "an unknown config key is named" one_line 'bad.json: colour' \
	--data "$WORK/toy" --config "$WORK/bad.json"
printf '{"dp": {"clip": "big"}}\n' >"$WORK/bad2.json"
check "a config value of the wrong type is named" one_line \
	'bad2.json: dp.clip' --data "$WORK/toy" --config "$WORK/bad2.json"
check "an unknown mode is refused" one_line "'usr' selects no mode" \
	--data "$WORK/toy" --mode usr
check "--data is required" one_line '--data' --users 3

# --- Youshu, where present ---
youshu=${FB_DATA_ROOT:-}/youshu
if [ -z "${FB_DATA_ROOT:-}" ] || [ ! -d "$youshu" ]; then
	echo "ok $((N_CHECKS + 1)) # SKIP Youshu not found (FB_DATA_ROOT=${FB_DATA_ROOT:-unset})"
	N_CHECKS=$((N_CHECKS + 1))
elif [ "$TIME_SCALE" -gt 1 ]; then
	echo "ok $((N_CHECKS + 1)) # SKIP Youshu under a sanitizer build (FB_TIME_SCALE=$TIME_SCALE)"
	N_CHECKS=$((N_CHECKS + 1))
else
	t0=$SECONDS
	check "Youshu: every mode passes" run youshu 0 --data "$youshu" \
		--mode user,client \
		--users 6 --steps 2
	echo "# Youshu: all modes in $((SECONDS - t0)) s; max distance per mode:" \
		"$(field max_distance_c "$WORK/youshu.json" | tr '\n' ' ')"
	check "Youshu: overall ok" grep -q '"ok": true}$' "$WORK/youshu.json"
fi
finish
