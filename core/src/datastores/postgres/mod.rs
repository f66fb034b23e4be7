//! [`PostgresDataStore`]: the shared durable tier, in the very table TopGun's
//! TypeScript `PostgresAdapter` uses (feature `postgres`; docs/postgres.md).
//!
//! * `config`: [`PostgresConfig`], built from a connection string and a
//!   few options (also by name, for the language bindings).
//! * `schema`: the table, the added columns, the guard triggers, the
//!   key-order index, the extra table, the SQL of every read, and
//!   `initialize`.
//! * `rows`: a record as TopGun's TS columns plus this store's exact copy,
//!   and back.
//! * `batch`: a write batch, validated and encoded, as one statement.
//! * `client`: the store's own Tokio runtime, the connection pool, TLS,
//!   timeouts, retries and the mapping of PostgreSQL's errors.

mod batch;
mod client;
mod config;
mod rows;
mod schema;

pub use batch::{MAX_KEY_LEN, MAX_MAP_NAME_LEN};
pub use config::{
    validate_table_name, PostgresConfig, PostgresConfigError, DEFAULT_TABLE_NAME,
    MAX_TABLE_NAME_LEN,
};

use crate::map_data_store::{
    DataStoreError, DataStoreErrorKind, DataStoreResult, Durability, MapDataStore, Namespace,
    ScanEntry, ScanPage, ScanRequest, StoredRecord, WriteOp,
};
use async_trait::async_trait;
use batch::{ts_table_holds, Batch};
use client::Connections;
use rows::decode_record;
use schema::{InitError, Statements, Table};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

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
/// `ttlMs`, the expiry fields of [`StoredRecord`]) is kept in an exact copy
/// beside it (the column `tgs_record`); triggers drop the copy when
/// anything else rewrites the row, so such a row reads as its writer wrote
/// it. The backup namespace, and keys or map names holding U+0000 (which
/// `text` cannot hold), live in a sibling table keyed by bytes.
/// docs/postgres.md has the details.
///
/// **Writes.** A batch is one statement, so one transaction: the TS columns,
/// the exact copy and the removes of every key go to the server as arrays
/// and are expanded with `UNNEST`. A failed batch changes nothing. A key
/// over [`MAX_KEY_LEN`] bytes or a map name over [`MAX_MAP_NAME_LEN`] (so
/// that every index entry fits PostgreSQL's btree limit), and a row the
/// server refuses, fail the whole batch with
/// [`DataStoreErrorKind::Rejected`].
///
/// **Reads.** `load` is one statement; `load_all` and `scan` read both
/// tables in one round trip (two pipelined statements); `scan` is a keyset
/// query in UTF-8 byte order (`COLLATE "C"`) served by an index, so a page
/// costs O(log n + page); `list_maps` probes the indexes once per map.
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

    /// The name of `table`, for messages.
    fn table_name(&self, table: Table) -> &str {
        match table {
            Table::Ts => &self.inner.sql.table,
            Table::Extra => &self.inner.sql.extra_table,
        }
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

/// The key in column 0 of a row of `table`: text in TopGun's table, bytes
/// in the extra table.
fn key_of(row: &Row, table: Table) -> DataStoreResult<String> {
    let bad = |why: String| DataStoreError::new(DataStoreErrorKind::Corrupt, why);
    match table {
        Table::Ts => row
            .try_get::<_, String>(0)
            .map_err(|e| bad(format!("unexpected key column: {e}"))),
        Table::Extra => {
            let bytes: Vec<u8> = row
                .try_get(0)
                .map_err(|e| bad(format!("unexpected key column: {e}")))?;
            String::from_utf8(bytes).map_err(|e| bad(format!("a stored key is not UTF-8: {e}")))
        }
    }
}

/// Merges rows of both tables, each list sorted by key, into one list sorted
/// by key (UTF-8 byte order), keeping at most `limit`.
fn merge_sorted(
    a: Vec<(String, Row, Table)>,
    b: Vec<(String, Row, Table)>,
    limit: usize,
) -> Vec<(String, Row, Table)> {
    let mut out = Vec::with_capacity((a.len() + b.len()).min(limit));
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    while out.len() < limit {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.0 <= y.0,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        out.extend(if take_a { a.next() } else { b.next() });
    }
    out
}

fn keyed(rows: Vec<Row>, table: Table) -> DataStoreResult<Vec<(String, Row, Table)>> {
    rows.into_iter()
        .map(|row| Ok((key_of(&row, table)?, row, table)))
        .collect()
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
        self.run(|inner| async move {
            let (sql, params) = batch.statement(&inner.sql);
            inner.connections.execute(&sql, &params).await.map(|_| ())
        })
        .await
    }

    async fn load(
        &self,
        map: &str,
        namespace: Namespace,
        key: &str,
    ) -> DataStoreResult<Option<StoredRecord>> {
        let in_ts = ts_table_holds(map, namespace) && !key.contains('\0');
        let (map_owned, key_owned) = (map.to_owned(), key.to_owned());
        let rows = self
            .run(move |inner| async move {
                if in_ts {
                    let sql = &inner.sql.load_ts;
                    inner
                        .connections
                        .query(sql, &[&map_owned, &key_owned])
                        .await
                } else {
                    let is_backup = namespace == Namespace::Backup;
                    let (m, k) = (map_owned.into_bytes(), key_owned.into_bytes());
                    let sql = &inner.sql.load_extra;
                    inner.connections.query(sql, &[&is_backup, &m, &k]).await
                }
            })
            .await?;
        rows.first()
            .map(|row| {
                let table = if in_ts { Table::Ts } else { Table::Extra };
                decode_record(row, 0, self.table_name(table), map, key)
            })
            .transpose()
    }

    async fn load_all(
        &self,
        map: &str,
        namespace: Namespace,
        keys: &[String],
    ) -> DataStoreResult<Vec<(String, StoredRecord)>> {
        let in_ts = ts_table_holds(map, namespace);
        let (text_keys, byte_keys): (Vec<&String>, Vec<&String>) =
            keys.iter().partition(|k| in_ts && !k.contains('\0'));
        let text_keys: Vec<String> = text_keys.into_iter().cloned().collect();
        let byte_keys: Vec<Vec<u8>> = byte_keys
            .into_iter()
            .map(|k| k.as_bytes().to_vec())
            .collect();
        let map_owned = map.to_owned();
        let is_backup = namespace == Namespace::Backup;
        let results = self
            .run(move |inner| async move {
                let map_bytes = map_owned.as_bytes().to_vec();
                let ts: [&(dyn ToSql + Sync); 2] = [&map_owned, &text_keys];
                let extra: [&(dyn ToSql + Sync); 3] = [&is_backup, &map_bytes, &byte_keys];
                let mut statements: Vec<(&str, &[&(dyn ToSql + Sync)])> = Vec::new();
                let mut tables = Vec::new();
                if !text_keys.is_empty() {
                    statements.push((&inner.sql.load_all_ts, &ts));
                    tables.push(Table::Ts);
                }
                if !byte_keys.is_empty() {
                    statements.push((&inner.sql.load_all_extra, &extra));
                    tables.push(Table::Extra);
                }
                let rows = inner.connections.query_pipelined(&statements).await?;
                Ok(tables.into_iter().zip(rows).collect::<Vec<_>>())
            })
            .await?;
        let mut found: HashMap<String, StoredRecord> = HashMap::with_capacity(keys.len());
        for (table, rows) in results {
            for row in rows {
                let key = key_of(&row, table)?;
                let record = decode_record(&row, 1, self.table_name(table), map, &key)?;
                found.insert(key, record);
            }
        }
        Ok(keys
            .iter()
            .filter_map(|k| found.get(k).map(|r| (k.clone(), r.clone())))
            .collect())
    }

    async fn scan(&self, request: &ScanRequest<'_>) -> DataStoreResult<ScanPage> {
        request.check()?;
        let (from, exclusive) = match request.after {
            Some(after) if after >= request.prefix => (after.to_owned(), true),
            _ => (request.prefix.to_owned(), false),
        };
        let end = prefix_end(request.prefix);
        let limit = i64::try_from(request.limit).unwrap_or(i64::MAX - 1) + 1;
        let (namespace, with_records) = (request.namespace, request.with_records);
        // The primary rows of a map whose name has no U+0000 are in both
        // tables (keys with U+0000 in the extra one); TopGun's table holds no
        // key with U+0000, so a prefix holding one matches only the extra
        // table.
        let both = ts_table_holds(request.map, namespace) && !request.prefix.contains('\0');
        let map = request.map.to_owned();
        let (ts_rows, extra_rows) = self
            .run(move |inner| async move {
                let bounded = end.is_some();
                let is_backup = namespace == Namespace::Backup;
                let (map_bytes, from_bytes) = (map.as_bytes().to_vec(), from.as_bytes().to_vec());
                let end_bytes = end.as_ref().map(|e| e.as_bytes().to_vec());
                // Text keys hold no U+0000: "after s" is "after s up to its
                // first U+0000" for them.
                let from_text = before_nul(&from).to_owned();
                let mut ts: Vec<&(dyn ToSql + Sync)> = vec![&map, &from_text];
                let mut extra: Vec<&(dyn ToSql + Sync)> = vec![&is_backup, &map_bytes, &from_bytes];
                if let (Some(end), Some(end_bytes)) = (&end, &end_bytes) {
                    ts.push(end);
                    extra.push(end_bytes);
                }
                ts.push(&limit);
                extra.push(&limit);
                let sql = &inner.sql;
                let extra_sql = sql.scan(Table::Extra, exclusive, bounded, with_records);
                let mut statements = vec![(extra_sql, extra.as_slice())];
                if both {
                    let ts_sql = sql.scan(Table::Ts, exclusive, bounded, with_records);
                    statements.insert(0, (ts_sql, ts.as_slice()));
                }
                let mut rows = inner.connections.query_pipelined(&statements).await?;
                let extra_rows = rows.pop().unwrap_or_default();
                Ok((rows.pop().unwrap_or_default(), extra_rows))
            })
            .await?;
        let rows = merge_sorted(
            keyed(ts_rows, Table::Ts)?,
            keyed(extra_rows, Table::Extra)?,
            request.limit.saturating_add(1),
        );
        let mut page = ScanPage::default();
        let more = rows.len() > request.limit;
        for (key, row, table) in rows.into_iter().take(request.limit) {
            let record = with_records
                .then(|| decode_record(&row, 1, self.table_name(table), request.map, &key))
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
            .map(|row| key_of(row, Table::Extra))
            .collect::<DataStoreResult<Vec<_>>>()?;
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
    fn before_nul_cuts_at_the_first_nul() {
        assert_eq!(before_nul("ab\0c\0"), "ab");
        assert_eq!(before_nul("abc"), "abc");
        assert_eq!(before_nul("\0"), "");
    }
}
