#!/usr/bin/env bash
# tests/integration/test-fed-privacy.sh: what a curious aggregator sees.
# Two real clients with very different data (a skewed Dirichlet split of
# the toy consortium: different sizes and tastes) answer a fake aggregator
# (tests/integration/curious.c) that inspects their UPDATEs: both have
# exactly the same size, and under user-level DP every coordinate is
# noised, so an item none of the client's users touched has no zero
# coordinate, while the non-private control round leaves such items'
# deltas exactly zero (the check can fail).
source "$(dirname "$0")/lib.sh"
: "${FB_CURIOUS:?set by meson test}"

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
finish
