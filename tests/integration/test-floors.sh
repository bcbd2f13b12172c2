#!/usr/bin/env bash
# tests/integration/test-floors.sh: `fedbundle floors` and `fedbundle
# subsample` on the toy preset (issue 15). The DP popularity release is one
# entry of the given ledger (q 1, one step) and the epsilon printed is the
# one the ledger's accountant recomputes; a second release over the same
# budget is refused; without --ledger nothing is left behind; the noise is
# the CSPRNG's (two runs differ) and seeded noise says NOT PRIVATE; at a
# huge epsilon with m above every user's count, DP popularity scores
# exactly like popularity; a subsample has the users asked for, with all
# their interactions. Youshu, when present: the floors run and DP
# popularity at epsilon 8 is within 0.01 of popularity.
source "$(dirname "$0")/lib.sh"

jget() { # jget FILE SECTION KEY: a number of a section of floors --json
	python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d[sys.argv[2]][sys.argv[3]])" "$@"
}

quiet "$FB_TOOL" datagen --preset toy --seed 3 --out "$WORK/toy"
L="$WORK/pop.ledger"
check "floors runs with a new ledger" quiet sh -c "'$FB_TOOL' floors --data '$WORK/toy' \
	--epsilon 2 --ledger '$L' --new-ledger --json --quiet >'$WORK/a.json'"
check "JSON has the three floors at 20" python3 -c "
import json; d = json.load(open('$WORK/a.json'))
for s in ('popularity', 'dp_popularity', 'zero_release'):
    assert 0 <= d[s]['recall@20'] <= 1 and 0 <= d[s]['ndcg@20'] <= 1, s
assert d['zero_release']['epsilon'] == 0 and d['dp_popularity']['private']"
check "one ledger entry, q 1, one step" python3 -c "
import json; l = [json.loads(x) for x in open('$L')]
assert len(l) == 1 and l[0]['q'] == 1 and l[0]['steps'] == 1, l"
"$FB_TOOL" ledger verify "$L" --json >"$WORK/verify.json" 2>/dev/null
printed=$(jget "$WORK/a.json" dp_popularity epsilon)
recomputed=$(python3 -c "import json; print(json.load(open('$WORK/verify.json'))['epsilon_pld'])" 2>/dev/null ||
	grep -o '"epsilon_pld": [0-9.e+-]*' "$WORK/verify.json" | sed 's/.*: //')
echo "# printed epsilon $printed, ledger verify (pld) $recomputed"
check "the printed epsilon is the ledger's accountant's" near "$printed" "$recomputed" 1e-6
check "and within the target" ge 2 "$printed"
check "a second release over the spent budget is refused" \
	sh -c "! '$FB_TOOL' floors --data '$WORK/toy' --epsilon 2 --ledger '$L' --quiet >/dev/null 2>'$WORK/b.err'"
check "... naming the budget" grep -q "budget" "$WORK/b.err"

n_tmp=$(find /tmp -maxdepth 1 -name "fedbundle-floors-*" | wc -l)
"$FB_TOOL" floors --data "$WORK/toy" --epsilon 1 --json --quiet >"$WORK/c1.json"
"$FB_TOOL" floors --data "$WORK/toy" --epsilon 1 --json --quiet >"$WORK/c2.json"
check "without --ledger no temporary ledger is left" \
	test "$(find /tmp -maxdepth 1 -name "fedbundle-floors-*" | wc -l)" = "$n_tmp"
# The CSPRNG: two runs at epsilon 0.1 differ in the DP figures (equal
# figures by chance are possible but rare on 300 bundles).
"$FB_TOOL" floors --data "$WORK/toy" --epsilon 0.1 --json --quiet >"$WORK/d1.json"
"$FB_TOOL" floors --data "$WORK/toy" --epsilon 0.1 --json --quiet >"$WORK/d2.json"
check "two unseeded releases differ" python3 -c "
import json; a, b = (json.load(open('$WORK/' + f))['dp_popularity'] for f in ('d1.json', 'd2.json'))
assert a != b"
"$FB_TOOL" floors --data "$WORK/toy" --epsilon 1 --seeded-noise 5 >"$WORK/s.txt" 2>&1
check "seeded noise says NOT PRIVATE" grep -q "NOT PRIVATE" "$WORK/s.txt"
check "the zero-release model is deterministic" test \
	"$(jget "$WORK/c1.json" zero_release recall@20)" = "$(jget "$WORK/c2.json" zero_release recall@20)"
# m 64 is above every toy user's count: every interaction weighs the same.
# Only bundles of equal counts may then rank apart (noise, not the id).
"$FB_TOOL" floors --data "$WORK/toy" --epsilon 1000 --pop-m 64 --json --quiet >"$WORK/h.json"
echo "# epsilon 1000: popularity $(jget "$WORK/h.json" popularity recall@20), DP $(jget "$WORK/h.json" dp_popularity recall@20)"
check "huge epsilon: DP popularity scores like popularity (ties aside)" near \
	"$(jget "$WORK/h.json" dp_popularity recall@20)" "$(jget "$WORK/h.json" popularity recall@20)" 0.01

check "subsample runs" quiet "$FB_TOOL" subsample --data "$WORK/toy" --users 120 --seed 2 --out "$WORK/sub"
check "subsample: 120 users" grep -q "^120	" "$WORK/sub/"*_data_size.txt
check "subsample: users.map has 120 lines" test "$(wc -l <"$WORK/sub/users.map")" = 120
check "subsample: every pair of a drawn user kept" python3 -c "
m = dict(tuple(map(int, l.split())) for l in open('$WORK/sub/users.map'))
inv = {g: k for k, g in m.items()}
for f in ('user_bundle_train.txt', 'user_bundle_test.txt', 'user_item.txt'):
    full = {tuple(map(int, l.split())) for l in open('$WORK/toy/' + f)}
    sub = {tuple(map(int, l.split())) for l in open('$WORK/sub/' + f)}
    want = {(inv[u], b) for u, b in full if u in inv}
    assert sub == want, f"
check "subsample: too many users refused" sh -c "! '$FB_TOOL' subsample --data '$WORK/toy' --users 100000 --out '$WORK/x' 2>/dev/null"

youshu=${FB_DATA_ROOT:-}/youshu
if [ -f "$youshu/Youshu_data_size.txt" ]; then
	"$FB_TOOL" floors --data "$youshu" --epsilon 8 --json --quiet >"$WORK/y.json"
	echo "# Youshu epsilon 8: popularity $(jget "$WORK/y.json" popularity recall@20)," \
		"DP popularity $(jget "$WORK/y.json" dp_popularity recall@20)," \
		"zero-release $(jget "$WORK/y.json" zero_release recall@20)"
	check "Youshu: DP popularity at epsilon 8 within 0.01 of popularity" near \
		"$(jget "$WORK/y.json" dp_popularity recall@20)" "$(jget "$WORK/y.json" popularity recall@20)" 0.01
else
	echo "# Youshu not found under FB_DATA_ROOT: skipped"
fi
finish
