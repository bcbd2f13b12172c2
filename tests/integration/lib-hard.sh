# tests/integration/lib-hard.sh: helpers of the hardening tests (sourced
# after lib.sh): policies with short timeouts, exit statuses, and reading
# checkpoints, client states and ledgers back from disk so that every
# claim about crashes is checked against the files a restart would use.

# hard_policy I [EXTRA_JSON]: lib.sh's policy with shorter timeouts, so a
# client whose request died with the aggregator retries quickly.
hard_policy() {
	local i=$1
	cat >"$WORK/policy-$i.json" <<EOP
{"data": "parts/retailer-0$i", "server_url": "${CLIENT_URL:-$SOCK}",
 "users": $(declared_users "$WORK/parts/retailer-0$i"),
 "server_key": "keys/aggregator.pub", "key": "keys/retailer-$i.key",
 "state_dir": "state-$i", "allow_none": true, "allow_user": true,
 "allow_client": true, "give_up_ms": ${GIVE_UP_MS:-60000},
 "request_timeout_ms": ${REQ_TIMEOUT_MS:-5000}${2:+, $2}}
EOP
}

# wait_exit PID SECONDS: waits for a process (a child of this shell) and
# sets RC to its exit status (137 for SIGKILL), or to "timeout" after
# SECONDS x TIME_SCALE (lib.sh; it is then killed).
wait_exit() {
	local pid=$1 limit=$(($2 * TIME_SCALE)) t=0
	RC=0
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$t" -ge $((limit * 10)) ]; then
			kill -9 "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			RC=timeout
			return 0
		fi
		sleep 0.1
		t=$((t + 1))
	done
	wait "$pid" || RC=$?
}

# tfile_meta FILE: the JSON metadata of a tensor file (tensorfile.h).
tfile_meta() {
	local len
	len=$(od -An -tu4 -j20 -N4 "$1" | tr -d ' ')
	dd if="$1" bs=1 skip=24 count="$len" 2>/dev/null
}

# tfile_tensors_sum FILE: SHA-256 of the tensor section (everything between
# the metadata and the checksum), i.e. of the model itself.
tfile_tensors_sum() {
	local len size start
	len=$(od -An -tu4 -j20 -N4 "$1" | tr -d ' ')
	size=$(stat -c %s "$1")
	start=$((24 + len + (8 - len % 8) % 8))
	tail -c +$((start + 1)) "$1" | head -c $((size - start - $(tfile_sum_len "$1"))) |
		sha256sum | cut -c1-16
}

# tfile_sum_len FILE: the length of a tensor file's trailing checksum
# (tensorfile.h: 32 bytes in format version 1, 16 in version 2).
tfile_sum_len() {
	if [ "$(od -An -tu4 -j8 -N4 "$1" | tr -d ' ')" = 1 ]; then echo 32; else echo 16; fi
}

# meta_num FILE KEY: a numeric field of a tensor file's metadata.
meta_num() {
	tfile_meta "$1" | { grep -o "\"$2\": *[0-9.e+-]*" || true; } | head -1 | sed 's/.*: *//'
}

# committed_ids: the round ids committed according to the metrics log.
committed_ids() {
	{ grep '"status": "committed"' "$WORK/metrics.jsonl" 2>/dev/null || true; } |
		sed 's/^{"round": \([0-9]*\),.*/\1/'
}

# all_ids: every round id in the metrics log, in order.
all_ids() {
	sed 's/^{"round": \([0-9]*\),.*/\1/' "$WORK/metrics.jsonl" 2>/dev/null
}

# strictly_increasing: stdin holds numbers, one a line.
strictly_increasing() {
	awk 'NR > 1 && $1 <= prev { exit 1 } { prev = $1 }'
}

# ledger_rounds FILE ROUND: number of ledger entries of a round.
ledger_rounds() {
	grep -c "\"round\":$2," "$1" 2>/dev/null || true
}

# tmp_leftovers DIR: temporary files an atomic write left behind.
tmp_leftovers() {
	find "$1" -name '*.tmp.*' 2>/dev/null | wc -l
}

# tfile_tensors_save FILE OUT: the tensor section as text floats in OUT.
tfile_tensors_save() {
	local len size start
	len=$(od -An -tu4 -j20 -N4 "$1" | tr -d ' ')
	size=$(stat -c %s "$1")
	start=$((24 + len + (8 - len % 8) % 8))
	# Tensor headers (name, dtype, rows, cols) are 48 bytes; read as
	# floats they are small garbage values equal in both files.
	tail -c +$((start + 1)) "$1" | head -c $((size - start - $(tfile_sum_len "$1"))) |
		od -An -v -tf4 -w4 | tr -d ' ' >"$2"
}

# tfile_elements FILE: every element of every tensor of a tensor file,
# one float a line (od), headers left out (tensorfile.h: a tensor is a
# 48-byte header, rows at +32, cols at +40, then its elements padded to 8).
tfile_elements() {
	local f=$1 n len off rows cols k
	n=$(od -An -tu4 -j16 -N4 "$f" | tr -d ' ')
	len=$(od -An -tu4 -j20 -N4 "$f" | tr -d ' ')
	off=$((24 + len + (8 - len % 8) % 8))
	for ((k = 0; k < n; k++)); do
		rows=$(od -An -tu8 -j$((off + 32)) -N8 "$f" | tr -d ' ')
		cols=$(od -An -tu8 -j$((off + 40)) -N8 "$f" | tr -d ' ')
		if [ $((rows * cols)) -gt 0 ]; then
			od -An -v -tf4 -w4 -j$((off + 48)) -N$((rows * cols * 4)) "$f"
		fi
		off=$((off + 48 + (rows * cols * 4 + 7) / 8 * 8))
	done
}

# tfile_finite FILE: "ELEMENTS NONFINITE LARGEST" of a tensor file: how
# many elements, how many of them are infinite or NaN, the largest |x|.
tfile_finite() {
	tfile_elements "$1" | awk '
		{ n++ }
		$1 ~ /nan|inf/ { bad++; next }
		{ x = $1 + 0; if (x < 0) x = -x; if (x > m) m = x }
		END { printf "%d %d %g\n", n, bad, m }'
}

# model_distance A B: relative L2 distance |a - b| / |b| of two saved
# tensor sections (tfile_tensors_save).
model_distance() {
	paste "$1" "$2" | awk '
		{ d = $1 - $2; s += d * d; n += $2 * $2 }
		END { printf "%.3g\n", (n > 0 ? sqrt(s / n) : sqrt(s)) }'
}

# sanitized: true if the aggregator is built with a sanitizer (ASan keeps
# freed memory in quarantine and pads allocations, TSan shadows it all), so
# resident-memory bounds say nothing about fedbundle there.
sanitized() {
	# Not `ldd | grep -q`: grep may exit first, and under pipefail ldd's
	# SIGPIPE made the pipeline fail, so a sanitizer build sometimes
	# looked unsanitized.
	local libs
	libs=$(ldd "$FB_SERVER" 2>/dev/null || true)
	[[ $libs =~ lib(asan|tsan|ubsan) ]]
}

# check_memory DESCRIPTION COMMAND...: check, or a TAP skip when sanitized.
check_memory() {
	if sanitized; then
		N_CHECKS=$((N_CHECKS + 1))
		echo "ok $N_CHECKS - $1 # SKIP sanitizer build: its allocator decides the memory"
		return 0
	fi
	check "$@"
}
