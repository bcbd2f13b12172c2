#!/usr/bin/env bash
# tests/integration/test-tune.sh: `fedbundle tune` (issue 17) on the toy
# consortium: one CSV row per trial, a rerun reads the done trials back
# instead of training them, more --trials extends a random search, a
# changed seed is refused, the best configuration trains with `train
# --config`, --dp is refused, a run killed after its first trial resumes
# to the rows an uninterrupted run writes, successive halving's rungs, and
# `train`'s warning on a tune split too small to select on.
source "$(dirname "$0")/lib.sh"

"$FB_TOOL" datagen --preset toy --seed 1 --out "$WORK/data" >/dev/null 2>&1
D=$WORK/data

rows() { tail -n +2 "$1/trials.csv" | wc -l; }
# The CSV without its seconds column (timings differ between runs).
no_time() { cut -d, -f1-15 "$1/trials.csv"; }

"$FB_TOOL" tune --data "$D" --out "$WORK/a" --trials 3 --epochs 1 \
	>"$WORK/a.out" 2>"$WORK/a.err"
check "3 trials, 3 CSV rows" [ "$(rows "$WORK/a")" -eq 3 ]
check "progress names trial k of N and best so far" \
	grep -q "trial 3 of 3 .*tune Recall@20 .*best so far" "$WORK/a.err"
check "tune and test metrics reported apart" \
	bash -c "grep -q '^TUNE split' '$WORK/a.out' && grep -q '^TEST split (evaluated once' '$WORK/a.out'"
check "trial 1 is the defaults" \
	grep -q "^1,0,0,1,64,0.003,0.05,0.0006,2,2048,0.2,0.05," "$WORK/a/trials.csv"
cp "$WORK/a/trials.csv" "$WORK/a.csv"

"$FB_TOOL" tune --data "$D" --out "$WORK/a" --trials 3 --epochs 1 \
	>/dev/null 2>"$WORK/a2.err"
check "a rerun reads the 3 trials back" \
	[ "$(grep -c 'done, read back' "$WORK/a2.err")" -eq 3 ]
check "a rerun trains none (CSV unchanged)" cmp -s "$WORK/a.csv" "$WORK/a/trials.csv"

"$FB_TOOL" tune --data "$D" --out "$WORK/a" --trials 5 --epochs 1 \
	>/dev/null 2>"$WORK/a3.err"
check "more trials: 3 read back, 5 rows" \
	bash -c "[ \$(grep -c 'done, read back' '$WORK/a3.err') -eq 3 ] && [ \$(tail -n +2 '$WORK/a/trials.csv' | wc -l) -eq 5 ]"
check "the first 3 rows kept" \
	bash -c "head -4 '$WORK/a/trials.csv' | cmp -s - '$WORK/a.csv'"

if "$FB_TOOL" tune --data "$D" --out "$WORK/a" --trials 3 --epochs 1 \
	--seed 2 >/dev/null 2>"$WORK/seed.err"; then
	check "a changed seed is refused" false
else
	check "a changed seed is refused" grep -q "another search" "$WORK/seed.err"
fi

check "best.json trains with train --config" \
	bash -c "'$FB_TOOL' train --data '$D' --config '$WORK/a/best.json' --json --quiet 2>/dev/null | grep -q '\"recall@20\"'"

if "$FB_TOOL" tune --data "$D" --out "$WORK/dp" --dp user >/dev/null 2>"$WORK/dp.err"; then
	check "--dp user is refused" false
else
	check "--dp user is refused" grep -q "accounted selection (issue 15)" "$WORK/dp.err"
fi
check "--dp refused before any trial" [ ! -e "$WORK/dp/trials.csv" ]

# A reference run, then the same run killed after its first trial.
"$FB_TOOL" tune --data "$D" --out "$WORK/ref" --trials 12 --epochs 2 \
	--quiet >/dev/null 2>&1
"$FB_TOOL" tune --data "$D" --out "$WORK/k" --trials 12 --epochs 2 \
	--quiet >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 $((400 * TIME_SCALE))); do
	[ -f "$WORK/k/trials.csv" ] && break
	sleep 0.01
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
done_rows=$(rows "$WORK/k")
check "the killed run left some but not all trials ($done_rows)" \
	[ "$done_rows" -ge 1 -a "$done_rows" -lt 12 ]
"$FB_TOOL" tune --data "$D" --out "$WORK/k" --trials 12 --epochs 2 \
	>/dev/null 2>"$WORK/k.err"
check "the resumed run read back the done trials" \
	[ "$(grep -c 'done, read back' "$WORK/k.err")" -eq "$done_rows" ]
check "the resumed run's rows are the uninterrupted run's" \
	bash -c "diff <(cut -d, -f1-15 '$WORK/k/trials.csv') <(cut -d, -f1-15 '$WORK/ref/trials.csv') >/dev/null"

"$FB_TOOL" tune --data "$D" --out "$WORK/h" --trials 4 --epochs 2 \
	--method halving >/dev/null 2>&1
check "halving: 4 + 2 + 1 trials" [ "$(rows "$WORK/h")" -eq 7 ]
check "halving: the last rung has E epochs" \
	bash -c "tail -1 '$WORK/h/trials.csv' | cut -d, -f3,4 | grep -qx '2,2'"

"$FB_TOOL" train --data "$D" --epochs 1 --quiet >/dev/null 2>"$WORK/train.err"
check "train warns that the toy tune split is too small" \
	grep -q "tune split is too small to select reliably" "$WORK/train.err"

finish
