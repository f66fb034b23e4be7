//! [`LmdbDataStore`]: the LMDB backend (feature `lmdb`), on heed.

mod env;
mod long_keys;

use crate::datastores::format;
use crate::map_data_store::{
    DataStoreError, DataStoreErrorKind, DataStoreResult, Durability, MapDataStore, Namespace,
    ScanPage, ScanRequest, StoredRecord, WriteOp,
};
use async_trait::async_trait;
use heed::types::Bytes;
use heed::{Database, Env, MdbError, RoTxn, RwTxn, WithoutTls};
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::iter::Peekable;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Db = Database<Bytes, Bytes>;

/// Name of the LMDB database holding the stored keys of at most 511 bytes
/// and the store marker.
const RECORDS_DB: &str = "records";
/// Name of the LMDB database holding the longer keys (see `long_keys`).
const LONG_KEYS_DB: &str = "long_keys";
/// The file a read-write store locks so that one writer owns the directory.
/// Once the store exists it holds [`CREATED_LINE`].
const STORE_LOCK_FILE: &str = "topgun-store.lock";
/// What the lock file holds once the store has been created.
const CREATED_LINE: &[u8] = b"topgun-storage LMDB store\n";
/// LMDB's data file in the store directory.
const DATA_FILE: &str = "data.mdb";
/// Map sizes are kept multiples of this (a multiple of every OS page size).
const MAP_GRANULE: usize = 1 << 20;
/// The smallest page size LMDB uses; the truncation check at open counts
/// pages of this size, so it never refuses an intact file.
const MIN_PAGE_SIZE: u64 = 4096;

/// Settings of an [`LmdbDataStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmdbOptions {
    /// When an acknowledged write is on disk (see [`LmdbDataStore`] for how
    /// each level maps to LMDB's flags). Default `Fsync`.
    pub durability: Durability,
    /// The memory map (and so the largest data file) a new or small store
    /// starts with, in bytes, rounded up to a whole MiB. The file itself
    /// grows only as data is written. Default 64 MiB.
    pub initial_map_size: usize,
    /// The map never grows past this many bytes (rounded down to a whole
    /// MiB, at least the initial size); a write that needs more fails with
    /// [`DataStoreErrorKind::DiskFull`]. Default 1 TiB on 64-bit targets
    /// (address space only: nothing is allocated up front).
    pub max_map_size: usize,
    /// Reader slots shared by every process that opens the store (LMDB's
    /// `maxreaders`; the first process to open the store sets it). Default
    /// 126.
    pub max_readers: u32,
}

impl Default for LmdbOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Fsync,
            initial_map_size: 64 << 20,
            max_map_size: if usize::BITS >= 64 { 1 << 40 } else { 1 << 30 },
            max_readers: 126,
        }
    }
}

impl LmdbOptions {
    /// The default options at durability `durability`.
    #[must_use]
    pub fn with_durability(durability: Durability) -> Self {
        Self {
            durability,
            ..Self::default()
        }
    }
}

/// A [`MapDataStore`] in an LMDB environment (a directory holding
/// `data.mdb` and `lock.mdb`), through heed. Made for read-heavy data and
/// for several processes reading one store: reads are served from a shared
/// memory map and never block, nor are they blocked by the writer.
///
/// **Layout.** The directory holds LMDB's `data.mdb` and `lock.mdb`, and
/// `topgun-store.lock` (the writer's lock; it also records, once the store
/// is created, that the store exists). The named database `records` holds every stored
/// key of at most 511 bytes (the shared key and record format of
/// [`format`](mod@crate::datastores::format), the store marker included); `long_keys` holds longer keys
/// (LMDB's key limit is 511 bytes) in hash-addressed chains, merged back
/// into key order by scans, so any key works (docs/architecture.md, "LMDB").
///
/// **Durability** ([`Durability`] to LMDB's flags):
///
/// | level | LMDB | an acknowledged write survives |
/// |---|---|---|
/// | `Fsync` | default flags: each commit `fdatasync`s the data and meta pages | a crash, SIGKILL, power loss |
/// | `Os` | `MDB_NOSYNC`: each commit `pwrite`s its pages, no fsync | a crash or SIGKILL of the process, not power loss |
/// | `None` | `MDB_NOSYNC`, as `Os` (LMDB hands every commit to the OS at commit; it has no cheaper mode short of `MDB_WRITEMAP`, which this store does not use) | as `Os` |
///
/// With `MDB_NOSYNC` an OS crash or power loss can lose the last commits
/// and, on file systems that reorder writes, damage the file (LMDB's
/// documentation). [`flush`](MapDataStore::flush) (`mdb_env_sync`, forced)
/// and [`close`](MapDataStore::close) make every acknowledged write durable
/// as with `Fsync`.
///
/// **Writers and group commit.** LMDB runs one write transaction at a time.
/// Concurrent [`write`](MapDataStore::write) calls queue their (already
/// encoded) batches; whichever caller gets the writer lock commits every
/// queued batch in one transaction, each in its own nested transaction, so
/// each batch stays atomic on its own and one `fdatasync` acknowledges them
/// all.
///
/// **Map growth.** LMDB needs its memory map sized up front and fails a
/// write with `MDB_MAP_FULL` past it. This store starts at
/// [`LmdbOptions::initial_map_size`] and, when a write hits the end, waits
/// for the transactions of this process to finish, doubles the map (at
/// most to [`LmdbOptions::max_map_size`]) and retries the write: callers
/// never see `MDB_MAP_FULL`. At the maximum, or when the map cannot grow,
/// the write fails with [`DataStoreErrorKind::DiskFull`] and changes
/// nothing. A real full disk is `DiskFull` too.
///
/// **Several processes.** One process opens a store read-write
/// ([`open`](Self::open)); it holds an exclusive lock on
/// `topgun-store.lock` until it closes, and a second read-write open (in
/// any process, this one included) fails with
/// [`DataStoreErrorKind::Locked`]. LMDB itself would let two processes
/// write, one transaction at a time, but two record stores over one store
/// would each trust a memory tier the other does not update. Any number of
/// processes may open it at the same time with
/// [`open_read_only`](Self::open_read_only): each read sees the latest
/// commit, and readers adopt a map the writer has grown on their next read.
///
/// **Damage.** Opening checks the file against LMDB's meta page (a
/// truncated file is refused, never mapped past its end), the store marker
/// (a file that is not a topgun-storage store is refused), and the lock
/// file's record that the store exists (a deleted or emptied `data.mdb` is
/// refused, never recreated empty). LMDB has
/// no page checksums: a damaged record is caught by the record checksum of
/// [`format`](mod@crate::datastores::format), a damaged tree usually as `MDB_CORRUPTED` or
/// `MDB_PAGE_NOTFOUND`; all are [`DataStoreErrorKind::Corrupt`]. Damage
/// that keeps the tree well formed can go unnoticed: choose redb or
/// RocksDB where every page must be verified.
///
/// **Costs.** A load is one B-tree lookup in the map (no copy until the
/// record is decoded). A write encodes its batch in the caller's thread,
/// then waits for the writer lock; an `Fsync` commit costs one
/// `fdatasync` per group. A scan page is one ordered cursor walk over
/// `limit` keys (keys-only pages never touch the values).
#[derive(Debug)]
pub struct LmdbDataStore {
    path: PathBuf,
    read_only: bool,
    max_map_size: usize,
    /// `None` once closed. Every transaction runs under a read guard; the
    /// write guard resizes the map or closes the environment.
    state: RwLock<Option<Open>>,
    /// Held by the caller that commits the queued batches.
    writer: Mutex<()>,
    /// Batches waiting for a commit.
    queue: Mutex<Vec<Arc<Ticket>>>,
}

struct Open {
    env: Env<WithoutTls>,
    records: Db,
    long_keys: Db,
    /// The exclusive lock of a read-write store, released after the
    /// environment closes (field order).
    _store_lock: Option<File>,
}

impl std::fmt::Debug for Open {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Open")
            .field("path", &self.env.path())
            .field("map_size", &self.env.info().map_size)
            .finish_non_exhaustive()
    }
}

/// A batch encoded in the caller's thread: every stored key and record in
/// one buffer (two allocations per batch, not two per operation).
#[derive(Debug, Default)]
struct EncodedBatch {
    bytes: Vec<u8>,
    /// Per operation: where its key ends, and where its record ends (`None`
    /// for a remove); each starts where the previous piece ended.
    ops: Vec<(usize, Option<usize>)>,
}

impl EncodedBatch {
    fn encode(map: &str, namespace: Namespace, ops: &[WriteOp<'_>]) -> DataStoreResult<Self> {
        let mut batch = Self {
            bytes: Vec::with_capacity(ops.len() * (format::map_prefix_len(map) + 96)),
            ops: Vec::with_capacity(ops.len()),
        };
        for op in ops {
            format::map_prefix_into(namespace, map, &mut batch.bytes);
            batch.bytes.extend_from_slice(op.key().as_bytes());
            let key_end = batch.bytes.len();
            let record_end = match op {
                WriteOp::Put { record, .. } => {
                    format::encode_record_into(record, &mut batch.bytes)?;
                    Some(batch.bytes.len())
                }
                WriteOp::Remove { .. } => None,
            };
            batch.ops.push((key_end, record_end));
        }
        Ok(batch)
    }

    /// Each operation's stored key and record bytes (`None`: remove).
    fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        let mut start = 0;
        self.ops.iter().map(move |&(key_end, record_end)| {
            let key = &self.bytes[start..key_end];
            start = record_end.unwrap_or(key_end);
            (key, record_end.map(|end| &self.bytes[key_end..end]))
        })
    }
}

/// A batch waiting for a group commit, and its outcome once committed.
#[derive(Debug)]
struct Ticket {
    batch: EncodedBatch,
    result: Mutex<Option<DataStoreResult<()>>>,
}

/// Why applying or committing a group stopped.
enum Failure {
    /// The map is full: grow it and retry the group.
    MapFull,
    /// Anything else: the group (or one batch of it) fails with this.
    Store(DataStoreError),
}

impl From<DataStoreError> for Failure {
    fn from(e: DataStoreError) -> Self {
        Failure::Store(e)
    }
}

/// The category of a heed error.
fn kind_of(err: &heed::Error) -> DataStoreErrorKind {
    match err {
        heed::Error::Io(io) => DataStoreErrorKind::of_io(io),
        heed::Error::Mdb(
            MdbError::Corrupted
            | MdbError::PageNotFound
            | MdbError::Invalid
            | MdbError::VersionMismatch
            | MdbError::Incompatible,
        ) => DataStoreErrorKind::Corrupt,
        heed::Error::Mdb(MdbError::MapFull) => DataStoreErrorKind::DiskFull,
        heed::Error::EnvAlreadyOpened => DataStoreErrorKind::Locked,
        _ => DataStoreErrorKind::Other,
    }
}

/// A heed error met while doing `context`, as a [`DataStoreError`].
fn lmdb_error(context: impl std::fmt::Display, err: heed::Error) -> DataStoreError {
    let kind = kind_of(&err);
    let hint = match &err {
        heed::Error::EnvAlreadyOpened => " (the store is already open in this process)",
        _ => "",
    };
    DataStoreError::with_source(kind, format!("{context}: {err}{hint}"), err)
}

/// A heed error of a write path: `MDB_MAP_FULL` asks for growth.
fn write_failure(context: &str, err: heed::Error) -> Failure {
    match err {
        heed::Error::Mdb(MdbError::MapFull) => Failure::MapFull,
        err => Failure::Store(lmdb_error(context, err)),
    }
}

/// A copy of `err` for another caller of the same failed group (errors are
/// not `Clone`; the copy keeps the category and message).
fn copy_error(err: &DataStoreError) -> DataStoreError {
    DataStoreError::new(err.kind(), err.message())
}

fn round_up_to_granule(bytes: u64) -> usize {
    let granule = MAP_GRANULE as u64;
    let rounded = bytes.div_ceil(granule).saturating_mul(granule);
    usize::try_from(rounded).unwrap_or(usize::MAX - (MAP_GRANULE - 1))
}

fn read_only_error() -> DataStoreError {
    DataStoreError::new(
        DataStoreErrorKind::Rejected,
        "this LMDB store was opened read-only: it takes no writes",
    )
}

impl LmdbDataStore {
    /// Opens the store in the directory `path` for reading and writing,
    /// creating the directory and an empty store if there is none.
    ///
    /// # Errors
    ///
    /// * [`Locked`](DataStoreErrorKind::Locked): another process (or another
    ///   `LmdbDataStore` of this process) has the store open read-write, or
    ///   this process has it open read-only.
    /// * [`Corrupt`](DataStoreErrorKind::Corrupt): `data.mdb` is not an LMDB
    ///   file, is truncated, or does not hold a topgun-storage store (or one
    ///   of a newer format).
    /// * [`Io`](DataStoreErrorKind::Io): the directory cannot be created or
    ///   read (permissions, ...); [`DiskFull`](DataStoreErrorKind::DiskFull)
    ///   when the disk is full.
    pub fn open(path: impl AsRef<Path>, options: LmdbOptions) -> DataStoreResult<Self> {
        let path = path.as_ref();
        fs::create_dir_all(path)
            .map_err(|e| DataStoreError::io(format_args!("creating {}", path.display()), e))?;
        let (mut lock, created) = take_store_lock(path)?;
        let data_len = data_file_len(path)?;
        if data_len == 0 && created {
            return Err(lost_data_file(path));
        }
        let initial = round_up_to_granule(options.initial_map_size.max(1) as u64);
        let max_map_size = (options.max_map_size / MAP_GRANULE * MAP_GRANULE).max(initial);
        let settings = env::EnvSettings {
            read_only: false,
            no_sync: options.durability != Durability::Fsync,
            map_size: Some(initial.max(round_up_to_granule(data_len))),
            max_readers: options.max_readers,
            max_dbs: 2,
        };
        let env = env::open(path, &settings)
            .map_err(|e| lmdb_error(format_args!("opening LMDB store {}", path.display()), e))?;
        check_length(&env, path, data_len)?;
        let (records, long_keys) = if env.info().last_txn_id == 0 {
            create_databases(&env, path)?
        } else {
            open_databases(&env, path)?
        };
        if !created {
            record_creation(&mut lock, path)?;
        }
        // Reader slots of killed processes would otherwise stay taken.
        env.clear_stale_readers()
            .map_err(|e| lmdb_error("clearing stale LMDB readers", e))?;
        Ok(Self::new(
            path,
            false,
            max_map_size,
            Open {
                env,
                records,
                long_keys,
                _store_lock: Some(lock),
            },
        ))
    }

    /// Opens an existing store for reading only, alongside the process that
    /// writes it (if any). Every read sees the latest commit. Writes fail
    /// with [`Rejected`](DataStoreErrorKind::Rejected); flush has nothing to
    /// do. `options` only lends its `max_readers` (the durability and map
    /// sizes are the writer's).
    ///
    /// # Errors
    ///
    /// [`Io`](DataStoreErrorKind::Io) when there is no store at `path`;
    /// [`Locked`](DataStoreErrorKind::Locked) when this process already has
    /// it open; [`Corrupt`](DataStoreErrorKind::Corrupt) as for
    /// [`open`](Self::open).
    pub fn open_read_only(path: impl AsRef<Path>, options: &LmdbOptions) -> DataStoreResult<Self> {
        let path = path.as_ref();
        let data_len = data_file_len(path)?;
        if data_len == 0 && was_created(path)? {
            return Err(lost_data_file(path));
        }
        if data_len == 0 {
            return Err(DataStoreError::new(
                DataStoreErrorKind::Io,
                format!("no LMDB store in {} (no {DATA_FILE})", path.display()),
            ));
        }
        let settings = env::EnvSettings {
            read_only: true,
            no_sync: false,
            map_size: None,
            max_readers: options.max_readers,
            max_dbs: 2,
        };
        let env = env::open(path, &settings).map_err(|e| {
            lmdb_error(
                format_args!("opening LMDB store {} read-only", path.display()),
                e,
            )
        })?;
        check_length(&env, path, data_len)?;
        let (records, long_keys) = open_databases(&env, path)?;
        Ok(Self::new(
            path,
            true,
            usize::MAX,
            Open {
                env,
                records,
                long_keys,
                _store_lock: None,
            },
        ))
    }

    fn new(path: &Path, read_only: bool, max_map_size: usize, open: Open) -> Self {
        Self {
            path: path.to_path_buf(),
            read_only,
            max_map_size,
            state: RwLock::new(Some(open)),
            writer: Mutex::new(()),
            queue: Mutex::new(Vec::new()),
        }
    }

    /// The store's directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current size of the memory map in bytes (0 once closed): the
    /// largest the data file can get before the map grows again.
    #[must_use]
    pub fn map_size(&self) -> usize {
        self.state
            .read()
            .as_ref()
            .map_or(0, |open| open.env.info().map_size)
    }

    /// Whether the store was opened with [`open_read_only`](Self::open_read_only).
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Runs `f` in a read transaction, adopting a map grown by the writing
    /// process first if LMDB asks for it (`MDB_MAP_RESIZED`).
    fn read<R>(
        &self,
        f: impl FnOnce(&Open, &RoTxn<'_, WithoutTls>) -> DataStoreResult<R>,
    ) -> DataStoreResult<R> {
        loop {
            let state = self.state.read();
            let open = state.as_ref().ok_or_else(DataStoreError::closed)?;
            match open.env.read_txn() {
                Ok(txn) => return f(open, &txn),
                Err(heed::Error::Mdb(MdbError::MapResized)) => {}
                Err(e) => return Err(lmdb_error("starting an LMDB read transaction", e)),
            }
            drop(state);
            self.resize(|_| Ok(0))?;
        }
    }

    /// Resizes the map to `size(current)` bytes (0: the size in the file)
    /// once no transaction of this process is running.
    fn resize(&self, size: impl FnOnce(usize) -> DataStoreResult<usize>) -> DataStoreResult<()> {
        let mut state = self.state.write();
        let open = state.as_mut().ok_or_else(DataStoreError::closed)?;
        let current = open.env.info().map_size;
        let target = size(current)?;
        env::resize(&mut open.env, target).map_err(|e| {
            let message = format!(
                "could not resize the LMDB map of {} from {current} to {target} bytes: {e}",
                self.path.display()
            );
            DataStoreError::with_source(DataStoreErrorKind::DiskFull, message, e)
        })
    }

    /// Doubles the map (up to the maximum) after `MDB_MAP_FULL`.
    fn grow(&self) -> DataStoreResult<()> {
        let max = self.max_map_size;
        let path = &self.path;
        self.resize(|current| {
            if current >= max {
                return Err(DataStoreError::new(
                    DataStoreErrorKind::DiskFull,
                    format!(
                        "LMDB store {} is full: its map reached the maximum of {max} bytes \
                         (LmdbOptions::max_map_size)",
                        path.display()
                    ),
                ));
            }
            let doubled = round_up_to_granule(current.saturating_mul(2) as u64);
            Ok(doubled.min(max))
        })
    }

    /// Commits `group` in one write transaction, growing the map as often
    /// as needed; returns each batch's outcome.
    fn commit(&self, group: &[Arc<Ticket>]) -> DataStoreResult<Vec<DataStoreResult<()>>> {
        loop {
            let state = self.state.read();
            let open = state.as_ref().ok_or_else(DataStoreError::closed)?;
            match commit_group(open, group) {
                Ok(results) => return Ok(results),
                Err(Failure::Store(e)) => return Err(e),
                Err(Failure::MapFull) => {
                    drop(state);
                    self.grow()?;
                }
            }
        }
    }
}

/// The store's lock file, opened (created if missing) and locked
/// exclusively, and whether it records that the store was created.
fn take_store_lock(path: &Path) -> DataStoreResult<(File, bool)> {
    let lock_path = path.join(STORE_LOCK_FILE);
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| DataStoreError::io(format_args!("opening {}", lock_path.display()), e))?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => {}
        Err(fs4::TryLockError::WouldBlock) => {
            return Err(DataStoreError::new(
                DataStoreErrorKind::Locked,
                format!(
                    "LMDB store {} is open for writing elsewhere (another process, or another \
                     store in this process, holds {STORE_LOCK_FILE})",
                    path.display()
                ),
            ))
        }
        Err(fs4::TryLockError::Error(e)) => {
            return Err(DataStoreError::io(
                format_args!("locking {}", lock_path.display()),
                e,
            ))
        }
    }
    let mut content = Vec::new();
    file.read_to_end(&mut content)
        .map_err(|e| DataStoreError::io(format_args!("reading {}", lock_path.display()), e))?;
    Ok((file, content == CREATED_LINE))
}

/// Whether the lock file of the store at `path` records that the store was
/// created (read without locking, for read-only opens).
fn was_created(path: &Path) -> DataStoreResult<bool> {
    let lock_path = path.join(STORE_LOCK_FILE);
    match fs::read(&lock_path) {
        Ok(content) => Ok(content == CREATED_LINE),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(DataStoreError::io(
            format_args!("reading {}", lock_path.display()),
            e,
        )),
    }
}

/// Records in the (locked) lock file that the store at `path` exists, so
/// that a lost or emptied `data.mdb` is refused instead of recreated.
fn record_creation(file: &mut File, path: &Path) -> DataStoreResult<()> {
    let lock_path = path.join(STORE_LOCK_FILE);
    let error = |e| DataStoreError::io(format_args!("writing {}", lock_path.display()), e);
    file.set_len(0).map_err(error)?;
    file.seek(SeekFrom::Start(0)).map_err(error)?;
    file.write_all(CREATED_LINE).map_err(error)?;
    file.sync_all().map_err(error)
}

/// The error for a store whose data file is gone or empty.
fn lost_data_file(path: &Path) -> DataStoreError {
    DataStoreError::new(
        DataStoreErrorKind::Corrupt,
        format!(
            "{} is missing or empty, but {} records that this store was created: \
             refusing to open it as a new, empty store",
            path.join(DATA_FILE).display(),
            path.join(STORE_LOCK_FILE).display()
        ),
    )
}

fn data_file_len(path: &Path) -> DataStoreResult<u64> {
    let data = path.join(DATA_FILE);
    match fs::metadata(&data) {
        Ok(meta) => Ok(meta.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(DataStoreError::io(
            format_args!("reading {}", data.display()),
            e,
        )),
    }
}

/// Refuses a data file shorter than the pages its meta page says are in
/// use, before anything maps them.
fn check_length(env: &Env<WithoutTls>, path: &Path, data_len: u64) -> DataStoreResult<()> {
    let info = env.info();
    if info.last_txn_id == 0 {
        return Ok(());
    }
    let pages = info.last_page_number as u64 + 1;
    let needed = pages.saturating_mul(MIN_PAGE_SIZE);
    if data_len < needed {
        return Err(DataStoreError::new(
            DataStoreErrorKind::Corrupt,
            format!(
                "{} is truncated: {data_len} bytes, but LMDB's meta page counts {pages} pages \
                 (at least {needed} bytes)",
                path.join(DATA_FILE).display()
            ),
        ));
    }
    Ok(())
}

/// Creates the two databases and the store marker in a new environment.
fn create_databases(env: &Env<WithoutTls>, path: &Path) -> DataStoreResult<(Db, Db)> {
    let context = || format!("creating LMDB store {}", path.display());
    let mut txn = env.write_txn().map_err(|e| lmdb_error(context(), e))?;
    let records: Db = env
        .create_database(&mut txn, Some(RECORDS_DB))
        .map_err(|e| lmdb_error(context(), e))?;
    let long_keys: Db = env
        .create_database(&mut txn, Some(LONG_KEYS_DB))
        .map_err(|e| lmdb_error(context(), e))?;
    records
        .put(&mut txn, format::MARKER_KEY, &format::marker_value())
        .map_err(|e| lmdb_error(context(), e))?;
    txn.commit().map_err(|e| lmdb_error(context(), e))?;
    // The marker is synced even under MDB_NOSYNC: a store that exists is
    // never mistaken for a new one.
    env.force_sync().map_err(|e| lmdb_error(context(), e))?;
    Ok((records, long_keys))
}

/// Opens the two databases of an existing store and checks its marker.
fn open_databases(env: &Env<WithoutTls>, path: &Path) -> DataStoreResult<(Db, Db)> {
    let context = || format!("opening LMDB store {}", path.display());
    let txn = env.read_txn().map_err(|e| lmdb_error(context(), e))?;
    let missing = |name: &str| {
        DataStoreError::new(
            DataStoreErrorKind::Corrupt,
            format!(
                "{}: no LMDB database {name:?}: not a topgun-storage store, or a damaged one",
                context()
            ),
        )
    };
    let records: Db = env
        .open_database(&txn, Some(RECORDS_DB))
        .map_err(|e| lmdb_error(context(), e))?
        .ok_or_else(|| missing(RECORDS_DB))?;
    let long_keys: Db = env
        .open_database(&txn, Some(LONG_KEYS_DB))
        .map_err(|e| lmdb_error(context(), e))?
        .ok_or_else(|| missing(LONG_KEYS_DB))?;
    let marker = records
        .get(&txn, format::MARKER_KEY)
        .map_err(|e| lmdb_error(context(), e))?;
    format::check_marker(marker)?;
    // Committing a read transaction keeps the database handles it opened.
    txn.commit().map_err(|e| lmdb_error(context(), e))?;
    Ok((records, long_keys))
}

/// Applies one batch inside `txn`.
fn apply(open: &Open, txn: &mut RwTxn<'_>, batch: &EncodedBatch) -> Result<(), Failure> {
    for (key, record) in batch.iter() {
        if !long_keys::is_long(key) {
            let result = match record {
                Some(record) => open.records.put(txn, key, record),
                None => open.records.delete(txn, key).map(drop),
            };
            result.map_err(|e| write_failure("writing to LMDB", e))?;
            continue;
        }
        let slot = long_keys::slot(key);
        let (updated, existed) = {
            let existing = open
                .long_keys
                .get(txn, &slot)
                .map_err(|e| write_failure("reading a long-key chain", e))?;
            (
                long_keys::update(existing, key, record)?,
                existing.is_some(),
            )
        };
        let result = match updated {
            Some(chain) => open.long_keys.put(txn, &slot, &chain),
            None if existed => open.long_keys.delete(txn, &slot).map(drop),
            None => Ok(()),
        };
        result.map_err(|e| write_failure("writing a long-key chain", e))?;
    }
    Ok(())
}

/// One write transaction for the whole group: a single batch directly, or
/// each batch in a nested transaction so that a batch that fails leaves the
/// others committed and itself without effect.
fn commit_group(open: &Open, group: &[Arc<Ticket>]) -> Result<Vec<DataStoreResult<()>>, Failure> {
    let mut txn = open
        .env
        .write_txn()
        .map_err(|e| write_failure("starting an LMDB write transaction", e))?;
    let mut results = Vec::with_capacity(group.len());
    if let [only] = group {
        apply(open, &mut txn, &only.batch)?;
        results.push(Ok(()));
    } else {
        for ticket in group {
            let mut nested = open
                .env
                .nested_write_txn(&mut txn)
                .map_err(|e| write_failure("starting a nested LMDB transaction", e))?;
            match apply(open, &mut nested, &ticket.batch) {
                Ok(()) => {
                    nested
                        .commit()
                        .map_err(|e| write_failure("committing a nested LMDB transaction", e))?;
                    results.push(Ok(()));
                }
                Err(Failure::MapFull) => return Err(Failure::MapFull),
                Err(Failure::Store(e)) => {
                    nested.abort();
                    results.push(Err(e));
                }
            }
        }
    }
    txn.commit()
        .map_err(|e| write_failure("committing an LMDB write transaction", e))?;
    Ok(results)
}

/// `(stored key, record bytes)` items borrowed from a read transaction.
type Item<'t> = DataStoreResult<(&'t [u8], &'t [u8])>;

/// The long keys of a scan range, in key order: walks `long_keys` bucket
/// by bucket and sorts each bucket in memory.
struct LongKeys<'t> {
    slots: Peekable<heed::RoRange<'t, Bytes, Bytes>>,
    start: Bound<&'t [u8]>,
    end: &'t [u8],
    bucket: std::vec::IntoIter<(&'t [u8], &'t [u8])>,
    failed: bool,
}

impl<'t> LongKeys<'t> {
    fn new(
        open: &Open,
        txn: &'t RoTxn<'_, WithoutTls>,
        start: Bound<&'t [u8]>,
        end: &'t [u8],
    ) -> DataStoreResult<Self> {
        let floor = match start {
            Bound::Included(s) | Bound::Excluded(s) => long_keys::bucket_floor(s),
            Bound::Unbounded => &[][..],
        };
        let range = (Bound::Included(floor), Bound::<&[u8]>::Unbounded);
        let slots = open
            .long_keys
            .range(txn, &range)
            .map_err(|e| lmdb_error("scanning LMDB long keys", e))?
            .peekable();
        Ok(Self {
            slots,
            start,
            end,
            bucket: Vec::new().into_iter(),
            failed: false,
        })
    }

    fn in_range(&self, key: &[u8]) -> bool {
        let after_start = match self.start {
            Bound::Included(s) => key >= s,
            Bound::Excluded(s) => key > s,
            Bound::Unbounded => true,
        };
        after_start && key < self.end
    }

    /// Loads the next bucket that holds a key of the range; `false` at the
    /// end of the range.
    fn load_bucket(&mut self) -> DataStoreResult<bool> {
        loop {
            let Some(first) = self.slots.next() else {
                return Ok(false);
            };
            let (slot, chain) = first.map_err(|e| lmdb_error("scanning LMDB long keys", e))?;
            let bucket = long_keys::bucket_of_slot(slot);
            // Every key of this bucket or a later one is at least `bucket`.
            if bucket >= self.end {
                return Ok(false);
            }
            let mut entries = long_keys::decode(chain)?;
            while let Some(Ok((next, _))) = self.slots.peek() {
                if long_keys::bucket_of_slot(next) != bucket {
                    break;
                }
                if let Some(Ok((_, chain))) = self.slots.next() {
                    entries.extend(long_keys::decode(chain)?);
                }
            }
            entries.retain(|(key, _)| self.in_range(key));
            if !entries.is_empty() {
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                self.bucket = entries.into_iter();
                return Ok(true);
            }
        }
    }
}

impl<'t> Iterator for LongKeys<'t> {
    type Item = Item<'t>;

    fn next(&mut self) -> Option<Item<'t>> {
        if self.failed {
            return None;
        }
        if let Some(entry) = self.bucket.next() {
            return Some(Ok(entry));
        }
        match self.load_bucket() {
            Ok(true) => self.bucket.next().map(Ok),
            Ok(false) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// The next item of two key-ordered streams (their keys never coincide: a
/// stored key is either short or long).
fn next_in_order<'t>(
    a: &mut Peekable<impl Iterator<Item = Item<'t>>>,
    b: &mut Peekable<impl Iterator<Item = Item<'t>>>,
) -> Option<Item<'t>> {
    let a_first = match (a.peek(), b.peek()) {
        (Some(Ok((ka, _))), Some(Ok((kb, _)))) => ka < kb,
        (Some(_), _) => true,
        (None, _) => false,
    };
    if a_first {
        a.next()
    } else {
        b.next()
    }
}

fn scan_in(
    open: &Open,
    txn: &RoTxn<'_, WithoutTls>,
    request: &ScanRequest<'_>,
) -> DataStoreResult<ScanPage> {
    let Some((start, end)) = format::scan_range(
        request.namespace,
        request.map,
        request.prefix,
        request.after,
    ) else {
        return Ok(ScanPage::default());
    };
    let start = start.as_ref().map(Vec::as_slice);
    let bounds = (start, Bound::Excluded(end.as_slice()));
    let mut short = open
        .records
        .range(txn, &bounds)
        .map_err(|e| lmdb_error("scanning LMDB", e))?
        .map(|item| item.map_err(|e| lmdb_error("scanning LMDB", e)))
        .peekable();
    let mut long = LongKeys::new(open, txn, start, &end)?.peekable();
    let mut page = format::PageBuilder::new(request);
    while let Some(item) = next_in_order(&mut short, &mut long) {
        let (stored, record) = item?;
        if !page.push(stored, record)? {
            break;
        }
    }
    Ok(page.finish())
}

/// The record bytes stored under `stored`, from `records` or its chain.
fn get_in<'t>(
    open: &Open,
    txn: &'t RoTxn<'_, WithoutTls>,
    stored: &[u8],
) -> DataStoreResult<Option<&'t [u8]>> {
    if !long_keys::is_long(stored) {
        return open
            .records
            .get(txn, stored)
            .map_err(|e| lmdb_error("reading from LMDB", e));
    }
    let chain = open
        .long_keys
        .get(txn, &long_keys::slot(stored))
        .map_err(|e| lmdb_error("reading a long-key chain", e))?;
    let Some(chain) = chain else {
        return Ok(None);
    };
    Ok(long_keys::decode(chain)?
        .into_iter()
        .find(|(key, _)| *key == stored)
        .map(|(_, record)| record))
}

/// The map names of one database, walking from one map to the next. In
/// `long_keys` a walk can only skip a map whose prefix fits in a bucket;
/// longer map names are read slot by slot.
fn maps_in(
    db: Db,
    txn: &RoTxn<'_, WithoutTls>,
    chains: bool,
    names: &mut BTreeSet<String>,
) -> DataStoreResult<()> {
    let error = |e| lmdb_error("listing LMDB maps", e);
    for namespace in Namespace::ALL {
        let (mut from, end) = format::namespace_range(namespace);
        loop {
            let range = (
                Bound::Included(from.as_slice()),
                Bound::Excluded(end.as_slice()),
            );
            let Some(first) = db.range(txn, &range).map_err(error)?.next() else {
                break;
            };
            let (stored, value) = first.map_err(error)?;
            let (map, prefix_len) = if chains {
                let mut next = None;
                for (key, _) in long_keys::decode(value)? {
                    let entry = format::decode_key(key)?;
                    next = Some((entry.map.clone(), entry.prefix_len));
                    names.insert(entry.map);
                }
                match next {
                    Some(found) => found,
                    None => {
                        return Err(DataStoreError::new(
                            DataStoreErrorKind::Corrupt,
                            "empty long-key chain",
                        ))
                    }
                }
            } else {
                let entry = format::decode_key(stored)?;
                (entry.map, entry.prefix_len)
            };
            from = if !chains || prefix_len <= long_keys::BUCKET_LEN {
                let mut next = format::map_prefix(namespace, &map);
                names.insert(map);
                // The prefix ends with the terminator byte 0x01.
                if let Some(last) = next.last_mut() {
                    *last += 1;
                }
                next
            } else {
                let mut next = stored.to_vec();
                next.push(0);
                next
            };
        }
    }
    Ok(())
}

#[async_trait]
impl MapDataStore for LmdbDataStore {
    async fn write(
        &self,
        map: &str,
        namespace: Namespace,
        ops: &[WriteOp<'_>],
    ) -> DataStoreResult<()> {
        if self.state.read().is_none() {
            return Err(DataStoreError::closed());
        }
        if self.read_only {
            return Err(read_only_error());
        }
        if ops.is_empty() {
            return Ok(());
        }
        let ticket = Arc::new(Ticket {
            batch: EncodedBatch::encode(map, namespace, ops)?,
            result: Mutex::new(None),
        });
        self.queue.lock().push(Arc::clone(&ticket));
        let _leader = self.writer.lock();
        if let Some(result) = ticket.result.lock().take() {
            return result;
        }
        let group = std::mem::take(&mut *self.queue.lock());
        match self.commit(&group) {
            Ok(results) => {
                for (t, r) in group.iter().zip(results) {
                    *t.result.lock() = Some(r);
                }
            }
            Err(e) => {
                for t in &group {
                    *t.result.lock() = Some(Err(copy_error(&e)));
                }
                *ticket.result.lock() = Some(Err(e));
            }
        }
        let result = ticket.result.lock().take();
        result.unwrap_or_else(|| {
            Err(DataStoreError::new(
                DataStoreErrorKind::Other,
                "a batch was left out of its group commit",
            ))
        })
    }

    async fn load(
        &self,
        map: &str,
        namespace: Namespace,
        key: &str,
    ) -> DataStoreResult<Option<StoredRecord>> {
        let stored = format::encode_key(namespace, map, key);
        self.read(|open, txn| {
            get_in(open, txn, &stored)?
                .map(format::decode_record)
                .transpose()
        })
    }

    async fn load_all(
        &self,
        map: &str,
        namespace: Namespace,
        keys: &[String],
    ) -> DataStoreResult<Vec<(String, StoredRecord)>> {
        self.read(|open, txn| {
            let mut out = Vec::with_capacity(keys.len());
            let mut stored = Vec::new();
            for key in keys {
                stored.clear();
                format::map_prefix_into(namespace, map, &mut stored);
                stored.extend_from_slice(key.as_bytes());
                if let Some(bytes) = get_in(open, txn, &stored)? {
                    out.push((key.clone(), format::decode_record(bytes)?));
                }
            }
            Ok(out)
        })
    }

    async fn scan(&self, request: &ScanRequest<'_>) -> DataStoreResult<ScanPage> {
        request.check()?;
        self.read(|open, txn| scan_in(open, txn, request))
    }

    async fn list_maps(&self) -> DataStoreResult<Vec<String>> {
        self.read(|open, txn| {
            let mut names = BTreeSet::new();
            maps_in(open.records, txn, false, &mut names)?;
            maps_in(open.long_keys, txn, true, &mut names)?;
            Ok(names.into_iter().collect())
        })
    }

    async fn flush(&self) -> DataStoreResult<()> {
        let state = self.state.read();
        let open = state.as_ref().ok_or_else(DataStoreError::closed)?;
        if self.read_only {
            return Ok(());
        }
        open.env
            .force_sync()
            .map_err(|e| lmdb_error(format_args!("syncing {}", self.path.display()), e))
    }

    async fn close(&self) -> DataStoreResult<()> {
        // No group commit is running while the writer lock is held.
        let _leader = self.writer.lock();
        let mut state = self.state.write();
        let Some(open) = state.as_ref() else {
            return Ok(());
        };
        if !self.read_only {
            open.env
                .force_sync()
                .map_err(|e| lmdb_error(format_args!("syncing {}", self.path.display()), e))?;
        }
        if let Some(Open {
            env, _store_lock, ..
        }) = state.take()
        {
            // The store never clones its `Env`, so this closes it at once;
            // then the lock is released.
            env.prepare_for_closing().wait();
            drop(_store_lock);
        }
        Ok(())
    }
}
