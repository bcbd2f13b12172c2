#!/usr/bin/env bash
# tests/integration/test-sim.sh: the research tooling on the toy
# consortium: `fedbundle simulate` (the real aggregator and client code in
# one process) is deterministic and writes a manifest with the dataset's
# checksums; --processes runs the same federation as separate processes;
# `fedbundle sweep` resumes after being killed without rerunning a
# finished point; `fedbundle plot` draws non-empty PNG and SVG figures
# (skipped without gnuplot); bad configuration and grid files fail with
# one line naming the key.
source "$(dirname "$0")/lib.sh"

"$FB_TOOL" datagen --preset toy --seed 1 --out "$WORK/data" >/dev/null 2>&1
cat >"$WORK/sim.json" <<EOF
{"data": "data", "retailers": 3, "rounds": 3, "privacy": "user",
 "epsilon": 4, "seed": 7, "accountant": "rdp",
 "round": {"q": 0.25, "local_epochs": 1, "clip": 1, "dim": 16,
  "optimizer": "sgd", "lr": 20, "bias": true, "train_items": false,
  "bundle_rank": 8}}
EOF

# --- determinism ---
sim() { # sim OUT [OPTIONS...]
	local out=$1
	shift
	quiet "$FB_TOOL" simulate --config "$WORK/sim.json" --out "$WORK/$out" \
		--quiet "$@"
}
check "simulate runs" sim run1
check "simulate runs again" sim run2
check "3 per-round lines" test "$(wc -l <"$WORK/run1/rounds.jsonl")" -eq 3
check "same seed: byte-identical per-round lines" \
	cmp "$WORK/run1/rounds.jsonl" "$WORK/run2/rounds.jsonl"
check "per-round lines have Recall@20 and the noise label" \
	grep -q '"recall@20": 0\.[0-9]*.*"noise": "seeded noise: a reproducible simulation, not a private deployment"' \
	"$WORK/run1/rounds.jsonl"
check "epsilon spent stays within the target" \
	awk -F '"epsilon_max": ' '{ split($2, a, ","); if (a[1] > 4.0000001) exit 1 }' \
	"$WORK/run1/rounds.jsonl"
check "another seed gives other numbers" sim run3 --seed 8
check "... which differ" bash -c "! cmp -s '$WORK/run1/rounds.jsonl' '$WORK/run3/rounds.jsonl'"

# Client-level DP: the aggregator's central noise is seeded in a
# simulation too (it came from the system's random source before).
sed 's/"privacy": "user"/"privacy": "client"/' "$WORK/sim.json" >"$WORK/simc.json"
simc() { quiet "$FB_TOOL" simulate --config "$WORK/simc.json" --out "$WORK/$1" --quiet; }
check "client-level simulate runs" simc runc1
check "client-level simulate runs again" simc runc2
check "client-level: byte-identical per-round lines" \
	cmp "$WORK/runc1/rounds.jsonl" "$WORK/runc2/rounds.jsonl"

# --- manifest ---
m=$WORK/run1/manifest.json
for f in bundle_item.txt user_bundle_train.txt user_item.txt; do
	sum=$(b2sum -l 256 "$WORK/data/$f" | cut -d ' ' -f 1)
	check "manifest has the BLAKE2b-256 of $f" \
		grep -q "\"file\": \"$f\", \"bytes\": [0-9]*, \"blake2b-256\": \"$sum\"" "$m"
done
check "manifest has the seed and the version" \
	grep -q '"seed": 7,' "$m"
check "manifest has the version" grep -Eq '"version": "[0-9a-f.+]+' "$m"
check "manifest has the resolved round settings" \
	grep -q '"bundle_rank": 8' "$m"
check "config.json runs as it is" \
	quiet "$FB_TOOL" simulate --config "$WORK/run1/config.json" \
	--out "$WORK/run4" --quiet
check "... with the same per-round lines" \
	cmp "$WORK/run1/rounds.jsonl" "$WORK/run4/rounds.jsonl"

# --- in-process over tcp loopback: the same round logic over sockets ---
check "simulate --tcp runs" sim runt --tcp
check "--tcp: the same per-round lines as inproc://" \
	cmp "$WORK/run1/rounds.jsonl" "$WORK/runt/rounds.jsonl"
check "--tcp: the manifest says tcp loopback" \
	grep -q '"mode": "in-process (tcp loopback)"' "$WORK/runt/manifest.json"

# --- separate processes over tcp loopback ---
check "simulate --processes runs" sim runp --processes
check "--processes: 3 rounds committed" \
	test "$(grep -c '"status": "committed"' "$WORK/runp/rounds.jsonl")" -eq 3
check "--processes: same epsilon as in-process" \
	test "$(grep -o '"epsilon_max": [0-9.]*' "$WORK/runp/rounds.jsonl")" = \
	"$(grep -o '"epsilon_max": [0-9.]*' "$WORK/run1/rounds.jsonl")"

# --- sweep: killed after one point, resumed ---
cat >"$WORK/grid.json" <<EOF
{"base": "sim.json",
 "axes": {"epsilon": [2, 4, "inf"], "seed": [1, 2]},
 "per_privacy": {"none": {"round": {"lr": 10}}}}
EOF
"$FB_TOOL" sweep --grid "$WORK/grid.json" --out "$WORK/sweep" \
	>"$WORK/sweep1.out" 2>&1 &
pid=$!
PIDS+=("$pid")
t=0
while [ "$(ls "$WORK"/sweep/points/*/done 2>/dev/null | wc -l)" -lt 1 ] &&
	[ $t -lt $((600 * TIME_SCALE)) ]; do
	sleep 0.05
	t=$((t + 1))
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
first=$(ls -d "$WORK"/sweep/points/*/done 2>/dev/null | head -n 1 || true)
check "the killed sweep finished one point" test -f "$first"
before=$(stat -c %Y.%s "$first" 2>/dev/null || echo none)
sleep 1.1
check "the sweep resumes" quiet "$FB_TOOL" sweep --grid "$WORK/grid.json" \
	--out "$WORK/sweep"
check "the finished point was not run again" \
	test "$(stat -c %Y.%s "$first")" = "$before"
csv=$WORK/sweep/results.csv
check "results.csv: a header and 6 points" test "$(wc -l <"$csv")" -eq 7
check "results.csv: each point once" \
	test "$(tail -n +2 "$csv" | cut -d , -f 1 | sort -u | wc -l)" -eq 6
check "results.csv: the non-private points have epsilon inf and lr 10" \
	test "$(grep -c '^[^,]*,[^,]*,none,inf,.*,10,0,inf,' "$csv")" -eq 2
check "a third run has nothing to do" \
	bash -c "'$FB_TOOL' sweep --grid '$WORK/grid.json' --out '$WORK/sweep' 2>&1 | grep -q '6 points (6 already done)'"

# --- plot ---
if command -v gnuplot >/dev/null 2>&1; then
	check "plot runs" quiet "$FB_TOOL" plot --results "$csv" --out "$WORK/fig"
	for f in privacy-utility training-curves; do
		check "$f.png is a non-empty PNG" \
			bash -c "test -s '$WORK/fig/$f.png' && head -c 8 '$WORK/fig/$f.png' | od -c | grep -q 'P   N   G'"
		check "$f.svg is a non-empty SVG" grep -q '<svg' "$WORK/fig/$f.svg"
	done
else
	echo "ok $((N_CHECKS + 1)) # SKIP plot: gnuplot not installed"
	N_CHECKS=$((N_CHECKS + 1))
fi

# --- one-line errors naming the key ---
one_line_error() { # one_line_error PATTERN COMMAND...: fails, one line
	local pattern=$1 out
	shift
	if out=$("$@" 2>&1); then
		echo "# unexpectedly succeeded: $*"
		return 1
	fi
	if [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ] ||
		! printf '%s\n' "$out" | grep -q -- "$pattern"; then
		echo "# got: $out"
		return 1
	fi
}
bad() { # bad NAME JSON: writes $WORK/NAME.json
	printf '%s\n' "$2" >"$WORK/$1.json"
}
bad c1 '{"data": "data", "retailers": 0}'
check "config: retailers out of range" one_line_error 'c1.json: retailers' \
	"$FB_TOOL" simulate --config "$WORK/c1.json"
bad c2 '{"data": "data", "round": {"lr": "fast"}}'
check "config: round.lr of the wrong type" one_line_error 'c2.json: round.lr' \
	"$FB_TOOL" simulate --config "$WORK/c2.json"
bad c3 '{"data": "data", "round": {"granularity": "user"}}'
check "config: round.granularity refused" one_line_error 'round.granularity' \
	"$FB_TOOL" simulate --config "$WORK/c3.json"
bad c4 '{"data": "data", "privacy": "local"}'
check "config: unknown privacy mode" one_line_error 'c4.json: privacy' \
	"$FB_TOOL" simulate --config "$WORK/c4.json"
bad c5 '{"data": "data", "colour": 3}'
check "config: unknown key" one_line_error 'c5.json: colour: unknown key' \
	"$FB_TOOL" simulate --config "$WORK/c5.json"
bad g1 '{"base": "sim.json", "axes": {"round.clip": [1, -2]}}'
check "grid: a value out of range" one_line_error 'axes.round.clip\[1\].*round.clip' \
	"$FB_TOOL" sweep --grid "$WORK/g1.json" --out "$WORK/g"
bad g2 '{"base": "sim.json", "axes": {"colour": [1]}}'
check "grid: an unknown axis" one_line_error 'colour: unknown key' \
	"$FB_TOOL" sweep --grid "$WORK/g2.json" --out "$WORK/g"
bad g3 '{"base": "sim.json", "axis": {"seed": [1]}}'
check "grid: an unknown key" one_line_error 'g3.json: axis: unknown key' \
	"$FB_TOOL" sweep --grid "$WORK/g3.json" --out "$WORK/g"
bad g4 '{"base": "sim.json", "axes": {"seed": 1}}'
check "grid: an axis that is not a list" one_line_error 'axes.seed: expected an array' \
	"$FB_TOOL" sweep --grid "$WORK/g4.json" --out "$WORK/g"
bad g5 '{"base": "missing.json", "axes": {"seed": [1]}}'
check "grid: a missing base" one_line_error 'g5.json: base' \
	"$FB_TOOL" sweep --grid "$WORK/g5.json" --out "$WORK/g"
finish
