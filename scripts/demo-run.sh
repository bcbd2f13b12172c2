#!/usr/bin/env bash
# scripts/demo-run.sh: the main job on the built-in default, on an already
# built tree (scripts/demo.sh builds first). A deterministic synthetic
# consortium the size of Youshu is generated, the recommender is trained on
# it centrally, its test accuracy is printed beside a popularity baseline,
# and a sample user gets recommendations.
set -euo pipefail
cd "$(dirname "$0")/.."
fb=build/tools/fedbundle
work=${FB_DEMO_DIR:-build/demo}
mkdir -p "$work"

echo "== 1. a synthetic consortium (deterministic, seed 1) =="
$fb datagen --preset small --seed 1 --out "$work/data"

echo
echo "== 2. centralized training, non-private reference =="
$fb train --data "$work/data" --threads 2 --out "$work/model.fbm"

# A sample user: the first with held-out test bundles (marked "test" in the
# list when the model ranks them in its top 10).
user=$(head -n 1 "$work/data/user_bundle_test.txt" | cut -f 1)
items=$(awk -F '\t' -v u="$user" '$1 == u { print $2 }' "$work/data/user_item.txt" | head -n 2 | paste -sd, -)
echo
echo "== 3. recommendations for user $user =="
$fb recommend --data "$work/data" --model "$work/model.fbm" --user "$user" -k 10
echo
echo "== 4. how much user $user would like a new bundle of items $items =="
$fb recommend --data "$work/data" --model "$work/model.fbm" --user "$user" --items "$items"
