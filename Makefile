# topgun-storage: the commands the README names.
#   make test   format check, clippy (-D warnings), every test of every part
#   make demo   build and run the example workload
#   make bench  benchmarks with same-run baselines (prints ratios)
#
# Each part beside core/ (ffi/, bindings/python/, bindings/node/,
# tests/parity/) brings a fragment NAME.mk that adds its own targets to
# TEST_TARGETS, BENCH_TARGETS and DEMO_TARGETS; they run after the Rust
# checks, in the order listed.

CARGO ?= cargo
SHELL := /bin/bash
TEST_TARGETS :=
BENCH_TARGETS :=
DEMO_TARGETS :=

include $(sort $(wildcard ffi/*.mk bindings/*/*.mk)) $(wildcard tests/parity/*.mk)

.PHONY: test demo bench check-tools fmt-check clippy rust-test rust-demo rust-bench

test: check-tools fmt-check clippy rust-test $(TEST_TARGETS)

check-tools:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)"; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Benchmarks are compiled (and linted) by clippy --all-targets, not run here.
rust-test:
	$(CARGO) test --workspace

demo: check-tools rust-demo $(DEMO_TARGETS)

rust-demo:
	$(CARGO) run --release -p topgun-storage-example

bench: check-tools rust-bench $(BENCH_TARGETS)

rust-bench:
	$(CARGO) bench -p topgun-storage-core --bench engine
	$(CARGO) bench -p topgun-storage-core --bench memory
	$(CARGO) bench -p topgun-storage-core --bench record_store
