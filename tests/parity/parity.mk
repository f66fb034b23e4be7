# tests/parity/parity.mk: the cross-language parity suite (tests/parity/README.md).
#
#   make parity   run every scenario from each language's runner against each
#                 backend (memory, redb, lmdb, rocksdb, and postgres on a
#                 throwaway cluster), then check that on every backend all
#                 transcripts are identical and match the expected results
#                 (compare.py names the backend, scenario, step and difference
#                 and prints the scenarios passed per backend and language)
#
#   make parity PARITY_BACKENDS="memory redb"   a subset of the backends

PARITY_TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
PARITY_OUT := $(PARITY_TARGET_DIR)/parity
PARITY_SCENARIOS := $(sort $(wildcard tests/parity/scenarios/*.json))
PARITY_RUST := $(PARITY_TARGET_DIR)/release/parity-rust
PARITY_C := $(PARITY_OUT)/bin/runner-c
# Languages compared, and the backends each of them replays the scenarios on.
PARITY_LANGS := rust c python node
PARITY_BACKENDS := memory redb lmdb rocksdb postgres
# Durability of the durable stores: `os` (no fsync) keeps the suite fast; a
# reopen after a close reads the same data at every level (what survives a
# crash is the crash harness's subject, tests/crash/README.md).
PARITY_DURABILITY := os

# A NOT RUN step (a call a language's durable API lacks) or a known
# divergence is reported and counted, never passed, and fails the suite:
# every language runs every step on every backend. `make parity
# PARITY_ALLOW_NOT_RUN=--allow-not-run` reports them without failing (while
# bringing up a new language or backend).
PARITY_ALLOW_NOT_RUN :=

# How each language's runner is started: CMD MODE [--backend B --at LOC
# --durability D] OUT_DIR SCENARIO...; C reads the flattened scenarios.
PARITY_CMD_rust := $(PARITY_RUST)
PARITY_CMD_c := $(PARITY_C)
PARITY_CMD_python = $(PY_TESTPY) tests/parity/runners/python/runner.py
PARITY_CMD_node := node tests/parity/runners/node/runner.mjs
PARITY_FILES_rust := $(PARITY_SCENARIOS)
PARITY_FILES_c := $(PARITY_OUT)/flat/*.tsv
PARITY_FILES_python := $(PARITY_SCENARIOS)
PARITY_FILES_node := $(PARITY_SCENARIOS)

.PHONY: parity parity-build parity-build-rust parity-build-c parity-runs

TEST_TARGETS += parity

parity: parity-build
	rm -rf $(PARITY_OUT)/runs
	$(if $(filter postgres,$(PARITY_BACKENDS)),$(WITH_POSTGRES)) $(MAKE) --no-print-directory parity-runs
	python3 tests/parity/compare.py $(PARITY_ALLOW_NOT_RUN) tests/parity/scenarios $(PARITY_OUT)/runs \
		$(subst $() ,$(,),$(strip $(PARITY_BACKENDS))) $(subst $() ,$(,),$(strip $(PARITY_LANGS)))

, := ,

# Everything the runners need: the Rust runner (with every backend), the C
# runner and the flattened scenarios, the wheel, the addon.
parity-build: parity-build-rust parity-build-c python-install node-build

parity-build-rust: backend-deps
	$(CORE_CARGO) build --release -p topgun-storage-parity

# The C runner reads scenarios flattened by the Rust tool (C has no JSON
# parser) and links the static library, as a C program would.
parity-build-c: parity-build-rust ffi-build
	mkdir -p $(PARITY_OUT)/bin
	$(FFI_CC) $(FFI_CFLAGS) -Iinclude tests/parity/runners/c/runner.c \
		$(FFI_RELEASE)/libtopgun_storage.a $(FFI_PRIVATE_LIBS) -o $(PARITY_C)
	rm -rf $(PARITY_OUT)/flat
	$(PARITY_RUST) flatten $(PARITY_OUT)/flat $(PARITY_SCENARIOS)

# For each backend: the writers of the cross-language scenarios first
# (`write`), then every language's run. Stores live under
# runs/<backend>/stores (files and directories) or in tables of the cluster
# (postgres); transcripts under runs/<backend>/<lang>.
parity-runs:
	@set -e; for backend in $(PARITY_BACKENDS); do \
		at=$(PARITY_OUT)/runs/$$backend/stores; \
		if [ $$backend = postgres ]; then at="$$TOPGUN_TEST_POSTGRES_URL"; fi; \
		mkdir -p $(PARITY_OUT)/runs/$$backend/stores $(foreach lang,$(PARITY_LANGS),$(PARITY_OUT)/runs/$$backend/$(lang)); \
		for mode in write run; do \
			$(foreach lang,$(PARITY_LANGS),echo "== parity $$mode $(lang) on $$backend"; \
			$(PARITY_CMD_$(lang)) $$mode --backend $$backend --at "$$at" --durability $(PARITY_DURABILITY) \
				$(PARITY_OUT)/runs/$$backend/$(lang) $(PARITY_FILES_$(lang));) \
		done; \
	done
