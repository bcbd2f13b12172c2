#!/usr/bin/env bash
# scripts/demo.sh: the main job on the built-in default. Installs what is
# missing, builds, generates a deterministic synthetic consortium and trains
# the recommender on it, printing progress and the final accuracy beside a
# popularity baseline, then recommends bundles for a sample user.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec scripts/demo-run.sh "$@"
