#!/usr/bin/env bash
# tests/integration/test-fed-bound.sh: one enrolled client must not be able
# to break the model (issue 11, protocols/wire-v1.md §5.4, §9.7). Four
# honest clients train under user-level DP (SGD at lr 20, items frozen, 8
# bundle columns and the bias: the shape of the DP defaults) for 6 rounds,
# with mallory (tests/integration/mallory.c --hostile) enrolled beside
# them. Round 1: mallory sends tensors that hold a finite 3e38 (two such
# updates made the committed model +infinity before); round 2: the plan's
# clip and sigma claims, but twice the bound an honest update can reach;
# round 3: the same at 0.9 of the bound. The first two must be refused with
# over-bound (log, ACK, metrics), the third counted; every round must
# commit with the honest updates, every committed model move must be
# finite, the checkpoint must hold a finite model, and the honest clients
# must finish. Prints each round's bound, its largest counted update and
# how far the commit moved the model.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-hard.sh"
: "${FB_MALLORY:?set by meson test}"

fed_data 4
round='{"granularity": "user", "q": 0.5, "local_steps": 2,
 "noise_multiplier": 1.0, "clip": 1.0, "delta": 1e-5, "optimizer": "sgd",
 "lr": 20, "l2": 6e-4, "train_items": false, "bias": true, "bundle_rank": 8,
 "dim": 16}'
for i in 0 1 2 3; do hard_policy "$i" '"epsilon": 1000'; done
"$FB_TOOL" keygen --out "$WORK/keys/mallory" --name mallory >/dev/null 2>&1
cat "$WORK/keys/mallory.pub" >>"$WORK/roster.txt"
# Rounds 1-3 wait for mallory (5 clients); once it has paused, each round
# is planned with the 4 others after plan_wait_ms.
PLAN_WAIT_MS=1500 server_config 6 4 30000 "$round" '"min_clients": 5'
echo "# min_users $(min_declared); the retailers declare $(for i in 0 1 2 3; do declared_users "$WORK/parts/retailer-0$i"; done | tr '\n' ' ')"
start_server
for i in 0 1 2 3; do start_client "$i"; done
"$FB_MALLORY" --hostile "$SOCK" "$WORK/keys/aggregator.pub" "$WORK/keys/mallory.key" \
	"huge,overbound,within" >"$WORK/mallory.out" 2>&1 &
MALLORY_PID=$!
PIDS+=("$MALLORY_PID")
wait_exit "$MALLORY_PID" 120
sed 's/^/# mallory: /' "$WORK/mallory.out"
check "mallory: 3e38 and twice the bound refused with over-bound, 0.9 of it counted" test "$RC" = 0
wait_exit "$SERVER_PID" 150
check "the aggregator finished its run" test "$RC" = 0
for i in 0 1 2 3; do
	wait_exit "${CLIENT_PID[$i]}" 30
	check "honest client $i finished" test "$RC" = 0
done

log="$WORK/server.err"
{ grep "refused UPDATE from mallory\|an update is refused above" "$log" || true; } | sed 's/^/# /'
check "log: round 1's 3e38 update refused over-bound" grep -q \
	"refused UPDATE from mallory (round 1): over-bound: update norm" "$log"
check "log: round 2's update at twice the bound refused over-bound" grep -q \
	"refused UPDATE from mallory (round 2): over-bound: update norm" "$log"
check "metrics: mallory rejected for over-bound in rounds 1 and 2" test \
	"$(client_field 1 mallory reason) $(client_field 2 mallory reason)" = "over-bound over-bound"
check "metrics: mallory's update counted in round 3" test "$(client_field 3 mallory status)" = update
check "6 rounds committed" test "$(grep -c '"status": "committed"' "$WORK/metrics.jsonl")" -eq 6
for r in 1 2 3 4 5 6; do
	want=4
	[ "$r" = 3 ] && want=5
	check "round $r counted $want updates" test "$(metric "$r" updates)" = "$want"
done
bad=0
for r in 1 2 3 4 5 6; do
	b=$(metric "$r" update_bound)
	l=$(metric "$r" largest_update)
	m=$(metric "$r" model_move)
	echo "# round $r: bound $b, largest counted update $l, the commit moved the model by $m"
	awk -v b="$b" -v l="$l" -v m="$m" 'BEGIN { exit !(b + 0 > 0 && l + 0 <= b + 0 && m + 0 >= 0 && m + 0 < 1e30) }' || bad=$((bad + 1))
done
check "every round: the largest counted update within the bound, a finite move" test "$bad" = 0
honest=$(for r in 1 2 4 5 6; do metric "$r" model_move; done | awk '{ s += $1; n++ } END { printf "%.4g", s / n }')
echo "# mean move of the rounds without mallory's update: $honest; round 3 (0.9 of the bound from mallory, /5): $(metric 3 model_move)"
read -r n nonfinite largest < <(tfile_finite "$WORK/checkpoint/checkpoint.fbc")
echo "# checkpoint: $n elements, $nonfinite non-finite, largest |x| $largest"
check "the checkpoint holds a finite model" test "$n" -gt 0 -a "$nonfinite" = 0
check "and no coordinate beyond max_model_abs (1e4)" awk -v x="$largest" 'BEGIN { exit !(x <= 1e4) }'
finish
