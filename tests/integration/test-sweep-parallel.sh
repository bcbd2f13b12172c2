#!/usr/bin/env bash
# tests/integration/test-sweep-parallel.sh: a sweep run point by point by
# an existing engine (issue 15, "Beyond one machine"): GNU parallel with
# 2 local workers runs `fedbundle sweep --point K` for every K that
# `--list` prints, `--collect` writes results.csv, and that CSV equals the
# one `--jobs 2` writes for the same grid, except the columns that measure
# the run (wall_s, rounds_per_min, peak_rss_mb: timings and memory, which
# differ from run to run). Also: a done point is skipped, a second worker
# on a running point is refused (its lock), a changed grid, an
# out-of-range K and an unknown option are refused with a clear message,
# and --collect names the missing points. Skipped without GNU parallel
# (Debian package `parallel`, installed by scripts/setup.sh).
source "$(dirname "$0")/lib.sh"

if ! command -v parallel >/dev/null 2>&1 ||
	! parallel --version 2>/dev/null | grep -q 'GNU parallel'; then
	echo "1..0 # SKIP GNU parallel not installed (Debian package 'parallel'; scripts/setup.sh installs it)"
	exit 0
fi

"$FB_TOOL" datagen --preset toy --seed 1 --out "$WORK/data" >/dev/null 2>&1
cat >"$WORK/sim.json" <<EOF2
{"data": "data", "retailers": 3, "rounds": 2, "privacy": "user",
 "epsilon": 4, "seed": 7, "accountant": "rdp",
 "round": {"q": 0.25, "local_epochs": 1, "clip": 1, "dim": 16,
  "optimizer": "sgd", "lr": 20, "bias": true, "train_items": false,
  "bundle_rank": 8}}
EOF2
cat >"$WORK/grid.json" <<EOF2
{"base": "sim.json",
 "axes": {"epsilon": [2, "inf"], "seed": [1, 2]},
 "per_privacy": {"none": {"round": {"lr": 10}}}}
EOF2
G=$WORK/grid.json
sweep() { "$FB_TOOL" sweep --grid "$G" "$@"; }

# --- --list ---
check "--list runs" quiet sweep --list
n=$(sweep --list | tail -n 1 | cut -d ' ' -f 1)
check "--list: 4 points and the count last" test "$n" = 4
check "--list: index, folder name and settings, tab-separated" \
	test "$(sweep --list | sed -n 3p)" = "$(printf '2\tepsilon=inf_seed=1\tepsilon=inf seed=1')"
check "--list --json is one JSON object with 4 points" \
	python3 -c 'import json, sys; d = json.load(sys.stdin); assert d["count"] == 4 and [p["index"] for p in d["points"]] == [0, 1, 2, 3] and d["points"][3]["settings"] == {"epsilon": "inf", "seed": 2}' \
	< <(sweep --list --json)

# --- the reference: the whole grid, 2 at a time ---
check "--jobs 2 runs the grid" quiet sweep --out "$WORK/jobs" --jobs 2

# --- GNU parallel, 2 local workers (--sshlogin 2/: is this host) ---
check "GNU parallel runs every point with --point K" \
	quiet bash -c "seq 0 $((n - 1)) | parallel --will-cite --sshlogin 2/: \
		--halt now,fail=1 '$FB_TOOL' sweep --grid '$G' \
		--out '$WORK/par' --point {}"
check "the workers wrote no results.csv" test ! -e "$WORK/par/results.csv"
check "--collect: all points done" quiet sweep --out "$WORK/par" --collect

# The CSVs without the columns that measure the run, by header name.
strip() {
	awk -F , 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "wall_s" ||
		$i == "rounds_per_min" || $i == "peak_rss_mb") drop[i] = 1 }
		{ out = ""; for (i = 1; i <= NF; i++) if (!(i in drop))
			out = out (out == "" ? "" : ",") $i; print out }' "$1"
}
check "results.csv: a header and 4 points" \
	test "$(wc -l <"$WORK/par/results.csv")" -eq 5
check "results.csv: the timing columns are there" \
	grep -q '^point,.*,wall_s,rounds_per_min,peak_rss_mb,dir,noise$' \
	"$WORK/par/results.csv"
check "results.csv equals --jobs 2's (apart from wall_s, rounds_per_min, peak_rss_mb)" \
	cmp <(strip "$WORK/jobs/results.csv") <(strip "$WORK/par/results.csv")
check "... which is not trivially so (it has Recall@20 values)" \
	test "$(strip "$WORK/par/results.csv" | grep -c ',user,2,.*,0\.[0-9]')" -eq 2

# --- idempotent: a done point is skipped ---
marker=$WORK/par/points/epsilon=2_seed=1/done
before=$(stat -c %Y.%s "$marker")
sleep 1.1
out=$(sweep --out "$WORK/par" --point 0 2>&1)
check "a done point is skipped with a message" \
	grep -q 'point 0 (epsilon=2_seed=1) is already done: skipped' <<<"$out"
check "... and not run again" test "$(stat -c %Y.%s "$marker")" = "$before"
check "--jobs on the same folder finds every point done" \
	grep -q '4 points (4 already done)' <(sweep --out "$WORK/par" 2>&1)

# --- the same point twice: refused while its lock is held ---
lockdir=$WORK/twice/points/epsilon=2_seed=1
mkdir -p "$lockdir"
set +e
flock "$lockdir/lock" "$FB_TOOL" sweep --grid "$G" --out "$WORK/twice" \
	--point 0 >"$WORK/held.out" 2>&1
rc=$?
set -e
check "a worker on a point whose lock is held exits 75" test "$rc" -eq 75
check "... saying the point's lock is held" \
	grep -q 'another process is running it (its lock .*/lock is held): refused' \
	"$WORK/held.out"
check "... and touches none of its files" test ! -e "$lockdir/log.txt"
# Two workers started together: one runs it, the other is refused (75)
# or, if it came after, skips the done point (0).
sweep --out "$WORK/twice" --point 0 >"$WORK/w1.out" 2>&1 &
w1=$!
sweep --out "$WORK/twice" --point 0 >"$WORK/w2.out" 2>&1 &
w2=$!
PIDS+=("$w1" "$w2")
set +e
wait "$w1"
rc1=$?
wait "$w2"
rc2=$?
set -e
check "two workers on one point: one runs it, the other is harmless" \
	test "$rc1:$rc2" = 0:75 -o "$rc1:$rc2" = 75:0 -o "$rc1:$rc2" = 0:0
check "... the point ran once" \
	test "$(cat "$WORK/w1.out" "$WORK/w2.out" | grep -c 'Recall@20')" -eq 1
check "... and its marker is there" test -f "$lockdir/done"

# --- --collect names the missing points ---
set +e
out=$(sweep --out "$WORK/twice" --collect 2>&1)
rc=$?
set -e
check "--collect with missing points exits 1" test "$rc" -eq 1
check "... names them, with the indices for a job array" \
	grep -q 'missing indices (for --array): 1,2,3' <<<"$out"
check "... and writes the done one" \
	test "$(wc -l <"$WORK/twice/results.csv")" -eq 2

# --- refusals with a clear message ---
one_error() { # one_error STATUS PATTERN COMMAND...
	local want=$1 pattern=$2 out rc
	shift 2
	set +e
	out=$("$@" 2>&1)
	rc=$?
	set -e
	if [ "$rc" -ne "$want" ] || ! grep -q -- "$pattern" <<<"$out"; then
		echo "# status $rc, got: $out"
		return 1
	fi
}
check "--point out of range" one_error 2 \
	'--point 4: out of range: .*grid.json has 4 points (0 to 3)' \
	sweep --out "$WORK/par" --point 4
check "an unknown option" one_error 2 "unknown option '--workers'" \
	sweep --out "$WORK/par" --workers 2
check "--point with --jobs" one_error 2 '--jobs: only for a whole sweep' \
	sweep --out "$WORK/par" --point 1 --jobs 2
sed 's/"seed": \[1, 2\]/"seed": [1, 3]/' "$G" >"$WORK/grid2.json"
check "a changed grid is refused, naming both hashes and grids" one_error 1 \
	"grid2.json: the grid changed since .*/par was started: its 4 points hash to [0-9a-f]*, but .*/par/sweep.json records [0-9a-f]* (4 points, grid .*/grid.json)" \
	"$FB_TOOL" sweep --grid "$WORK/grid2.json" --out "$WORK/par" --point 1
check "... by --collect too" one_error 1 'the grid changed since' \
	"$FB_TOOL" sweep --grid "$WORK/grid2.json" --out "$WORK/par" --collect
check "... and nothing of it was run" \
	test ! -e "$WORK/par/points/epsilon=2_seed=3"

finish
