# topgun-storage: the commands the README names.
#   make test   format check, clippy (-D warnings), every test
#   make demo   build and run the example workload
#   make bench  benchmarks with same-run baselines (prints ratios)

CARGO ?= cargo
SHELL := /bin/bash

.PHONY: test demo bench check-tools fmt-check clippy rust-test

test: check-tools fmt-check clippy rust-test

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

demo: check-tools
	$(CARGO) run --release -p topgun-storage-example

bench: check-tools
	$(CARGO) bench -p topgun-storage-core --bench engine
	$(CARGO) bench -p topgun-storage-core --bench memory
