# topgun-storage: the commands the README names.
#   make test   format check, clippy (-D warnings), API docs without warnings, every test of every part
#   make demo   build and run the example workload
#   make bench  benchmarks with same-run baselines (prints ratios)
#
# Each part beside core/ (ffi/, bindings/python/, bindings/node/,
# tests/parity/) brings a fragment NAME.mk that adds its own targets to
# TEST_TARGETS, BENCH_TARGETS and DEMO_TARGETS; they run after the Rust
# checks, in the order listed.

CARGO ?= cargo
SHELL := /bin/bash
# Each demo writes its output here too; demo-digests compares the digests.
DEMO_OUT := $(or $(CARGO_TARGET_DIR),target)/demo
TEST_TARGETS :=
BENCH_TARGETS :=
DEMO_TARGETS :=

include $(sort $(wildcard ffi/*.mk bindings/*/*.mk)) $(wildcard tests/parity/*.mk tests/postgres/*.mk)

.PHONY: test demo bench check-tools backend-deps fmt-check clippy doc-check deps-check rust-test rust-demo rust-bench demo-digests

test: check-tools backend-deps fmt-check clippy doc-check deps-check rust-test $(TEST_TARGETS)

# The optional backends of core that clippy, the tests and the benchmarks
# build (cargo features of topgun-storage-core), and the backends the crash
# harness crashes besides redb (features of topgun-storage-crash:
# tests/crash/README.md).
CORE_FEATURES := lmdb rocksdb postgres-tls
CRASH_FEATURES := lmdb rocksdb postgres
CORE_FEATURES_FLAG = --features "$(foreach f,$(CORE_FEATURES),topgun-storage-core/$(f)) $(foreach f,$(CRASH_FEATURES),topgun-storage-crash/$(f))"

# RocksDB (feature `rocksdb`) links Debian's librocksdb-dev when a 7.x from
# 7.8 on is installed: rust-rocksdb 0.20 builds against its C API, and the
# RocksDB C++ is not compiled in every build (README, "Optional backends").
# Any other case compiles the RocksDB 7.9 that librocksdb-sys bundles (slow).
# Recursive variables: read when a recipe runs, after backend-deps.
ROCKSDB_SYSTEM = $(shell pkg-config --atleast-version=7.8 rocksdb 2>/dev/null && ! pkg-config --atleast-version=8 rocksdb 2>/dev/null && echo yes)
ROCKSDB_ENV = $(if $(ROCKSDB_SYSTEM),ROCKSDB_LIB_DIR=$(shell pkg-config --variable=libdir rocksdb) ROCKSDB_INCLUDE_DIR=$(shell pkg-config --variable=includedir rocksdb))
# cargo for every command that builds core with CORE_FEATURES.
CORE_CARGO = $(ROCKSDB_ENV) $(CARGO)

# What the backends build against: librocksdb-dev, and libclang for the
# bindgen run of librocksdb-sys (apt-get when missing, as root on Debian).
backend-deps:
	@if ! pkg-config --exists rocksdb 2>/dev/null || ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing librocksdb-dev and libclang-dev with apt-get"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pkg-config librocksdb-dev libclang-dev >/dev/null; \
		else echo "librocksdb-dev or libclang not found (Debian/Ubuntu: sudo apt-get install librocksdb-dev libclang-dev pkg-config): RocksDB will be compiled from source, which is slow"; fi; \
	fi
	@if [ -n "$(ROCKSDB_SYSTEM)" ]; then echo "RocksDB: linking the system librocksdb $$(pkg-config --modversion rocksdb)"; \
	else echo "RocksDB: no system librocksdb 7.8 or later 7.x; compiling the bundled RocksDB from source"; fi

# Checks only: a test run never changes the toolchain.
check-tools:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)"; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || { echo "rustfmt not found: run 'rustup component add rustfmt'"; exit 1; }
	@$(CARGO) clippy --version >/dev/null 2>&1 || { echo "clippy not found: run 'rustup component add clippy'"; exit 1; }

fmt-check:
	$(CARGO) fmt --all -- --check

clippy: backend-deps
	$(CORE_CARGO) clippy --workspace --all-targets $(CORE_FEATURES_FLAG) -- -D warnings
	$(CARGO) clippy -p topgun-storage-python -p topgun-storage-node --all-targets \
		--features bench-baselines -- -D warnings

# The repository documents itself (no file cites a design document it does
# not contain), and the API docs of the libraries build without a warning
# (a broken or private intra-doc link fails).
doc-check: backend-deps
	@if git grep -n -e 'DESIGN[.]md' 2>/dev/null; then \
		echo "the lines above cite a design file the repository does not contain: cite docs/ instead"; exit 1; fi
	RUSTDOCFLAGS="-D warnings" $(CORE_CARGO) doc --no-deps -p topgun-storage-core -p topgun-storage-ffi \
		--features "$(foreach f,$(CORE_FEATURES),topgun-storage-core/$(f))"

# Unused dependencies (cargo-machete, built once into target/tools from
# crates.io at the pinned version).
MACHETE_VERSION := 0.9.2
MACHETE := $(or $(CARGO_TARGET_DIR),target)/tools/bin/cargo-machete
$(MACHETE):
	$(CARGO) install --locked --quiet --version $(MACHETE_VERSION) \
		--root $(abspath $(or $(CARGO_TARGET_DIR),target)/tools) cargo-machete

deps-check: $(MACHETE)
	$(MACHETE)

# Benchmarks are compiled (and linted) by clippy --all-targets, not run here.
# The PostgreSQL tests need a server: a throwaway one runs for the duration
# (tests/postgres/postgres.mk).
rust-test: backend-deps postgres-node-deps
	$(ROCKSDB_ENV) $(WITH_POSTGRES) $(CARGO) test --workspace $(CORE_FEATURES_FLAG)

demo: check-tools rust-demo $(DEMO_TARGETS) demo-digests

DEMO_RUST := $(or $(CARGO_TARGET_DIR),target)/release/topgun-storage-example
# Two processes: the workload writes a redb file and exits, a second
# process opens the file again and reads it back (examples/README.md).
rust-demo:
	mkdir -p $(DEMO_OUT)
	$(CARGO) build --release -p topgun-storage-example
	set -o pipefail; $(DEMO_RUST) write $(DEMO_OUT)/rust.redb | tee $(DEMO_OUT)/rust.log
	set -o pipefail; $(DEMO_RUST) read $(DEMO_OUT)/rust.redb | tee -a $(DEMO_OUT)/rust.log

# Every language ran the same workload (examples/README.md): in each log the
# digest read back by the second process equals the one the first process
# wrote, and the digests of all languages are equal.
demo-digests:
	@echo "== digests of the final state, read back by a second process (examples/README.md)"
	@set -e; digests=""; for log in $(DEMO_OUT)/*.log; do \
		d=$$(sed -n 's/^digest *\([0-9a-f]*\)$$/\1/p' $$log); \
		w=$$(sed -n 's/^written *\([0-9a-f]*\)$$/\1/p' $$log); \
		[ -n "$$d" ] || { echo "$$log: no digest"; exit 1; }; \
		if [ -z "$$w" ]; then \
			printf '   %-8s %s (ONE PROCESS: this demo does not yet read its store back in a second process)\n' "$$(basename $$log .log)" "$$d"; \
		else \
			[ "$$w" = "$$d" ] || { echo "$$log: the second process read back $$d, the first wrote $$w"; exit 1; }; \
			printf '   %-8s written %s, read back %s\n' "$$(basename $$log .log)" "$$w" "$$d"; \
		fi; digests="$$digests $$d"; done; \
	n=$$(echo $$digests | tr ' ' '\n' | sort -u | wc -l); \
	[ "$$n" -eq 1 ] || { echo "the digests differ: the languages ended with different data"; exit 1; }; \
	echo "   all equal"

bench: check-tools backend-deps rust-bench $(BENCH_TARGETS)

rust-bench:
	$(CARGO) bench -p topgun-storage-core --bench engine
	$(CARGO) bench -p topgun-storage-core --bench memory
	$(CARGO) bench -p topgun-storage-core --bench record_store
	$(CARGO) bench -p topgun-storage-core --bench write_behind
	$(CARGO) bench -p topgun-storage-core --bench datastores
	$(CORE_CARGO) bench -p topgun-storage-core --bench backends --features "topgun-storage-core/lmdb topgun-storage-core/rocksdb"
	$(CARGO) bench -p topgun-storage-core --bench durable
	$(CARGO) bench -p topgun-storage-core --bench snapshot
	$(CARGO) bench -p topgun-storage-core --bench scaling
