#!/usr/bin/env bash
# tests/integration/test-fed-catalog.sh: a consortium from three retailers'
# CSV exports (issue 14, blocker 1; docs/operations.md). A catalogue of
# 300 items and 100 bundles with string ids, names and attributes is
# built once; each retailer imports its exports onto it with --catalog
# (overlapping customer ids between two retailers, a third with its own;
# items sold by some retailers only; a few rows naming bundles and items
# the catalogue lacks, counted and reported, refused with --strict); the
# aggregator and three clients train three non-private rounds, which all
# commit, and `fedbundle-client recommend --user-id` prints the
# retailer's customer and the original bundle ids and names. Then the
# negatives: an aggregator configured with another catalogue version
# refuses to start naming both, and a retailer imported the old way
# (without --catalog, so items numbered by first appearance, as in the
# issue: 271 against 397 items) is refused with catalog-mismatch, the
# aggregator warns with counts and exits non-zero when every round was
# abandoned (it used to exit 0 after logging each refusal at info).
source "$(dirname "$0")/lib.sh"

CSV="$WORK/csv"
mkdir -p "$CSV" "$WORK/keys" "$WORK/parts"

# The catalogue's exports: bundle BND-b holds 3..7 items; item SKU-i has a
# name and one or two attributes; bundles have names.
awk 'BEGIN {
	print "bundle_id,item_id,added"
	for (b = 0; b < 100; b++) {
		n = 3 + (b * 7) % 5
		for (k = 0; k < n; k++)
			printf "BND-%03d,SKU-%04d,2024-01-0%d\n", b, (b * 37 + k * 53) % 280, k + 1
	}
}' >"$CSV/bundle_items.csv"
awk 'BEGIN {
	print "item_id,name,attrs"
	for (i = 0; i < 300; i++)
		printf "SKU-%04d,\"Item %d, size %s\",cat-%d%s\n", i, i, (i % 2 ? "L" : "S"), i % 12, (i % 3 ? "" : "|organic")
}' >"$CSV/items.csv"
awk 'BEGIN { print "bundle_id,name"
	for (b = 0; b < 100; b += 2) printf "BND-%03d,Weekly box %d\n", b, b }' \
	>"$CSV/bundle_names.csv"

# retailer R PREFIX FIRST COUNT ITEM_LO ITEM_HI: customers PREFIXn for n
# in FIRST .. FIRST+COUNT-1, each with 6 bundles and 8 items in
# [ITEM_LO, ITEM_HI).
retailer() {
	local r=$1 prefix=$2 first=$3 count=$4 lo=$5 hi=$6
	awk -v p="$prefix" -v f="$first" -v c="$count" -v r="$r" 'BEGIN {
		print "user_id,bundle_id,ts"
		for (u = f; u < f + c; u++)
			for (k = 0; k < 6; k++)
				printf "%s%04d,BND-%03d,%d\n", p, u, (u * 13 + k * 17 + r * 5) % 100, k
	}' >"$CSV/r$r-interactions.csv"
	awk -v p="$prefix" -v f="$first" -v c="$count" -v lo="$lo" -v hi="$hi" 'BEGIN {
		print "user_id,item_id"
		for (u = f; u < f + c; u++)
			for (k = 0; k < 8; k++)
				printf "%s%04d,SKU-%04d\n", p, u, lo + (u * 29 + k * 31) % (hi - lo)
	}' >"$CSV/r$r-items.csv"
}
retailer 0 C 0 200 0 200
retailer 1 C 150 200 100 300 # customers C0150..C0199 also shop at retailer 0
retailer 2 D 0 150 0 300
# Rows the catalogue cannot map: two unknown bundles at retailer 0 (lines
# 1202 and 1203) and three unknown items (lines 1602 to 1604).
printf 'C0001,BND-999,9\nC0002,BND-X,9\n' >>"$CSV/r0-interactions.csv"
printf 'C0001,SKU-9999\nC0002,SKU-ZZZ\nC0003,SKU-9999\n' >>"$CSV/r0-items.csv"

# ---- the catalogue, built once
"$FB_TOOL" catalog build --bundles "$CSV/bundle_items.csv" \
	--items "$CSV/items.csv" --bundle-names "$CSV/bundle_names.csv" \
	--out "$WORK/catalog" >"$WORK/digest.txt" 2>"$WORK/build.err"
DIGEST=$(cat "$WORK/digest.txt")
sed 's/^/# /' "$WORK/build.err"
check "catalog build prints a 64-digit digest" grep -qE '^[0-9a-f]{64}$' "$WORK/digest.txt"
check "the catalogue has 300 items, 100 bundles, 13 attrs" \
	grep -q "wrote $WORK/catalog: 100 bundles, 300 items, 13 attrs" "$WORK/build.err"
check "catalog digest of the folder is the one build printed" \
	test "$("$FB_TOOL" catalog digest "$WORK/catalog")" = "$DIGEST"

# ---- each retailer imports its exports onto it
import() { # import R OUT [OPTIONS...]
	local r=$1 out=$2
	shift 2
	"$FB_TOOL" import --catalog "$WORK/catalog" \
		--interactions "$CSV/r$r-interactions.csv" \
		--user-items "$CSV/r$r-items.csv" --out "$out" "$@"
}
for r in 0 1 2; do
	import "$r" "$WORK/parts/retailer-0$r" 2>"$WORK/import-$r.err"
	sed 's/^/# /' "$WORK/import-$r.err"
done
check "retailer 0: interactions report 2 unknown bundles with file:line" \
	grep -q "r0-interactions.csv: 1202 rows, 1200 mapped, 2 name bundles not in the catalogue (.*r0-interactions.csv:1202 'BND-999', .*r0-interactions.csv:1203 'BND-X')" "$WORK/import-0.err"
check "retailer 0: user-items report 3 unknown items" \
	grep -q "r0-items.csv: 1603 rows, 1600 mapped, 3 name items not in the catalogue (.*:1602 'SKU-9999', .*:1603 'SKU-ZZZ', .*:1604 'SKU-9999')" "$WORK/import-0.err"
check "retailer 1: every row mapped" \
	grep -q "r1-interactions.csv: 1200 rows, 1200 mapped, 0 name" "$WORK/import-1.err"
for r in 0 1 2; do
	check "retailer $r's folder has the catalogue's digest" \
		test "$("$FB_TOOL" catalog digest "$WORK/parts/retailer-0$r")" = "$DIGEST"
done
check "retailer 0 numbered its 200 customers, with the catalogue's 300 items" \
	grep -q "^200	100	300	13$" "$WORK/parts/retailer-00/retailer-00_data_size.txt"
strict_rc=0
import 0 "$WORK/strict" --strict 2>"$WORK/strict.err" || strict_rc=$?
sed 's/^/# /' "$WORK/strict.err"
check "--strict refuses unknown rows (exit 1) and writes nothing" \
	test "$strict_rc" -eq 1 -a ! -e "$WORK/strict"
check "--strict names the first offending row" \
	grep -q "first .*r0-interactions.csv:1202 'BND-999' (--strict: nothing written)" "$WORK/strict.err"

# ---- keys, configuration, three rounds
"$FB_TOOL" keygen --out "$WORK/keys/aggregator" --name aggregator >/dev/null 2>&1
: >"$WORK/roster.txt"
for i in 0 1 2; do
	"$FB_TOOL" keygen --out "$WORK/keys/retailer-$i" --name "retailer-$i" >/dev/null 2>&1
	cat "$WORK/keys/retailer-$i.pub" >>"$WORK/roster.txt"
done
round='{"granularity": "none", "local_epochs": 1, "dim": 16, "report_eval": true}'
server_config 3 3 20000 "$round" "\"catalog_digest\": \"$DIGEST\""
for i in 0 1 2; do policy "$i" '"report_eval": true'; done
start_server
for i in 0 1 2; do start_client "$i"; done
check "aggregator finished (exit 0)" wait_pid "$SERVER_PID" 60
for i in 0 1 2; do
	check "client $i finished" wait_pid "${CLIENT_PID[$i]}" 20
done
check "3 rounds committed, 3 updates each" \
	test "$(grep -c '"status": "committed".*"updates": 3,' "$WORK/metrics.jsonl")" -eq 3

"$FB_CLIENT" recommend --policy "$WORK/policy-0.json" --user-id C0160 -k 5 \
	>"$WORK/rec.txt" 2>&1 || true
sed 's/^/# /' "$WORK/rec.txt"
check "client recommend --user-id names the customer" grep -q "for user [0-9]* 'C0160'" "$WORK/rec.txt"
check "client recommend prints original bundle ids" \
	test "$(grep -cE '^ +[0-9]+ +[0-9]+ .* BND-[0-9]{3}' "$WORK/rec.txt")" -eq 5
check "client recommend prints bundle names" grep -q "BND-[0-9]*[02468]  Weekly box" "$WORK/rec.txt"
"$FB_CLIENT" recommend --policy "$WORK/policy-2.json" --user-id D0007 -k 3 --json \
	>"$WORK/rec.json" 2>&1 || true
sed 's/^/# /' "$WORK/rec.json"
check "client recommend --json carries user_id and bundle_id" \
	grep -q '"user_id": "D0007".*"bundle_id": "BND-' "$WORK/rec.json"
"$FB_CLIENT" recommend --policy "$WORK/policy-0.json" --user-id NOBODY \
	>"$WORK/nobody.txt" 2>&1 || true
check "an unknown customer id is refused by name" \
	grep -q "customer 'NOBODY' is not in .*users.map" "$WORK/nobody.txt"

# ---- negative: another catalogue version configured
server_config 1 3 20000 "$round" \
	"\"catalog_digest\": \"0000000000000000000000000000000000000000000000000000000000000000\""
bad_rc=0
timeout $((20 * TIME_SCALE)) "$FB_SERVER" --config "$WORK/server.json" \
	>"$WORK/bad.out" 2>&1 || bad_rc=$?
sed 's/^/# /' "$WORK/bad.out"
check "aggregator refuses another catalogue version at start-up (exit 1)" test "$bad_rc" -eq 1
check "the refusal names both versions" \
	grep -q "catalogue .* is version $DIGEST .* but catalog_digest names 0000000000000000" "$WORK/bad.out"

# ---- negative: a retailer imported without --catalog (the old path)
rm -rf "$WORK/parts/retailer-02" "$WORK"/state-* "$WORK/checkpoint"
"$FB_TOOL" import --bundles "$CSV/bundle_items.csv" \
	--interactions "$CSV/r2-interactions.csv" --user-items "$CSV/r2-items.csv" \
	--out "$WORK/parts/retailer-02" 2>&1 | sed 's/^/# /'
server_config 2 3 20000 "$round" "\"catalog_digest\": \"$DIGEST\""
start_server -old
for i in 0 1 2; do start_client "$i" -old; done
old_rc=0
wait_pid "$SERVER_PID" 60 || old_rc=$?
for i in 0 1 2; do wait_pid "${CLIENT_PID[$i]}" 20 || true; done
sed 's/^/# server: /' "$WORK/server-old.err"
check "aggregator exits non-zero when every round was abandoned" test "$old_rc" -eq 1
check "its exit message gives the refusals by reason" \
	grep -q "all 2 round(s) abandoned, none committed.*catalog-mismatch 2; first: retailer-2: catalog-mismatch" "$WORK/server-old.err"
check "one warning per round with counts, no info line per refusal" \
	test "$(grep -c ' W server .*1 of 3 participant(s) refused the plan: catalog-mismatch 1' "$WORK/server-old.err")" -eq 2 -a \
	"$(grep -c ' I server .*refused: catalog-mismatch' "$WORK/server-old.err")" -eq 0
check "the old-path client says to import with --catalog" \
	grep -q "not the aggregator's .*import --catalog" "$WORK/client-2-old.err"
finish
