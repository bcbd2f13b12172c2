#!/usr/bin/env bash
# tests/integration/test-dp-selection.sh: under `fedbundle train --dp user`
# the tune split chooses nothing (issue 15, docs/privacy.md section 8).
# The tune split is the users' private data and no ledger entry accounts a
# choice made on it, so the model a DP run writes must be a function of
# the training data and the noise alone. Checked on neighbouring datasets,
# with the same seeded noise: one user's tune interactions removed, and
# the tune and test splits swapped, must give byte-identical models, while
# the tune figures the run prints do change (the tune data was read, for
# the owner's progress view only). Patience is ignored: every planned
# epoch runs and the last is kept, with --prior too (its epoch 0, the
# prior alone, is not kept for winning on tune).
source "$(dirname "$0")/lib.sh"

# Three copies of the toy data under the same folder name (the model file
# records the dataset's name): the original, a neighbour without one
# user's tune rows, one whose tune and test splits are swapped, and one
# whose tune split is that one user's rows alone (where a run that chose
# on tune would keep another epoch: every epoch ties, the first wins).
for v in orig neighbour swapped single; do
	mkdir -p "$WORK/$v"
done
quiet "$FB_TOOL" datagen --preset toy --seed 1 --out "$WORK/orig/toy"
cp -r "$WORK/orig/toy" "$WORK/neighbour/toy"
cp -r "$WORK/orig/toy" "$WORK/swapped/toy"
cp -r "$WORK/orig/toy" "$WORK/single/toy"
# the user with the most tune rows leaves the neighbour's tune split
victim=$(cut -f1 "$WORK/orig/toy/user_bundle_tune.txt" | sort | uniq -c |
	sort -k1,1nr -k2,2n | awk 'NR == 1 { print $2 }')
awk -F'\t' -v u="$victim" '$1 != u' "$WORK/orig/toy/user_bundle_tune.txt" \
	>"$WORK/neighbour/toy/user_bundle_tune.txt"
cp "$WORK/orig/toy/user_bundle_test.txt" "$WORK/swapped/toy/user_bundle_tune.txt"
cp "$WORK/orig/toy/user_bundle_tune.txt" "$WORK/swapped/toy/user_bundle_test.txt"
awk -F'\t' -v u="$victim" '$1 == u' "$WORK/orig/toy/user_bundle_tune.txt" \
	>"$WORK/single/toy/user_bundle_tune.txt"
removed=$(($(wc -l <"$WORK/orig/toy/user_bundle_tune.txt") -
	$(wc -l <"$WORK/neighbour/toy/user_bundle_tune.txt")))
echo "# the neighbour lacks user $victim's $removed tune interactions"
check "the neighbour differs from the original in one user's tune rows" \
	test "$removed" -gt 0

# Patience 1 and an evaluation every epoch: a run that still selected on
# tune would stop and choose as soon as one epoch did not improve.
echo '{"patience": 1, "eval_every": 1}' >"$WORK/sel.json"

# train_dp NAME VARIANT ARGS...: a five-epoch DP run with seeded noise.
train_dp() {
	local name=$1 v=$2
	shift 2
	"$FB_TOOL" train --data "$WORK/$v/toy" --dp user --users 600 \
		--epochs 5 --epsilon 4 --seeded-noise 3 --config "$WORK/sel.json" \
		--ledger "$WORK/$name.ledger" --new-ledger --out "$WORK/$name.fbm" \
		--json "$@" >"$WORK/$name.json" 2>"$WORK/$name.err"
}
jf() { # jf NAME EXPR: a Python expression over the run's JSON (d)
	python3 -c "
import json
d = json.loads(open('$WORK/$1.json').read().splitlines()[-1])
print($2)"
}

for v in orig neighbour swapped single; do
	check "train --dp user on the $v data exits 0" train_dp "$v" "$v"
done
check "every planned epoch ran and the last is kept (patience ignored)" \
	test "$(jf orig "(d['epoch'], d['epochs_run'], d['privacy']['selection'])")" = "(5, 5, 'last epoch')"
check "the tune split was read: its figures differ between the original and the swapped data" \
	test "$(jf orig "d['tune']['recall@20']")" != "$(jf swapped "d['tune']['recall@20']")"
check "one user's tune rows removed: the same model, byte for byte" \
	cmp -s "$WORK/orig.fbm" "$WORK/neighbour.fbm"
check "the tune and test splits swapped: the same model, byte for byte" \
	cmp -s "$WORK/orig.fbm" "$WORK/swapped.fbm"
check "the tune split of one user: the same model, byte for byte" \
	cmp -s "$WORK/orig.fbm" "$WORK/single.fbm"
check "the neighbour: the same test figures" \
	test "$(jf orig "d['recall@20'], d['ndcg@20']")" = "$(jf neighbour "d['recall@20'], d['ndcg@20']")"
check "the progress marks no epoch as chosen" \
	bash -c "! grep -q 'tune Recall@20 .*\\*' '$WORK/orig.err'"
check "the text output says the last epoch is kept" \
	bash -c "'$FB_TOOL' train --data '$WORK/orig/toy' --dp user --users 600 \
		--epochs 2 --epsilon 4 --seeded-noise 3 --ledger '$WORK/text.ledger' \
		--new-ledger --quiet 2>/dev/null | grep -q 'last epoch 2 of 2'"

# --prior fixed: epoch 0 is the prior alone; it is evaluated, not chosen.
for v in orig single; do
	check "train --dp user --prior fixed on the $v data exits 0" \
		train_dp "prior-$v" "$v" --prior fixed
done
check "--prior fixed: the last epoch is kept, not the prior alone" \
	test "$(jf prior-orig "(d['epoch'], d['epochs_run'])")" = "(5, 5)"
check "--prior fixed: the tune split changes nothing in the model" \
	cmp -s "$WORK/prior-orig.fbm" "$WORK/prior-single.fbm"

# Non-private, the tune split still selects (the papers' protocol):
# patience 1 stops the run as soon as an evaluation fails to improve.
"$FB_TOOL" train --data "$WORK/orig/toy" --epochs 40 --config "$WORK/sel.json" \
	--json --quiet >"$WORK/np.json" 2>/dev/null
check "non-private: early stopping still runs (fewer than 40 epochs)" \
	test "$(jf np "d['epochs_run'] < 40 and d['epoch'] == d['epochs_run'] - 1")" = True
finish
