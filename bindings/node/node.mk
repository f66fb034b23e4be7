# bindings/node/node.mk: the Node.js addon (npm package `topgun-storage`).
# Included by the root Makefile; paths are relative to the repository root.
#
#   make node-deps      npm ci in bindings/node (node_modules/ from the lockfile)
#   make node-build     release build of the addon with the local @napi-rs/cli;
#                       copies the .node file next to package.json
#   make node-typings   regenerate the committed index.js / index.d.ts
#   make node-test      typings drift check, node --test, tsc --noEmit, deep
#                       values against a debug build of the addon
#   make node-bench     N1-N5 and D5 (docs/benchmarks.md)
#   make node-bench-deps better-sqlite3 for N5 and D5 (bench/sqlite/, built here)
#   make node-demo      run examples/node/quickstart.mjs

NODE_DIR := bindings/node
NODE_NAPI := node_modules/.bin/napi
NODE_TSC := node_modules/.bin/tsc
# napi build writes the addon and the generated loader/typings here; the
# drift check compares them with the committed ones.
NODE_GEN := $(abspath $(or $(CARGO_TARGET_DIR),target)/node-gen)
NODE_STAMP := $(NODE_DIR)/node_modules/.package-lock.json
# The backends of core built into the addon (cargo features of
# topgun-storage-node; docs/node.md, "Durable stores"), linked as the Rust
# tests link them (ROCKSDB_ENV in the Makefile).
NODE_FEATURES := lmdb rocksdb postgres-tls
NODE_NAPI_BUILD = $(ROCKSDB_ENV) $(NODE_NAPI) build --platform

.PHONY: node-check-tools node-deps node-build node-typings node-typings-check \
	node-test node-debug-test node-bench node-bench-deps node-demo

node-check-tools:
	@command -v node >/dev/null || { echo "node not found: install Node.js 18 or newer (https://nodejs.org)"; exit 1; }
	@command -v npm >/dev/null || { echo "npm not found: install npm (it ships with Node.js)"; exit 1; }

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund
	@touch $@

node-deps: node-check-tools $(NODE_STAMP)

node-build: node-deps backend-deps
	rm -rf $(NODE_GEN) && mkdir -p $(NODE_GEN)
	cd $(NODE_DIR) && $(NODE_NAPI_BUILD) --release --features "$(NODE_FEATURES)" --output-dir $(NODE_GEN)
	cp $(NODE_GEN)/*.node $(NODE_DIR)/

node-typings: node-build
	cp $(NODE_GEN)/index.js $(NODE_GEN)/index.d.ts $(NODE_DIR)/

node-typings-check: node-build
	@diff -u $(NODE_DIR)/index.d.ts $(NODE_GEN)/index.d.ts && diff -u $(NODE_DIR)/index.js $(NODE_GEN)/index.js \
		|| { echo "bindings/node/index.js / index.d.ts differ from what the Rust source generates: run 'make node-typings' and commit them"; exit 1; }

# test/durable.test.js runs PostgreSQL against a throwaway cluster.
node-test: node-typings-check node-debug-test
	$(WITH_POSTGRES) bash -c 'cd $(NODE_DIR) && node --test test/*.test.js test/*.test.mjs'
	cd $(NODE_DIR) && $(NODE_TSC) -p test/types

# A debug build of the addon (large frames, the case where recursion used to
# overflow the native stack), run only by test/debug/deep-values.js.
NODE_DEBUG_GEN := $(abspath $(or $(CARGO_TARGET_DIR),target)/node-debug)
node-debug-test: node-deps
	rm -rf $(NODE_DEBUG_GEN) && mkdir -p $(NODE_DEBUG_GEN)
	cd $(NODE_DIR) && $(NODE_NAPI_BUILD) --output-dir $(NODE_DEBUG_GEN)
	cd $(NODE_DIR) && node test/debug/deep-values.js $$(ls $(NODE_DEBUG_GEN)/*.node)

# The benchmarks need the baseline class: an addon built with the
# `bench-baselines` feature (node-build and node-test put the plain one back).
node-bench: node-deps node-bench-deps backend-deps
	rm -rf $(NODE_GEN) && mkdir -p $(NODE_GEN)
	cd $(NODE_DIR) && $(NODE_NAPI_BUILD) --release --features "bench-baselines $(NODE_FEATURES)" --output-dir $(NODE_GEN)
	cp $(NODE_GEN)/*.node $(NODE_DIR)/
	cd $(NODE_DIR) && node bench/bench.js
	cd $(NODE_DIR) && node bench/adapter.js
	cd $(NODE_DIR) && node bench/d5.js

# better-sqlite3 12 (the baseline of N5 and D5) from the lockfile in
# bench/sqlite/. Its install script would fetch a prebuilt binary from GitHub; instead the
# scripts are skipped and node-gyp (locked too) compiles it against the
# headers installed with Node (<prefix>/include/node; a C compiler, make and
# python3 are needed).
NODE_SQLITE_DIR := $(NODE_DIR)/bench/sqlite
NODE_SQLITE_ADDON := $(NODE_SQLITE_DIR)/node_modules/better-sqlite3/build/Release/better_sqlite3.node
$(NODE_SQLITE_ADDON): $(NODE_SQLITE_DIR)/package.json $(NODE_SQLITE_DIR)/package-lock.json
	cd $(NODE_SQLITE_DIR) && npm ci --no-audit --no-fund --ignore-scripts
	cd $(NODE_SQLITE_DIR)/node_modules/better-sqlite3 && ../.bin/node-gyp configure --release \
		--nodedir="$$(node -p 'require("path").resolve(process.execPath, "../..")')"
	$(MAKE) -C $(NODE_SQLITE_DIR)/node_modules/better-sqlite3/build BUILDTYPE=Release
	@test -f $@

node-bench-deps: node-check-tools $(NODE_SQLITE_ADDON)

node-demo: node-build
	node examples/node/quickstart.mjs
	mkdir -p $(DEMO_OUT)
	set -o pipefail; node examples/node/demo.mjs write $(DEMO_OUT)/node.redb | tee $(DEMO_OUT)/node.log
	set -o pipefail; node examples/node/demo.mjs read $(DEMO_OUT)/node.redb | tee -a $(DEMO_OUT)/node.log

TEST_TARGETS += node-test
BENCH_TARGETS += node-bench
DEMO_TARGETS += node-demo
