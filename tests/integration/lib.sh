# tests/integration/lib.sh: shared set-up of the integration tests (sourced).
# Makes a work folder with the `toy` synthetic consortium partitioned
# across retailers, a catalogue-only folder for the aggregator, keys, a
# roster, and writes configs; starts processes and kills every one of them
# on exit. Binaries come from the environment meson test sets:
# FB_TOOL, FB_SERVER, FB_CLIENT (and FB_MALLORY, FB_CURIOUS).
set -euo pipefail

: "${FB_TOOL:?set by meson test}"
: "${FB_SERVER:?set by meson test}"
: "${FB_CLIENT:?set by meson test}"

# FB_TIME_SCALE (a whole number, default 1) lengthens how long the waits
# below (wait_pid, wait_for, lib-hard.sh's wait_exit) give a process or
# a log line before they fail: scripts/test.sh sets it for the slower
# sanitizer builds. It never changes a deadline of the system under test.
# test_port: a base TCP port for this test, PORT .. PORT + 3 meant free:
# below the kernel's ephemeral range (32768 and up, where the clients'
# outgoing connections land; a listener there can find its port taken,
# as fed-resend once did), in steps of 4 so tests with nearby PIDs do
# not share ports.
test_port() { echo $((20000 + ($$ % 3000) * 4)); }
TIME_SCALE=${FB_TIME_SCALE:-1}
[[ "$TIME_SCALE" =~ ^[1-9][0-9]*$ ]] || {
	echo "FB_TIME_SCALE must be a whole number >= 1, not '$TIME_SCALE'" >&2
	exit 2
}

WORK=$(mktemp -d /tmp/fb-it-XXXXXX)
PIDS=()
N_CHECKS=0
N_FAILED=0

cleanup() {
	local pid
	for pid in "${PIDS[@]:-}"; do
		[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if [ "$N_FAILED" -eq 0 ] && [ -z "${FB_KEEP_WORK:-}" ]; then
		rm -rf "$WORK"
	else
		echo "# work folder kept: $WORK"
	fi
}
trap cleanup EXIT

check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	N_CHECKS=$((N_CHECKS + 1))
	if "$@"; then
		echo "ok $N_CHECKS - $what"
	else
		echo "not ok $N_CHECKS - $what"
		N_FAILED=$((N_FAILED + 1))
	fi
}

# quiet COMMAND...: runs it silently; its output is shown (as TAP
# comments) only if it fails.
quiet() {
	local out
	if out=$("$@" 2>&1); then
		return 0
	fi
	echo "$out" | sed 's/^/# /'
	return 1
}

finish() {
	echo "1..$N_CHECKS"
	[ "$N_FAILED" -eq 0 ]
}

# fed_data [RETAILERS] [PARTITION OPTIONS...]: toy data, partition,
# catalogue, keys and roster in $WORK.
fed_data() {
	local k=${1:-4}
	shift || true
	"$FB_TOOL" datagen --preset toy --seed 1 --out "$WORK/data" >/dev/null 2>&1
	"$FB_TOOL" partition --data "$WORK/data" --retailers "$k" \
		--out "$WORK/parts" --seed 1 "${@:---iid}" >/dev/null 2>&1
	mkdir -p "$WORK/catalog" "$WORK/keys"
	cp "$WORK/data/bundle_item.txt" "$WORK/data/item_attr.txt" "$WORK/catalog/"
	local size
	size=$(ls "$WORK/data/"*_data_size.txt)
	awk -F '\t' 'BEGIN { OFS = "\t" } { $1 = 0; print }' "$size" \
		>"$WORK/catalog/$(basename "$size")"
	for f in train tune test; do : >"$WORK/catalog/user_bundle_$f.txt"; done
	"$FB_TOOL" keygen --out "$WORK/keys/aggregator" --name aggregator >/dev/null 2>&1
	: >"$WORK/roster.txt"
	local i
	for ((i = 0; i < k; i++)); do
		"$FB_TOOL" keygen --out "$WORK/keys/retailer-$i" --name "retailer-$i" >/dev/null 2>&1
		cat "$WORK/keys/retailer-$i.pub" >>"$WORK/roster.txt"
	done
}

SOCK="ipc://$WORK/aggregator.sock"

# min_declared: the fewest users any retailer of $WORK/parts declares
# (declared_users), 1 without retailers.
min_declared() {
	local d n min=
	for d in "$WORK"/parts/retailer-*; do
		[ -d "$d" ] || continue
		n=$(declared_users "$d")
		if [ -z "$min" ] || [ "$n" -lt "$min" ]; then min=$n; fi
	done
	echo "${min:-1}"
}

# server_config ROUNDS QUORUM DEADLINE_MS ROUND_JSON [EXTRA_TOP_JSON]
# A ROUND_JSON without "min_users" gets min_declared's (protocols/wire-v1.md
# §9.7: the fewest users a retailer may declare; required at user level).
server_config() {
	local round=$4
	case $round in
	*'"min_users"'*) ;;
	*) round="${round%\}}, \"min_users\": $(min_declared)}" ;;
	esac
	cat >"$WORK/server.json" <<EOF
{"listen": "$SOCK", "key": "keys/aggregator.key", "roster": "roster.txt",
 "catalog": "catalog", "checkpoint_dir": "checkpoint", "rounds": $1,
 "quorum": $2, "deadline_ms": $3, "retry_after_ms": 50, "linger_ms": 3000,
 "plan_wait_ms": ${PLAN_WAIT_MS:-5000}${5:+, $5},
 "round": $round}
EOF
}

# declared_users DIR: the number of users a retailer's dataset folder
# holds, which the tests' retailers declare as their public "users".
declared_users() {
	cut -f1 "$1"/*_data_size.txt
}

# policy I [EXTRA_JSON]: the policy of retailer I.
policy() {
	local i=$1
	cat >"$WORK/policy-$i.json" <<EOF
{"data": "parts/retailer-0$i", "server_url": "$SOCK",
 "users": $(declared_users "$WORK/parts/retailer-0$i"),
 "server_key": "keys/aggregator.pub", "key": "keys/retailer-$i.key",
 "state_dir": "state-$i", "allow_none": true, "allow_user": true,
 "give_up_ms": 30000, "request_timeout_ms": 20000${2:+, $2}}
EOF
}

start_server() { # start_server [OUTPUT SUFFIX]
	local tag=${1:-}
	"$FB_SERVER" --config "$WORK/server.json" \
		--metrics-out "$WORK/metrics.jsonl" \
		>"$WORK/server$tag.out" 2>"$WORK/server$tag.err" &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
}

start_client() { # start_client I [OUTPUT SUFFIX]
	local i=$1 tag=${2:-}
	"$FB_CLIENT" run --policy "$WORK/policy-$i.json" \
		>"$WORK/client-$i$tag.out" 2>"$WORK/client-$i$tag.err" &
	CLIENT_PID[$i]=$!
	PIDS+=("${CLIENT_PID[$i]}")
}
declare -a CLIENT_PID

# wait_pid PID SECONDS: waits for a process; non-zero if it is still
# running after SECONDS x TIME_SCALE (it is then killed) or exited
# non-zero.
wait_pid() {
	local pid=$1 limit=$(($2 * TIME_SCALE)) t=0
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$t" -ge $((limit * 10)) ]; then
			echo "# process $pid still running after ${limit}s: killed"
			kill -9 "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			return 1
		fi
		sleep 0.1
		t=$((t + 1))
	done
	wait "$pid"
}

# wait_for FILE PATTERN SECONDS: until a line of FILE matches PATTERN
# (at most SECONDS x TIME_SCALE).
wait_for() {
	local file=$1 pattern=$2 limit=$(($3 * TIME_SCALE)) t=0
	until [ -f "$file" ] && grep -q -- "$pattern" "$file"; do
		if [ "$t" -ge $((limit * 20)) ]; then
			echo "# timed out waiting for '$pattern' in $file"
			return 1
		fi
		sleep 0.05
		t=$((t + 1))
	done
}

# metric ROUND KEY: a numeric field of a round's JSON line.
metric() {
	awk -v r="\"round\": $1," -v k="\"$2\": " '
		index($0, r) == 2 {
			i = index($0, k)
			if (i > 0) {
				s = substr($0, i + length(k))
				sub(/[,}].*/, "", s)
				print s
			}
		}' "$WORK/metrics.jsonl"
}

# client_field ROUND NAME KEY: a field of one client's entry in a round.
client_field() {
	awk -v r="\"round\": $1," -v n="{\"name\": \"$2\"" -v k="\"$3\": " '
		index($0, r) == 2 {
			i = index($0, n)
			if (i > 0) {
				s = substr($0, i)
				sub(/}.*/, "", s)
				j = index(s, k)
				if (j > 0) {
					s = substr(s, j + length(k))
					sub(/,.*/, "", s)
					gsub(/"/, "", s)
					print s
				}
			}
		}' "$WORK/metrics.jsonl"
}

# federated_eval N: the final federated Recall@20 over N retailers (sum of
# sums / sum of counts), from each client's state.
federated_eval() {
	local i
	for ((i = 0; i < $1; i++)); do
		"$FB_CLIENT" eval --policy "$WORK/policy-$i.json" --json
	done | json_sum_ratio 'recall@20_sum' users 6
}

# json_field KEY: the numeric value of KEY in each JSON line on stdin.
json_field() {
	awk -v k="\"$1\": " '{ i = index($0, k); if (i > 0) { s = substr($0, i + length(k)); sub(/[,}].*/, "", s); print s } }'
}

# json_sum_ratio NUM DEN DIGITS: sum of NUM over sum of DEN over the JSON
# lines on stdin.
json_sum_ratio() {
	awk -v a="\"$1\": " -v b="\"$2\": " -v p="$3" '
		function val(k,   i, s) { i = index($0, k); if (i == 0) return 0; s = substr($0, i + length(k)); sub(/[,}].*/, "", s); return s + 0 }
		{ r += val(a); u += val(b) }
		END { printf("%." p "f\n", u > 0 ? r / u : 0) }'
}

# ge A B / near A B TOL / rel_within A B FRACTION: float comparisons.
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
rel_within() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= f * b) }'; }
