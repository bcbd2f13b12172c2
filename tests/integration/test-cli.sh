#!/usr/bin/env bash
# tests/integration/test-cli.sh: what every program says about itself
# (issue 14, "Operating it"): --version exits 0 with the version on all
# three programs; -h and --help work on each of them and on every
# subcommand of `fedbundle` (and every audit check); the configuration
# keys listed by --help carry their defaults. Log lines carry the UTC date
# (ISO 8601), and --log-format json makes every stderr line of the
# aggregator one JSON object with time, level, program, file, line, msg.
source "$(dirname "$0")/lib.sh"

version_ok() { # version_ok PROGRAM NAME: "NAME X.Y.Z (...)" and exit 0
	local out
	out=$("$1" --version) || return 1
	[[ "$out" =~ ^$2\ [0-9]+\.[0-9]+\.[0-9]+\ \(.+\)$ ]]
}
check "fedbundle --version" version_ok "$FB_TOOL" fedbundle
check "fedbundle-server --version" version_ok "$FB_SERVER" fedbundle-server
check "fedbundle-client --version" version_ok "$FB_CLIENT" fedbundle-client

help_ok() { # help_ok PROGRAM ARGS...: exit 0 and a usage line on stdout
	"$@" | grep '^usage: ' >/dev/null
}
for p in "$FB_TOOL" "$FB_SERVER" "$FB_CLIENT"; do
	for o in -h --help; do
		check "$(basename "$p") $o" help_ok "$p" "$o"
	done
done
for c in run recommend eval; do
	check "fedbundle-client $c -h" help_ok "$FB_CLIENT" "$c" -h
done
cmds=$("$FB_TOOL" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
check "fedbundle --help lists commands" test -n "$cmds"
for c in $cmds; do
	[ "$c" = version ] && continue
	for o in -h --help; do
		check "fedbundle $c $o" help_ok "$FB_TOOL" "$c" "$o"
	done
done
for c in sensitivity membership; do
	check "fedbundle audit $c -h" help_ok "$FB_TOOL" audit "$c" -h
done

# Defaults, read from the defaults-filled structs.
check "server --help: round.dim default" sh -c \
	"'$FB_SERVER' --help | grep -E '^  round\.dim .*\(default: 64\)$' >/dev/null"
check "client --help: epsilon has a default" sh -c \
	"'$FB_CLIENT' --help | grep -E '^  epsilon .*\(default: [0-9.e+-]+\)$' >/dev/null"
check "simulate --help: keys have defaults" sh -c \
	"'$FB_TOOL' simulate --help | grep -E '^  round\.lr .*\(default: [0-9.e+-]+\)$' >/dev/null"

# Logs: an aggregator without clients, stopped after a second (TERM).
fed_data 1
PLAN_WAIT_MS=300 server_config 1 1 500 '{"granularity": "none"}'
run_briefly() { # run_briefly ERRFILE OPTIONS...: stderr of a run stopped by
	# SIGTERM once it listens (not after a fixed second: under ASan the
	# start alone took 1.6 s)
	local err=$1 pid
	shift
	"$FB_SERVER" --config "$WORK/server.json" "$@" >/dev/null 2>"$err" &
	pid=$!
	wait_for "$err" "aggregator listening on " 20 || true
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
json_lines_ok() { # json_lines_ok FILE: >= 2 lines, each a log object
	python3 - "$1" <<'PY'
import json, re, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) >= 2, lines
for l in lines:
    o = json.loads(l)
    assert set(o) == {"time", "level", "program", "file", "line", "msg"}, o
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["time"]), o
    assert o["level"] in ("error", "warn", "info", "debug"), o
    assert o["program"] == "server" and isinstance(o["line"], int), o
PY
}
run_briefly "$WORK/log.json" --log-format json
check "--log-format json: every stderr line is a log object" \
	json_lines_ok "$WORK/log.json"
check "--log-format json: the start-up banner is a JSON line too" \
	grep -q '"msg": "aggregator listening on ' "$WORK/log.json"
"$FB_SERVER" --config "$WORK/nonexistent.json" --log-format json \
	2>"$WORK/bad.json" && true
check "--log-format json: a fatal configuration error is JSON" python3 -c \
	'import json, sys; o = json.load(open(sys.argv[1])); assert o["level"] == "error" and "cannot open" in o["msg"]' \
	"$WORK/bad.json"
run_briefly "$WORK/log.txt"
check "text log lines start with the UTC date and time" grep -qE \
	'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z I server \[[a-z_]+\.c:[0-9]+\] ' \
	"$WORK/log.txt"
check "--log-format xml is refused" sh -c \
	"'$FB_SERVER' --config x --log-format xml 2>&1 | grep -q 'unknown format'"
"$FB_CLIENT" run --policy "$WORK/nonexistent.json" --log-format json \
	2>"$WORK/client-bad.json" && true
check "client --log-format json: its fatal error is JSON" python3 -c \
	'import json, sys; o = json.load(open(sys.argv[1])); assert o["program"] == "client" and "bad policy" in o["msg"]' \
	"$WORK/client-bad.json"
finish
