#!/usr/bin/env bash
# tests/integration/test-item-ids.sh: the retailer's own item ids in
# `fedbundle recommend --items`, `complete --items` and `compose
# --allowed` (issues 14 and 16) on a folder imported from CSV onto a
# catalogue with names: original ids accepted, output listing original ids
# and names, an unknown id (or a dense one where the folder has id maps)
# refused naming it, a repeated id refused; customers by --user-id (and
# a customer id given to --user refused, pointing at --user-id); and
# compose --max-price from the catalogue's item prices.
source "$(dirname "$0")/lib.sh"

CSV="$WORK/csv"
mkdir -p "$CSV"
awk 'BEGIN {
	print "bundle_id,item_id"
	for (b = 0; b < 40; b++)
		for (k = 0; k < 3 + b % 3; k++)
			printf "BND-%02d,SKU-%03d\n", b, (b * 7 + k * 11) % 60
}' >"$CSV/bundles.csv"
awk 'BEGIN {
	print "item_id,name,price"
	for (i = 0; i < 60; i++) printf "SKU-%03d,\"Item %d, blue\",%s\n", i, i, (i % 10 == 9 ? "" : sprintf("%d.%02d", 1 + i % 7, i % 100))
}' >"$CSV/items.csv"
awk 'BEGIN {
	print "user_id,bundle_id"
	for (u = 0; u < 80; u++)
		for (k = 0; k < 6; k++) printf "C%03d,BND-%02d\n", u, (u * 13 + k * 7) % 40
}' >"$CSV/ub.csv"
awk 'BEGIN { print "bundle_id,name"; for (b = 0; b < 40; b++) printf "BND-%02d,Pack %d\n", b, b }' >"$CSV/bnames.csv"
quiet "$FB_TOOL" catalog build --bundles "$CSV/bundles.csv" --items "$CSV/items.csv" \
	--bundle-names "$CSV/bnames.csv" --out "$WORK/cat"
quiet "$FB_TOOL" import --catalog "$WORK/cat" --interactions "$CSV/ub.csv" --out "$WORK/r"
R="$WORK/r"
M="$WORK/m.fbm"
printf '{"dim": 16}\n' >"$WORK/hp.json"
check "a model trains on the imported folder" quiet "$FB_TOOL" train --data "$R" \
	--config "$WORK/hp.json" --epochs 3 --quiet --out "$M"
dense() { awk -F '\t' -v id="$1" '$2 == id { print $1 }' "$R/items.map"; }

run() { # run ARGS... -> $rc, $out, $err
	set +e
	out=$("$FB_TOOL" "$@" 2>"$WORK/err")
	rc=$?
	set -e
	err=$(cat "$WORK/err")
	echo "$out$err" | sed 's/^/# /'
}

# recommend --items: the item set by original ids.
run recommend --data "$R" --model "$M" --user-id C001 --items SKU-003,SKU-010
check "recommend --items by original ids: exit 0" test "$rc" -eq 0
check "recommend --items lists the original ids" grep -q "bundle of 2 item(s) (SKU-003, SKU-010): score" <<<"$out"
run recommend --data "$R" --model "$M" --user 1 --items "SKU-003, SKU-010" --json
check "recommend --items --json: item_ids, dense ids beside" python3 -c "
import json, sys
d = json.loads(sys.argv[1])
assert d['item_ids'] == ['SKU-003', 'SKU-010'], d
assert d['items'] == [$(dense SKU-003), $(dense SKU-010)], d" "$out"
run recommend --data "$R" --model "$M" --user 1 --items SKU-003,SKU-NOPE
check "recommend: an unknown item id exits 2" test "$rc" -eq 2
check "and is named, with items.map" grep -q "item 'SKU-NOPE' is not in the folder's items.map" <<<"$err"
run recommend --data "$R" --model "$M" --user 1 --items 3,10
check "recommend: dense ids on a folder with id maps are refused (exit 2)" test "$rc" -eq 2 -a -n "$(grep -o "item '3' is not in the folder's items.map" <<<"$err")"
run recommend --data "$R" --model "$M" --user 1 --items SKU-003,SKU-003
check "recommend: a repeated item is refused, named" test "$rc" -eq 2 -a -n "$(grep -o "item 'SKU-003' given twice" <<<"$err")"

# --user takes the dense number; an original customer id there is refused
# naming it and pointing at --user-id, by every command that takes --user.
for cmd in recommend complete compose; do
	run $cmd --data "$R" --model "$M" --user C001
	check "$cmd --user C001: exit 2, the value named, --user-id suggested" \
		test "$rc" -eq 2 -a -n "$(grep -o "\-\-user 'C001': not a dense user number.*use --user-id C001" <<<"$err")"
done
set +e
err=$("$FB_CLIENT" recommend --policy "$WORK/none.json" --user C001 2>&1)
rc=$?
set -e
echo "$err" | sed 's/^/# /'
check "fedbundle-client recommend --user C001: exit 2, the value named, --user-id suggested" \
	test "$rc" -eq 2 -a -n "$(grep -o "\-\-user 'C001': not a dense user number.*use --user-id C001" <<<"$err")"

# complete: given and ranked items with original ids and names.
run complete --data "$R" --model "$M" --user-id C001 --items SKU-003,SKU-010 -k 4
check "complete by original ids: exit 0" test "$rc" -eq 0
check "complete: the given items by original id" grep -q "completing a bundle of 2 (SKU-003, SKU-010)" <<<"$out"
check "complete: 4 ranked items with id and name" \
	test "$(grep -cE '^ +[1-4] +[0-9]+ +-?[0-9.]+  SKU-[0-9]{3}  Item [0-9]+, blue$' <<<"$out")" -eq 4
run complete --data "$R" --model "$M" --user-id C001 --items SKU-003,SKU-010 -k 4 --json
check "complete --json: given_ids, item_id and name match items.map" python3 -c "
import json, sys
d = json.loads(sys.argv[1])
ids = dict(l.rstrip('\n').split('\t')[::-1] for l in open('$R/items.map'))
assert d['given_ids'] == ['SKU-003', 'SKU-010'], d
assert len(d['items']) == 4
for i in d['items']:
    assert int(ids[i['item_id']]) == i['item'], i
    assert i['name'] == 'Item %d, blue' % int(i['item_id'][4:]), i" "$out"
run complete --data "$R" --model "$M" --user-id NOBODY --items SKU-003
check "complete: an unknown customer exits 2, named" test "$rc" -eq 2 -a -n "$(grep -o NOBODY <<<"$err")"
run complete --data "$R" --model "$M" --user 1 --items SKU-003,SKU-999
check "complete: an unknown item exits 2, named" test "$rc" -eq 2 -a -n "$(grep -o "'SKU-999'" <<<"$err")"

# compose --allowed by original ids.
printf 'SKU-001\nSKU-002\nSKU-005, SKU-007\nSKU-011\n' >"$WORK/allowed"
run compose --data "$R" --model "$M" --user-id C002 --size 3 -n 2 --allowed "$WORK/allowed" --json
check "compose --allowed by original ids: 2 bundles of allowed items, named" python3 -c "
import json, sys
d = json.loads(sys.argv[1])
ok = {'SKU-001', 'SKU-002', 'SKU-005', 'SKU-007', 'SKU-011'}
assert len(d['bundles']) == 2
for b in d['bundles']:
    assert len(b['items']) == 3 and {i['item_id'] for i in b['items']} <= ok, b
    assert all(i['name'].startswith('Item ') for i in b['items'])" "$out"
printf 'SKU-001\nSKU-XYZ\n' >"$WORK/bad-allowed"
run compose --data "$R" --model "$M" --user 2 --size 2 --allowed "$WORK/bad-allowed"
check "compose: an unknown allowed id exits 2, file and id named" \
	test "$rc" -eq 2 -a -n "$(grep -o "bad-allowed: item 'SKU-XYZ'" <<<"$err")"

# Prices: the catalogue's price column; compose --max-price keeps every
# bundle within the cap and leaves unpriced items (SKU-xx9) out.
check "the catalogue carries the prices" test "$(wc -l <"$WORK/cat/item_prices.txt")" -eq 54
check "and the retailer's folder too" cmp -s "$WORK/cat/item_prices.txt" "$R/item_prices.txt"
run compose --data "$R" --model "$M" --user-id C002 --size 3 -n 4 --max-price 7.5 --json
check "compose --max-price: 4 bundles within the cap, priced items only" python3 -c "
import json, sys
d = json.loads(sys.argv[1])
price = {}
for l in open('$CSV/items.csv').read().splitlines()[1:]:
    f = l.split(',')
    price[f[0]] = f[-1]
assert len(d['bundles']) == 4, d
for b in d['bundles']:
    ps = [float(price[i['item_id']]) for i in b['items']]
    assert sum(ps) <= 7.5 + 1e-9 and abs(b['price'] - sum(ps)) < 0.01, b
    assert all(i['price'] == float(price[i['item_id']]) for i in b['items']), b" "$out"
run compose --data "$R" --model "$M" --user 2 --size 3 --max-price 7.5
check "compose --max-price text: the bundle price beside the score" \
	test "$(grep -cE '^ +[1-5]  score +-?[0-9.]+  price [0-7]\.[0-9]{2}  items' <<<"$out")" -eq 5
run compose --data "$R" --model "$M" --user 2 --size 3 --max-price 2
check "compose: a cap below the cheapest bundle exits 2, named" \
	test "$rc" -eq 2 -a -n "$(grep -o "no bundle of 3 items fits under the price cap 2" <<<"$err")"
quiet "$FB_TOOL" import --bundles "$CSV/bundles.csv" --interactions "$CSV/ub.csv" --out "$WORK/noprices"
# batch top-K as JSON lines: original ids and the catalogue's names.
run recommend --data "$R" --model "$M" --all -k 3 --format jsonl
check "recommend --all jsonl: original ids and names" python3 -c "
import json, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
assert len(rows) == 80, len(rows)
for r in rows:
    assert r['user_id'].startswith('C') and len(r['bundles']) == 3, r
    for b in r['bundles']:
        assert b['name'] == 'Pack %d' % int(b['bundle_id'][4:]), b" "$out"
quiet "$FB_TOOL" train --data "$WORK/noprices" --config "$WORK/hp.json" --epochs 1 --quiet --out "$WORK/np.fbm"
check "a trained model file (it holds the users' factors) is 0600" \
	test "$(stat -c %a "$WORK/np.fbm")" = 600
run compose --data "$WORK/noprices" --model "$WORK/np.fbm" --user 2 --size 3 --max-price 9
check "compose --max-price without prices exits 2, saying where prices come from" \
	test "$rc" -eq 2 -a -n "$(grep -o "has no item prices (item_prices.txt" <<<"$err")"
finish
