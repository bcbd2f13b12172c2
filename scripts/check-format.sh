#!/usr/bin/env bash
# scripts/check-format.sh: fails if any tracked C file differs from what
# clang-format makes of it (.clang-format). Run with --fix to rewrite them.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
if [ "${1:-}" = "--fix" ]; then
	echo "$files" | xargs -r clang-format -i
	exit 0
fi
if ! command -v clang-format >/dev/null; then
	echo "check-format: clang-format not installed, skipped" >&2
	exit 0
fi
bad=$(echo "$files" | xargs -r clang-format --dry-run 2>&1 | grep -c "warning:" || true)
if [ "$bad" -gt 0 ]; then
	echo "$files" | xargs -r clang-format --dry-run 2>&1 | grep "warning:" | head -20 >&2
	echo "check-format: $bad places differ from .clang-format (scripts/check-format.sh --fix)" >&2
	exit 1
fi
