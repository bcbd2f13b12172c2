#!/usr/bin/env bash
# scripts/test.sh: installs what is missing, builds, and runs every test
# suite twice: once on the release build, once under AddressSanitizer and
# UndefinedBehaviorSanitizer; then ThreadSanitizer over the concurrent
# parts (the NNG transport, the parallel trainer, federations of real
# processes), cppcheck (scripts/static-analysis.sh) and, where clang has
# libFuzzer, a short run of every fuzz target (FB_FUZZ_SECONDS, default
# 20 s each). Prints each stage's time. Exit status is non-zero if
# anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/check-format.sh

# stage_end NAME: prints how long the stage took.
stage_start=0 # the script's start: setup and the build count
stage_end() {
	echo "== $1: $((SECONDS - stage_start)) s ==" >&2
	stage_start=$SECONDS
}
stage_end "setup and format check"

echo "== test suite (release build) ==" >&2
meson test -C build --print-errorlogs --num-processes 2
stage_end "release suite"

echo "== test suite (ASan + UBSan) ==" >&2
if [ ! -f build-asan/build.ninja ]; then
	meson setup build-asan --buildtype=debugoptimized \
		-Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C build-asan >&2
# FB_TIME_SCALE: the integration scripts wait that many times longer for
# a process or a log line (tests/integration/lib.sh).
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 FB_TIME_SCALE=4 \
	meson test -C build-asan --print-errorlogs --num-processes 2 \
	--timeout-multiplier 4 --no-suite slow
stage_end "ASan + UBSan"

# The federation runs 10x slower under TSan: only the non-private one fits
# (the others' deadlines are tuned for real time); it drives the whole
# transport (NNG's threads, the listener's queue, the owner thread).
echo "== ThreadSanitizer: transport, parallel trainer, a federation ==" >&2
if [ ! -f build-tsan/build.ninja ]; then
	meson setup build-tsan --buildtype=debugoptimized \
		-Db_sanitize=thread -Db_lundef=false
fi
ninja -C build-tsan >&2
TSAN_OPTIONS=halt_on_error=1:exitcode=66 FB_TIME_SCALE=4 \
	meson test -C build-tsan --print-errorlogs --num-processes 2 \
	--timeout-multiplier 4 transport train model pretrain fed-nonprivate
stage_end "ThreadSanitizer"

echo "== static analysis (cppcheck) ==" >&2
scripts/static-analysis.sh
stage_end "cppcheck"

echo "== fuzzing (clang + libFuzzer) ==" >&2
probe=$(mktemp -d)
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' >"$probe/p.c"
if command -v clang >/dev/null &&
	clang -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" 2>/dev/null; then
	if [ ! -f build-fuzz/build.ninja ]; then
		CC=clang meson setup build-fuzz --buildtype=debugoptimized \
			-Dfuzz=enabled -Db_lundef=false
	fi
	ninja -C build-fuzz >&2
	meson test -C build-fuzz --suite fuzz-run --print-errorlogs \
		--num-processes 2
else
	echo "fuzzing skipped: clang with libFuzzer not available" >&2
fi
rm -rf "$probe"
stage_end "fuzzing"
echo "== all tests passed in $((SECONDS / 60)) min $((SECONDS % 60)) s ==" >&2
