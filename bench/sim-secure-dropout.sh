#!/usr/bin/env bash
# bench/sim-secure-dropout.sh [BUILD_DIR]: the issue-13 figure "100
# retailers on the synthetic consortium with 10% of them dropping each
# round". docs/research/small-secure-dropout.json (the settings of
# docs/research.md §3-§4 at epsilon 8 with secure aggregation, one release
# per round, "dropout": 0.1) on `fedbundle datagen --preset small`, run
# with 25, 50 and 100 retailers as processes (--processes: the
# aggregator's process is measured alone). Each retailer drops out of
# each round with probability 0.1, at a stage drawn uniformly, so stages
# run out their time: secagg_stage_ms is 300 ms per retailer and the
# round's deadline three stages. Prints per round U1..U4 and seconds, and
# per run the rounds committed, the aggregator's peak RSS, the largest
# process's and the final Recall@20. FB_BENCH_K="25 50" picks the sizes,
# FB_BENCH_ROUNDS the rounds (3).
set -euo pipefail
build=${1:-build}
tool=$build/tools/fedbundle
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/fb-sim-secure-XXXXXX")
trap 'rm -rf "$work"' EXIT
"$tool" datagen --preset small --seed 1 --out "$work/small" >/dev/null 2>&1
printf '%-4s %-6s %-20s %-9s\n' K round "U1/U2/U3/U4 of n" seconds
for k in ${FB_BENCH_K:-25 50 100}; do
	stage=$((300 * k))
	sed -e "s/\"retailers\": [0-9]*/\"retailers\": $k/" \
		-e "s/\"secagg_stage_ms\": [0-9]*/\"secagg_stage_ms\": $stage/" \
		-e "s/\"deadline_ms\": [0-9]*/\"deadline_ms\": $((3 * stage))/" \
		-e "s/\"rounds\": [0-9]*/\"rounds\": ${FB_BENCH_ROUNDS:-3}/" \
		"$here/docs/research/small-secure-dropout.json" >"$work/k$k.json"
	"$tool" simulate --config "$work/k$k.json" --out "$work/k$k" --processes \
		--quiet --scratch "$work/k$k-scratch" >/dev/null
	paste <(grep -o '"round": [0-9]*, "status": "[a-z]*"' "$work/k$k/rounds.jsonl") \
		<(grep -o '"secagg_parties": [0-9]*, "secagg_u": \[[0-9, ]*\]' "$work/k$k/rounds.jsonl") \
		<(grep -o '"wall_s": [0-9.]*' "$work/k$k/timing.jsonl") |
		sed 's/[^0-9a-z.\t ]//g; s/round //; s/status //; s/secaggparties //; s/secaggu //; s/walls //' |
		awk -F '\t' -v k="$k" '{ split($1, a, " "); split($2, u, " ");
			printf "%-4s %-6s %-20s %-9s %s\n", k, a[1],
				u[2] "/" u[3] "/" u[4] "/" u[5] " of " u[1], $3, a[2] }'
	awk -v k="$k" -F '[:,] *' '{ for (i = 1; i < NF; i++) v[$i] = $(i + 1) }
		END { printf "K %s: %s of %s rounds committed, aggregator peak RSS %.1f MiB, largest process %.1f MiB, final Recall@20 %s\n",
			k, v["\"committed\""], v["\"rounds\""], v["\"aggregator_peak_rss_kb\""] / 1024,
			v["\"peak_rss_kb\""] / 1024, v["\"final_recall@20\""] }' "$work/k$k/summary.json"
done
