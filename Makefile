# The two commands a newcomer needs (see README.md):
#   make run    build everything, then run the built-in example flow
#   make test   build everything, then run every test (Go, C, Rust)
#   make bench  the benchmarks (not part of make test; docs/benchmarks.md)
.PHONY: all build run test bench clean

all: build

build:
	./scripts/build.sh

run: build
	./build/bin/tremorctl run

test: build
	./scripts/test.sh

clean:
	rm -rf build

bench: build
	./scripts/bench.sh
