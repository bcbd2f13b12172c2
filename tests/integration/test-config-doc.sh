#!/usr/bin/env bash
# tests/integration/test-config-doc.sh DOC: docs/configuration.md is what
# `fedbundle config-doc` prints from the schema tables today, so a key
# added, removed, re-ranged or re-defaulted without regenerating the docs
# fails here (issue 14). Regenerate with
#   build/tools/fedbundle config-doc > docs/configuration.md
source "$(dirname "$0")/lib.sh"

DOC=${1:?usage: test-config-doc.sh docs/configuration.md}
"$FB_TOOL" config-doc >"$WORK/configuration.md"
check "config-doc prints every configuration file's section" \
	test "$(grep -c '^## ' "$WORK/configuration.md")" -eq 4
check "docs/configuration.md is up to date (else: regenerate it)" \
	diff -u "$DOC" "$WORK/configuration.md"
finish
