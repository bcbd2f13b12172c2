#!/usr/bin/env bash
# tests/integration/test-compose.sh: `fedbundle complete`, `compose` and
# `complete-eval` (issue 16, docs/bundle-completion.md) on the toy preset
# with a model trained for a few epochs: k lines of distinct items never
# given, composed bundles of distinct allowed items, JSON that parses; the
# input errors (bad item id, a size above the allowed items) exit 2 and
# files that cannot be read exit 1, naming the problem; complete-eval prints the four methods
# and, with --compose, the composition overlap.
source "$(dirname "$0")/lib.sh"

T="$WORK/toy"
M="$WORK/m.fbm"
quiet "$FB_TOOL" datagen --preset toy --seed 1 --out "$T"
check "a toy model trains" quiet "$FB_TOOL" train --data "$T" --epochs 3 \
	--quiet --out "$M"

# complete: the k lines after the two header lines, items distinct and
# not among the given.
rc=0
"$FB_TOOL" complete --data "$T" --model "$M" --user 3 --items 1,2 -k 7 \
	>"$WORK/c.txt" 2>"$WORK/c.err" || rc=$?
check "complete exits 0" test "$rc" -eq 0
check "complete prints k items, distinct, none given" python3 -c "
rows = [l.split() for l in open('$WORK/c.txt').read().splitlines()[2:]]
items = [int(r[1]) for r in rows]
assert len(items) == 7 and len(set(items)) == 7, items
assert not {1, 2} & set(items), items"
check "complete --json parses" python3 -c "
import json, subprocess
d = json.loads(subprocess.check_output(['$FB_TOOL', 'complete', '--data', '$T',
    '--model', '$M', '--user', '3', '--items', '1,2', '-k', '5', '--json']))
items = [x['item'] for x in d['items']]
assert len(items) == 5 and len(set(items)) == 5 and d['given'] == [1, 2], d
s = [x['score'] for x in d['items']]
assert s == sorted(s, reverse=True), s"

# compose from an allowed list of 30 items.
seq 100 3 187 | paste -sd, >"$WORK/allowed"
check "compose --allowed --json: N bundles of S distinct allowed items" python3 -c "
import json, subprocess
allowed = {int(x) for x in open('$WORK/allowed').read().strip().split(',')}
d = json.loads(subprocess.check_output(['$FB_TOOL', 'compose', '--data', '$T',
    '--model', '$M', '--user', '3', '--size', '4', '-n', '6',
    '--allowed', '$WORK/allowed', '--json']))
bs = [b['items'] for b in d['bundles']]
assert len(bs) == 6 and d['size'] == 4, d
assert all(len(set(b)) == 4 and set(b) <= allowed for b in bs), bs
assert len({frozenset(b) for b in bs}) == 6, bs"
"$FB_TOOL" compose --data "$T" --model "$M" --user 3 --size 5 -n 4 \
	>"$WORK/p.txt" 2>&1 || true
check "compose text: 4 bundles of 5 items" python3 -c "
rows = [l.split() for l in open('$WORK/p.txt').read().splitlines()[1:]]
assert len(rows) == 4 and all(len(r[r.index('items') + 1:]) == 5 for r in rows), rows"

# expect_error [-s STATUS] DESCRIPTION PATTERN COMMAND...: exits STATUS
# (default 2, a usage error; 1 for a file that cannot be read,
# fedbundle(1)) naming PATTERN.
expect_error() {
	local want=2 rc=0
	if [ "$1" = -s ]; then
		want=$2
		shift 2
	fi
	local what=$1 pattern=$2
	shift 2
	"$@" >/dev/null 2>"$WORK/e.err" || rc=$?
	check "$what: exit $want (got $rc)" test "$rc" -eq "$want"
	check "$what: names '$pattern'" grep -q -- "$pattern" "$WORK/e.err"
}
expect_error "item out of range" "item '99999' is not a dense item id" \
	"$FB_TOOL" complete --data "$T" --model "$M" --user 3 --items 1,99999
expect_error "item given twice" "item '2' given twice" \
	"$FB_TOOL" complete --data "$T" --model "$M" --user 3 --items 2,2
expect_error "item not a number" "'x' is not" \
	"$FB_TOOL" complete --data "$T" --model "$M" --user 3 --items 1,x
echo 5,6 >"$WORK/two"
expect_error "size above the allowed items" "only 2 items are allowed" \
	"$FB_TOOL" compose --data "$T" --model "$M" --user 3 --size 3 \
	--allowed "$WORK/two"
expect_error "size above the maximum" "--size" \
	"$FB_TOOL" compose --data "$T" --model "$M" --user 3 --size 3000
expect_error -s 1 "missing model" "$WORK/none.fbm" \
	"$FB_TOOL" complete --data "$T" --model "$WORK/none.fbm" --user 3 --items 1
expect_error -s 1 "missing folder" "$WORK/nodir" \
	"$FB_TOOL" compose --data "$WORK/nodir" --model "$M" --user 3 --size 3
expect_error -s 1 "missing allowed file" "$WORK/nofile" \
	"$FB_TOOL" compose --data "$T" --model "$M" --user 3 --size 3 \
	--allowed "$WORK/nofile"
expect_error -s 1 "complete-eval, missing model" "$WORK/none.fbm" \
	"$FB_TOOL" complete-eval --data "$T" --model "$WORK/none.fbm"

# complete-eval: the four methods, then the composition table.
rc=0
"$FB_TOOL" complete-eval --data "$T" --model "$M" --max-pairs 60 --compose \
	-n 3 >"$WORK/ce.txt" 2>"$WORK/ce.err" || rc=$?
check "complete-eval exits 0" test "$rc" -eq 0
for m in model popularity cooccur itemset; do
	check "complete-eval prints $m" grep -q "^$m  *60 " "$WORK/ce.txt"
done
check "complete-eval --compose prints the overlap" grep -q "precision" "$WORK/ce.txt"
check "complete-eval --json --compose parses" python3 -c "
import json, subprocess
d = json.loads(subprocess.check_output(['$FB_TOOL', 'complete-eval', '--data',
    '$T', '--model', '$M', '--max-pairs', '40', '--weight', '64', '--compose',
    '--json']))
for m in ('model', 'popularity', 'cooccur', 'itemset'):
    assert d[m]['pairs'] == 40 and 0 <= d[m]['recall@20'] <= 1, d
c = d['composition']
assert c['size'] == 5 and c['bundles'] == 10, c
for m in ('model', 'itemset'):
    assert 0 <= c[m]['precision'] <= 1 and 0 < c[m]['jaccard'] <= 1, c"

# --split tune: the same tables on the tune split (to choose --penalty
# without looking at test), numbers of their own; a bad split is usage.
ce_split() { "$FB_TOOL" complete-eval --data "$T" --model "$M" --weight 64 \
	--max-pairs 40 --compose -n 3 "$@" 2>/dev/null; }
ce_split --split tune >"$WORK/ce-tune.txt" || true
ce_split >"$WORK/ce-test.txt" || true
check "--split tune: completion on the tune split" \
	grep -q "^completion on the tune split" "$WORK/ce-tune.txt"
check "--split tune: composition on the tune split" \
	grep -q "^composition on the tune split" "$WORK/ce-tune.txt"
check "--split tune: other numbers than test" bash -c \
	"! cmp -s <(grep -v split '$WORK/ce-tune.txt') <(grep -v split '$WORK/ce-test.txt')"
rc=0
"$FB_TOOL" complete-eval --data "$T" --model "$M" --split train \
	>/dev/null 2>"$WORK/split.err" || rc=$?
check "--split train: usage error (exit 2)" test "$rc" -eq 2
check "... naming --split" grep -q -- "--split must be test or tune" "$WORK/split.err"
finish
