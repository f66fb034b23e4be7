//! [`RocksDbDataStore`]: the RocksDB backend (feature `rocksdb`), on
//! rust-rocksdb.

use crate::datastores::format;
use crate::map_data_store::{
    DataStoreError, DataStoreErrorKind, DataStoreResult, Durability, MapDataStore, Namespace,
    ScanPage, ScanRequest, StoredRecord, WriteOp,
};
use ::rocksdb::{
    DBCompressionType, DBRecoveryMode, ErrorKind, Options, ReadOptions, WriteBatch, WriteOptions,
    DB,
};
use async_trait::async_trait;
use parking_lot::RwLock;
use std::fs;
use std::ops::Bound;
use std::path::{Path, PathBuf};

/// Settings of a [`RocksDbDataStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RocksDbOptions {
    /// When an acknowledged write is on disk (see [`RocksDbDataStore`] for
    /// how each level maps to RocksDB's write options). Default `Fsync`.
    pub durability: Durability,
    /// Size of one memtable in bytes before it is flushed to an SST file
    /// (RocksDB's `write_buffer_size`). Default 64 MiB.
    pub write_buffer_size: usize,
    /// Threads for background flushes and compactions
    /// (`increase_parallelism`). Default 2.
    pub background_threads: i32,
}

impl Default for RocksDbOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Fsync,
            write_buffer_size: 64 << 20,
            background_threads: 2,
        }
    }
}

impl RocksDbOptions {
    /// The default options at durability `durability`.
    #[must_use]
    pub fn with_durability(durability: Durability) -> Self {
        Self {
            durability,
            ..Self::default()
        }
    }
}

/// A [`MapDataStore`] in a RocksDB database (a directory of SST files, a
/// write-ahead log and a manifest), through rust-rocksdb. Made for
/// write-heavy work and data sets much larger than memory: writes are
/// appended (LSM tree), data is compressed.
///
/// **Layout.** One keyspace (RocksDB's default column family) in the shared
/// format of [`format`](mod@crate::datastores::format): each key is the namespace tag, the map name and the
/// key, so every map and namespace is one contiguous key range (key
/// prefixes rather than a column family per map: maps come and go without
/// creating or dropping column families, and `list_maps` is one walk).
/// Values are the shared record encoding (with its CRC32C). The store
/// marker lives under [`format::MARKER_KEY`]. Blocks are compressed with
/// LZ4, the bottommost level with Zstandard.
///
/// **Durability** ([`Durability`] to RocksDB's `WriteOptions`):
///
/// | level | RocksDB | an acknowledged write survives |
/// |---|---|---|
/// | `Fsync` | `sync = true`: the write-ahead log is fsynced before the write returns | a crash, SIGKILL, power loss |
/// | `Os` | `sync = false`: the log record is written to the OS before the write returns | a crash or SIGKILL of the process, not power loss |
/// | `None` | `disable_wal = true`: the write is only in the memtable | nothing until a [`flush`](MapDataStore::flush) or close |
///
/// [`flush`](MapDataStore::flush) syncs the log (`Fsync`, `Os`) or flushes
/// the memtables to SST files (`None`); [`close`](MapDataStore::close)
/// flushes the memtables to SST files (so the next open replays no log),
/// then closes. A batch is one `WriteBatch`: all of it or none of
/// it, also across a crash (the log replays whole batches).
///
/// **Group commit.** Concurrent writes join RocksDB's write groups: one
/// leader writes the log records of every waiting writer and syncs once.
///
/// **Several processes.** RocksDB locks the directory's `LOCK` file: a
/// second open (in any process, this one included) fails with
/// [`DataStoreErrorKind::Locked`]. There is no reader mode beside a writer
/// (use LMDB for that).
///
/// **Damage.** Opening a directory that holds files but no RocksDB
/// database, or a database without the store marker that holds keys, is
/// [`DataStoreErrorKind::Corrupt`]; so is any checksum or structure failure
/// RocksDB reports (`paranoid_checks` on, block checksums verified on every
/// read, a damaged log record before the log's tail refused at open rather
/// than skipped: `TolerateCorruptedTailRecords` recovery), and any record
/// that fails its own checksum.
///
/// **Costs.** A load is a point lookup (memtables, then SST files through
/// bloom-less block index and block cache); a scan page is one iterator
/// seek and `limit` steps, bounded above by the end of the range (keys-only
/// pages decode no values). Iterators live only inside one call and borrow
/// the database under a read lock, so [`close`](MapDataStore::close) waits
/// for them.
#[derive(Debug)]
pub struct RocksDbDataStore {
    path: PathBuf,
    durability: Durability,
    /// `None` once closed.
    db: RwLock<Option<DB>>,
}

/// The category of a RocksDB error (RocksDB reports a status code and a
/// message; the lock and full-disk cases are told by the message).
fn kind_of(err: &::rocksdb::Error) -> DataStoreErrorKind {
    let message = err.as_ref().to_ascii_lowercase();
    match err.kind() {
        ErrorKind::Corruption => DataStoreErrorKind::Corrupt,
        ErrorKind::IOError if message.contains("lock") => DataStoreErrorKind::Locked,
        ErrorKind::IOError | ErrorKind::Aborted
            if message.contains("no space left") || message.contains("quota") =>
        {
            DataStoreErrorKind::DiskFull
        }
        ErrorKind::IOError => DataStoreErrorKind::Io,
        ErrorKind::ShutdownInProgress => DataStoreErrorKind::Closed,
        _ => DataStoreErrorKind::Other,
    }
}

fn rocks_error(context: impl std::fmt::Display, err: ::rocksdb::Error) -> DataStoreError {
    let kind = kind_of(&err);
    let hint = if kind == DataStoreErrorKind::Locked {
        " (another process, or another store in this process, has it open)"
    } else {
        ""
    };
    DataStoreError::with_source(kind, format!("{context}: {err}{hint}"), err)
}

fn db_options(options: &RocksDbOptions, create: bool) -> Options {
    let mut opts = Options::default();
    opts.create_if_missing(create);
    opts.set_paranoid_checks(true);
    opts.set_wal_recovery_mode(DBRecoveryMode::TolerateCorruptedTailRecords);
    opts.set_compression_type(DBCompressionType::Lz4);
    opts.set_bottommost_compression_type(DBCompressionType::Zstd);
    opts.set_write_buffer_size(options.write_buffer_size);
    opts.increase_parallelism(options.background_threads.max(1));
    opts
}

/// Whether the directory `path` is empty: a place for a new database.
fn is_vacant(path: &Path) -> DataStoreResult<bool> {
    let mut entries = fs::read_dir(path)
        .map_err(|e| DataStoreError::io(format_args!("reading {}", path.display()), e))?;
    Ok(entries.next().is_none())
}

/// Checks, without writing anything, that the non-empty directory `path`
/// holds a RocksDB database that is a topgun-storage store (or an empty
/// database, which becomes one).
fn verify_read_only(path: &Path, options: &RocksDbOptions) -> DataStoreResult<()> {
    if !path.join("CURRENT").exists() {
        return Err(DataStoreError::new(
            DataStoreErrorKind::Corrupt,
            format!(
                "{} holds files but no RocksDB database (no CURRENT file): not a \
                 topgun-storage store, or a damaged one",
                path.display()
            ),
        ));
    }
    let db = DB::open_for_read_only(&db_options(options, false), path, false)
        .map_err(|e| rocks_error(format_args!("opening RocksDB store {}", path.display()), e))?;
    marker_state(&db, path).map(drop)
}

impl RocksDbDataStore {
    /// Opens the database in the directory `path`, creating the directory
    /// and an empty store if `path` is missing or an empty directory.
    ///
    /// # Errors
    ///
    /// * [`Locked`](DataStoreErrorKind::Locked): another process (or
    ///   another store in this process) has the database open.
    /// * [`Corrupt`](DataStoreErrorKind::Corrupt): the directory holds files
    ///   but no RocksDB database, RocksDB finds its files damaged, or the
    ///   database is not a topgun-storage store (keys but no store marker,
    ///   or a newer format).
    /// * [`Io`](DataStoreErrorKind::Io) /
    ///   [`DiskFull`](DataStoreErrorKind::DiskFull): the directory cannot be
    ///   read or written.
    pub fn open(path: impl AsRef<Path>, options: RocksDbOptions) -> DataStoreResult<Self> {
        let path = path.as_ref();
        fs::create_dir_all(path)
            .map_err(|e| DataStoreError::io(format_args!("creating {}", path.display()), e))?;
        let create = is_vacant(path)?;
        if !create {
            // Every read-write open writes (a new MANIFEST, the replayed
            // log flushed to an SST), so check first, read-only, that this
            // is a store: a refused open leaves the files as they were.
            verify_read_only(path, &options)?;
        }
        let db = DB::open(&db_options(&options, create), path).map_err(|e| {
            rocks_error(format_args!("opening RocksDB store {}", path.display()), e)
        })?;
        check_or_write_marker(&db, path)?;
        Ok(Self {
            path: path.to_path_buf(),
            durability: options.durability,
            db: RwLock::new(Some(db)),
        })
    }

    /// The store's directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A RocksDB property of the open database (e.g.
    /// `"rocksdb.total-sst-files-size"`, `"rocksdb.estimate-num-keys"`), or
    /// `None` when RocksDB does not know it.
    ///
    /// # Errors
    ///
    /// [`Closed`](DataStoreErrorKind::Closed) after close; what RocksDB
    /// reports otherwise.
    pub fn property(&self, name: &str) -> DataStoreResult<Option<u64>> {
        let db = self.db.read();
        let db = db.as_ref().ok_or_else(DataStoreError::closed)?;
        db.property_int_value(name)
            .map_err(|e| rocks_error(format_args!("reading RocksDB property {name}"), e))
    }

    /// Flushes the memtables to SST files and compacts the whole key range
    /// (so that every block is written compressed at the bottom level).
    /// For tests and maintenance; RocksDB compacts by itself otherwise.
    ///
    /// # Errors
    ///
    /// [`Closed`](DataStoreErrorKind::Closed) after close; what RocksDB
    /// reports otherwise.
    pub fn compact(&self) -> DataStoreResult<()> {
        let db = self.db.read();
        let db = db.as_ref().ok_or_else(DataStoreError::closed)?;
        db.flush()
            .map_err(|e| rocks_error("flushing RocksDB memtables", e))?;
        db.compact_range::<&[u8], &[u8]>(None, None);
        Ok(())
    }

    fn write_options(&self) -> WriteOptions {
        let mut opts = WriteOptions::default();
        match self.durability {
            Durability::Fsync => opts.set_sync(true),
            Durability::Os => opts.set_sync(false),
            Durability::None => opts.disable_wal(true),
        }
        opts
    }

    fn with_db<R>(&self, f: impl FnOnce(&DB) -> DataStoreResult<R>) -> DataStoreResult<R> {
        let db = self.db.read();
        f(db.as_ref().ok_or_else(DataStoreError::closed)?)
    }

    fn sync(&self, db: &DB) -> DataStoreResult<()> {
        let result = match self.durability {
            Durability::None => db.flush(),
            Durability::Fsync | Durability::Os => db.flush_wal(true),
        };
        result.map_err(|e| rocks_error(format_args!("syncing {}", self.path.display()), e))
    }
}

/// Whether `db` holds a valid store marker (`true`) or is empty and needs
/// one (`false`).
///
/// # Errors
///
/// [`Corrupt`](DataStoreErrorKind::Corrupt) when the marker is not a
/// topgun-storage marker of a readable version, or is missing from a
/// database that holds keys.
fn marker_state(db: &DB, path: &Path) -> DataStoreResult<bool> {
    let context = || format!("opening RocksDB store {}", path.display());
    let marker = db
        .get_pinned(format::MARKER_KEY)
        .map_err(|e| rocks_error(context(), e))?;
    if let Some(marker) = marker {
        return format::check_marker(Some(&marker)).map(|_| true);
    }
    let mut iter = db.raw_iterator();
    iter.seek_to_first();
    let empty = !iter.valid();
    iter.status().map_err(|e| rocks_error(context(), e))?;
    if empty {
        Ok(false)
    } else {
        format::check_marker(None).map(|_| true)
    }
}

/// Writes the store marker into a new (empty) database, or checks it in an
/// existing one. An empty database without a marker is one whose creation
/// stopped before the marker was written: nothing can be lost by finishing
/// it.
fn check_or_write_marker(db: &DB, path: &Path) -> DataStoreResult<()> {
    if marker_state(db, path)? {
        return Ok(());
    }
    let context = || format!("opening RocksDB store {}", path.display());
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    db.put_opt(format::MARKER_KEY, format::marker_value(), &opts)
        .map_err(|e| rocks_error(context(), e))
}

fn scan_in(db: &DB, request: &ScanRequest<'_>) -> DataStoreResult<ScanPage> {
    let Some((start, end)) = format::scan_range(
        request.namespace,
        request.map,
        request.prefix,
        request.after,
    ) else {
        return Ok(ScanPage::default());
    };
    let mut read = ReadOptions::default();
    read.set_iterate_upper_bound(end);
    let mut iter = db.raw_iterator_opt(read);
    let (first, exclusive) = match &start {
        Bound::Included(s) => (s.as_slice(), false),
        Bound::Excluded(s) => (s.as_slice(), true),
        Bound::Unbounded => (&[][..], false),
    };
    iter.seek(first);
    if exclusive && iter.key() == Some(first) {
        iter.next();
    }
    let mut page = format::PageBuilder::new(request);
    while let Some((stored, value)) = iter.item() {
        if !page.push(stored, value)? {
            break;
        }
        iter.next();
    }
    // An iterator that stops on an error is not valid: never take that
    // for the end of the range.
    iter.status()
        .map_err(|e| rocks_error("scanning RocksDB", e))?;
    Ok(page.finish())
}

fn list_maps_in(db: &DB) -> DataStoreResult<Vec<String>> {
    let mut names = Vec::new();
    let mut iter = db.raw_iterator();
    for namespace in Namespace::ALL {
        let (start, end) = format::namespace_range(namespace);
        iter.seek(&start);
        while let Some(stored) = iter.key() {
            if stored >= end.as_slice() {
                break;
            }
            let entry = format::decode_key(stored)?;
            let next = entry.next_map();
            names.push(entry.map);
            iter.seek(&next);
        }
        iter.status()
            .map_err(|e| rocks_error("listing RocksDB maps", e))?;
    }
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

#[async_trait]
impl MapDataStore for RocksDbDataStore {
    async fn write(
        &self,
        map: &str,
        namespace: Namespace,
        ops: &[WriteOp<'_>],
    ) -> DataStoreResult<()> {
        let mut batch = WriteBatch::default();
        let mut key = Vec::new();
        let mut record = Vec::new();
        for op in ops {
            key.clear();
            format::map_prefix_into(namespace, map, &mut key);
            key.extend_from_slice(op.key().as_bytes());
            match op {
                WriteOp::Put { record: r, .. } => {
                    record.clear();
                    format::encode_record_into(r, &mut record)?;
                    batch.put(&key, &record);
                }
                WriteOp::Remove { .. } => batch.delete(&key),
            }
        }
        let options = self.write_options();
        self.with_db(|db| {
            if ops.is_empty() {
                return Ok(());
            }
            db.write_opt(batch, &options)
                .map_err(|e| rocks_error("writing to RocksDB", e))
        })
    }

    async fn load(
        &self,
        map: &str,
        namespace: Namespace,
        key: &str,
    ) -> DataStoreResult<Option<StoredRecord>> {
        let stored = format::encode_key(namespace, map, key);
        self.with_db(|db| {
            let bytes = db
                .get_pinned(&stored)
                .map_err(|e| rocks_error("reading from RocksDB", e))?;
            bytes.map(|b| format::decode_record(&b)).transpose()
        })
    }

    async fn load_all(
        &self,
        map: &str,
        namespace: Namespace,
        keys: &[String],
    ) -> DataStoreResult<Vec<(String, StoredRecord)>> {
        let stored: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| format::encode_key(namespace, map, k))
            .collect();
        self.with_db(|db| {
            let mut out = Vec::with_capacity(keys.len());
            for (key, found) in keys.iter().zip(db.multi_get(&stored)) {
                let found = found.map_err(|e| rocks_error("reading from RocksDB", e))?;
                if let Some(bytes) = found {
                    out.push((key.clone(), format::decode_record(&bytes)?));
                }
            }
            Ok(out)
        })
    }

    async fn scan(&self, request: &ScanRequest<'_>) -> DataStoreResult<ScanPage> {
        request.check()?;
        self.with_db(|db| scan_in(db, request))
    }

    async fn list_maps(&self) -> DataStoreResult<Vec<String>> {
        self.with_db(list_maps_in)
    }

    async fn flush(&self) -> DataStoreResult<()> {
        self.with_db(|db| self.sync(db))
    }

    async fn close(&self) -> DataStoreResult<()> {
        let mut guard = self.db.write();
        let Some(db) = guard.as_ref() else {
            return Ok(());
        };
        // Memtables to SST files: the next open replays no log.
        db.flush()
            .map_err(|e| rocks_error(format_args!("flushing {}", self.path.display()), e))?;
        // Dropping the handle closes the database and releases its LOCK.
        drop(guard.take());
        Ok(())
    }
}
