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
# Each demo writes its output here too; demo-digests compares the digests.
DEMO_OUT := $(or $(CARGO_TARGET_DIR),target)/demo
TEST_TARGETS :=
BENCH_TARGETS :=
DEMO_TARGETS :=

include $(sort $(wildcard ffi/*.mk bindings/*/*.mk)) $(wildcard tests/parity/*.mk)

.PHONY: test demo bench check-tools fmt-check clippy deps-check rust-test rust-demo rust-bench demo-digests

test: check-tools fmt-check clippy deps-check rust-test $(TEST_TARGETS)

# Checks only: a test run never changes the toolchain.
check-tools:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)"; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || { echo "rustfmt not found: run 'rustup component add rustfmt'"; exit 1; }
	@$(CARGO) clippy --version >/dev/null 2>&1 || { echo "clippy not found: run 'rustup component add clippy'"; exit 1; }

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

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
rust-test:
	$(CARGO) test --workspace

demo: check-tools rust-demo $(DEMO_TARGETS) demo-digests

rust-demo:
	mkdir -p $(DEMO_OUT)
	set -o pipefail; $(CARGO) run --release -p topgun-storage-example | tee $(DEMO_OUT)/rust.log

# Every language ran the same workload (examples/README.md): the digests of
# their final states must be equal.
demo-digests:
	@echo "== digests of the final state (examples/README.md)"
	@set -e; digests=""; for log in $(DEMO_OUT)/*.log; do \
		d=$$(sed -n 's/^digest *\([0-9a-f]*\)$$/\1/p' $$log); \
		[ -n "$$d" ] || { echo "$$log: no digest"; exit 1; }; \
		printf '   %-8s %s\n' "$$(basename $$log .log)" "$$d"; digests="$$digests $$d"; done; \
	n=$$(echo $$digests | tr ' ' '\n' | sort -u | wc -l); \
	[ "$$n" -eq 1 ] || { echo "the digests differ: the languages ended with different data"; exit 1; }; \
	echo "   all equal"

bench: check-tools rust-bench $(BENCH_TARGETS)

rust-bench:
	$(CARGO) bench -p topgun-storage-core --bench engine
	$(CARGO) bench -p topgun-storage-core --bench memory
	$(CARGO) bench -p topgun-storage-core --bench record_store
