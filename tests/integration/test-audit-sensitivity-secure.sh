#!/usr/bin/env bash
# tests/integration/test-audit-sensitivity-secure.sh: `fedbundle audit
# sensitivity --mode secure` (issue 13) proves the per-user sensitivity of
# the secure-aggregation path end to end, and can fail. On the toy
# consortium (4 retailers, 8 users, 3 rounds, items frozen and trained)
# the unmasked sums on D and on D without one user differ by at most the
# l2 the ledger's distributed-noise entry gives the accountant (C / grid,
# and its L1 bound), by exactly the owner's release difference, and every
# other retailer's UPDATE and every other user's factors are bit-identical;
# with the test switch of the old shared negative stream, distances well
# above C make it fail while the other retailers stay identical. The
# rounds run in the ring the aggregator's rule picks (fb_secagg_ring_plan:
# Z_(2^48) for the toy's 500 users at C = 1, sigma = 1), which the output
# names; --ring-bits 64 forces the wide ring and passes too, and
# --ring-bits 32, which the sum could wrap, is refused. Where
# Youshu is present, the frozen mode runs on it with a few users (not
# under the sanitizer builds: FB_TIME_SCALE > 1).
source "$(dirname "$0")/lib.sh"

"$FB_TOOL" datagen --preset toy --seed 1 --out "$WORK/toy" >/dev/null 2>&1

# field NAME FILE: the value of "NAME" of every mode in the JSON of FILE,
# one a line (a mode's own fields come before its "by_kind" object).
field() {
	grep -o '"mode": "[^"]*"[^{]*' "$2" | grep -o "\"$1\": [^,}]*" |
		sed 's/^[^:]*: //'
}

# run OUT EXPECTED_STATUS ARGS...: the audit with --json into
# $WORK/OUT.json, stderr into $WORK/OUT.err; fails unless the exit status
# is EXPECTED_STATUS.
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

# most FILE NAME: the largest value of field NAME.
most() {
	field "$2" "$1" | sort -g | tail -n 1
}

# all_zero FILE NAME...: every mode's NAME fields are 0.
all_zero() {
	local file=$1 name
	shift
	for name in "$@"; do
		[ "$(field "$name" "$file" | sort -u)" = 0 ] || {
			echo "# $name: $(field "$name" "$file" | tr '\n' ' ')"
			return 1
		}
	done
}

# --- the secure path: both modes pass on the toy consortium ---
t0=$SECONDS
check "toy: the secure modes pass (exit 0)" run toy 0 --data "$WORK/toy" \
	--mode secure --users 8 --steps 3
echo "# toy: secure modes in $((SECONDS - t0)) s"
check "toy: overall ok" grep -q '"ok": true}$' "$WORK/toy.json"
check "toy: secure-frozen and secure-trained, each ok" \
	test "$(field mode "$WORK/toy.json" | tr '\n' ' ')" = \
	'"secure-frozen" "secure-trained" '
check "toy: 8 users x 3 rounds checked per mode" \
	test "$(field checks "$WORK/toy.json" | tr '\n' ' ')" = "24 24 "
check "toy: the bound is the ledger's ddg l2 = C / grid (4 honest shares)" \
	test "$(field bound_c "$WORK/toy.json" | sort -u)" = 1.000000000 -a \
	"$(field n_honest "$WORK/toy.json" | sort -u)" = 4
check "toy: both modes ran in the aggregator's ring Z_(2^48), not forced" \
	test "$(field ring_bits "$WORK/toy.json" | tr '\n' ' ')" = "48 48 " -a \
	"$(field ring_forced "$WORK/toy.json" | sort -u)" = false
check "toy: no violation, divergence or mismatch" all_zero "$WORK/toy.json" \
	violations state_divergences masked_mismatches unmask_mismatches \
	ledger_mismatches public_mismatches
max=$(most "$WORK/toy.json" max_distance_c)
echo "# toy: max distance per mode $(field max_distance_c "$WORK/toy.json" |
	tr '\n' ' ')(C); max L1 $(field max_l1_steps "$WORK/toy.json" |
	tr '\n' ' ')of $(field l1_steps "$WORK/toy.json" | tr '\n' ' ')grid steps"
check "toy: every distance within C, and some clipped to it" \
	awk -v m="$max" 'BEGIN { exit !(m > 0.99 && m <= 1) }'

# --- the test switch: the old shared stream must fail, well above C ---
t0=$SECONDS
check "toy, --test-shared-stream: the secure audit fails (exit 1)" \
	run shared 1 --data "$WORK/toy" --mode secure --users 8 --steps 2 \
	--test-shared-stream --no-noise
echo "# toy, shared stream: secure modes in $((SECONDS - t0)) s"
check "toy, --test-shared-stream: both secure modes fail" \
	test "$(grep -o '"ok": false' "$WORK/shared.json" | wc -l)" -eq 3
shared_max=$(most "$WORK/shared.json" max_distance_c)
echo "# toy, shared stream (noise off): max distance per mode" \
	"$(field max_distance_c "$WORK/shared.json" | tr '\n' ' ')(C)"
check "toy, --test-shared-stream: a distance above 3 C" \
	awk -v m="$shared_max" 'BEGIN { exit !(m > 3) }'
check "toy, --test-shared-stream: the other retailers stay identical" \
	all_zero "$WORK/shared.json" masked_mismatches unmask_mismatches \
	ledger_mismatches public_mismatches

# --- the ring forced: 64 bits pass, 32 bits (the sum could wrap) refused ---
check "toy, --ring-bits 64: the secure modes pass (exit 0)" run ring64 0 \
	--data "$WORK/toy" --mode secure --users 4 --steps 2 --ring-bits 64
check "toy, --ring-bits 64: both modes ran in Z_(2^64), forced" \
	test "$(field ring_bits "$WORK/ring64.json" | tr '\n' ' ')" = "64 64 " -a \
	"$(field ring_forced "$WORK/ring64.json" | sort -u)" = true
check "toy, --ring-bits 64: no violation, divergence or mismatch" all_zero \
	"$WORK/ring64.json" violations state_divergences masked_mismatches \
	unmask_mismatches ledger_mismatches public_mismatches
out=$("$FB_TOOL" audit sensitivity --data "$WORK/toy" --mode secure \
	--ring-bits 32 --quiet 2>&1) && rc=0 || rc=$?
check "--ring-bits 32: refused with status 2, the sum could wrap" \
	test "$rc" -eq 2 -a \
	"$(printf '%s\n' "$out" | grep -c 'ring-bits 32.*could wrap.*picks Z_(2^48)')" -eq 1
out=$("$FB_TOOL" audit sensitivity --data "$WORK/toy" --mode secure \
	--ring-bits 40 2>&1) && rc=0 || rc=$?
check "--ring-bits 40: refused with status 2, naming 32, 48 or 64" \
	test "$rc" -eq 2 -a \
	"$(printf '%s\n' "$out" | grep -c 'ring-bits must be 32, 48 or 64')" -eq 1

# --- text output and bad input ---
"$FB_TOOL" audit sensitivity --data "$WORK/toy" --mode secure-frozen \
	--users 2 --steps 1 --quiet >"$WORK/text.out" 2>&1 || true
check "text output: a secure table and a verdict" \
	grep -q '^ok: no distance above' "$WORK/text.out"
check "text output: names the ring, the aggregator's choice" \
	grep -q "^  ring: Z_(2^48) (the aggregator's choice)$" "$WORK/text.out"
out=$("$FB_TOOL" audit sensitivity --data "$WORK/toy" --mode secure \
	--retailers 2 2>&1) && rc=0 || rc=$?
check "two retailers: refused with status 2, naming --retailers" \
	test "$rc" -eq 2 -a "$(printf '%s\n' "$out" | grep -c 'retailers')" -eq 1

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
	check "Youshu: secure-frozen passes" run youshu 0 --data "$youshu" \
		--mode secure-frozen --users 4 --steps 2
	echo "# Youshu: secure-frozen in $((SECONDS - t0)) s, ring Z_(2^$(field \
		ring_bits "$WORK/youshu.json")); max distance" \
		"$(field max_distance_c "$WORK/youshu.json") C"
	check "Youshu: no violation, divergence or mismatch" all_zero \
		"$WORK/youshu.json" violations state_divergences \
		masked_mismatches unmask_mismatches ledger_mismatches \
		public_mismatches
fi
finish
