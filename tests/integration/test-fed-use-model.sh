#!/usr/bin/env bash
# tests/integration/test-fed-use-model.sh: using what a federation trained
# (issue 14): a short non-private run of 2 retailers, then `fedbundle
# eval`/`recommend` on a retailer's state (its users' factors and the
# federated model) and on the aggregator's checkpoint (shared factors
# only: the users' factors solved from the retailer's training split, well
# above zero factors and a random ranking; the representation options
# those its rounds had, which it records: a second, user-level DP
# federation's with the bias), `fedbundle export` to .npy read back
# without numpy (tests/integration/npycheck.py; with numpy too when it is
# installed), batch top-K for all users in CSV and JSON lines, and the
# JSON keys of `fedbundle-client eval` and `fedbundle train`; bundle
# completion and composition on the node (`fedbundle-client complete` and
# `compose`, issue 16), with original ids once the folder has id maps.
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

fed_data 2
hyper='"dim": 16, "lr": 0.01, "item_view": true, "use_attrs": true,
 "user_item_view": true'
server_config 2 2 60000 "{\"granularity\": \"none\", \"local_epochs\": 2, $hyper}" \
	'"server_optimizer": "fedavg", "server_lr": 1.0'
for i in 0 1; do policy "$i"; done
start_server
for i in 0 1; do start_client "$i"; done
check "aggregator finished" wait_pid "$SERVER_PID" 120
for i in 0 1; do check "client $i finished" wait_pid "${CLIENT_PID[$i]}" 30; done

R0="$WORK/parts/retailer-00"
STATE="$WORK/state-0/state.fbc"
CKPT="$WORK/checkpoint/checkpoint.fbc"
users=$(declared_users "$R0")

# eval and recommend on a retailer's state.
check "eval reads a client state" quiet "$FB_TOOL" eval --data "$R0" --model "$STATE"
ev=$("$FB_TOOL" eval --data "$R0" --model "$STATE" --json 2>/dev/null || true)
check "eval of the state reports Recall@20" grep -q '"recall@20": 0\.[0-9]' <<<"$ev"
rec=$("$FB_TOOL" recommend --data "$R0" --model "$STATE" --user 0 -k 3 2>/dev/null || true)
echo "$rec" | sed 's/^/# /'
check "recommend reads a client state" grep -q '^ *1 ' <<<"$rec"

# The checkpoint (shared factors only): the users' factors solved locally
# from the retailer's own training split, said on stderr and in the JSON.
ce=$("$FB_TOOL" eval --data "$R0" --model "$CKPT" --json 2>"$WORK/ckpt.err" || true)
echo "# $ce"
sed 's/^/# /' "$WORK/ckpt.err"
check "eval reads the checkpoint" grep -q '"recall@20": 0\.[0-9]' <<<"$ce"
check "its JSON says the users' factors were solved locally" \
	grep -q '"users": "solved locally from the training split"' <<<"$ce"
check "stderr says so, from which folder, with which options" \
	grep -q "users' factors were solved locally from $R0's training split.*item_view true, use_attrs true, user_item_view true, bias false" "$WORK/ckpt.err"
check "the options are those the checkpoint records" \
	grep -q "representations (from the checkpoint): item_view true" "$WORK/ckpt.err"
check "the state's JSON says its factors were trained" grep -q '"users": "trained"' <<<"$ev"
n_bundles=$(awk -F '\t' '{ print $2 }' "$R0"/*_data_size.txt)
# The same checkpoint with zero user factors: a copy of the folder whose
# users have no training history (their solved factors are 0).
mkdir -p "$WORK/r0-empty"
cp "$R0"/* "$WORK/r0-empty/"
: >"$WORK/r0-empty/user_bundle_train.txt"
: >"$WORK/r0-empty/user_item.txt"
ze=$("$FB_TOOL" eval --data "$WORK/r0-empty" --model "$CKPT" --json 2>/dev/null || true)
# The zero-release floor: the same solve against the catalogue's public
# factors instead of the federation's.
fl=$("$FB_TOOL" floors --data "$R0" --epsilon 1 2>/dev/null || true)
recall() { python3 -c 'import json, sys; d = json.loads(sys.stdin.read()); print(d[sys.argv[1]]["recall@20"] if len(sys.argv) > 1 else d["recall@20"])' "$@" 2>/dev/null || echo 0; }
r=$(recall <<<"$ce")
pop=$(recall popularity <<<"$ce")
zero=$(recall <<<"$ze")
floor=$(awk '/^zero-release/ { print $5 }' <<<"$fl")
echo "# Recall@20: checkpoint $r, popularity $pop, zero user factors $zero, zero-release floor ${floor:-?}, random about $(awk -v n="$n_bundles" 'BEGIN { printf "%.3f", 20 / n }')"
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }
check "checkpoint Recall@20 over 4x a random ranking's" gt "$r" "$(awk -v n="$n_bundles" 'BEGIN { print 4 * 20 / n }')"
check "and at the popularity level at least (within 10%)" gt "$r" "$(awk -v p="$pop" 'BEGIN { print 0.9 * p }')"
check "well above the same checkpoint with zero user factors" gt "$r" "$(awk -v z="$zero" 'BEGIN { print z + 0.15 }')"
check "above the zero-release floor (the same solve, public factors)" gt "$r" "${floor:-1}"
crec=$("$FB_TOOL" recommend --data "$R0" --model "$CKPT" --user 1 -k 5 2>/dev/null || true)
echo "$crec" | sed 's/^/# /'
check "recommend lists 5 bundles from the checkpoint" test "$(grep -cE '^ +[1-5] +[0-9]+ ' <<<"$crec")" -eq 5
# A checkpoint of another catalogue is refused, naming both.
"$FB_TOOL" datagen --preset toy --bundles 100 --out "$WORK/other" >/dev/null 2>&1
set +e
msg=$("$FB_TOOL" eval --data "$WORK/other" --model "$CKPT" 2>&1)
rc=$?
set -e
echo "# $msg"
check "eval refuses a checkpoint of another catalogue (exit 1)" test "$rc" -eq 1
check "naming the checkpoint and the folder" grep -q "$CKPT.*$n_bundles bundles.*does not fit.*$WORK/other.*100" <<<"$msg"
# --config: the aggregator's own configuration gives the options.
check "--config takes the options from the aggregator's config" \
	quiet "$FB_TOOL" eval --data "$R0" --model "$CKPT" --config "$WORK/server.json"
echo '{"round": {"granularity": "user"}}' >"$WORK/agg-dp.json"
"$FB_TOOL" eval --data "$R0" --model "$CKPT" --config "$WORK/agg-dp.json" >/dev/null 2>"$WORK/ckpt-dp.err" || true
check "a user-level DP round means a bias, as the aggregator resolves it" \
	grep -q "agg-dp.json): item_view true, use_attrs true, user_item_view true, bias true" "$WORK/ckpt-dp.err"
check "--config says it overrides the checkpoint's options" \
	grep -q "(the checkpoint's overridden by --config $WORK/agg-dp.json)" "$WORK/ckpt-dp.err"

# export: the checkpoint's shared factors, the state's with its users.
check "export of the checkpoint" quiet "$FB_TOOL" export --model "$CKPT" --data "$R0" --out "$WORK/ex-ckpt"
check "checkpoint export: items and bundles, no users" \
	test -f "$WORK/ex-ckpt/items.npy" -a -f "$WORK/ex-ckpt/bundles.npy" -a ! -e "$WORK/ex-ckpt/users.npy"
check "checkpoint export: item and bundle representations, from the options it records" \
	test -f "$WORK/ex-ckpt/item_reps.npy" -a -f "$WORK/ex-ckpt/bundle_reps.npy" -a ! -e "$WORK/ex-ckpt/user_reps.npy"
check "export of the state" quiet "$FB_TOOL" export --model "$STATE" --data "$R0" --out "$WORK/ex"
check "one id per user row" test "$(wc -l <"$WORK/ex/users.txt" 2>/dev/null || echo 0)" -eq "$users"
hdr=$({ head -c 10 "$WORK/ex/items.npy" | od -An -tx1 | tr -d ' \n'; } 2>/dev/null || true)
check ".npy magic and version 1.0" test "${hdr:0:16}" = 934e554d50590100
# user 0's top 3 from the exported representations, as recommend ranks.
top=$(python3 "$HERE/npycheck.py" "$WORK/ex" 2>&1 || true)
want=$(awk '$1 ~ /^[123]$/ { printf "%s%d:%.4f", n++ ? " " : "", $2, $3 }' <<<"$rec")
echo "# from the .npy: $top; recommend: $want"
check "the .npy give recommend's top 3" test -n "$want" -a "$top" = "$want"
if python3 -c 'import numpy' 2>/dev/null; then
	shape=$(python3 -c "import numpy as np; print(np.load('$WORK/ex/users.npy').shape)")
	check "np.load gives users x d" test "$shape" = "($users, 16)"
else
	echo "# numpy is not installed: np.load check skipped"
fi

# Batch top-K for every user.
check "recommend --all to CSV" quiet "$FB_TOOL" recommend --data "$R0" --model "$STATE" \
	--all -k 3 --format csv --out "$WORK/all.csv"
check "CSV: a header and 3 lines per user" \
	test "$(wc -l <"$WORK/all.csv" 2>/dev/null || echo 0)" -eq $((1 + 3 * users))
first=$(awk -F, 'NR > 1 && NR <= 4 { printf "%s%d:%.4f", n++ ? " " : "", $3, $4 }' "$WORK/all.csv" 2>/dev/null || true)
check "CSV's user 0 is recommend's" test -n "$want" -a "$first" = "$want"
"$FB_TOOL" recommend --data "$R0" --model "$STATE" --all -k 3 --format jsonl \
	>"$WORK/all.jsonl" 2>/dev/null || true
check "JSON lines: one per user" test "$(grep -c '^{"user": ' "$WORK/all.jsonl")" -eq "$users"

# fedbundle-client eval --json: means, and the sums under their names.
cj=$("$FB_CLIENT" eval --policy "$WORK/policy-0.json" --json || true)
echo "# $cj"
m=$(json_field 'recall@20' <<<"$cj")
s=$(json_field 'recall@20_sum' <<<"$cj")
n=$(json_field users <<<"$cj")
check "client eval: recall@20 is the mean" test -n "$m" -a -n "$s" -a -n "$n"
check "client eval: recall@20 is recall@20_sum / users" near "${m:-0}" "$(awk -v s="${s:-0}" -v n="${n:-1}" 'BEGIN { print s / n }')" 1e-5
check "client eval: ndcg@20 present" grep -q '"ndcg@20": 0\.' <<<"$cj"

# fedbundle-client complete / compose on the node's state.
P0="$WORK/policy-0.json"
cc=$("$FB_CLIENT" complete --policy "$P0" --user 0 --items 0,1 -k 4 2>&1 || true)
echo "$cc" | sed 's/^/# /'
check "client complete: 4 ranked lines" test "$(grep -cE '^ +[1-4] +[0-9]+ ' <<<"$cc")" -eq 4
check "client complete: 4 distinct items, none given" test "$(awk '$1 ~ /^[1-4]$/ && $2 != 0 && $2 != 1 { print $2 }' <<<"$cc" | sort -u | wc -l)" -eq 4
tool=$("$FB_TOOL" complete --data "$R0" --model "$STATE" --user 0 --items 0,1 -k 4 2>/dev/null || true)
check "client complete ranks as fedbundle complete" test -n "$tool" -a \
	"$(awk '$1 ~ /^[1-4]$/ { print $2, $3 }' <<<"$cc")" = "$(awk '$1 ~ /^[1-4]$/ { print $2, $3 }' <<<"$tool")"
"$FB_CLIENT" complete --policy "$P0" --user 0 --items 0,1 -k 4 --json >"$WORK/cc.json" 2>&1 || true
check "client complete --json parses, 4 items" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['given'] == [0, 1] and len(d['items']) == 4
assert len({i['item'] for i in d['items']}) == 4" "$WORK/cc.json"
set +e
msg=$("$FB_CLIENT" complete --policy "$P0" --user 0 --items 0,999999 2>&1)
rc=$?
msg2=$("$FB_CLIENT" complete --policy "$P0" --user 999999 --items 0 2>&1)
rc2=$?
set -e
echo "# $msg"; echo "# $msg2"
check "client complete: a bad item id exits 2, named" test "$rc" -eq 2 -a -n "$(grep -o "'999999'" <<<"$msg")"
check "client complete: an unknown user exits 2" test "$rc2" -eq 2
# fedbundle-client recommend --items (issue 14: it was accepted and ignored,
# printing the top-K list): the score of an item set, as fedbundle's.
ri=$("$FB_CLIENT" recommend --policy "$P0" --user 0 --items 0,1 2>&1 || true)
echo "# $ri"
tri=$("$FB_TOOL" recommend --data "$R0" --model "$STATE" --user 0 --items 0,1 2>/dev/null || true)
check "client recommend --items scores the set as fedbundle recommend" test -n "$tri" -a "$ri" = "$tri"
check "client recommend --items: a score, not a top-K list" grep -q "bundle of 2 item(s).*score" <<<"$ri"
set +e
msg=$("$FB_CLIENT" recommend --policy "$P0" --user 0 --items 1,1 2>&1)
rc=$?
set -e
check "client recommend --items: a repeated item exits 2, named" test "$rc" -eq 2 -a -n "$(grep -o "item '1' given twice" <<<"$msg")"
co=$("$FB_CLIENT" compose --policy "$P0" --user 0 --size 3 -n 2 2>&1 || true)
echo "$co" | sed 's/^/# /'
check "client compose: 2 bundles" test "$(grep -c '^bundle [12] ' <<<"$co")" -eq 2
"$FB_CLIENT" compose --policy "$P0" --user 0 --size 3 -n 2 --json >"$WORK/co.json" 2>&1 || true
check "client compose --json: 2 bundles of 3 distinct items" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
b = [[i['item'] for i in x['items']] for x in d['bundles']]
assert len(b) == 2 and all(len(set(x)) == 3 for x in b) and b[0] != b[1]" "$WORK/co.json"
printf '2\n3\n5\n7\n' >"$WORK/allowed.txt"
"$FB_CLIENT" compose --policy "$P0" --user 0 --size 2 -n 1 --allowed "$WORK/allowed.txt" --json \
	>"$WORK/co-allowed.json" 2>&1 || true
check "client compose --allowed keeps to the allowed items" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert {i['item'] for i in d['bundles'][0]['items']} <= {2, 3, 5, 7}" "$WORK/co-allowed.json"
# Original ids: id maps in the retailer's folder (the partition's own
# users.map, numeric, is put back afterwards).
mkdir -p "$WORK/maps-saved"
cp "$R0"/*.map "$WORK/maps-saved/" 2>/dev/null || true
n_items=$(awk -F '\t' '{ print $3 }' "$R0"/*_data_size.txt)
n_bundles=$(awk -F '\t' '{ print $2 }' "$R0"/*_data_size.txt)
awk -v n="$users" 'BEGIN { for (i = 0; i < n; i++) printf "%d\tC%04d\n", i, i }' >"$R0/users.map"
awk -v n="$n_bundles" 'BEGIN { for (i = 0; i < n; i++) printf "%d\tBND-%d\n", i, i }' >"$R0/bundles.map"
awk -v n="$n_items" 'BEGIN { for (i = 0; i < n; i++) printf "%d\tITM-%d\n", i, i }' >"$R0/items.map"
ci=$("$FB_CLIENT" complete --policy "$P0" --user-id C0000 --items ITM-0,ITM-1 -k 4 2>&1 || true)
echo "$ci" | sed 's/^/# /'
check "client complete --user-id: same ranking, original item ids" test -n "$tool" -a \
	"$(awk '$1 ~ /^[1-4]$/ { print $2, $3, $4 }' <<<"$ci")" = "$(awk '$1 ~ /^[1-4]$/ { print $2, $3, "ITM-" $2 }' <<<"$tool")"
check "client complete: the given items by original id" grep -q "completing a bundle of 2 (ITM-0, ITM-1)" <<<"$ci"
rii=$("$FB_CLIENT" recommend --policy "$P0" --user-id C0000 --items ITM-0,ITM-1 --json 2>&1 || true)
check "client recommend --items by original ids (--json)" grep -q '"item_ids": \["ITM-0", "ITM-1"\], "score"' <<<"$rii"
set +e
msg=$("$FB_CLIENT" complete --policy "$P0" --user-id C0000 --items ITM-0,NOPE-7 2>&1)
rc=$?
set -e
echo "# $msg"
check "client complete: an unknown original item id exits 2, named" test "$rc" -eq 2 -a -n "$(grep -o "item 'NOPE-7' is not in the folder's items.map" <<<"$msg")"
printf 'ITM-2\nITM-3\nITM-5\n' >"$WORK/allowed-ids.txt"
"$FB_CLIENT" compose --policy "$P0" --user-id C0000 --size 2 -n 1 --allowed "$WORK/allowed-ids.txt" --json >"$WORK/coi.json" 2>&1 || true
check "client compose --allowed by original ids: user_id and item_id" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['user_id'] == 'C0000'
assert all(i['item_id'] == 'ITM-%d' % i['item'] for i in d['bundles'][0]['items'])
assert {i['item_id'] for i in d['bundles'][0]['items']} <= {'ITM-2', 'ITM-3', 'ITM-5'}" "$WORK/coi.json"
set +e
msg=$("$FB_CLIENT" compose --policy "$P0" --user-id NOBODY --size 2 2>&1)
rc=$?
set -e
echo "# $msg"
check "client compose: an unknown customer exits 2, named" test "$rc" -eq 2 -a -n "$(grep -o NOBODY <<<"$msg")"
# Prices (item_prices.txt, not in the catalogue digest): --max-price.
awk -v n="$n_items" 'BEGIN { for (i = 0; i < n; i++) printf "%d\t%d.50\n", i, 1 + i % 5 }' >"$R0/item_prices.txt"
"$FB_CLIENT" compose --policy "$P0" --user-id C0000 --size 2 -n 3 --max-price 4 --json >"$WORK/cop.json" 2>&1 || true
check "client compose --max-price: every bundle within the cap" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d['bundles']) == 3
for b in d['bundles']:
    ps = [1 + i['item'] % 5 + 0.5 for i in b['items']]
    assert sum(ps) <= 4 and abs(b['price'] - sum(ps)) < 1e-6, b" "$WORK/cop.json"
rm -f "$R0/item_prices.txt"
set +e
msg=$("$FB_CLIENT" compose --policy "$P0" --user 0 --size 2 --max-price 4 2>&1)
rc=$?
set -e
echo "# $msg"
check "client compose --max-price without prices exits 2, naming item_prices.txt" test "$rc" -eq 2 -a -n "$(grep -o item_prices.txt <<<"$msg")"
rm -f "$R0/users.map" "$R0/bundles.map" "$R0/items.map"
cp "$WORK/maps-saved/"*.map "$R0/" 2>/dev/null || true

# A user-level DP federation (one round): its rounds have the bias on
# (server/dpdefaults.c), its checkpoint records it, and eval uses it
# without --config (issue 14). A fresh federation: the first one's
# checkpoint and states moved aside.
mv "$WORK/checkpoint" "$WORK/checkpoint-nonprivate"
for i in 0 1; do mv "$WORK/state-$i" "$WORK/state-$i-nonprivate"; done
server_config 1 2 60000 '{"granularity": "user", "local_steps": 1,
 "target_epsilon": 4, "delta": 1e-5, "dim": 16}'
for i in 0 1; do policy "$i" '"epsilon": 4, "delta": 1e-5'; done
start_server -dp
for i in 0 1; do start_client "$i" -dp; done
check "DP aggregator finished" wait_pid "$SERVER_PID" 120
for i in 0 1; do check "DP client $i finished" wait_pid "${CLIENT_PID[$i]}" 30; done
de=$("$FB_TOOL" eval --data "$R0" --model "$CKPT" --json 2>"$WORK/ckpt-dpfed.err" || true)
sed 's/^/# /' "$WORK/ckpt-dpfed.err"
check "eval reads the DP federation's checkpoint" grep -q '"recall@20": 0\.[0-9]' <<<"$de"
check "with the bias its rounds had, from the checkpoint, without --config" \
	grep -q "representations (from the checkpoint): item_view true, use_attrs true, user_item_view true, bias true" "$WORK/ckpt-dpfed.err"

# train --json: the totals named as totals, the test evaluation beside.
tj=$("$FB_TOOL" train --data "$R0" --epochs 2 --json --quiet 2>/dev/null || true)
check "train: eval_seconds_total and test_eval_seconds" \
	grep -q '"eval_seconds_total": [0-9.]*, "test_eval_seconds": [0-9.]*' <<<"$tj"
finish
