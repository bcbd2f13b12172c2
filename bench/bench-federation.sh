#!/usr/bin/env bash
# bench/bench-federation.sh [BUILD_DIR]: the issue-4 round-overhead figure.
# One aggregator and 16 client processes over tcp:// loopback on a
# synthetic catalogue of 100,000 items (fedbundle datagen --preset small
# --items 100000), d = 64: a 100k x 64 item model, 25.6 MB per tensor;
# non-private, 3 rounds, one local batch of 64 users per round (so client
# training stays small beside the transfer). From the aggregator's
# per-round JSON lines (rounds 2-3) it prints the time spent sealing
# (PLANs), opening (UPDATEs), checking and summing, and committing, each
# beside the machine's limit for the same bytes: libsodium's
# XChaCha20-Poly1305 and the buffered sum from bench-machine, and the
# transport from bench-transport (fedbundle's NNG transport, 25.6 MB
# request + reply on loopback). Build with --buildtype=release.
# With taskset and at least 2 CPUs, the aggregator gets CPU 0 and the
# clients the others (FB_BENCH_PIN=0 turns this off): its timings are then
# its own work, not time it waited for a core the clients held.
set -euo pipefail
build=${1:-build}
tool=$build/tools/fedbundle
server=$build/server/fedbundle-server
client=$build/client/fedbundle-client
work=$(mktemp -d "${TMPDIR:-/tmp}/fb-bench-fed-XXXXXX")
pids=()
trap 'for p in "${pids[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
n=16
port=$((30000 + $$ % 20000))

echo "machine limits (bench-machine, bench-transport)..." >&2
"$build/bench/bench-machine" --json >"$work/machine.json"
"$build/bench/bench-transport" --size 25.6 --json >"$work/transport.json"

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
 "server_key": "keys/aggregator.pub", "key": "keys/r$i.key", "state_dir": "state-$i",
 "allow_none": true, "give_up_ms": 600000, "request_timeout_ms": 600000}
EOP
done
cat >"$work/server.json" <<EOF2
{"listen": "tcp://127.0.0.1:$port", "key": "keys/aggregator.key", "roster": "roster.txt",
 "catalog": "catalog", "checkpoint_dir": "checkpoint", "rounds": 3, "quorum": $n,
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
echo "federation: $n clients x 3 rounds (pinned: ${pin_server[*]:-no})..." >&2
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

field() { # field KEY: the mean of a JSON number over rounds 2-3
	awk -F "\"$1\": " 'NR >= 2 { split($2, a, /[,}]/); s += a[1]; k++ } END { printf "%.4f", s / k }' "$work/metrics.jsonl"
}
limit() { # limit FILE KEY: the median of a bench figure, GB/s
	awk -F "\"$2\": {\"median\": " '{ split($2, a, ","); print a[1] }' "$1"
}
bin=$(field bytes_in)
bout=$(field bytes_out)
seal=$(field seal_s)
open=$(field open_s)
agg=$(field aggregation_s)
commit=$(field commit_s)
coll=$(field collection_s)
aead_seal=$(limit "$work/machine.json" xchacha20poly1305_seal)
aead_open=$(limit "$work/machine.json" xchacha20poly1305_open)
sumbw=$(limit "$work/machine.json" sum_10_vectors_per_arrival)
nng=$(limit "$work/transport.json" nng_tcp_loopback)
train=$(grep -ho "local steps in [0-9.]*s" "$work"/client-*.err | awk '{ gsub("s", "", $4); if ($4 > m) m = $4 } END { print m + 0 }')
awk -v bin="$bin" -v bout="$bout" -v seal="$seal" -v open="$open" -v agg="$agg" \
	-v commit="$commit" -v coll="$coll" -v as="$aead_seal" -v ao="$aead_open" \
	-v sb="$sumbw" -v nng="$nng" -v hwm="$hwm" -v train="$train" -v n="$n" \
	-v pin="${pin_server:+aggregator on CPU 0, clients on the others}" 'BEGIN {
	sum = agg - open
	other = coll - seal - open - sum
	printf "round overhead, %d clients, 100000 x 64 items (25.6 MB per model tensor), means of rounds 2-3\n", n
	printf "bytes per round: %.1f MB in (UPDATEs), %.1f MB out (PLANs)\n", bin / 1e6, bout / 1e6
	printf "| stage | time per round (s) | achieved (GB/s) | machine limit (GB/s) | time at the limit (s) |\n"
	printf "|---|---:|---:|---:|---:|\n"
	printf "| sealing PLANs (XChaCha20-Poly1305) | %.3f | %.3f | %.3f | %.3f |\n", seal, bout / seal / 1e9, as, bout / as / 1e9
	printf "| opening UPDATEs | %.3f | %.3f | %.3f | %.3f |\n", open, bin / open / 1e9, ao, bin / ao / 1e9
	printf "| checking + summing UPDATEs | %.3f | %.3f | %.3f | %.3f |\n", sum, bin / sum / 1e9, sb, bin / sb / 1e9
	printf "| transport (NNG tcp loopback, in + out) | %.3f (rest of the round, see below) | | %.3f | %.3f |\n", other, nng, (bin + bout) / nng / 1e9
	printf "| commit (optimizer + checkpoint) | %.3f | | | |\n", commit
	printf "round (collection) %.3f s; slowest client local batch %.3f s; aggregator VmHWM %d kB; %s\n", coll, train, hwm, pin
	printf "\"rest of the round\" = collection - sealing - opening - summing: transport, the clients\x27 work (opening the PLAN, copying the model, one batch, sealing the UPDATE) and waiting; the clients run 16 processes on the same 2 cores.\n"
}'
