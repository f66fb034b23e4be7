//! `PostgresDataStore`: the core and durable groups, against the throwaway
//! server `make rust-test` starts (`tests/postgres/cluster.sh`). Each
//! location is a table of its own, dropped with the location; reopening
//! connects a new store (new runtime, new pool) to the same table. The
//! backend-specific tests (TopGun's TS adapter beside it, the trigger,
//! timeouts, TLS, a server restart) are in `core/tests/postgres/`.

use crate::harness::Harness;
use std::sync::atomic::{AtomicU32, Ordering};
use topgun_storage_core::datastores::postgres::MAX_KEY_LEN;
use topgun_storage_core::datastores::{PostgresConfig, PostgresDataStore};
use topgun_storage_core::{block_on, DataStoreResult};

pub struct PostgresHarness;

fn url() -> String {
    std::env::var("TOPGUN_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "TOPGUN_TEST_POSTGRES_URL is not set: the PostgreSQL cases need the throwaway \
             server that `make rust-test` starts (tests/postgres/cluster.sh)"
        )
    })
}

/// A table of its own; dropping it drops the table and what the store
/// added beside it.
pub struct Table(String);

impl Drop for Table {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&url(), postgres::NoTls) {
            let t = &self.0;
            let _ = client.batch_execute(&format!(
                "DROP TABLE IF EXISTS {t}, {t}_tgs_extra; DROP FUNCTION IF EXISTS {t}_tgs_guard()"
            ));
        }
    }
}

impl Harness for PostgresHarness {
    type Store = PostgresDataStore;
    type Location = Table;

    fn new_location() -> Table {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        Table(format!("conformance_{}_{n}", std::process::id()))
    }

    fn open(table: &Table) -> DataStoreResult<PostgresDataStore> {
        let config = PostgresConfig::from_connection_string(&url())
            .unwrap()
            .with_table_name(&table.0)
            .unwrap();
        block_on(PostgresDataStore::connect(config))
    }

    fn max_key_len() -> Option<usize> {
        Some(MAX_KEY_LEN)
    }
}
