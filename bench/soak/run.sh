#!/usr/bin/env bash
# Soak: ten minutes of mixed load on one `atrium serve` (release build, SQLite, the embedded engine
# with SmolLM2 and MiniLM, and a fake upstream): streamed and whole chat, embeddings, /api reads and
# writes, clients that leave mid-stream, a share of bad inputs. Then: no 5xx, resident memory after
# the first minute flat within 10 %, every usage row present once.
# Writes bench/results/soak-<date>.md (and .json).
#   DURATION=600 CLIENTS=6 bench/soak/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .build/release/atrium ] || swift build -c release --product atrium
scripts/fetch-minilm.sh >/dev/null
scripts/fetch-smollm2.sh >/dev/null
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r tests/e2e/requirements.txt
exec .venv/bin/python bench/soak/soak.py "$@"
