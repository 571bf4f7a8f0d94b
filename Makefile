# The two commands a newcomer needs (see README.md):
#   make run    build everything, then run the built-in example flow
#   make test   build everything, then run every test (Go, C, Rust)
#   make bench  the benchmarks (not part of make test; docs/benchmarks.md)
#
# Installing (README "Installing"), from what `make build` built:
#   make install PREFIX=/usr/local DESTDIR=   bin/, libexec/tremor/, lib/tremor/plugins/, ...
#   make uninstall PREFIX=... DESTDIR=...     removes exactly what install installed
#   make dist                                 build/dist/tremorhost-VERSION-linux-ARCH.tar.gz + .sha256
.PHONY: all build run test bench clean install uninstall dist

PREFIX ?= /usr/local
DESTDIR ?=

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

# install and dist do not build: `make build` first, then (as root if the
# prefix needs it) `make install`, so that nothing is built as root.
install:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" ./scripts/install.sh install

uninstall:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" ./scripts/install.sh uninstall

dist:
	./scripts/dist.sh
