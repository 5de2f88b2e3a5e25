#!/usr/bin/env bash
# Builds llama.cpp's `llama-bench` and `llama-server` from the llama.cpp source inside the PyPI sdist
# llama-cpp-python==0.3.36, once per instruction set, under .cache/llama.cpp-ISA/. cmake and ninja come
# from the benchmark's venv (PyPI wheels).
#   bench/generate/build-llama-native.sh VENV [native|avx2]
# native: -march=native (every feature of this CPU); avx2: AVX2, FMA and F16C only (GGML_NATIVE=OFF,
# AVX-512 off), what llama.cpp runs on a CPU without AVX-512 (AMD Zen 2 and 3, many Intel parts).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="$1"
ISA="${2:-native}"
DIR=.cache/llama.cpp-$ISA
SOURCES=.cache/llama.cpp-sources
VERSION=0.3.36
BIN="$DIR/build/bin"
[ -x "$BIN/llama-bench" ] && [ -x "$BIN/llama-server" ] && exit 0
case "$ISA" in
native) FLAGS=(-DGGML_NATIVE=ON) ;;
avx2) FLAGS=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
             -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AVX_VNNI=OFF) ;;
*) echo "unknown instruction set $ISA (native or avx2)" >&2; exit 2 ;;
esac
mkdir -p "$DIR" "$SOURCES"
if [ ! -d "$SOURCES/llama_cpp_python-$VERSION/vendor/llama.cpp" ]; then
    # Only this package from source: its build requirements may come as wheels (pip prepares its metadata).
    "$VENV/bin/pip" download -q --no-deps --no-binary llama-cpp-python "llama-cpp-python==$VERSION" -d "$SOURCES"
    tar xzf "$SOURCES/llama_cpp_python-$VERSION.tar.gz" -C "$SOURCES"
fi
export PATH="$(pwd)/$VENV/bin:$PATH"
nice -n 10 cmake -S "$SOURCES/llama_cpp_python-$VERSION/vendor/llama.cpp" -B "$DIR/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "${FLAGS[@]}" -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >/dev/null
echo "building llama.cpp (llama-bench, llama-server) for $ISA in $DIR/build: a few minutes, once" >&2
nice -n 10 cmake --build "$DIR/build" --target llama-bench llama-server -j "$(nproc)" >/dev/null
