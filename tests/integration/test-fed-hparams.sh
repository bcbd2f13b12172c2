#!/usr/bin/env bash
# tests/integration/test-fed-hparams.sh: the training hyper-parameters are
# checked once, by the same rules, wherever they come from (issue 12,
# include/fedbundle/model/hparams.h). fedbundle-server used to start with
# "dim": 8, "bundle_rank": 64, abandon every round on "cannot build PLAN:
# invalid argument" and exit 0; it must refuse to start, naming the file
# and the key, as the simulation does for the same round section. A valid
# configuration still runs its round.
source "$(dirname "$0")/lib.sh"

fed_data 1
# refuses PATTERN COMMAND...: COMMAND exits non-zero (not by the timeout)
# and its output holds PATTERN.
refuses() {
	local pattern=$1 rc=0
	shift
	timeout $((20 * TIME_SCALE)) "$@" >"$WORK/refused.out" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
		echo "# exit status $rc (124: still running after 20 s); output:"
		sed 's/^/#   /' "$WORK/refused.out"
		return 1
	fi
	if ! grep -q -- "$pattern" "$WORK/refused.out"; then
		sed 's/^/# got: /' "$WORK/refused.out"
		return 1
	fi
	sed 's/^/# /' "$WORK/refused.out"
}

round='{"granularity": "none", "local_epochs": 1, "dim": 8, "bundle_rank": 64}'
server_config 1 1 2000 "$round"
check "server: bundle_rank over dim refused at start, naming the key" \
	refuses "server.json: round.bundle_rank: 64 is more than dim (8)" \
	"$FB_SERVER" --config "$WORK/server.json"

round='{"granularity": "none", "local_epochs": 1, "dim": 1, "bias": true}'
server_config 1 1 2000 "$round"
check "server: bias with dim 1 refused at start, naming the key" \
	refuses "server.json: round.dim: must be at least 2 with bias" \
	"$FB_SERVER" --config "$WORK/server.json"

printf '%s\n' '{"data": "data", "retailers": 1, "privacy": "none",
 "round": {"local_epochs": 1, "dim": 8, "bundle_rank": 64}}' >"$WORK/sim.json"
check "simulate: the same check, the same words" \
	refuses "sim.json: round.bundle_rank: 64 is more than dim (8)" \
	"$FB_TOOL" simulate --config "$WORK/sim.json" --out "$WORK/sim"

# A valid round section still runs (bundle_rank equal to dim: all).
round='{"granularity": "none", "local_epochs": 1, "dim": 8, "bundle_rank": 8}'
server_config 1 1 20000 "$round"
policy 0
start_server
start_client 0
rc=0
wait_pid "$SERVER_PID" 60 || rc=$?
check "server: bundle_rank equal to dim runs and exits 0" test "$rc" = 0
check "... having committed its round" \
	grep -q '"status": "committed"' "$WORK/metrics.jsonl"
wait_pid "${CLIENT_PID[0]}" 30 || true
finish
