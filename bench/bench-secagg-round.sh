#!/usr/bin/env bash
# bench/bench-secagg-round.sh [BUILD_DIR]: the issue-13 figure "round
# overhead with secure aggregation against the plain round, 16 clients,
# the 27 MB model". The data of bench-federation.sh (fedbundle datagen
# --preset small --items 100000: a 100k x 64 item model, 25.6 MB per
# tensor, 27.4 MB with bundles and attributes), user-level DP with the
# item factors trained (so the release is the whole 6.4M-coordinate
# model: a 25.8 MB float UPDATE in the plain round, a 38.7 MB masked
# input in the secure one, in the Z_(2^48) the aggregator picks for
# fedbundle's grid; 51.5 MB in Z_(2^64)), one release per round from a small
# Poisson sample (q 0.02: training stays small beside the rest), public
# init off. Two runs of `fedbundle simulate --processes` (16 client
# processes and the aggregator over tcp loopback), the same but for
# round.secure_aggregation. From the processes' timestamped logs, per
# round (means of rounds 2 and later: round 1 starts cold): the round,
# the secure round's stages (advertisements, shares, training + masking,
# masked uploads until the unmask request, unmask + commit), the clients'
# masking and the aggregator's reconstruction and mask removal, each
# beside the ChaCha20 keystream limit of bench-machine for its keystream
# (b/8 bytes a coordinate and mask, b the ring the aggregator logged) (the faster of one
# measurement before and one after). FB_BENCH_CLIENTS, FB_BENCH_ROUNDS
# (default 16, 4); FB_BENCH_KEEP=DIR keeps the two runs' logs and
# timing.jsonl there. Build with --buildtype=release.
set -euo pipefail
build=${1:-build}
tool=$build/tools/fedbundle
n=${FB_BENCH_CLIENTS:-16}
rounds=${FB_BENCH_ROUNDS:-4}
work=$(mktemp -d "${TMPDIR:-/tmp}/fb-bench-secround-XXXXXX")
keep=${FB_BENCH_KEEP:-}
trap 'if [ -n "$keep" ]; then mkdir -p "$keep" && cp "$work"/*.log "$keep"/ &&
	for m in plain secure; do cp "$work/$m/timing.jsonl" "$keep/$m.timing.jsonl"; done; fi
	rm -rf "$work"' EXIT

echo "machine limits (bench-machine)..." >&2
"$build/bench/bench-machine" --json >"$work/machine.1.json"
echo "data: 100k items, $n retailers..." >&2
"$tool" datagen --preset small --items 100000 --seed 1 --out "$work/data" >/dev/null 2>&1
for mode in plain secure; do
	secure=false
	[ "$mode" = secure ] && secure=true
	cat >"$work/$mode.json" <<EOF2
{"data": "data", "retailers": $n, "rounds": $rounds, "privacy": "user",
 "epsilon": 8, "seed": 1, "accountant": "rdp",
 "server": {"public_init": false, "server_optimizer": "fedavg", "server_lr": 1},
 "round": {"optimizer": "sgd", "lr": 20, "bias": true, "train_items": true,
  "bundle_rank": 8, "q": 0.02, "clip": 1, "local_epochs": 0, "local_steps": 1,
  "delta": 1e-6, "dim": 64, "secure_aggregation": $secure,
  "secagg_stage_ms": 600000}}
EOF2
	echo "$mode: $n client processes x $rounds rounds..." >&2
	"$tool" simulate --config "$work/$mode.json" --out "$work/$mode" --processes \
		--quiet --log-level info --scratch "$work/$mode-scratch" \
		>/dev/null 2>"$work/$mode.log"
done
echo "machine limits again..." >&2
"$build/bench/bench-machine" --json >"$work/machine.2.json"
chacha=$(cat "$work"/machine.[12].json | awk -F '"chacha20_keystream": {"median": ' '
	NF > 1 { split($2, a, ","); if (a[1] + 0 > best) best = a[1] + 0 } END { print best }')
wall() { # wall MODE: mean round seconds, rounds 2 and later
	awk -F '"wall_s": ' 'NR >= 2 { split($2, a, ","); s += a[1]; k++ } END { printf "%.3f", s / k }' \
		"$work/$1/timing.jsonl"
}
echo "round overhead, $n clients, 100000 x 64 items, user-level DP (one release per round), means of rounds 2-$rounds"
echo "plain round $(wall plain) s, secure round $(wall secure) s: $(awk -v a="$(wall secure)" -v b="$(wall plain)" 'BEGIN { printf "%.2fx", a / b }')"
# The clients' CPU per round (their "cpu s:" lines, summed over the
# clients, mean of rounds 2 and later), per stage, both rounds.
printf '| clients\x27 CPU per round, all %d (s) | plain | secure |\n|---|---:|---:|\n' "$n"
for mode in plain secure; do
	awk '/cpu s:/ { r = 0; for (i = 1; i < NF; i++) if ($i == "round") r = $(i + 1) + 0
		if (r < 2) next; rs[r] = 1
		for (i = 1; i < NF; i++) if ($i ~ /^(open|decode|prepare|train|eval|encode|seal|save)$/) s[$i] += $(i + 1) }
		END { k = length(rs); for (x in s) printf "%s %.3f\n", x, s[x] / k }' "$work/$mode.log" | sort >"$work/$mode.cpu"
done
join "$work/plain.cpu" "$work/secure.cpu" | awk '{ printf "| %s | %.3f | %.3f |\n", $1, $2, $3 }'
# The secure round's stages from the log's timestamps (seconds of the
# day), per round: planned, last peers verified, last inbox opened, last
# masked update built, unmasked; and per client the training and masking.
awk -v chacha="$chacha" -v rounds="$rounds" -v n="$n" '
function t(s,   h) { split(substr(s, 12, 12), h, ":"); return h[1] * 3600 + h[2] * 60 + h[3] }
function rnd(   i) { for (i = 1; i < NF; i++) if ($i == "round") return $(i + 1) + 0; return 0 }
{ r = rnd(); if (r < 2) next; ts = t($1) }
/ planned: / { t0[r] = ts }
/ring Z_\(2\^[0-9]+\)/ { match($0, /Z_\(2\^[0-9]+/); bits = substr($0, RSTART + 5, RLENGTH - 5) + 0 }
/peer advertisements verified/ { if (ts > adv[r]) adv[r] = ts }
/bundles of shares opened/ { if (ts > sh[r]) sh[r] = ts }
/release of [0-9]+ coordinates/ {
	if (ts > mk[r]) mk[r] = ts
	match($0, /release of [0-9]+/); len = substr($0, RSTART + 11, RLENGTH - 11) + 0
	match($0, /share \([0-9.]+s\)/); tr += substr($0, RSTART + 7, RLENGTH - 9); ntr++
	match($0, /masked with [0-9]+/); peers = substr($0, RSTART + 12, RLENGTH - 12) + 0
	match($0, /expansion [0-9.]+ s CPU/); ms += substr($0, RSTART + 10, RLENGTH - 16); nms++
}
/unmasked the sum/ {
	um[r] = ts
	match($0, /, [0-9.]+ s CPU\)/); rec += substr($0, RSTART + 2, RLENGTH - 8); nrec++
	match($0, /of [0-9]+ releases/); surv = substr($0, RSTART + 3, RLENGTH - 12) + 0
}
END {
	for (r = 2; r <= rounds; r++) {
		a += adv[r] - t0[r]; b += sh[r] - adv[r]; c += mk[r] - sh[r]; d += um[r] - mk[r]; k++
	}
	a /= k; b /= k; c /= k; d /= k; tr /= ntr; ms /= nms; rec /= nrec
	if (bits == 0) bits = 64 # before the ring choice: Z_(2^64)
	cb = (peers + 1) * len * bits / 8; ab = surv * len * bits / 8
	printf "| secure round stage (all clients) | seconds per round |\n|---|---:|\n"
	printf "| plan to the last SA_PEERS (plans out, advertisements) | %.3f |\n", a
	printf "| to the last SA_INBOX (shares sealed, routed, opened) | %.3f |\n", b
	printf "| to the last masked input built (training + noise + masking) | %.3f |\n", c
	printf "| to the sum unmasked (masked uploads, unmask request, shares revealed, reconstruction) | %.3f |\n", d
	printf "\n| the work of secure aggregation (CPU) | seconds per round | keystream | at the ChaCha20 limit (%.2f GB/s) |\n|---|---:|---:|---:|\n", chacha
	printf "| a client: masking (1 self + %d pairwise masks over %d coordinates in Z_(2^%d)) | %.3f | %.1f MB | %.3f |\n", peers, len, bits, ms, cb / 1e6, cb / chacha / 1e9
	printf "| all %d clients masking | %.3f | %.1f MB | %.3f |\n", n, n * ms, n * cb / 1e6, n * cb / chacha / 1e9
	printf "| aggregator: reconstruction and mask removal (%d self masks) | %.3f | %.1f MB | %.3f |\n", surv, rec, ab / 1e6, ab / chacha / 1e9
}' "$work/secure.log"
