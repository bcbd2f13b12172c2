#!/usr/bin/env bash
# tests/integration/test-import-messy.sh: `fedbundle import` on the messy
# exports a retailer really has (issue 14): invalid UTF-8 is an error at
# file:line:column, a header-only file an error naming it, spaces around
# ids are trimmed with a counted warning, repeated rows and empty splits
# are warned about by file and split; and the dataset loader accepts a
# bundle with no items with a warning naming it.
source "$(dirname "$0")/lib.sh"

C="$WORK/csv"
mkdir -p "$C"
printf 'bundle_id,item_id\nB1,I1\nB1,I2\nB2,I2\nB2,I3\nB3,I1\nB3,I3\n' >"$C/bundles.csv"
printf 'user_id,bundle_id,ts\nU1,B1,1\nU1,B2,2\nU2,B1,3\n' >"$C/ub.csv"

run_import() { # run_import OUT ARGS... -> $rc, $msg (stderr)
	local out=$1
	shift
	set +e
	msg=$("$FB_TOOL" import --bundles "$C/bundles.csv" --out "$WORK/$out" "$@" 2>&1 >/dev/null)
	rc=$?
	set -e
	echo "$msg" | sed 's/^/# /'
}

# Latin-1 in an ignored column: refused at the byte, with the way out.
printf 'user_id,bundle_id,note\nU1,B1,ok\nU2,B2,caf\xe9\n' >"$C/latin1.csv"
run_import l1 --interactions "$C/latin1.csv"
check "invalid UTF-8: exit 1" test "$rc" -eq 1
check "invalid UTF-8: file:line:column named" grep -q "latin1.csv:3:10: invalid UTF-8 (byte 0xe9)" <<<"$msg"
check "invalid UTF-8: nothing written" test ! -e "$WORK/l1"

# A header-only export, and one with only blank lines after the header.
printf 'user_id,bundle_id\n' >"$C/header.csv"
run_import h1 --interactions "$C/header.csv"
check "header-only: exit 1, file named" test "$rc" -eq 1 -a -n "$(grep -o "header.csv: no data rows after the header" <<<"$msg")"
printf 'user_id,item_id\r\n\r\n' >"$C/ui-empty.csv"
run_import h2 --interactions "$C/ub.csv" --user-items "$C/ui-empty.csv"
check "header and blank lines: exit 1, file named" test "$rc" -eq 1 -a -n "$(grep -o "ui-empty.csv: no data rows" <<<"$msg")"

# Spaces around ids (a spreadsheet's padding), repeated rows, empty splits.
printf 'user_id,bundle_id\nU1,B1\n U1,B2\nU2 ,B1\nU2,B1\nU2,"B3 "\n' >"$C/spaces.csv"
run_import sp --interactions "$C/spaces.csv"
check "spaces: exit 0" test "$rc" -eq 0
check "spaces: 3 ids trimmed, first spaces.csv:3" grep -q "warning: 3 id(s) had spaces around them and were trimmed (first .*spaces.csv:3)" <<<"$msg"
check "spaces: one customer per trimmed id" test "$(cut -f2 "$WORK/sp/users.map" 2>/dev/null | tr '\n' ' ')" = "U1 U2 "
check "repeated rows: counted, file named" grep -q "warning: .*spaces.csv: 1 repeated user-bundle row(s) merged" <<<"$msg"
check "empty tune split: named" grep -q "warning: the tune split is empty" <<<"$msg"
check "empty test split: named" grep -q "warning: the test split is empty" <<<"$msg"
run_import sp0 --interactions "$C/spaces.csv" --split 1,0,0
check "no warning for a split asked to be empty" test "$(grep -c 'split is empty' <<<"$msg")" -eq 0

# catalog build: the same rules (a padded attribute id in the attrs list,
# a repeated membership row, Latin-1 in a name).
printf 'item_id,name,attrs\nI1,Apple,red| fruit\nI2,Pear,fruit\n' >"$C/items.csv"
printf 'bundle_id,item_id\nB1,I1\nB1,I1\nB2,I2\n' >"$C/cb.csv"
set +e
msg=$("$FB_TOOL" catalog build --bundles "$C/cb.csv" --items "$C/items.csv" --out "$WORK/cat" 2>&1 >/dev/null)
rc=$?
set -e
echo "$msg" | sed 's/^/# /'
check "catalog build: a padded attribute id is trimmed, warned" test "$rc" -eq 0 -a \
	-n "$(grep -o "warning: 1 id(s) had spaces around them and were trimmed (first .*items.csv:2)" <<<"$msg")"
check "catalog build: one attribute 'fruit'" test "$(cut -f2 "$WORK/cat/attrs.map" 2>/dev/null | tr '\n' ' ')" = "red fruit "
check "catalog build: repeated rows warned" grep -q "warning: repeated rows merged (a pair counts once): 1 bundle-item" <<<"$msg"
printf 'item_id,name\nI1,Caf\xe9\n' >"$C/items-latin1.csv"
set +e
msg=$("$FB_TOOL" catalog build --bundles "$C/cb.csv" --items "$C/items-latin1.csv" --out "$WORK/cat2" 2>&1 >/dev/null)
rc=$?
set -e
check "catalog build: Latin-1 in a name refused at file:line:column" test "$rc" -eq 1 -a \
	-n "$(grep -o "items-latin1.csv:2:7: invalid UTF-8" <<<"$msg")"

# The loader: a bundle with no items (as in public datasets) is accepted,
# with a warning naming it.
# A catalogue smaller than the factor dimension: train says so (it used to
# print "pretrain: 3 x 64 factors for 3 items").
quiet "$FB_TOOL" import --bundles "$C/bundles.csv" --interactions "$C/ub.csv" --out "$WORK/tiny" --split 1,0,0
set +e
msg=$("$FB_TOOL" train --data "$WORK/tiny" --epochs 1 --quiet 2>&1)
rc=$?
set -e
echo "$msg" | sed 's/^/# /'
check "train: dim above the item count is named, with the way out" test "$rc" -ne 0 -a \
	-n "$(grep -o "factor dimension 64 is more than the catalogue's 3 items.*set dim to at most 3" <<<"$msg")"
quiet "$FB_TOOL" import --bundles "$C/bundles.csv" --interactions "$C/ub.csv" --out "$WORK/eb" --split 1,0,0
size=$(ls "$WORK"/eb/*_data_size.txt)
awk -F '\t' -v OFS='\t' '{ $2 = $2 + 1; print }' "$size" >"$size.new" && mv "$size.new" "$size"
rm -f "$WORK"/eb/*.map "$WORK/eb/catalog.txt"
set +e
msg=$("$FB_TOOL" catalog digest "$WORK/eb" 2>&1)
rc=$?
set -e
echo "$msg" | sed 's/^/# /'
check "a bundle with no items loads" test "$rc" -eq 0
check "with a warning naming it" grep -q "bundle_item.txt: 1 bundle(s) list no items (bundle 3)" <<<"$msg"
finish
