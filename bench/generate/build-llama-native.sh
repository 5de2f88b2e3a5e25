#!/usr/bin/env bash
# Builds llama.cpp's `llama-bench` and `llama-server` natively (-march=native) from the llama.cpp source
# inside the PyPI sdist llama-cpp-python==0.3.36, once, under .cache/llama.cpp-native/. cmake and ninja
# come from the benchmark's venv (PyPI wheels).
#   bench/generate/build-llama-native.sh VENV
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="$1"
DIR=.cache/llama.cpp-native
VERSION=0.3.36
BIN="$DIR/build/bin"
[ -x "$BIN/llama-bench" ] && [ -x "$BIN/llama-server" ] && exit 0
mkdir -p "$DIR"
if [ ! -d "$DIR/llama_cpp_python-$VERSION/vendor/llama.cpp" ]; then
    # Only this package from source: its build requirements may come as wheels (pip prepares its metadata).
    "$VENV/bin/pip" download -q --no-deps --no-binary llama-cpp-python "llama-cpp-python==$VERSION" -d "$DIR"
    tar xzf "$DIR/llama_cpp_python-$VERSION.tar.gz" -C "$DIR"
fi
export PATH="$(pwd)/$VENV/bin:$PATH"
nice -n 10 cmake -S "$DIR/llama_cpp_python-$VERSION/vendor/llama.cpp" -B "$DIR/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >/dev/null
echo "building llama.cpp (llama-bench, llama-server) natively in $DIR/build: a few minutes, once" >&2
nice -n 10 cmake --build "$DIR/build" --target llama-bench llama-server -j "$(nproc)" >/dev/null
