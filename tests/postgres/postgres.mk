# tests/postgres/postgres.mk: the throwaway PostgreSQL server of the
# PostgreSQL data store's tests and benchmarks (docs/postgres.md).
#
# $(WITH_POSTGRES) CMD runs CMD with a fresh cluster in target/postgres
# (cluster.sh: initdb, a free port on 127.0.0.1, TLS with a test CA; as the
# postgres user when run as root) and stops it however CMD ends.
#
#   make postgres-shell       start the cluster and open psql on it (stopped on exit)
#   make postgres-node-deps   the `pg` package for TopGun's TS adapter in Node
#                             (tests/postgres/node/: the compatibility tests, D6)
#   make postgres-bench       D6 and D8 (PostgreSQL) against their same-run
#                             baselines (core/benches/postgres.rs; part of make bench)

PG_CLUSTER := tests/postgres/cluster.sh
PG_CLUSTER_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target)/postgres)
WITH_POSTGRES := $(PG_CLUSTER) run $(PG_CLUSTER_DIR)

PG_NODE_DIR := tests/postgres/node
PG_NODE_STAMP := $(PG_NODE_DIR)/node_modules/.package-lock.json

.PHONY: postgres-shell postgres-node-deps postgres-bench

BENCH_TARGETS += postgres-bench

postgres-shell:
	$(WITH_POSTGRES) bash -c 'psql "$$TOPGUN_TEST_POSTGRES_URL"'

$(PG_NODE_STAMP): $(PG_NODE_DIR)/package.json $(PG_NODE_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 18 or newer (https://nodejs.org)"; exit 1; }
	cd $(PG_NODE_DIR) && npm ci --no-audit --no-fund
	@touch $@

postgres-node-deps: $(PG_NODE_STAMP)

postgres-bench: postgres-node-deps
	$(WITH_POSTGRES) $(CARGO) bench -p topgun-storage-core --features postgres --bench postgres
