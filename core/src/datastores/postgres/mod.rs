//! [`PostgresDataStore`]: the shared durable tier, in the very table TopGun's
//! TypeScript `PostgresAdapter` uses (feature `postgres`; docs/postgres.md).
//!
//! * [`config`]: [`PostgresConfig`], built from a connection string and a
//!   few options (also by name, for the language bindings).
//! * [`schema`]: the table, the added columns, the trigger, the index, the
//!   backup table, every SQL text, and `initialize`.
//! * [`rows`]: a record as TopGun's TS columns plus this store's exact copy,
//!   and back.
//! * [`client`]: the store's own Tokio runtime, the connection pool, TLS,
//!   timeouts, retries and the mapping of PostgreSQL's errors.

mod client;
mod config;
mod rows;
mod schema;

pub use config::{
    validate_table_name, PostgresConfig, PostgresConfigError, DEFAULT_TABLE_NAME,
    MAX_TABLE_NAME_LEN,
};

use crate::map_data_store::{
    DataStoreError, DataStoreErrorKind, DataStoreResult, Durability, MapDataStore, Namespace,
    ScanEntry, ScanPage, ScanRequest, StoredRecord, WriteOp,
};
use async_trait::async_trait;
use client::Connections;
use rows::{decode_record, ExactColumns, TsColumns};
use schema::{InitError, Statements};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio_postgres::types::ToSql;

/// A [`MapDataStore`] in PostgreSQL, sharing its table with TopGun's
/// TypeScript server.
///
/// **Rows.** The primary namespace lives in TopGun's table (default
/// `topgun_maps`), written exactly as TopGun's `PostgresAdapter` writes it
/// (LWW records as `value` JSONB with `ts_*` columns and `is_deleted` for a
/// `null` value; OR values and OR tombstones as the whole object with
/// `ts_node_id = '__ORMAP__'`), so a TS server and this store read and write
/// the same rows. What those columns cannot hold exactly (map key order,
/// bytes, integer versus float, NaN and infinities, U+0000 in strings,
/// `ttlMs`, the expiry fields of [`StoredRecord`]) is kept in columns this
/// store adds (`tgs_*`); a trigger clears them when anything else rewrites
/// the row, so such a row reads as its writer wrote it. The backup
/// namespace lives in a sibling table. docs/postgres.md has the details.
///
/// **Writes.** A batch is one statement, so one transaction: the TS columns,
/// the exact copy and the removes of every key go to the server as arrays
/// and are expanded with `UNNEST`. A failed batch changes nothing. Keys and
/// values PostgreSQL cannot hold (a key or map name with U+0000, a key too
/// long for the index, a timestamp the `ts_*` columns cannot hold) fail the
/// whole batch with [`DataStoreErrorKind::Rejected`] before anything is
/// written.
///
/// **Reads.** `load` and `load_all` are one statement each; `scan` is a
/// keyset query in UTF-8 byte order (`COLLATE "C"`) served by an index, so a
/// page costs O(log n + page); `list_maps` probes the index once per map.
///
/// **Durability.** An acknowledged write is committed; with
/// [`Durability::Fsync`] (the default) the commit waited for the server's
/// WAL flush, with `Os` and `None` it survives this process dying but not a
/// crash of the server's machine in the fraction of a second before its WAL
/// writer flushes. [`flush`](MapDataStore::flush) makes everything
/// acknowledged durable.
///
/// **Runtime.** Every call runs on the store's own small Tokio runtime (one
/// thread by default) and is awaited through its join handle, so the store
/// neither needs nor blocks a runtime of the host's, and works under
/// `pollster::block_on`. Connections come from a pool; the connect and
/// statement timeouts of [`PostgresConfig`] bound every call.
///
/// **Errors.** A server that cannot be reached, does not answer in time or
/// is shutting down gives [`Unavailable`](DataStoreErrorKind::Unavailable)
/// and nothing changed; later calls reconnect. A connection lost in the
/// middle of a write gives [`Io`](DataStoreErrorKind::Io): the write may or
/// may not have been applied, as with any client of a database server.
/// Reads lost that way are retried once on a new connection.
pub struct PostgresDataStore {
    inner: Arc<Inner>,
    handle: tokio::runtime::Handle,
    /// Taken by `Drop`, which shuts it down without blocking (so dropping
    /// the store inside a host's async task is fine).
    runtime: Option<tokio::runtime::Runtime>,
}

struct Inner {
    connections: Connections,
    sql: Statements,
    config: PostgresConfig,
    closed: AtomicBool,
}

impl std::fmt::Debug for PostgresDataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresDataStore")
            .field("config", &self.inner.config)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresDataStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl PostgresDataStore {
    /// Starts the store's runtime and pool and runs
    /// [`initialize`](Self::initialize).
    ///
    /// # Errors
    ///
    /// [`Unavailable`](DataStoreErrorKind::Unavailable) when the server
    /// cannot be reached within the connect timeout; the errors of
    /// `initialize`; [`Other`](DataStoreErrorKind::Other) for a TLS setup
    /// that cannot work (`sslmode=require` without the `postgres-tls`
    /// feature, an unreadable root certificate file).
    pub async fn connect(config: PostgresConfig) -> DataStoreResult<Self> {
        let runtime = client::runtime(config.runtime_threads)?;
        let handle = runtime.handle().clone();
        // The pool must be built inside the runtime (it spawns there).
        let pool = {
            let _entered = handle.enter();
            client::pool(&config)?
        };
        let store = Self {
            inner: Arc::new(Inner {
                connections: Connections::new(pool, &config),
                sql: Statements::new(config.table_name()),
                config,
                closed: AtomicBool::new(false),
            }),
            handle,
            runtime: Some(runtime),
        };
        store.initialize().await?;
        Ok(store)
    }

    /// Creates whatever is missing of TopGun's table, the columns and the
    /// trigger this store adds to it, its scan index and the backup table
    /// (docs/postgres.md). Idempotent, also on a table TopGun's TS adapter
    /// created, which keeps working; when nothing is missing it changes
    /// nothing and takes no lock on the table.
    ///
    /// # Errors
    ///
    /// [`Other`](DataStoreErrorKind::Other) when a table of that name exists
    /// with another layout (TopGun's Rust server uses the same default name
    /// with an incompatible one), when the server is older than PostgreSQL
    /// 11 or not UTF8, or when the role may not alter the table (it must own
    /// it); [`Unavailable`](DataStoreErrorKind::Unavailable) when the server
    /// cannot be reached.
    pub async fn initialize(&self) -> DataStoreResult<()> {
        self.run(|inner| async move {
            let mut client = inner.connections.checkout().await?;
            let table = &inner.sql.table;
            match inner.sql.initialize(&mut client).await {
                Ok(()) => Ok(()),
                Err(InitError::Refused(e)) => Err(e),
                Err(InitError::Sql(e)) => {
                    let owner_hint = if e.code().is_some_and(|c| c.code() == "42501") {
                        " (the role must own the table to add the columns, trigger and index)"
                    } else {
                        ""
                    };
                    let e = client::statement_error(e, client::Access::Write);
                    Err(DataStoreError::new(
                        e.kind(),
                        format!("initializing table {table} failed{owner_hint}: {e}"),
                    ))
                }
            }
        })
        .await
    }

    /// The configuration the store was connected with.
    #[must_use]
    pub fn config(&self) -> &PostgresConfig {
        &self.inner.config
    }

    /// Runs `f` on the store's runtime and waits for it without blocking the
    /// caller's executor.
    async fn run<T, F>(&self, f: impl FnOnce(Arc<Inner>) -> F) -> DataStoreResult<T>
    where
        T: Send + 'static,
        F: Future<Output = DataStoreResult<T>> + Send + 'static,
    {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(DataStoreError::closed());
        }
        let task = self.handle.spawn(f(Arc::clone(&self.inner)));
        task.await.unwrap_or_else(|e| {
            Err(DataStoreError::new(
                DataStoreErrorKind::Other,
                format!("the PostgreSQL task did not finish: {e}"),
            ))
        })
    }

    fn table(&self, namespace: Namespace) -> &str {
        self.inner.sql.table_of(namespace)
    }
}

/// What PostgreSQL's `text` cannot hold.
fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

fn rejected_text(what: &str, text: &str) -> DataStoreError {
    DataStoreError::new(
        DataStoreErrorKind::Rejected,
        format!(
            "the {what} {text:?} contains U+0000, which PostgreSQL text cannot hold; nothing was written"
        ),
    )
}

/// A write batch, validated and encoded on the caller's thread, owned so it
/// can move to the runtime.
struct Batch {
    map: String,
    namespace: Namespace,
    exact: ExactColumns,
    /// The TS columns of the puts (primary namespace only).
    ts: TsColumns,
    removes: Vec<String>,
}

impl Batch {
    /// The last op of every key (ops apply in order), sorted by key so that
    /// concurrent batches lock rows in one order.
    fn new(map: &str, namespace: Namespace, ops: &[WriteOp<'_>]) -> DataStoreResult<Self> {
        if has_nul(map) {
            return Err(rejected_text("map name", map));
        }
        let mut order: Vec<usize> = (0..ops.len()).collect();
        order.sort_by(|&a, &b| ops[a].key().cmp(ops[b].key()).then(a.cmp(&b)));
        let mut last: Vec<&WriteOp<'_>> = Vec::with_capacity(ops.len());
        for &i in &order {
            match last.last_mut() {
                Some(prev) if prev.key() == ops[i].key() => *prev = &ops[i],
                _ => last.push(&ops[i]),
            }
        }
        let puts = last
            .iter()
            .filter(|op| matches!(op, WriteOp::Put { .. }))
            .count();
        let mut batch = Batch {
            map: map.to_owned(),
            namespace,
            exact: ExactColumns::with_capacity(puts),
            ts: TsColumns::with_capacity(if namespace == Namespace::Primary {
                puts
            } else {
                0
            }),
            removes: Vec::with_capacity(last.len() - puts),
        };
        for op in last {
            let key = op.key();
            if has_nul(key) {
                return Err(rejected_text("key", key));
            }
            match op {
                WriteOp::Put { record, .. } => {
                    if namespace == Namespace::Primary {
                        batch.ts.push(key, &record.value)?;
                    }
                    batch.exact.push(key, record);
                }
                WriteOp::Remove { .. } => batch.removes.push(key.to_owned()),
            }
        }
        Ok(batch)
    }

    async fn apply(self, inner: &Inner) -> DataStoreResult<()> {
        let sql = &inner.sql;
        let ns = self.namespace;
        let (e, t) = (&self.exact, &self.ts);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&self.map];
        let statement = if e.keys.is_empty() {
            params.push(&self.removes);
            sql.remove(ns)
        } else {
            params.extend([
                &e.keys as &(dyn ToSql + Sync),
                &e.records,
                &e.expiration_times,
                &e.max_idle_millis,
                &e.write_times,
            ]);
            if ns == Namespace::Primary {
                params.extend([
                    &t.values as &(dyn ToSql + Sync),
                    &t.ts_millis,
                    &t.ts_counters,
                    &t.ts_node_ids,
                    &t.is_deleted,
                ]);
            }
            if self.removes.is_empty() {
                sql.put(ns)
            } else {
                params.push(&self.removes);
                sql.put_and_remove(ns)
            }
        };
        inner.connections.execute(statement, &params).await?;
        Ok(())
    }
}

/// The smallest string greater than every string that starts with `prefix`
/// (UTF-8 byte order is code point order), or `None` when there is none
/// (`prefix` is empty or all U+10FFFF).
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) {
            0xD7FF => Some('\u{E000}'),
            n => char::from_u32(n + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// `s` up to its first U+0000. No stored key contains one, so "after `s`"
/// and "after this prefix of `s`" select the same keys.
fn before_nul(s: &str) -> &str {
    s.split('\0').next().unwrap_or_default()
}

#[async_trait]
impl MapDataStore for PostgresDataStore {
    async fn write(
        &self,
        map: &str,
        namespace: Namespace,
        ops: &[WriteOp<'_>],
    ) -> DataStoreResult<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(DataStoreError::closed());
        }
        if ops.is_empty() {
            return Ok(());
        }
        let batch = Batch::new(map, namespace, ops)?;
        self.run(|inner| async move { batch.apply(&inner).await })
            .await
    }

    async fn load(
        &self,
        map: &str,
        namespace: Namespace,
        key: &str,
    ) -> DataStoreResult<Option<StoredRecord>> {
        if has_nul(map) || has_nul(key) {
            return self.run(|_| async { Ok(None) }).await;
        }
        let (map_owned, key_owned) = (map.to_owned(), key.to_owned());
        let rows = self
            .run(move |inner| async move {
                inner
                    .connections
                    .query(inner.sql.load(namespace), &[&map_owned, &key_owned])
                    .await
            })
            .await?;
        rows.first()
            .map(|row| decode_record(row, 0, self.table(namespace), map, key))
            .transpose()
    }

    async fn load_all(
        &self,
        map: &str,
        namespace: Namespace,
        keys: &[String],
    ) -> DataStoreResult<Vec<(String, StoredRecord)>> {
        let wanted: Vec<String> = keys.iter().filter(|k| !has_nul(k)).cloned().collect();
        if has_nul(map) || wanted.is_empty() {
            return self.run(|_| async { Ok(Vec::new()) }).await;
        }
        let map_owned = map.to_owned();
        let rows = self
            .run(move |inner| async move {
                inner
                    .connections
                    .query(inner.sql.load_all(namespace), &[&map_owned, &wanted])
                    .await
            })
            .await?;
        let table = self.table(namespace);
        let mut found: HashMap<String, StoredRecord> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let key: String = row.try_get(0).map_err(|e| {
                DataStoreError::new(
                    DataStoreErrorKind::Corrupt,
                    format!("unexpected key column: {e}"),
                )
            })?;
            let record = decode_record(row, 1, table, map, &key)?;
            found.insert(key, record);
        }
        Ok(keys
            .iter()
            .filter_map(|k| found.get(k).map(|r| (k.clone(), r.clone())))
            .collect())
    }

    async fn scan(&self, request: &ScanRequest<'_>) -> DataStoreResult<ScanPage> {
        if request.limit == 0 {
            return Err(DataStoreError::new(
                DataStoreErrorKind::Rejected,
                "scan limit must be at least 1",
            ));
        }
        if has_nul(request.map) || has_nul(request.prefix) {
            // No stored map name or key contains U+0000.
            return self.run(|_| async { Ok(ScanPage::default()) }).await;
        }
        let (from, exclusive) = match request.after {
            Some(after) if after >= request.prefix => (before_nul(after).to_owned(), true),
            _ => (request.prefix.to_owned(), false),
        };
        let end = prefix_end(request.prefix);
        let limit = i64::try_from(request.limit).unwrap_or(i64::MAX - 1) + 1;
        let (namespace, with_records) = (request.namespace, request.with_records);
        let map = request.map.to_owned();
        let rows = self
            .run(move |inner| async move {
                let sql = inner
                    .sql
                    .scan(namespace, exclusive, end.is_some(), with_records);
                let mut params: Vec<&(dyn ToSql + Sync)> = vec![&map, &from];
                if let Some(end) = &end {
                    params.push(end);
                }
                params.push(&limit);
                inner.connections.query(sql, &params).await
            })
            .await?;
        let table = self.table(namespace);
        let mut page = ScanPage::default();
        let more = rows.len() > request.limit;
        for row in rows.iter().take(request.limit) {
            let key: String = row.try_get(0).map_err(|e| {
                DataStoreError::new(
                    DataStoreErrorKind::Corrupt,
                    format!("unexpected key column: {e}"),
                )
            })?;
            let record = with_records
                .then(|| decode_record(row, 1, table, request.map, &key))
                .transpose()?;
            page.entries.push(ScanEntry { key, record });
        }
        if more {
            page.resume_after = page.entries.last().map(|e| e.key.clone());
        }
        Ok(page)
    }

    async fn list_maps(&self) -> DataStoreResult<Vec<String>> {
        let rows = self
            .run(|inner| async move { inner.connections.query(&inner.sql.list_maps, &[]).await })
            .await?;
        let mut names = rows
            .iter()
            .map(|row| row.try_get::<_, String>(0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                DataStoreError::new(
                    DataStoreErrorKind::Corrupt,
                    format!("unexpected map column: {e}"),
                )
            })?;
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    /// With [`Durability::Fsync`] every acknowledged write is already on the
    /// server's disk and this only checks that the store is open; otherwise
    /// it commits a transaction with `synchronous_commit = on`, whose WAL
    /// flush covers every commit before it.
    async fn flush(&self) -> DataStoreResult<()> {
        let durability = self.inner.config.durability;
        self.run(move |inner| async move { flush_wal(&inner, durability).await })
            .await
    }

    /// Flushes, then closes every connection. Later calls fail with
    /// [`Closed`](DataStoreErrorKind::Closed); closing twice succeeds. The
    /// pool is closed even when the flush fails (and its error returned).
    async fn close(&self) -> DataStoreResult<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let durability = self.inner.config.durability;
        let inner = Arc::clone(&self.inner);
        let flushed = self
            .handle
            .spawn(async move {
                let flushed = flush_wal(&inner, durability).await;
                inner.connections.close();
                flushed
            })
            .await;
        flushed.unwrap_or_else(|e| {
            Err(DataStoreError::new(
                DataStoreErrorKind::Other,
                format!("closing the PostgreSQL pool failed: {e}"),
            ))
        })
    }
}

async fn flush_wal(inner: &Inner, durability: Durability) -> DataStoreResult<()> {
    if durability == Durability::Fsync {
        return Ok(());
    }
    inner
        .connections
        .batch_execute("BEGIN; SET LOCAL synchronous_commit = on; SELECT txid_current(); COMMIT")
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RecordValue, Timestamp};

    #[test]
    fn prefix_end_is_the_first_string_past_the_prefix() {
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a").as_deref(), Some("b"));
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{10FFFF}\u{10FFFF}"), None);
        // Every string with the prefix sorts below the end, by bytes.
        for p in ["a", "é", "a\u{10FFFF}", "z\u{D7FF}"] {
            let end = prefix_end(p).unwrap();
            for suffix in ["", "\u{1}", "\u{10FFFF}\u{10FFFF}", "zzz"] {
                assert!(
                    format!("{p}{suffix}").as_bytes() < end.as_bytes(),
                    "{p:?}{suffix:?}"
                );
            }
            assert!(p.as_bytes() < end.as_bytes());
        }
    }

    #[test]
    fn a_batch_keeps_the_last_op_of_each_key_in_key_order() {
        let r = |v: &str| StoredRecord::new(RecordValue::lww(v, Timestamp::new(1, 0, "n")), 1);
        let (a, b) = (r("a"), r("b"));
        let ops = [
            WriteOp::Put {
                key: "z",
                record: &a,
            },
            WriteOp::Put {
                key: "k",
                record: &a,
            },
            WriteOp::Remove { key: "k" },
            WriteOp::Remove { key: "z" },
            WriteOp::Put {
                key: "z",
                record: &b,
            },
            WriteOp::Remove { key: "m" },
        ];
        let batch = Batch::new("map", Namespace::Primary, &ops).unwrap();
        assert_eq!(batch.exact.keys, ["z"]);
        assert_eq!(batch.ts.values, ["\"b\""]);
        assert_eq!(batch.removes, ["k", "m"]);
        let backup = Batch::new("map", Namespace::Backup, &ops).unwrap();
        assert!(backup.ts.values.is_empty());
        assert_eq!(backup.exact.keys, ["z"]);
    }

    #[test]
    fn text_postgres_cannot_hold_is_rejected_before_anything_is_sent() {
        let r = StoredRecord::new(RecordValue::lww("v", Timestamp::new(1, 0, "n")), 1);
        let ops = [
            WriteOp::Put {
                key: "ok",
                record: &r,
            },
            WriteOp::Remove { key: "a\0b" },
        ];
        let err = Batch::new("m", Namespace::Primary, &ops).err().unwrap();
        assert_eq!(err.kind(), DataStoreErrorKind::Rejected);
        assert!(err.message().contains("U+0000"), "{err}");
        let err = Batch::new("m\0", Namespace::Backup, &ops[..1])
            .err()
            .unwrap();
        assert_eq!(err.kind(), DataStoreErrorKind::Rejected);
        assert_eq!(before_nul("ab\0c\0"), "ab");
        assert_eq!(before_nul("abc"), "abc");
    }
}
