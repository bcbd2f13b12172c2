#!/usr/bin/env bash
# tests/integration/test-cli.sh: what every program says about itself
# (issue 14, "Operating it"): --version exits 0 with the version on all
# three programs; -h and --help work on each of them and on every
# subcommand of `fedbundle` (and every audit check); the configuration
# keys listed by --help carry their defaults.
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
finish
