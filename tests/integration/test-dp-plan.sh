#!/usr/bin/env bash
# tests/integration/test-dp-plan.sh: `fedbundle train --dp user --plan`
# (issue 15, docs/privacy.md section 12). Where the DP rule finds that even
# a rank-1 trained slice is noisier than it allows (its bound on the
# released coordinates below 2 x bundles), `--plan auto` (the default)
# spends the whole budget on one release of noisy per-bundle counts and
# trains nothing: the ledger holds that one release, at the target
# epsilon, and the model is the public factors with that bias. Where the
# rule affords a slice, or `--plan train` is given, or bundle_rank is
# explicit, it trains as before; `--plan counts` forces the counts.
source "$(dirname "$0")/lib.sh"

T="$WORK/toy"
quiet "$FB_TOOL" datagen --preset toy --seed 1 --out "$T"
bundles=$(awk 'NR == 1 { print $2 }' "$T/Synth_data_size.txt")

# run NAME EPSILON ARGS...: a DP run with seeded noise; JSON, stderr and
# ledger verify kept.
run() {
	local name=$1 eps=$2
	shift 2
	"$FB_TOOL" train --data "$T" --dp user --users 600 --epsilon "$eps" \
		--seeded-noise 5 --ledger "$WORK/$name.ledger" --new-ledger \
		--out "$WORK/$name.fbm" --json "$@" >"$WORK/$name.json" \
		2>"$WORK/$name.err" &&
		"$FB_TOOL" ledger verify "$WORK/$name.ledger" --json \
			>"$WORK/$name.verify"
}
jp() { # jp NAME EXPR over the JSON (d), ledger entries (l), verify (v)
	python3 -c "
import json
d = json.loads(open('$WORK/$1.json').read().splitlines()[-1])
l = [json.loads(x) for x in open('$WORK/$1.ledger')]
v = json.load(open('$WORK/$1.verify'))
print($2)"
}

check "epsilon 1, 600 users: train exits 0" run e1 1
check "... the rule affords no slice, so the plan is the counts alone" \
	test "$(jp e1 "(d['privacy']['plan'], d['dp_settings']['rule']['trainable'])")" = "('counts', False)"
check "... its bound is below 2 x $bundles coordinates" \
	test "$(jp e1 "d['dp_settings']['rule']['max_coords'] < 2 * $bundles")" = True
check "... the ledger holds one release: q 1, one step, one coordinate per bundle" \
	test "$(jp e1 "(len(l), l[0]['q'], l[0]['steps'], l[0]['dim'])")" = "(1, 1, 1, $bundles)"
printed=$(jp e1 "d['privacy']['epsilon_spent']")
check "... the printed epsilon is ledger verify's" near "$printed" "$(jp e1 "v['epsilon_pld']")" 1e-5
check "... at the target (1, within 1e-3) and not above it" \
	bash -c "awk -v e=$printed 'BEGIN { exit !(e <= 1 && e >= 0.999) }'"
check "... nothing trained: epoch 0 of 0" \
	test "$(jp e1 "(d['epoch'], d['epochs_run'])")" = "(0, 0)"
check "... the model was written" test -s "$WORK/e1.fbm"
check "... stderr says why" grep -q "DP plan: counts only" "$WORK/e1.err"
check "... the model is better than random (Recall@20 > 0.1)" \
	test "$(jp e1 "d['recall@20'] > 0.1")" = True

check "epsilon 1 with --plan train exits 0" run e1-train 1 --plan train
check "... it trains: 30 epochs, 120 releases" \
	test "$(jp e1-train "(d['privacy']['plan'], d['epochs_run'], len(l))")" = "('train', 30, 120)"
echo '{"bundle_rank": 2}' >"$WORK/rank.json"
check "epsilon 1 with an explicit bundle_rank exits 0" run e1-rank 1 --config "$WORK/rank.json"
check "... an explicit rank trains" \
	test "$(jp e1-rank "(d['privacy']['plan'], d['dp_settings']['bundle_rank'])")" = "('train', 2)"

check "epsilon 8: train exits 0" run e8 8
check "... the rule affords a slice: it trains" \
	test "$(jp e8 "(d['privacy']['plan'], d['dp_settings']['rule']['trainable'], d['epochs_run'])")" = "('train', True, 30)"
check "epsilon 8 with --plan counts exits 0" run e8-counts 8 --plan counts
check "... one release of the counts at the whole budget" \
	test "$(jp e8-counts "(d['privacy']['plan'], len(l), round(d['privacy']['epsilon_spent'], 3))")" = "('counts', 1, 8.0)"

rc=0
out=$("$FB_TOOL" train --data "$T" --plan counts 2>&1 >/dev/null) || rc=$?
check "--plan without --dp user is a usage error" test "$rc" -eq 2
check "... naming the option" grep -q -- "--plan needs --dp user" <<<"$out"
rc=0
out=$("$FB_TOOL" train --data "$T" --dp user --users 600 --plan maybe 2>&1 >/dev/null) || rc=$?
check "--plan maybe is a usage error naming the value" \
	bash -c "[ $rc -eq 2 ] && grep -q \"'maybe' is not auto, train or counts\" <<<\"\$0\"" "$out"
finish
