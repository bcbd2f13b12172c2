#!/usr/bin/env bash
# bench/bench-federation.sh [BUILD_DIR]: the issue-4 round-overhead figure.
# One aggregator and 16 client processes over tcp:// loopback on a
# synthetic catalogue of 100,000 items (fedbundle datagen --preset small
# --items 100000), d = 64: a 100k x 64 item model, 25.6 MB per tensor;
# non-private, 6 rounds, one local batch of 64 users per round (so client
# training stays small beside the transfer). From the aggregator's
# per-round JSON lines and the clients' "cpu s:" log lines (rounds 3-6:
# round 1 starts cold, and in round 2 the clients' heaps still grow) it
# prints the time spent sealing and opening on both sides, checking and
# summing, the clients' other per-round work, and the rest of the round
# (transport and waiting), each beside the machine's limit for the same
# bytes where there is one: libsodium's XChaCha20-Poly1305 and the
# buffered sum from bench-machine, and the transport from bench-transport
# (fedbundle's NNG transport, 25.6 MB request + reply on loopback), each
# the faster of a measurement before and one after the federation. The
# round's overhead is the round minus the clients' training and
# evaluation, against the sum of those limits. Build with
# --buildtype=release.
# With taskset and at least 2 CPUs, the aggregator gets CPU 0 and the
# clients the others (FB_BENCH_PIN=0 turns this off): its timings are then
# its own work, not time it waited for a core the clients held.
# FB_BENCH_CLIENTS=N runs N clients instead of 16, FB_BENCH_ROUNDS=R
# R rounds (at least 3) instead of 6.
set -euo pipefail
build=${1:-build}
tool=$build/tools/fedbundle
server=$build/server/fedbundle-server
client=$build/client/fedbundle-client
work=$(mktemp -d "${TMPDIR:-/tmp}/fb-bench-fed-XXXXXX")
pids=()
trap 'for p in "${pids[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
n=${FB_BENCH_CLIENTS:-16}
rounds=${FB_BENCH_ROUNDS:-6}
port=$((30000 + $$ % 20000))

# The limits are measured before and after the federation, and each is
# the faster of the two: this VM's speed varies from minute to minute,
# and a slow minute must not pass for the machine's limit.
measure_limits() { # measure_limits N
	"$build/bench/bench-machine" --json >"$work/machine.$1.json"
	"$build/bench/bench-transport" --size 25.6 --json >"$work/transport.$1.json"
}
echo "machine limits (bench-machine, bench-transport)..." >&2
measure_limits 1

echo "data: 100k items, $n retailers..." >&2
"$tool" datagen --preset small --items 100000 --seed 1 --out "$work/data" >/dev/null 2>&1
"$tool" partition --data "$work/data" --retailers "$n" --out "$work/parts" --seed 1 --iid >/dev/null 2>&1
mkdir -p "$work/catalog" "$work/keys"
cp "$work/data/bundle_item.txt" "$work/data/item_attr.txt" "$work/catalog/"
size=$(ls "$work/data/"*_data_size.txt)
awk -F '\t' 'BEGIN { OFS = "\t" } { $1 = 0; print }' "$size" >"$work/catalog/$(basename "$size")"
for f in train tune test; do : >"$work/catalog/user_bundle_$f.txt"; done
"$tool" keygen --out "$work/keys/aggregator" --name aggregator >/dev/null 2>&1
: >"$work/roster.txt"
for ((i = 0; i < n; i++)); do
	"$tool" keygen --out "$work/keys/r$i" --name "retailer-$i" >/dev/null 2>&1
	cat "$work/keys/r$i.pub" >>"$work/roster.txt"
	cat >"$work/policy-$i.json" <<EOP
{"data": "parts/$(printf retailer-%02d "$i")", "server_url": "tcp://127.0.0.1:$port",
 "users": $(cut -f1 "$work/parts/$(printf retailer-%02d "$i")"/*_data_size.txt),
 "server_key": "keys/aggregator.pub", "key": "keys/r$i.key", "state_dir": "state-$i",
 "allow_none": true, "give_up_ms": 600000, "request_timeout_ms": 600000}
EOP
done
cat >"$work/server.json" <<EOF2
{"listen": "tcp://127.0.0.1:$port", "key": "keys/aggregator.key", "roster": "roster.txt",
 "catalog": "catalog", "checkpoint_dir": "checkpoint", "rounds": $rounds, "quorum": $n,
 "min_clients": $n, "deadline_ms": 600000, "retry_after_ms": 100, "linger_ms": 3000,
 "public_init": false,
 "round": {"granularity": "none", "dim": 64, "local_steps": 1, "batch_users": 64,
  "report_eval": false}}
EOF2
pin_server=()
pin_clients=()
if [ "${FB_BENCH_PIN:-1}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	pin_server=(taskset -c 0)
	pin_clients=(taskset -c "1-$(($(nproc) - 1))")
fi
echo "federation: $n clients x $rounds rounds (pinned: ${pin_server[*]:-no})..." >&2
"${pin_server[@]}" "$server" --config "$work/server.json" --metrics-out "$work/metrics.jsonl" --quiet \
	>"$work/server.out" 2>"$work/server.err" &
spid=$!
pids+=("$spid")
for ((i = 0; i < n; i++)); do
	"${pin_clients[@]}" "$client" run --policy "$work/policy-$i.json" >/dev/null 2>"$work/client-$i.err" &
	pids+=("$!")
done
hwm=0
while kill -0 "$spid" 2>/dev/null; do
	h=$(awk '/^VmHWM/ { print $2 }' "/proc/$spid/status" 2>/dev/null || echo 0)
	[ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
	sleep 0.2
done
wait "$spid"
echo "machine limits again..." >&2
measure_limits 2

field() { # field KEY: the mean of a JSON number over rounds 3 and later
	awk -F "\"$1\": " 'NR >= 3 { split($2, a, /[,}]/); s += a[1]; k++ } END { printf "%.4f", s / k }' "$work/metrics.jsonl"
}
limit() { # limit NAME KEY: a bench figure's median, GB/s, the faster of
	# the two measurements
	cat "$work/$1".[12].json | awk -F "\"$2\": {\"median\": " '
		{ split($2, a, ","); if (a[1] + 0 > best) best = a[1] + 0 }
		END { print best }'
}
bin=$(field bytes_in)
bout=$(field bytes_out)
seal=$(field seal_s)
open=$(field open_s)
agg=$(field aggregation_s)
commit=$(field commit_s)
coll=$(field collection_s)
aead_seal=$(limit machine xchacha20poly1305_seal)
aead_open=$(limit machine xchacha20poly1305_open)
sumbw=$(limit machine sum_10_vectors_per_arrival)
nng=$(limit transport nng_tcp_loopback)
# The clients' CPU seconds per stage (their "cpu s:" log line), summed
# over the clients, mean of rounds 3 and later.
clients=$(grep -h "cpu s:" "$work"/client-*.err | awk -v rounds="$rounds" '{
	r = 0
	for (i = 1; i <= NF; i++) if ($i == "round") r = $(i + 1) + 0
	if (r < 3) next
	for (i = 1; i < NF; i++) if ($i ~ /^(open|decode|prepare|train|eval|encode|seal|save)$/) s[$i] += $(i + 1)
} END { for (k in s) printf "-v c_%s=%.4f ", k, s[k] / (rounds - 2) }')
# shellcheck disable=SC2086 # $clients is a list of awk -v assignments
awk -v bin="$bin" -v bout="$bout" -v seal="$seal" -v open="$open" -v agg="$agg" \
	-v commit="$commit" -v coll="$coll" -v as="$aead_seal" -v ao="$aead_open" \
	-v sb="$sumbw" -v nng="$nng" -v hwm="$hwm" -v n="$n" -v rounds="$rounds" $clients \
	-v pin="${pin_server:+aggregator on CPU 0, clients on the others}" 'BEGIN {
	sum = agg - open
	work = c_train + c_eval
	client = c_open + c_decode + c_prepare + c_encode + c_seal + c_save
	printf "round overhead, %d clients, 100000 x 64 items (25.6 MB per model tensor), means of rounds 3-%d\n", n, rounds
	printf "bytes per round: %.1f MB in (UPDATEs), %.1f MB out (PLANs)\n", bin / 1e6, bout / 1e6
	printf "| stage | time per round (s) | achieved (GB/s) | machine limit (GB/s) | time at the limit (s) |\n"
	printf "|---|---:|---:|---:|---:|\n"
	printf "| aggregator: sealing PLANs (XChaCha20-Poly1305) | %.3f | %.3f | %.3f | %.3f |\n", seal, bout / seal / 1e9, as, bout / as / 1e9
	printf "| aggregator: opening UPDATEs | %.3f | %.3f | %.3f | %.3f |\n", open, bin / open / 1e9, ao, bin / ao / 1e9
	printf "| aggregator: checking + summing UPDATEs | %.3f | %.3f | %.3f | %.3f |\n", sum, bin / sum / 1e9, sb, bin / sb / 1e9
	printf "| clients: opening PLANs | %.3f | %.3f | %.3f | %.3f |\n", c_open, bout / c_open / 1e9, ao, bout / ao / 1e9
	printf "| clients: sealing UPDATEs | %.3f | %.3f | %.3f | %.3f |\n", c_seal, bin / c_seal / 1e9, as, bin / as / 1e9
	printf "| clients: decoding PLANs, model copies, trainer restart | %.3f | | | |\n", c_decode + c_prepare
	printf "| clients: checking and encoding UPDATEs | %.3f | | | |\n", c_encode
	printf "| clients: saving the state (fsync) | %.3f | | | |\n", c_save
	if (pin != "") {
		printf "| transport (NNG tcp loopback, in + out) and waiting | %.3f (round - the clients\x27 CPU) | | %.3f | %.3f |\n", coll - client - work, nng, (bin + bout) / nng / 1e9
	} else {
		printf "| transport (NNG tcp loopback, in + out) and waiting | (not separable: clients on both cores) | | %.3f | %.3f |\n", nng, (bin + bout) / nng / 1e9
	}
	printf "| commit (optimizer + checkpoint), after the round | %.3f | | | |\n", commit
	limits = bout / as / 1e9 + bin / ao / 1e9 + bin / sb / 1e9 + bout / ao / 1e9 + bin / as / 1e9 + (bin + bout) / nng / 1e9
	printf "round (collection) %.3f s; the clients\x27 training %.3f s and evaluation %.3f s (CPU, %d clients on one core); aggregator VmHWM %d kB; %s\n", coll, c_train, c_eval, n, hwm, pin
	if (pin == "") {
		printf "unpinned: the clients run on both cores, so their CPU does not add up on the round\x27s critical path and the overhead is not round - training (sum of the limits %.3f s)\n", limits
		exit
	}
	printf "round overhead = round - training - evaluation = %.3f s; sum of the limits (sealing, opening, summing, transport) = %.3f s: %.2fx\n", coll - work, limits, (coll - work) / limits
	printf "the clients share one core, so their CPU adds up on the round\x27s critical path; the aggregator\x27s stages run beside them on the other core.\n"
}'
