.PHONY: run test build release deps bench-gateway clean

# Sets everything up and runs the server on the embedded defaults (SQLite under ./data).
run: release
	.build/release/atrium serve

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

clean:
	rm -rf .build data
