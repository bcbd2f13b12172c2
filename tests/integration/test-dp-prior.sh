#!/usr/bin/env bash
# tests/integration/test-dp-prior.sh: `fedbundle train --dp user --prior on`
# (issue 15, docs/privacy.md section 12) first releases the DP popularity
# floor's noisy bundle counts, a ledger entry of its own (q 1, one step,
# one coordinate per bundle), then trains a correction whose noise is
# calibrated on top of it: the epsilon printed is `ledger verify`'s, the
# whole run is at the target, the training releases alone spend less
# (the prior's entry is what makes the difference), and the training's
# noise is larger than without the prior. --prior off writes no such
# entry; --prior fixed keeps the bias at the prior and releases only the
# rest.
source "$(dirname "$0")/lib.sh"

T="$WORK/toy"
quiet "$FB_TOOL" datagen --preset toy --seed 1 --out "$T"

# train_dp NAME ARGS...: a two-epoch DP run with seeded noise, JSON kept.
train_dp() {
	local name=$1
	shift
	"$FB_TOOL" train --data "$T" --dp user --users 600 --epochs 2 \
		--epsilon 4 --seeded-noise 3 --ledger "$WORK/$name.ledger" \
		--new-ledger --json "$@" >"$WORK/$name.json" 2>"$WORK/$name.err"
}
# jp NAME EXPR: a Python expression over the run's JSON (d), its ledger
# entries (l) and its `ledger verify --json` (v).
jp() {
	python3 -c "
import json, sys
d = json.loads(open('$WORK/$1.json').read().splitlines()[-1])
l = [json.loads(x) for x in open('$WORK/$1.ledger')]
v = json.load(open('$WORK/$1.verify'))
print($2)"
}

check "train --prior on exits 0" train_dp prior --prior on
"$FB_TOOL" ledger verify "$WORK/prior.ledger" --json >"$WORK/prior.verify"
bundles=$(sed -n 's/.*users, \([0-9]*\) bundles.*/\1/p' "$WORK/prior.err" | head -1)
check "the prior is the ledger's first entry: q 1, one step, $bundles bundles" \
	test "$(jp prior "(l[0]['q'], l[0]['steps'], l[0]['dim'], l[0]['round'])")" = "(1, 1, $bundles, 1)"
check "... and said so in the JSON, with its noise" \
	test "$(jp prior "(d['privacy']['prior']['released'], d['privacy']['prior']['round'], abs(d['privacy']['prior']['sigma'] - l[0]['sigma']) < 1e-6)")" = "(True, 1, True)"
check "... and on stderr" grep -q "popularity prior: one release of $bundles bundles' noisy counts" "$WORK/prior.err"
check "the training's 8 releases follow it" \
	test "$(jp prior "(len(l), d['privacy']['releases'], set(e['q'] for e in l[1:]))")" = "(9, 9, {0.25})"
printed=$(jp prior "d['privacy']['epsilon_spent']")
verified=$(jp prior "v['epsilon_pld']")
echo "# printed epsilon $printed, ledger verify (pld) $verified"
check "the printed epsilon is ledger verify's" near "$printed" "$verified" 1e-5
check "the whole run is at the target (4, within 1e-3)" near "$printed" 4 1e-3
check "... and not above it" ge 4 "$printed"

# The training releases alone (the ledger without the prior's entry):
# their epsilon, recomputed by the same accountant, is below the whole.
sigma_t=$(jp prior "l[1]['sigma']")
sigma_p=$(jp prior "l[0]['sigma']")
"$FB_TOOL" privacy --q 0.25 --steps 8 --sigma "$sigma_t" --delta 1e-6 \
	--accountant pld --json >"$WORK/train-alone.json"
"$FB_TOOL" privacy --q 1 --steps 1 --sigma "$sigma_p" --delta 1e-6 \
	--accountant pld --json >"$WORK/prior-alone.json"
e_train=$(python3 -c "import json; print(json.load(open('$WORK/train-alone.json'))['epsilon'])")
e_prior=$(python3 -c "import json; print(json.load(open('$WORK/prior-alone.json'))['epsilon'])")
echo "# without the prior's entry: epsilon $e_train; the prior alone $e_prior"
check "removing the prior's entry lowers the epsilon" gt "$printed" "$e_train"
check "... by a visible amount (the prior is half of the noise budget)" \
	gt "$printed" "$(awk -v a="$e_train" 'BEGIN { print a + 0.2 }')"
check "... and the prior alone is below the whole" gt "$printed" "$e_prior"

check "train --prior off exits 0" train_dp off --prior off
"$FB_TOOL" ledger verify "$WORK/off.ledger" --json >"$WORK/off.verify"
check "--prior off: no count release, 8 training releases" \
	test "$(jp off "(len(l), set(e['q'] for e in l), d['privacy']['prior']['released'])")" = "(8, {0.25}, False)"
check "... at the target too" near "$(jp off "v['epsilon_pld']")" 4 1e-3
check "the prior's training noise is larger (it left room for the counts)" \
	gt "$sigma_t" "$(jp off "l[0]['sigma']")"
check "train --prior fixed exits 0" train_dp fixed --prior fixed --prior-share 0.75
"$FB_TOOL" ledger verify "$WORK/fixed.ledger" --json >"$WORK/fixed.verify"
check "--prior fixed: the training releases drop the bias (bundle_rank x $bundles coordinates)" \
	test "$(jp fixed "(l[1]['dim'] == d['dp_settings']['bundle_rank'] * $bundles, l[0]['dim'], d['privacy']['prior']['mode'], d['privacy']['prior']['share'])")" = "(True, $bundles, 'fixed', 0.75)"
check "... at the target, as ledger verify says" \
	near "$(jp fixed "v['epsilon_pld']")" "$(jp fixed "d['privacy']['epsilon_spent']")" 1e-5
check "... within 1e-3 of it" near "$(jp fixed "v['epsilon_pld']")" 4 1e-3
check "... and a larger share is a smaller noise on the counts" \
	gt "$sigma_p" "$(jp fixed "l[0]['sigma']")"
check "--prior takes only off, on or fixed" \
	sh -c "! '$FB_TOOL' train --data '$T' --dp user --users 600 --prior maybe 2>/dev/null"
finish
