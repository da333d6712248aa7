# Thin wrappers over CMake: every target installs what is missing first.
BUILD ?= build
BUILD_SANITIZE ?= build-sanitize
JOBS ?= $(shell getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
PREFIX ?= /usr/local

# A bare `make` builds (and installs what is missing first), as a user
# expects; without this the first target, deps, would be all it does.
.DEFAULT_GOAL := build

.PHONY: deps build run test test-sanitize bench fuzz cross cross-darwin cross-linux-arm64 install uninstall clean

deps:
	sh scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

# The daemon in the foreground on the default policy; Ctrl-C stops it.
run: build
	$(BUILD)/mempoold -c conf/mempoold.yaml

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-sanitize: deps
	cmake -S . -B $(BUILD_SANITIZE) -DCMAKE_BUILD_TYPE=Debug -DMEMPOOL_SANITIZE=ON
	cmake --build $(BUILD_SANITIZE) -j $(JOBS)
	ctest --test-dir $(BUILD_SANITIZE) --output-on-failure -j $(JOBS)

# Benchmarks print their figures; they are not tests. Each runs with the
# daemon and the client pinned to one CPU, then on two. iceoryx is
# installed for the comparison here only, never for a normal build.
BENCH_SECONDS ?= 10
bench: build
	sh scripts/install-deps.sh iceoryx libiceoryx-binding-c-dev
	cmake -S . -B $(BUILD)
	cmake --build $(BUILD) -j $(JOBS)
	$(BUILD)/bench_alloc
	$(BUILD)/bench_admin
	$(BUILD)/bench_names
	$(BUILD)/bench_scavenger $(BENCH_SECONDS)
	$$(sh python/tests/venv.sh $(BUILD) . OFF) tests/bench/bench_python.py $(BUILD)

# Installs under PREFIX (default /usr/local), into DESTDIR if set. The
# prefix is given to CMake when configuring, since the daemon's default
# policy path and the systemd unit's ExecStart= are the installed paths.
install: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	cmake --build $(BUILD) -j $(JOBS)
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD)

# Removes what `make install` wrote (BUILD/install_manifest.txt lists it,
# DESTDIR included), but the policy, which stays: it says where.
uninstall:
	DESTDIR="$(DESTDIR)" cmake -DBUILD=$(BUILD) -P cmake/uninstall.cmake

# The libFuzzer targets (need clang): the policy parser, the wire
# protocol's decoders, the admin command line. Each runs FUZZ_SECONDS from
# its seed corpus in tests/fuzz/corpus/<name>; what it finds stays in
# build-fuzz/corpus/<name>.
FUZZ_SECONDS ?= 30
FUZZERS = policy proto admin
fuzz:
	sh scripts/install-deps.sh clang libclang-rt-dev
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DMEMPOOL_TESTS=OFF -DMEMPOOL_BENCH=OFF
	cmake --build build-fuzz -j $(JOBS) --target $(addprefix fuzz_,$(FUZZERS))
	set -e; for f in $(FUZZERS); do \
		mkdir -p build-fuzz/corpus/$$f; \
		echo "== fuzz_$$f, $(FUZZ_SECONDS) s"; \
		build-fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			build-fuzz/corpus/$$f tests/fuzz/corpus/$$f; \
	done

cross-darwin:
	sh tests/darwin/cross-build.sh

# Every program and library for aarch64 Linux (glibc), with the same Zig.
cross-linux-arm64:
	sh tests/linux-arm64/cross-build.sh

# Both cross-builds; .ci/run calls this.
cross: cross-linux-arm64 cross-darwin

clean:
	rm -rf $(BUILD) $(BUILD_SANITIZE) build-fuzz build-darwin build-linux-arm64
