# tests/parity/parity.mk: the cross-language parity suite (tests/parity/README.md).
#
#   make parity   run every scenario from each language's runner, then check
#                 that all transcripts are identical and match the expected
#                 results (compare.py names the scenario, step and difference)

PARITY_TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
PARITY_OUT := $(PARITY_TARGET_DIR)/parity
PARITY_SCENARIOS := $(sort $(wildcard tests/parity/scenarios/*.json))
PARITY_RUST := $(PARITY_TARGET_DIR)/release/parity-rust
PARITY_C := $(PARITY_OUT)/bin/runner-c
# Languages compared; each has a parity-run-<lang> target below.
PARITY_LANGS := rust c python node

.PHONY: parity parity-build-rust parity-run-rust parity-run-c parity-run-python parity-run-node

TEST_TARGETS += parity

parity: $(addprefix parity-run-,$(PARITY_LANGS))
	python3 tests/parity/compare.py tests/parity/scenarios $(PARITY_OUT) $(PARITY_LANGS)

parity-build-rust:
	$(CARGO) build --release -p topgun-storage-parity

parity-run-rust: parity-build-rust
	rm -rf $(PARITY_OUT)/rust
	$(PARITY_RUST) run $(PARITY_OUT)/rust $(PARITY_SCENARIOS)

# The C runner reads scenarios flattened by the Rust tool (C has no JSON
# parser) and links the static library, as a C program would.
parity-run-c: parity-build-rust ffi-build
	mkdir -p $(PARITY_OUT)/bin
	$(FFI_CC) $(FFI_CFLAGS) -Iinclude tests/parity/runners/c/runner.c \
		$(FFI_RELEASE)/libtopgun_storage.a $(FFI_PRIVATE_LIBS) -o $(PARITY_C)
	rm -rf $(PARITY_OUT)/flat $(PARITY_OUT)/c
	$(PARITY_RUST) flatten $(PARITY_OUT)/flat $(PARITY_SCENARIOS)
	mkdir -p $(PARITY_OUT)/c
	$(PARITY_C) $(PARITY_OUT)/c $(PARITY_OUT)/flat/*.tsv

# Against the wheel installed in python.mk's clean test venv.
parity-run-python: python-install
	rm -rf $(PARITY_OUT)/python
	$(PY_TESTPY) tests/parity/runners/python/runner.py $(PARITY_OUT)/python $(PARITY_SCENARIOS)

# Against the addon built by node.mk, loaded as a user loads the package.
parity-run-node: node-build
	rm -rf $(PARITY_OUT)/node
	node tests/parity/runners/node/runner.mjs $(PARITY_OUT)/node $(PARITY_SCENARIOS)
