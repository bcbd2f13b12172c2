#!/usr/bin/env bash
# scripts/test.sh: installs what is missing, builds, and runs every test
# suite twice: once on the release build, once under AddressSanitizer and
# UndefinedBehaviorSanitizer. Exit status is non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/check-format.sh

echo "== test suite (release build) ==" >&2
meson test -C build --print-errorlogs --num-processes 2

echo "== test suite (ASan + UBSan) ==" >&2
if [ ! -f build-asan/build.ninja ]; then
	meson setup build-asan --buildtype=debugoptimized \
		-Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C build-asan >&2
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --print-errorlogs --num-processes 2 \
	--timeout-multiplier 4 --no-suite slow
echo "== all tests passed ==" >&2
