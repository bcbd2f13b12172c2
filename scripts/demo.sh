#!/usr/bin/env bash
# scripts/demo.sh: the main job on the built-in default. Installs what is
# missing, builds, then (scripts/demo-run.sh) generates a deterministic
# synthetic consortium of 4 retailers and trains it federated over
# loopback with user-level DP and secure aggregation (distributed
# noise), printing rounds, epsilon spent (assumed, and from each
# retailer's own noise share alone) and Recall@20, a centralized
# non-private reference and a popularity baseline, then recommends
# bundles for a sample user.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec scripts/demo-run.sh "$@"
