#!/usr/bin/env bash
# tests/integration/test-fed-load.sh: one aggregator against 4, 16 and 64
# client processes over tcp:// on loopback (the toy consortium split
# IID; non-private; 3 rounds, quorum = all, local_epochs 1). Every round
# must commit with every client's update. Reported per size: the
# aggregator's peak resident memory (VmHWM, sampled from /proc while it
# runs), its mean round time (collection) and aggregation time. The
# aggregator sums updates as they arrive (memory O(model), not
# O(clients x model)), and with 2 upload and 2 download slots at most 2
# updates and 2 sealed models are in flight (wire-v1 §5.2), so its peak
# should not grow with the number of clients beyond their sessions:
# (VmHWM(64) - VmHWM(4)) / 60 must stay below a quarter of the largest
# message (it was about one message per client before the slots). The
# figures go to $FB_LOAD_REPORT when set (docs/benchmarks-federation.md).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-hard.sh"

"$FB_TOOL" datagen --preset toy --seed 1 --out "$WORK/data" >/dev/null 2>&1
mkdir -p "$WORK/catalog" "$WORK/keys"
cp "$WORK/data/bundle_item.txt" "$WORK/data/item_attr.txt" "$WORK/catalog/"
size=$(ls "$WORK/data/"*_data_size.txt)
awk -F '\t' 'BEGIN { OFS = "\t" } { $1 = 0; print }' "$size" >"$WORK/catalog/$(basename "$size")"
for f in train tune test; do : >"$WORK/catalog/user_bundle_$f.txt"; done
"$FB_TOOL" keygen --out "$WORK/keys/aggregator" --name aggregator >/dev/null 2>&1
for ((i = 0; i < 64; i++)); do
	"$FB_TOOL" keygen --out "$WORK/keys/retailer-$i" --name "retailer-$i" >/dev/null 2>&1
done
PORT=$(test_port)
report=()

run_size() {
	local n=$1 i
	rm -rf "$WORK/parts" "$WORK/checkpoint" "$WORK"/state-* "$WORK/metrics.jsonl"
	"$FB_TOOL" partition --data "$WORK/data" --retailers "$n" --out "$WORK/parts" \
		--seed 1 --iid >/dev/null 2>&1
	: >"$WORK/roster.txt"
	for ((i = 0; i < n; i++)); do cat "$WORK/keys/retailer-$i.pub" >>"$WORK/roster.txt"; done
	SOCK="tcp://127.0.0.1:$PORT" server_config 3 "$n" 120000 \
		'{"granularity": "none", "local_epochs": 1}' "\"min_clients\": $n, \"contexts\": 32, \"upload_slots\": 2, \"download_slots\": 2"
	for ((i = 0; i < n; i++)); do
		local d
		d=$(printf "retailer-%02d" "$i")
		cat >"$WORK/policy-$i.json" <<EOP
{"data": "parts/$d", "server_url": "tcp://127.0.0.1:$PORT",
 "users": $(declared_users "$WORK/parts/$d"),
 "server_key": "keys/aggregator.pub", "key": "keys/retailer-$i.key",
 "state_dir": "state-$i", "allow_none": true,
 "give_up_ms": 120000, "request_timeout_ms": 60000}
EOP
	done
	start_server ".$n"
	local spid=$SERVER_PID
	for ((i = 0; i < n; i++)); do start_client "$i" ".$n"; done
	local hwm=0 h t=0
	while kill -0 "$spid" 2>/dev/null && [ "$t" -lt $((3000 * TIME_SCALE)) ]; do
		h=$(awk '/^VmHWM/ { print $2 }' "/proc/$spid/status" 2>/dev/null || echo 0)
		[ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
		sleep 0.1
		t=$((t + 1))
	done
	wait_exit "$spid" 10
	check "$n clients: the aggregator finished" test "$RC" = 0
	local bad=0
	for ((i = 0; i < n; i++)); do
		wait_exit "${CLIENT_PID[$i]}" 60
		[ "$RC" = 0 ] || bad=$((bad + 1))
	done
	check "$n clients: every client finished" test "$bad" = 0
	check "$n clients: 3 rounds committed with $n updates each" test \
		"$(grep -c "\"status\": \"committed\".*\"updates\": $n," "$WORK/metrics.jsonl")" = 3
	# Every update was sent after a granted upload slot, and never more
	# than upload_slots (2 here) were held at once.
	check "$n clients: every update asked for an upload slot" awk -v n="$n" -F '"upload_grants": ' \
		'{ split($2, a, ","); if (a[1] + 0 < n) bad = 1 } END { exit bad }' "$WORK/metrics.jsonl"
	check "$n clients: at most 2 upload slots held at once" awk -F '"uploads_peak": ' \
		'{ split($2, a, /[,}]/); if (a[1] + 0 > 2 || a[1] + 0 < 1) bad = 1 } END { exit bad }' "$WORK/metrics.jsonl"
	# Every PLAN TRAIN took a download slot, never more than 2 at once.
	check "$n clients: every model sent took a download slot" awk -v n="$n" -F '"download_grants": ' \
		'{ split($2, a, ","); if (a[1] + 0 < n) bad = 1 } END { exit bad }' "$WORK/metrics.jsonl"
	check "$n clients: at most 2 download slots held at once" awk -F '"downloads_peak": ' \
		'{ split($2, a, /[,}]/); if (a[1] + 0 > 2 || a[1] + 0 < 1) bad = 1 } END { exit bad }' "$WORK/metrics.jsonl"
	local waits dwaits
	waits=$(awk -F '"upload_waits": ' '{ split($2, a, ","); s += a[1] } END { print s + 0 }' "$WORK/metrics.jsonl")
	dwaits=$(awk -F '"download_waits": ' '{ split($2, a, ","); s += a[1] } END { print s + 0 }' "$WORK/metrics.jsonl")
	echo "# $n clients: $waits upload requests and $dwaits polls for the model told to wait over 3 rounds"
	WAITS[$n]="$waits | $dwaits"
	local round agg maxmsg
	round=$(awk -F '"collection_s": ' '{ split($2, a, ","); s += a[1]; n++ } END { printf "%.3f", s / n }' "$WORK/metrics.jsonl")
	agg=$(awk -F '"aggregation_s": ' '{ split($2, a, ","); s += a[1]; n++ } END { printf "%.4f", s / n }' "$WORK/metrics.jsonl")
	maxmsg=$(grep -o "largest message [0-9.]* MB" "$WORK/server.$n.err" | awk '{ print $3 }')
	echo "# $n clients: aggregator VmHWM $hwm kB, mean round $round s, aggregation $agg s per round, largest message $maxmsg MB"
	HWM[$n]=$hwm
	MAXMSG=$maxmsg
	report+=("| $n | $hwm | $round | $agg | ${WAITS[$n]} |")
}
declare -A HWM WAITS
run_size 4
run_size 16
run_size 64
per=$(((${HWM[64]} - ${HWM[4]}) / 60))
limit=$(awk -v m="$MAXMSG" 'BEGIN { printf "%d", m * 1000 / 4 }')
echo "# growth 4 -> 64 clients: $per kB per extra client (allowed: $limit kB)"
check_memory "memory grows by less than a quarter message per client" test "$per" -le "$limit"
if [ -n "${FB_LOAD_REPORT:-}" ]; then
	{
		echo "| clients | aggregator VmHWM (kB) | mean round (s) | aggregation per round (s) | upload waits | download waits |"
		echo "|---:|---:|---:|---:|---:|---:|"
		printf '%s\n' "${report[@]}"
		echo
		echo "Growth from 4 to 64 clients: $per kB per extra client (largest message $MAXMSG MB)."
	} >"$FB_LOAD_REPORT"
fi
finish
