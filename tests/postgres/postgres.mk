# tests/postgres/postgres.mk: the throwaway PostgreSQL server of the
# PostgreSQL data store's tests and benchmarks (docs/postgres.md).
#
# $(WITH_POSTGRES) CMD runs CMD with a fresh cluster in target/postgres
# (cluster.sh: initdb, a free port on 127.0.0.1, TLS with a test CA; as the
# postgres user when run as root) and stops it however CMD ends.
#
#   make postgres-shell   start the cluster and open psql on it (stopped on exit)

PG_CLUSTER := tests/postgres/cluster.sh
PG_CLUSTER_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target)/postgres)
WITH_POSTGRES := $(PG_CLUSTER) run $(PG_CLUSTER_DIR)

.PHONY: postgres-shell

postgres-shell:
	$(WITH_POSTGRES) bash -c 'psql "$$TOPGUN_TEST_POSTGRES_URL"'
