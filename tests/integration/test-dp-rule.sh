#!/usr/bin/env bash
# tests/integration/test-dp-rule.sh: `fedbundle train --dp user` takes q,
# lr and bundle_rank from the rule of docs/privacy.md section 12 (public
# quantities only) unless they are given, and says which is which in its
# JSON ("dp_settings") and text output; a larger declared user count
# raises the rank; explicit settings from the file and --q win.
# The aggregator too (server/dpdefaults.h): at granularity user,
# `fedbundle simulate` and fedbundle-server derive the round keys not
# given (q, lr, bundle_rank by the rule from round.min_users and the
# clients a round expects; optimizer sgd, bias, frozen items) and say
# so at start-up; given keys win; granularity none keeps the defaults.
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
# ---- the aggregator's defaults (issue 15) ----
# sim NAME JSON: a one-round in-process simulation of 3 retailers.
sim() {
	local name=$1
	echo "{\"data\": \"$T\", \"retailers\": 3, \"rounds\": 1, $2}" \
		>"$WORK/$name-sim.json"
	"$FB_TOOL" simulate --config "$WORK/$name-sim.json" \
		--out "$WORK/$name-sim" >"$WORK/$name-sim.txt" 2>&1
}
check "simulate, user level, no round key given" sim agg '"epsilon": 8'
check "... q, lr, bundle_rank from the rule; the DP model defaults" python3 -c "
import json, math
r = json.load(open('$WORK/agg-sim/config.json'))['round']
assert r['q'] == 0.25 and r['optimizer'] == 'sgd' and r['bias'] is True, r
assert r['train_items'] is False and r['lr_user'] == 0.02, r
# T = 1 round x ceil(1 / 0.25) releases: lr = 2 / (6e-4 x 4)
assert abs(r['lr'] - 2 / (6e-4 * 4)) < 1e-6, r['lr']
assert 1 <= r['bundle_rank'] <= 62, r['bundle_rank']"
check "... and said at start-up, with n = min_users x sqrt(3)" grep -Eq \
	'DP rule .* from min_users [0-9]+ and 3 clients a round .*q 0.25 \(rule\), lr 833.3 \(rule\), bundle_rank [0-9]+ \(rule\); optimizer sgd, bias on, train_items off' \
	"$WORK/agg-sim.txt"
check "... the config.json reruns the same settings" python3 -c "
import json, subprocess
a = json.load(open('$WORK/agg-sim/config.json'))['round']
subprocess.run(['$FB_TOOL', 'simulate', '--config', '$WORK/agg-sim/config.json',
	'--out', '$WORK/agg-again', '--quiet'], check=True, capture_output=True)
b = json.load(open('$WORK/agg-again/config.json'))['round']
assert a == b, (a, b)"
check "simulate with round keys given" sim given '"epsilon": 8, "round":
	{"q": 0.5, "lr": 5, "bundle_rank": 3, "optimizer": "adam"}'
check "... they win, and lr is not the rule's with adam" python3 -c "
import json
r = json.load(open('$WORK/given-sim/config.json'))['round']
assert (r['q'], r['lr'], r['bundle_rank'], r['optimizer']) == (0.5, 5, 3, 'adam'), r
assert r['bias'] is True and r['train_items'] is False, r"
check "... and are marked explicit" grep -q \
	'q 0.5 (explicit), lr 5 (explicit), bundle_rank 3 (explicit); optimizer adam' \
	"$WORK/given-sim.txt"
check "simulate without privacy" sim none '"privacy": "none"'
check "... keeps the round defaults (no rule)" python3 -c "
import json
r = json.load(open('$WORK/none-sim/config.json'))['round']
assert (r['q'], r['lr'], r['optimizer'], r['bundle_rank']) == (0.1, 0.003, 'adam', 0), r"
check "... and says nothing of the rule" sh -c "! grep -q 'DP rule' '$WORK/none-sim.txt'"

fed_data 3
server_config 2 3 20000 '{"granularity": "user", "target_epsilon": 8, "delta": 1e-5}'
start_server
check "fedbundle-server says the rule's settings at start-up" \
	wait_for "$WORK/server.err" "DP rule" 20
check "... from round.min_users and the 3 enrolled clients" grep -Eq \
	"from min_users $(min_declared) and 3 clients a round .*, 8 releases: .*q 0.25 \(rule\), lr 416.7 \(rule\), bundle_rank [0-9]+ \(rule\)" \
	"$WORK/server.err"
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
sed "s/^/# /" "$WORK/server.err"
finish
