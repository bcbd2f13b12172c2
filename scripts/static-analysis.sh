#!/usr/bin/env bash
# scripts/static-analysis.sh: cppcheck over every C file of the project
# (warning, performance and portability checks), failing on any finding
# not justified in scripts/cppcheck-suppressions.txt or by an inline
# `// cppcheck-suppress ID` comment. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cppcheck >/dev/null; then
	echo "static-analysis: cppcheck not installed (apt-get install cppcheck)" >&2
	exit 1
fi
dirs=(common server client tools bench tests)
# The list's comments justify each entry; cppcheck reads bare entries.
supp=$(mktemp)
trap 'rm -f "$supp"' EXIT
grep -v '^#' scripts/cppcheck-suppressions.txt | grep . >"$supp"
cppcheck --enable=warning,performance,portability --std=c11 --inline-suppr \
	--quiet -j "$(nproc)" -I include -I . -D_POSIX_C_SOURCE=200809L \
	--suppressions-list="$supp" \
	--error-exitcode=1 "${dirs[@]}"
echo "static-analysis: cppcheck found nothing in ${dirs[*]}" >&2
