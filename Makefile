.PHONY: run test build release bench-gateway clean

# Sets everything up and runs the server on the embedded defaults (SQLite under ./data).
run: release
	.build/release/atrium serve

release:
	swift build -c release --product atrium

build:
	swift build --build-tests

# Every test: Swift suites on SQLite and PostgreSQL, and end-to-end tests with the openai SDK.
test:
	scripts/test.sh

bench-gateway:
	bench/gateway/run.sh

clean:
	rm -rf .build data
