#!/usr/bin/env bash
# tests/integration/test-audit-membership.sh: `fedbundle audit membership`
# (tools/audit-membership.c), the one-run canary audit, on the toy
# consortium with fixed seeds (reproducible, NOT PRIVATE runs: the coins,
# sampling and noise come from --seed; one run also uses the CSPRNG).
#
# On the fixed code the bound never passes the accountant's epsilon, for
# epsilon 1, 2, 4 and 8, white-box and black-box (federated at 1 and 8,
# to keep the script near two minutes). With the noise switched off
# (--test-no-noise) the audit must report a violation (exit 1). It can
# only where the canaries can show one: with m = 1000 canaries and every
# guess right, the largest bound is log(r / ln(7 / beta)), about 5.3 for
# r = 1000 guesses (the k search pays a factor 7 on beta), so a broken
# run is caught at epsilon 1, 2 and 4 but could not be at 8. Without
# noise an included canary is told apart from an absent one whenever it
# was sampled at least once: all but 0.75^releases of them.
source "$(dirname "$0")/lib.sh"

"$FB_TOOL" datagen --preset toy --seed 1 --out "$WORK/data" >/dev/null 2>&1

# field NAME FILE: a number or word of the audit's JSON line.
field() {
	sed -n "s/.*\"$1\": \([^,}]*\).*/\1/p" "$2"
}

# audit OUT EXPECTED_EXIT ARGS...: runs the audit with --json into OUT.
audit() {
	local out=$1 want=$2 rc=0
	shift 2
	"$FB_TOOL" audit membership --data "$WORK/data" --seed 1 --json --quiet \
		"$@" >"$WORK/$out.json" 2>"$WORK/$out.err" || rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "# exit $rc, expected $want"
		sed 's/^/# /' "$WORK/$out.err" "$WORK/$out.json"
		return 1
	fi
}

# below OUT: epsilon_lower <= epsilon (the accountant's).
below() {
	local lo eps
	lo=$(field epsilon_lower "$WORK/$1.json")
	eps=$(field epsilon "$WORK/$1.json")
	echo "# $1: epsilon_lower $lo, epsilon $eps"
	awk -v l="$lo" -v e="$eps" 'BEGIN { exit !(l != "" && l <= e) }'
}

# above OUT: epsilon_lower > epsilon.
above() {
	! below "$1"
}

for eps in 1 2 4 8; do
	check "white-box, epsilon $eps: runs, exit 0" \
		audit wb$eps 0 --mode central-whitebox --canaries 1000 --epsilon "$eps"
	check "white-box, epsilon $eps: epsilon_lower <= epsilon" below wb$eps
	check "black-box, epsilon $eps: runs, exit 0" \
		audit bb$eps 0 --mode central-blackbox --canaries 1000 --epsilon "$eps"
	check "black-box, epsilon $eps: epsilon_lower <= epsilon" below bb$eps
done
for eps in 1 8; do
	check "federated, epsilon $eps: runs, exit 0" \
		audit fed$eps 0 --mode federated --canaries 1000 --rounds 8 \
		--retailers 2 --epsilon "$eps"
	check "federated, epsilon $eps: epsilon_lower <= epsilon" below fed$eps
done
check "the JSON has the fields of the issue" \
	grep -q '"mode": "central-whitebox".*"epsilon": .*"epsilon_lower": .*"confidence": 0.95, "canaries": 1000' \
	"$WORK/wb8.json"
check "white-box at epsilon 8 finds something (epsilon_lower > 0.5)" \
	awk -v l="$(field epsilon_lower "$WORK/wb8.json")" 'BEGIN { exit !(l > 0.5) }'

# --- the audit can fail ---
for eps in 1 4; do
	check "no noise, white-box, epsilon $eps: a violation, exit 1" \
		audit nn-wb$eps 1 --mode central-whitebox --canaries 1000 \
		--epsilon "$eps" --test-no-noise
	check "no noise, white-box, epsilon $eps: epsilon_lower > epsilon" \
		above nn-wb$eps
done
check "no noise, black-box, epsilon 4: a violation, exit 1" \
	audit nn-bb4 1 --mode central-blackbox --canaries 1000 --epsilon 4 \
	--test-no-noise
check "no noise, black-box, epsilon 4: epsilon_lower > epsilon" above nn-bb4
check "no noise, federated, epsilon 2: a violation, exit 1" \
	audit nn-fed2 1 --mode federated --canaries 1000 --rounds 8 \
	--retailers 2 --epsilon 2 --test-no-noise
check "no noise, federated, epsilon 2: epsilon_lower > epsilon" above nn-fed2
check "no noise: says NOT PRIVATE" grep -q 'NOT PRIVATE' "$WORK/nn-wb1.err"
check "no noise: \"private\": false in the JSON" \
	grep -q '"private": false, "test_no_noise": true' "$WORK/nn-wb1.json"

# --- the CSPRNG path (no --seed): private coins and noise ---
csprng() {
	"$FB_TOOL" audit membership --data "$WORK/data" --canaries 500 \
		--epsilon 2 --json --quiet >"$WORK/cs.json" 2>"$WORK/cs.err"
}
check "without --seed: runs, exit 0" csprng
check "without --seed: private, no seed printed" \
	grep -q '"private": true, .*"seed": null' "$WORK/cs.json"
check "without --seed: epsilon_lower <= epsilon" below cs

# --- usage errors: exit 2, one line ---
usage() { # usage PATTERN ARGS...
	local pat=$1 rc=0
	shift
	"$FB_TOOL" audit membership "$@" >/dev/null 2>"$WORK/usage.err" || rc=$?
	[ "$rc" -eq 2 ] && grep -q "$pat" "$WORK/usage.err"
}
check "no --data: exit 2" usage 'data DIR is required' --epsilon 1
check "unknown mode: exit 2" usage "not central-whitebox" \
	--data "$WORK/data" --mode grey
check "bad epsilon: exit 2" usage 'epsilon must be' \
	--data "$WORK/data" --epsilon -1
check "bad confidence: exit 2" usage 'confidence must be' \
	--data "$WORK/data" --confidence 1.5
check "missing dataset: exit 2" usage 'cannot load the dataset' \
	--data "$WORK/nothing"
finish
