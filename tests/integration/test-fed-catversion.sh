#!/usr/bin/env bash
# tests/integration/test-fed-catversion.sh: a new catalogue version
# adopted at a round boundary (issue 14, blocker 2; docs/operations.md,
# "Rolling out a new catalogue version"). Catalogue v1 (60 bundles, 150
# items, 13 attributes) is built from CSV, three retailers import onto it
# and train 2 rounds. v2 retires 5 bundles, 10 items and an attribute and
# adds 10 bundles, 10 items and an attribute, which renumbers every dense
# id. The aggregator restarted with v2 adopts it before its first round:
# the rows kept are the checkpoint's rows bit for bit (compared through
# `fedbundle export` by original id), new bundle rows are the public
# initialisation (0), it warns with the counts and both digests and
# records an event line in its metrics. A retailer still on v1 is refused
# with catalog-mismatch in every round and never trains; two re-imported
# ones train rounds 3 and 4; once the third re-imports, all three train
# rounds 5 and 6. Last, a catalogue without original ids cannot be
# adopted: the aggregator refuses to start, naming both digests.
source "$(dirname "$0")/lib.sh"

CSV="$WORK/csv"
mkdir -p "$CSV" "$WORK/keys" "$WORK/parts"

# catalogue VERSION: bundles BND-b for b in [LO, HI), 3..7 items each
# among SKU-0000..0139; items.csv lists SKU-i for i in [ILO, IHI), with
# attribute cat-(i % 12), plus "organic" for i % 3 == 0 in v1 only; v2's
# items from 150 on have the new attribute cat-12.
catalogue_csv() {
	local v=$1 lo=$2 hi=$3 ilo=$4 ihi=$5
	awk -v lo="$lo" -v hi="$hi" 'BEGIN {
		print "bundle_id,item_id"
		for (b = lo; b < hi; b++) {
			n = 3 + (b * 7) % 5
			for (k = 0; k < n; k++)
				printf "BND-%03d,SKU-%04d\n", b, (b * 37 + k * 53) % 140
		}
	}' >"$CSV/v$v-bundle_items.csv"
	awk -v v="$v" -v lo="$ilo" -v hi="$ihi" 'BEGIN {
		print "item_id,name,attrs"
		for (i = lo; i < hi; i++) {
			a = i >= 150 ? "cat-12" : "cat-" (i % 12)
			if (v == 1 && i % 3 == 0) a = a "|organic"
			printf "SKU-%04d,Item %d,%s\n", i, i, a
		}
	}' >"$CSV/v$v-items.csv"
}
catalogue_csv 1 0 60 0 150
catalogue_csv 2 5 70 0 140
awk 'BEGIN { print "item_id,name,attrs"
	for (i = 150; i < 160; i++) printf "SKU-%04d,Item %d,cat-12\n", i, i }' |
	tail -n +2 >>"$CSV/v2-items.csv"
build() { # build V OUT
	"$FB_TOOL" catalog build --bundles "$CSV/v$1-bundle_items.csv" \
		--items "$CSV/v$1-items.csv" --out "$2" 2>"$WORK/build-$1.err"
}
DIGEST1=$(build 1 "$WORK/catalog-v1")
DIGEST2=$(build 2 "$WORK/catalog-v2")
sed 's/^/# /' "$WORK/build-1.err" "$WORK/build-2.err"
check "v1 and v2 have different digests" test "$DIGEST1" != "$DIGEST2" -a -n "$DIGEST2"

# Retailer r's customers (R<r>nnnn) buy bundles of 5..59, which both
# versions have, and items below 140.
for r in 0 1 2; do
	awk -v r="$r" 'BEGIN { print "user_id,bundle_id"
		for (u = 0; u < 120; u++) for (k = 0; k < 6; k++)
			printf "R%d%04d,BND-%03d\n", r, u, 5 + (u * 13 + k * 17 + r * 5) % 55 }' \
		>"$CSV/r$r-interactions.csv"
	awk -v r="$r" 'BEGIN { print "user_id,item_id"
		for (u = 0; u < 120; u++) for (k = 0; k < 8; k++)
			printf "R%d%04d,SKU-%04d\n", r, u, (u * 29 + k * 31 + r) % 140 }' \
		>"$CSV/r$r-items.csv"
done
import() { # import R VERSION
	rm -rf "$WORK/parts/retailer-0$1"
	"$FB_TOOL" import --catalog "$WORK/catalog-v$2" --strict \
		--interactions "$CSV/r$1-interactions.csv" \
		--user-items "$CSV/r$1-items.csv" --out "$WORK/parts/retailer-0$1" \
		>/dev/null 2>"$WORK/import-$1-v$2.err"
}
for r in 0 1 2; do import "$r" 1; done

"$FB_TOOL" keygen --out "$WORK/keys/aggregator" --name aggregator >/dev/null 2>&1
: >"$WORK/roster.txt"
for i in 0 1 2; do
	"$FB_TOOL" keygen --out "$WORK/keys/retailer-$i" --name "retailer-$i" >/dev/null 2>&1
	cat "$WORK/keys/retailer-$i.pub" >>"$WORK/roster.txt"
	policy "$i"
done
round='{"granularity": "none", "local_epochs": 1, "dim": 8}'
serve() { # serve ROUNDS QUORUM DIGEST TAG: runs the aggregator on catalog/
	server_config "$1" "$2" 20000 "$round" \
		"\"catalog_digest\": \"$3\", \"server_optimizer\": \"fedadam\", \"server_lr\": 0.05"
	start_server "-$4"
}
export_ckpt() { # export_ckpt CATALOGUE OUT
	"$FB_TOOL" export --model "$WORK/checkpoint/checkpoint.fbc" \
		--data "$1" --out "$2" >/dev/null 2>"$2.err"
}

# ---- v1: three retailers, rounds 1 and 2
ln -s catalog-v1 "$WORK/catalog"
serve 2 3 "$DIGEST1" v1
for i in 0 1 2; do start_client "$i" -v1; done
check "v1: aggregator finished" wait_pid "$SERVER_PID" 60
for i in 0 1 2; do wait_pid "${CLIENT_PID[$i]}" 20 || true; done
check "v1: 2 rounds committed with 3 updates" \
	test "$(grep -c '"status": "committed".*"updates": 3,' "$WORK/metrics.jsonl")" -eq 2
export_ckpt "$WORK/catalog-v1" "$WORK/exp-v1"
check "v1: the checkpoint exports with the v1 catalogue" test -s "$WORK/exp-v1/items.npy"
check "the checkpoint folder keeps v1's maps" test -s "$WORK/checkpoint/catalog-$DIGEST1/items.map"

# ---- v2: retailers 0 and 1 re-import, retailer 2 stays on v1
rm "$WORK/catalog" && ln -s catalog-v2 "$WORK/catalog"
import 0 2
import 1 2
serve 4 2 "$DIGEST2" v2
wait_for "$WORK/server-v2.err" "listening on" 30
cp "$WORK/checkpoint/checkpoint.fbc" "$WORK/adopted.fbc"
for i in 0 1 2; do start_client "$i" -v2; done
check "v2: aggregator finished" wait_pid "$SERVER_PID" 60
for i in 0 1 2; do wait_pid "${CLIENT_PID[$i]}" 20 || true; done
sed -n '/catalogue version/p' "$WORK/server-v2.err" | sed 's/^/# /'
check "the aggregator warns: both digests, counts per kind" \
	grep -q " W server .*new catalogue version adopted after round 2: $DIGEST1 -> $DIGEST2; items: 140 kept, 10 new, 10 retired; bundles: 55 kept, 10 new, 5 retired; attrs: 12 kept, 1 new, 1 retired" "$WORK/server-v2.err"
check "metrics: a catalog event line with the counts" \
	grep -q "^{\"event\": \"catalog\", \"after_round\": 2, \"old\": \"$DIGEST1\", \"new\": \"$DIGEST2\", \"items\": {\"kept\": 140, \"new\": 10, \"retired\": 10}, \"bundles\": {\"kept\": 55, \"new\": 10, \"retired\": 5}" "$WORK/metrics.jsonl"
check "the adopted checkpoint was written at start-up" \
	test "$(cmp -s "$WORK/adopted.fbc" "$WORK/checkpoint/checkpoint.fbc" && echo same)" != same
check "v1's stored maps are removed, v2's kept" \
	test ! -e "$WORK/checkpoint/catalog-$DIGEST1" -a -s "$WORK/checkpoint/catalog-$DIGEST2/bundles.map"
cp "$WORK/adopted.fbc" "$WORK/checkpoint/adopted.fbc"
"$FB_TOOL" export --model "$WORK/checkpoint/adopted.fbc" --data "$WORK/catalog-v2" \
	--out "$WORK/exp-v2" >/dev/null 2>"$WORK/exp-v2.err"
python3 "$(dirname "$0")/catremap.py" "$WORK/exp-v1" "$WORK/exp-v2" >"$WORK/remap.txt"
sed 's/^/# /' "$WORK/remap.txt"
check "items: 140 kept rows equal the checkpoint's bit for bit" \
	grep -q "^items kept=140 new=10 retired=10 same=140 " "$WORK/remap.txt"
check "bundles: 55 kept rows equal, 10 new rows are the public init (0)" \
	grep -q "^bundles kept=55 new=10 retired=5 same=55 zero_new=10$" "$WORK/remap.txt"
check "attrs: 12 kept rows equal" grep -q "^attrs kept=12 new=1 retired=1 same=12 " "$WORK/remap.txt"
check "rounds 3 and 4 committed with 2 updates" \
	test "$(grep -c '"status": "committed".*"updates": 2,' "$WORK/metrics.jsonl")" -eq 2
check "retailer-2 (still on v1) refused rounds 3 and 4: catalog-mismatch" \
	test "$(client_field 3 retailer-2 status) $(client_field 4 retailer-2 status)" = "refused refused"
check "the refusals are counted by reason" \
	test "$(grep -c ' W server .*1 of 3 participant(s) refused the plan: catalog-mismatch 1' "$WORK/server-v2.err")" -eq 2
check "retailer-2's log names both digests and says to import with the new catalogue" \
	grep -q "catalogue $DIGEST1 is not the aggregator's $DIGEST2: .*import --catalog" "$WORK/client-2-v2.err"

# ---- retailer 2 re-imports: all three train rounds 5 and 6
import 2 2
serve 6 3 "$DIGEST2" v2b
for i in 0 1 2; do start_client "$i" -v2b; done
check "v2b: aggregator finished" wait_pid "$SERVER_PID" 60
for i in 0 1 2; do wait_pid "${CLIENT_PID[$i]}" 20 || true; done
check "no second adoption on a restart with the same catalogue" \
	test "$(grep -c 'new catalogue version adopted' "$WORK/server-v2b.err")" -eq 0
check "rounds 5 and 6 committed with 3 updates, retailer-2's among them" \
	test "$(client_field 5 retailer-2 status) $(client_field 6 retailer-2 status) $(metric 6 updates)" = "update update 3"

# ---- a catalogue without original ids cannot be adopted
cp -r "$WORK/catalog-v2" "$WORK/catalog-dense"
rm "$WORK/catalog-dense/"*.map "$WORK/catalog-dense/catalog.txt"
DENSE=$("$FB_TOOL" catalog digest "$WORK/catalog-dense")
rm "$WORK/catalog" && ln -s catalog-dense "$WORK/catalog"
server_config 8 3 20000 "$round"
dense_rc=0
timeout $((20 * TIME_SCALE)) "$FB_SERVER" --config "$WORK/server.json" \
	>"$WORK/dense.out" 2>&1 || dense_rc=$?
sed 's/^/# /' "$WORK/dense.out"
check "a dense catalogue: refused at start (exit 1)" test "$dense_rc" -eq 1
check "the refusal names both digests and the fix" \
	grep -q "is of catalogue $DIGEST2, the configured one is $DENSE and the configured one has no original ids .*configure the checkpoint.s catalogue, build both .*empty checkpoint_dir for a new federation$" "$WORK/dense.out"
finish
