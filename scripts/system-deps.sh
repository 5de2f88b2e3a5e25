#!/usr/bin/env bash
# Installs the system libraries the build links against when they are missing (Debian/Ubuntu):
# OpenBLAS for the embedded engine. On macOS the engine uses Accelerate and nothing is needed.
set -euo pipefail
[ "$(uname)" = "Darwin" ] && exit 0
missing=()
[ -f /usr/include/x86_64-linux-gnu/cblas.h ] || [ -f /usr/include/cblas.h ] || [ -f /usr/include/aarch64-linux-gnu/cblas.h ] \
    || pkg-config --exists openblas 2>/dev/null || missing+=(libopenblas-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ]; then
    echo "installing ${missing[*]} (Debian packages)..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) >&2
elif command -v sudo >/dev/null; then
    echo "installing ${missing[*]} with sudo..." >&2
    sudo apt-get install -y -qq "${missing[@]}" >&2
else
    echo "Atrium's engine needs ${missing[*]}: run  apt-get install -y ${missing[*]}  as root" >&2
    exit 1
fi
