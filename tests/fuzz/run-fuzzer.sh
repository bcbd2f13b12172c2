#!/usr/bin/env bash
# tests/fuzz/run-fuzzer.sh FUZZER SEED_DIR: a short libFuzzer run for the
# 'fuzz-run' test suite (only in a -Dfuzz=enabled clang build). New inputs
# go to a scratch corpus that is removed afterwards (the seed corpus in the
# tree is only read); crash reproducers land in the scratch folder too and
# are copied to $FB_FUZZ_ARTIFACTS (default /tmp) before it goes. Run time:
# $FB_FUZZ_SECONDS (default 20). Exit status: the fuzzer's (0 = no crash).
set -euo pipefail
fuzzer=$1
seeds=$2
secs=${FB_FUZZ_SECONDS:-20}
work=$(mktemp -d /tmp/fb-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
rc=0
TMPDIR=/dev/shm "$fuzzer" -max_total_time="$secs" -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" -rss_limit_mb=1024 \
	"$work/corpus" "$seeds" >"$work/log" 2>&1 || rc=$?
grep -E "^#[0-9]+.*(DONE|pulse)|stat::number_of_executed_units|stat::peak_rss_mb|cov:" "$work/log" | tail -4
if [ "$rc" -ne 0 ]; then
	tail -40 "$work/log"
	cp -r "$work/artifacts" "${FB_FUZZ_ARTIFACTS:-/tmp}/fb-fuzz-artifacts-$(basename "$fuzzer")-$$" || true
fi
exit "$rc"
