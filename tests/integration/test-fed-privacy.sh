#!/usr/bin/env bash
# tests/integration/test-fed-privacy.sh: what a curious aggregator sees.
# Two real clients with very different data (a skewed Dirichlet split of
# the toy consortium: different sizes and tastes) answer a fake aggregator
# (tests/integration/curious.c) that inspects their UPDATEs: both have
# exactly the same size, and under user-level DP every coordinate is
# noised, so an item none of the client's users touched has no zero
# coordinate, while the non-private control round leaves such items'
# deltas exactly zero (the check can fail).
# Then secure aggregation (protocols/secagg-v1.md): three real clients
# answer an honest but curious aggregator (tests/integration/sneaky.c
# --curious) twice, over the same model and data, fresh states each
# time. What it sees of each retailer, the masked input, passes a
# chi-square test of byte uniformity (the unmasked sum fails it), and is
# uncorrelated with the sum the other run unmasked, while the two runs'
# sums are clearly correlated: a plaintext release would be caught.
source "$(dirname "$0")/lib.sh"
: "${FB_CURIOUS:?set by meson test}"
: "${FB_SNEAKY:?set by meson test}"

fed_data 2 --alpha 0.1 --seed 3
for i in 0 1; do policy "$i" '"epsilon": 10, "delta": 1e-5'; done
"$FB_CURIOUS" "$SOCK" "$WORK/keys/aggregator.key" "$WORK/roster.txt" \
	"$WORK/parts/retailer-00" "$WORK/parts/retailer-01" >"$WORK/curious.out" 2>&1 &
CURIOUS_PID=$!
PIDS+=("$CURIOUS_PID")
for i in 0 1; do start_client "$i"; done
check "the curious aggregator's checks hold" wait_pid "$CURIOUS_PID" 150
sed 's/^/# curious: /' "$WORK/curious.out"
for i in 0 1; do
	check "client $i finished" wait_pid "${CLIENT_PID[$i]}" 30
done

rm -rf "$WORK/parts" "$WORK/keys" "$WORK"/state-*
fed_data 3
for i in 0 1 2; do
	policy "$i" '"epsilon": 1e6, "delta": 1e-5, "roster": "roster.txt",
 "min_noise_multiplier": 0.01,
 "secure_aggregation": "require"'
done
curious_secure() { # curious_secure RUN [PREV_SUM]
	rm -rf "$WORK"/state-*
	"$FB_SNEAKY" --curious "$SOCK" "$WORK/keys/aggregator.key" \
		"$WORK/roster.txt" "$WORK/parts/retailer-00" \
		"$WORK/sum-$1.txt" ${2:+"$2"} >"$WORK/curious-$1.out" 2>&1 &
	CURIOUS_PID=$!
	PIDS+=("$CURIOUS_PID")
	for i in 0 1 2; do start_client "$i" ".$1"; done
	check "secure run $1: the curious aggregator's checks hold" \
		wait_pid "$CURIOUS_PID" 120
	sed "s/^/# curious $1: /" "$WORK/curious-$1.out"
	for i in 0 1 2; do
		check "secure run $1: client $i finished" \
			wait_pid "${CLIENT_PID[$i]}" 30
	done
}
curious_secure a
curious_secure b "$WORK/sum-a.txt"
finish
