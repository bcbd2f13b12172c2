#!/usr/bin/env bash
# tests/integration/test-dp-rule.sh: `fedbundle train --dp user` takes q,
# lr and bundle_rank from the rule of docs/privacy.md section 12 (public
# quantities only) unless they are given, and says which is which in its
# JSON ("dp_settings") and text output; a larger declared user count
# raises the rank; explicit settings from the file and --q win.
source "$(dirname "$0")/lib.sh"

T="$WORK/toy"
quiet "$FB_TOOL" datagen --preset toy --seed 1 --out "$T"

# train_dp NAME ARGS...: a one-epoch DP run with seeded noise, JSON kept.
train_dp() {
	local name=$1
	shift
	"$FB_TOOL" train --data "$T" --dp user --epochs 1 --epsilon 8 \
		--seeded-noise 3 --ledger "$WORK/$name.ledger" --new-ledger \
		--json --quiet "$@" >"$WORK/$name.json" 2>"$WORK/$name.err"
}

check "train --dp user with the rule exits 0" train_dp rule --users 600
check "... every setting from the rule, with the derivation" python3 -c "
import json
d = json.loads(open('$WORK/rule.json').read().splitlines()[-1])
s = d['dp_settings']
assert s['q_from'] == s['lr_from'] == s['bundle_rank_from'] == 'rule', s
r = s['rule']
assert s['q'] == r['q'] == 0.25 and s['lr'] == r['lr'] and s['bundle_rank'] == r['bundle_rank'], s
assert r['releases'] == 4 and 1 <= r['bundle_rank'] <= 63, r
assert abs(r['noise_per_step'] - r['sigma'] / (0.25 * 600)) < 1e-5 * r['noise_per_step'], r
assert abs(r['lr'] - 2 / (6e-4 * 4)) < 1e-3, r
assert d['privacy']['q'] == 0.25, d['privacy']"

check "a larger declared count (public) raises the rank" train_dp big --users 100000
check "... as the rule says" python3 -c "
import json
a = json.loads(open('$WORK/rule.json').read().splitlines()[-1])['dp_settings']
b = json.loads(open('$WORK/big.json').read().splitlines()[-1])['dp_settings']
assert b['bundle_rank'] > a['bundle_rank'], (a, b)"

echo '{"lr": 5, "bundle_rank": 3}' >"$WORK/explicit-cfg.json"
check "explicit lr, bundle_rank and --q" train_dp explicit --users 600 \
	--config "$WORK/explicit-cfg.json" --q 0.5
check "... win over the rule and are marked explicit" python3 -c "
import json
d = json.loads(open('$WORK/explicit.json').read().splitlines()[-1])
s = d['dp_settings']
assert (s['lr'], s['bundle_rank'], s['q']) == (5, 3, 0.5), s
assert s['q_from'] == s['lr_from'] == s['bundle_rank_from'] == 'explicit', s
assert s['rule']['q'] == 0.5 and s['rule']['releases'] == 2, s
assert d['privacy']['q'] == 0.5 and d['privacy']['releases'] == 2, d['privacy']"

check "the text output names the rule" sh -c "\"$FB_TOOL\" train --data \"$T\" \
	--dp user --users 600 --epochs 1 --seeded-noise 3 --ledger \"$WORK/t.ledger\" \
	--new-ledger --quiet | grep -q 'DP settings: q 0.25 (rule), lr 833.3 (rule)'"
finish
