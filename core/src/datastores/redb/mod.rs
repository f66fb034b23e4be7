//! [`RedbDataStore`]: the default durable backend, one redb file.

/// Forwards redb's optional locking methods of [`redb::StorageBackend`] to
/// the backend in field `$inner`, so a wrapped file stays locked.
macro_rules! forward_locks {
    ($inner:ident) => {
        fn try_lock_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<bool, ::redb::BackendError> {
            self.$inner.try_lock_range(start, end)
        }

        fn try_lock_shared_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<bool, ::redb::BackendError> {
            self.$inner.try_lock_shared_range(start, end)
        }

        fn lock_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<(), ::redb::BackendError> {
            self.$inner.lock_range(start, end)
        }

        fn lock_shared_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<(), ::redb::BackendError> {
            self.$inner.lock_shared_range(start, end)
        }

        fn unlock_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<(), ::redb::BackendError> {
            self.$inner.unlock_range(start, end)
        }

        fn query_lock_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<bool, ::redb::BackendError> {
            self.$inner.query_lock_range(start, end)
        }
    };
}

mod faults;
mod group_commit;
mod storage;

pub use faults::{FaultControl, FaultInjectingStorage};

use super::format::{
    check_marker, decode_key, decode_record, encode_key, encode_record, key_after_prefix,
    map_prefix_len, marker_value, namespace_range, scan_range, MARKER_KEY,
};
use crate::map_data_store::{
    DataStoreError, DataStoreErrorKind, DataStoreResult, Durability, MapDataStore, Namespace,
    ScanEntry, ScanPage, ScanRequest, StoredRecord, WriteOp,
};
use async_trait::async_trait;
use group_commit::{EncodedBatch, GroupCommit};
use parking_lot::RwLock;
use redb::backends::FileBackend;
use redb::{Database, ReadOnlyTable, ReadableDatabase, StorageBackend, TableDefinition};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use storage::{SharedBackend, SyncPolicy};

/// The one table of a store: the keyspace of the shared on-disk format
/// ([`super::format`]), store marker included.
const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("topgun");

/// The most scan entries reserved up front for one page.
const PAGE_RESERVE: usize = 1024;

/// The largest key or value redb stores (3 GiB).
const REDB_MAX_LEN: usize = 3 << 30;

/// Settings of a [`RedbDataStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedbOptions {
    /// When an acknowledged write is on stable storage (see
    /// [`RedbDataStore`] for what each level costs and guarantees).
    /// Default: [`Durability::Fsync`].
    pub durability: Durability,
    /// The most memory redb's page cache may use, in bytes. Default: 64 MiB.
    pub cache_size: usize,
}

impl Default for RedbOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Fsync,
            cache_size: 64 << 20,
        }
    }
}

impl RedbOptions {
    /// The default options at durability `durability`.
    #[must_use]
    pub fn with_durability(durability: Durability) -> Self {
        Self {
            durability,
            ..Self::default()
        }
    }
}

/// The default durable [`MapDataStore`]: one [redb](https://www.redb.org)
/// file (ACID, copy-on-write B-tree, checksummed pages), holding every map
/// and namespace in one table in the shared on-disk format
/// ([`super::format`]).
///
/// # Durability
///
/// | level | redb commit | an acknowledged write survives |
/// |---|---|---|
/// | [`Durability::Fsync`] | `Immediate`: pages and header written, then `fsync` | process crash, SIGKILL, OS crash, power loss |
/// | [`Durability::Os`] | `Immediate` with the `fsync` skipped: every page and the header are written to the file (the OS page cache) before the commit returns | process crash, SIGKILL; **not** an OS crash or power loss, after which the latest commits may be missing, or the file may fail to open as `Corrupt` (redb's checksums detect it; it is never opened silently wrong) |
/// | [`Durability::None`] | redb `None`: the commit stays in this process's memory | only a [`flush`](MapDataStore::flush), [`close`](MapDataStore::close) or drop of the store; a killed process loses every write since the last of those |
///
/// redb's own non-durable commit (`Durability::None`) keeps the new root only
/// in memory, so it does not survive a kill (checked by
/// `core/tests/redb_store.rs` with SIGKILL); `os` is therefore redb's
/// durable commit with its `fsync` skipped, the strongest mapping that costs
/// no device flush. `flush` makes everything acknowledged durable as with
/// `fsync` at every level; `close` flushes.
///
/// # Concurrency and group commit
///
/// Any number of threads may call the store. Reads run in parallel, each
/// in its own redb read transaction (a consistent snapshot: one `load`,
/// one `load_all`, one scan page, one `list_maps`). Writes are group
/// committed: each caller encodes its batch in its own thread, then the
/// batches that arrive while a commit is in progress are applied together
/// in the next write transaction, in arrival order, and every caller is
/// answered once that transaction has committed. Each caller's batch stays
/// atomic: batches are checked (sizes, encoding) before they join a group,
/// so a group can only fail as a whole (an I/O error), failing every batch
/// in it.
///
/// # Files and locks
///
/// A store is one file. A new one is built under a temporary name in the
/// same directory and linked into place once initialized and synced, so a
/// file at the store's path is always a complete store: opening an empty,
/// damaged or foreign file fails with [`DataStoreErrorKind::Corrupt`], never
/// opens an empty store over it. The file is locked while open: a second
/// open (another process, or another handle in this one) fails with
/// [`DataStoreErrorKind::Locked`].
///
/// # Costs
///
/// A write: encoding the keys and values (no lock held), then one redb
/// write transaction shared with the batches queued beside it: B-tree
/// inserts (O(log n) page touches each), one commit (at `fsync`, one or two
/// device flushes for the whole group). A `load`: one read transaction and
/// one B-tree lookup, one CRC32C and one MessagePack decode. A scan page:
/// one read transaction, one range walk of `limit + 1` entries. `list_maps`:
/// one seek per map. Opening a cleanly closed store reads its header only
/// (the cost does not grow with the data); opening after a crash verifies
/// and repairs the file first (redb walks every page: the cost grows with
/// the file).
///
/// # Errors
///
/// `Io` (and `DiskFull` for ENOSPC / quota) when the file system fails;
/// after a failed commit redb refuses further writes until the store is
/// closed and opened again (nothing acknowledged is lost: reopen to go on).
/// `Corrupt` for damaged files and records, `Locked`, `Rejected` for a key
/// or value over 3 GiB, `Closed` after `close`.
pub struct RedbDataStore {
    state: RwLock<Option<OpenDb>>,
    commits: GroupCommit,
    durability: Durability,
    path: Option<PathBuf>,
    label: String,
}

struct OpenDb {
    db: Database,
    /// The backend under redb's wrapper, synced directly by `flush` at the
    /// `os` level.
    raw: SharedBackend,
}

impl std::fmt::Debug for RedbDataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbDataStore")
            .field("store", &self.label)
            .field("durability", &self.durability)
            .field("open", &self.state.read().is_some())
            .finish()
    }
}

/// Adds `context` in front of an error's message, keeping its kind.
fn in_context(context: &str, err: DataStoreError) -> DataStoreError {
    DataStoreError::new(err.kind(), format!("{context}: {}", err.message()))
}

/// The category of a redb failure.
fn classify(err: impl Into<redb::Error>, context: &str) -> DataStoreError {
    let err: redb::Error = err.into();
    let kind = match &err {
        redb::Error::Io(e) => match e.kind() {
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
                DataStoreErrorKind::Corrupt
            }
            _ => DataStoreErrorKind::of_io(e),
        },
        redb::Error::Corrupted(_)
        | redb::Error::UpgradeRequired(_)
        | redb::Error::RepairAborted
        | redb::Error::TableTypeMismatch { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TypeDefinitionChanged { .. } => DataStoreErrorKind::Corrupt,
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
            DataStoreErrorKind::Locked
        }
        redb::Error::ValueTooLarge(_) => DataStoreErrorKind::Rejected,
        redb::Error::PreviousIo => DataStoreErrorKind::Io,
        redb::Error::DatabaseClosed => DataStoreErrorKind::Closed,
        _ => DataStoreErrorKind::Other,
    };
    let message = match (&err, kind) {
        (_, DataStoreErrorKind::Locked) => format!(
            "{context}: the store is locked: another process, or another open handle in this \
             one, has it open"
        ),
        (redb::Error::PreviousIo, _) => format!(
            "{context}: an earlier I/O error left the store unable to write until it is closed \
             and opened again (nothing acknowledged is lost)"
        ),
        (redb::Error::Io(e), DataStoreErrorKind::Corrupt) => {
            format!("{context}: not a readable redb file (damaged or foreign): {e}")
        }
        _ => format!("{context}: {err}"),
    };
    DataStoreError::with_source(kind, message, err)
}

static CREATING: AtomicU64 = AtomicU64::new(0);

impl RedbDataStore {
    /// Opens the store in the file at `path`, creating it when there is no
    /// file there (its directory must exist).
    ///
    /// Cost: for an existing, cleanly closed store, reading its header and
    /// the format marker, whatever the store's size; after a crash, a
    /// verification of the whole file. Creating one: a few small writes and
    /// two `fsync`s (file and directory).
    ///
    /// # Errors
    ///
    /// [`Locked`](DataStoreErrorKind::Locked) when the store is open
    /// elsewhere; [`Corrupt`](DataStoreErrorKind::Corrupt) for an empty,
    /// damaged or foreign file, or one written by a later, incompatible
    /// release; [`Io`](DataStoreErrorKind::Io) (naming the path) when the
    /// file or its directory cannot be read or created. A refused file is
    /// left as it was.
    pub fn open(path: impl AsRef<Path>, options: RedbOptions) -> DataStoreResult<Self> {
        let path = path.as_ref();
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => Self::open_file(path, file, options),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Self::create_file(path, options),
            Err(e) => Err(DataStoreError::io(
                format_args!("opening {}", path.display()),
                e,
            )),
        }
    }

    /// Opens a store kept in a redb storage backend of the caller's choice
    /// (an [`InMemoryBackend`](redb::backends::InMemoryBackend), a
    /// [`FaultInjectingStorage`] for tests, ...). An empty backend gets a new
    /// store; anything else must hold one.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn open_with_backend(
        backend: impl StorageBackend,
        options: RedbOptions,
    ) -> DataStoreResult<Self> {
        let raw: SharedBackend = Arc::new(backend);
        let label = "redb store (custom backend)".to_owned();
        let new = raw
            .len()
            .map_err(|e| DataStoreError::io(format_args!("{label}: reading its length"), e))?
            == 0;
        Self::start(raw, options, None, label, new)
    }

    fn open_file(path: &Path, file: File, options: RedbOptions) -> DataStoreResult<Self> {
        let label = path.display().to_string();
        let len = file
            .metadata()
            .map_err(|e| DataStoreError::io(format_args!("reading {label}"), e))?
            .len();
        if len == 0 {
            return Err(DataStoreError::new(
                DataStoreErrorKind::Corrupt,
                format!(
                    "{label}: the file is empty, which no store file ever is (a store is created \
                     under another name and moved into place once complete): damaged or not a \
                     store; remove it to start a new store"
                ),
            ));
        }
        let backend = FileBackend::new(file).map_err(|e| classify(e, &label))?;
        Self::start(
            Arc::new(backend),
            options,
            Some(path.to_owned()),
            label,
            false,
        )
    }

    /// Builds a new store under a temporary name beside `path` and links it
    /// into place once complete and synced, so `path` never names a partial
    /// store.
    fn create_file(path: &Path, options: RedbOptions) -> DataStoreResult<Self> {
        let name = path.file_name().ok_or_else(|| {
            DataStoreError::new(
                DataStoreErrorKind::Io,
                format!("{} does not name a file", path.display()),
            )
        })?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let temp = dir.join(format!(
            ".{}.creating-{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            CREATING.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| {
                DataStoreError::io(format_args!("creating a store in {}", dir.display()), e)
            })?;
        let result = Self::build_and_publish(path, &temp, dir, file, options);
        let _ = fs::remove_file(&temp);
        match result {
            Ok(Some(store)) => Ok(store),
            // Another process created the store first: open theirs.
            Ok(None) => {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(|e| {
                        DataStoreError::io(format_args!("opening {}", path.display()), e)
                    })?;
                Self::open_file(path, file, options)
            }
            Err(e) => Err(e),
        }
    }

    fn build_and_publish(
        path: &Path,
        temp: &Path,
        dir: &Path,
        file: File,
        options: RedbOptions,
    ) -> DataStoreResult<Option<Self>> {
        let label = path.display().to_string();
        let backend = FileBackend::new(file).map_err(|e| classify(e, &label))?;
        let store = Self::start(
            Arc::new(backend),
            options,
            Some(path.to_owned()),
            label,
            true,
        )?;
        match fs::hard_link(temp, path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
            Err(e) => {
                return Err(DataStoreError::io(
                    format_args!("moving the new store into place at {}", path.display()),
                    e,
                ))
            }
        }
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| DataStoreError::io(format_args!("syncing {}", dir.display()), e))?;
        Ok(Some(store))
    }

    /// Opens redb over `raw`; for a `new` store writes and syncs the format
    /// marker, otherwise checks it.
    fn start(
        raw: SharedBackend,
        options: RedbOptions,
        path: Option<PathBuf>,
        label: String,
        new: bool,
    ) -> DataStoreResult<Self> {
        let sync = options.durability != Durability::Os;
        if !new {
            Self::check_read_only(&raw, &options, &label)?;
        }
        let db = redb::Builder::new()
            .set_cache_size(options.cache_size)
            .create_with_backend(SyncPolicy::new(Arc::clone(&raw), sync))
            .map_err(|e| classify(e, &label))?;
        if new {
            let txn = db.begin_write().map_err(|e| classify(e, &label))?;
            {
                let mut table = txn.open_table(TABLE).map_err(|e| classify(e, &label))?;
                table
                    .insert(MARKER_KEY, marker_value().as_slice())
                    .map_err(|e| classify(e, &label))?;
            }
            txn.commit().map_err(|e| classify(e, &label))?;
            // Synced whatever the level: the store must be complete on disk
            // before it is published under its name.
            raw.sync_data()
                .map_err(|e| DataStoreError::io(format_args!("syncing {label}"), e))?;
        } else {
            let marker = Self::read_marker(&db, &label)?;
            check_marker(marker.as_deref()).map_err(|e| in_context(&label, e))?;
        }
        Ok(Self {
            state: RwLock::new(Some(OpenDb { db, raw })),
            commits: GroupCommit::default(),
            durability: options.durability,
            path,
            label,
        })
    }

    /// Checks the format marker through a read-only open, which changes
    /// nothing, so a foreign or damaged file is refused as it was found. A
    /// store that needs recovery after a crash cannot be opened read-only;
    /// its marker is checked after the writable open has repaired it.
    fn check_read_only(
        raw: &SharedBackend,
        options: &RedbOptions,
        label: &str,
    ) -> DataStoreResult<()> {
        let db = match redb::Builder::new()
            .set_cache_size(options.cache_size.min(4 << 20))
            .open_read_only_with_backend(SyncPolicy::new(Arc::clone(raw), false))
        {
            Ok(db) => db,
            Err(redb::DatabaseError::RepairAborted) => return Ok(()),
            Err(e) => return Err(classify(e, label)),
        };
        let marker = Self::read_marker(&db, label);
        db.close().map_err(|e| classify(e, label))?;
        check_marker(marker?.as_deref()).map_err(|e| in_context(label, e))?;
        Ok(())
    }

    fn read_marker(db: &impl ReadableDatabase, label: &str) -> DataStoreResult<Option<Vec<u8>>> {
        let txn = db.begin_read().map_err(|e| classify(e, label))?;
        match txn.open_table(TABLE) {
            Ok(table) => Ok(table
                .get(MARKER_KEY)
                .map_err(|e| classify(e, label))?
                .map(|guard| guard.value().to_vec())),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(classify(e, label)),
        }
    }

    /// The file the store lives in (`None` for a custom backend).
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The durability level the store was opened with.
    #[must_use]
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Runs `f` over the table in one read transaction (one consistent
    /// snapshot).
    fn read<T>(
        &self,
        f: impl FnOnce(&ReadOnlyTable<&'static [u8], &'static [u8]>) -> DataStoreResult<T>,
    ) -> DataStoreResult<T> {
        let state = self.state.read();
        let open = state.as_ref().ok_or_else(DataStoreError::closed)?;
        let txn = open.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(TABLE).map_err(|e| self.error(e))?;
        f(&table)
    }

    fn error(&self, err: impl Into<redb::Error>) -> DataStoreError {
        classify(err, &self.label)
    }

    /// Applies every batch of `group`, in order, in one write transaction.
    fn commit_group(&self, group: &[&EncodedBatch]) -> DataStoreResult<()> {
        let state = self.state.read();
        let open = state.as_ref().ok_or_else(DataStoreError::closed)?;
        let mut txn = open.db.begin_write().map_err(|e| self.error(e))?;
        if self.durability == Durability::None {
            txn.set_durability(redb::Durability::None)
                .map_err(|e| self.error(e))?;
        }
        {
            let mut table = txn.open_table(TABLE).map_err(|e| self.error(e))?;
            for batch in group {
                for (key, value) in &batch.ops {
                    match value {
                        Some(value) => {
                            table
                                .insert(key.as_slice(), value.as_slice())
                                .map_err(|e| self.error(e))?;
                        }
                        None => {
                            table.remove(key.as_slice()).map_err(|e| self.error(e))?;
                        }
                    }
                }
            }
        }
        txn.commit().map_err(|e| self.error(e))
    }

    /// Makes every acknowledged write durable on `open`.
    fn sync(&self, open: &OpenDb) -> DataStoreResult<()> {
        match self.durability {
            Durability::Fsync => Ok(()),
            Durability::Os => open
                .raw
                .sync_data()
                .map_err(|e| DataStoreError::io(format_args!("syncing {}", self.label), e)),
            Durability::None => {
                // A durable commit makes the non-durable ones before it
                // durable too.
                let txn = open.db.begin_write().map_err(|e| self.error(e))?;
                txn.commit().map_err(|e| self.error(e))
            }
        }
    }

    fn encode_batch(
        map: &str,
        namespace: Namespace,
        ops: &[WriteOp<'_>],
    ) -> DataStoreResult<EncodedBatch> {
        let mut encoded = Vec::with_capacity(ops.len());
        for op in ops {
            let key = encode_key(namespace, map, op.key());
            if key.len() > REDB_MAX_LEN {
                return Err(too_large("key", key.len()));
            }
            let value = match op {
                WriteOp::Put { record, .. } => {
                    let bytes = encode_record(record)?;
                    if bytes.len() > REDB_MAX_LEN {
                        return Err(too_large("value", bytes.len()));
                    }
                    Some(bytes)
                }
                WriteOp::Remove { .. } => None,
            };
            encoded.push((key, value));
        }
        Ok(EncodedBatch { ops: encoded })
    }
}

fn too_large(what: &str, len: usize) -> DataStoreError {
    DataStoreError::new(
        DataStoreErrorKind::Rejected,
        format!("a {what} of {len} bytes is larger than redb stores (3 GiB)"),
    )
}

fn corrupt_entry(map: &str, key: &str, err: DataStoreError) -> DataStoreError {
    in_context(&format!("map {map:?} key {key:?}"), err)
}

#[async_trait]
impl MapDataStore for RedbDataStore {
    async fn write(
        &self,
        map: &str,
        namespace: Namespace,
        ops: &[WriteOp<'_>],
    ) -> DataStoreResult<()> {
        if ops.is_empty() {
            return self
                .state
                .read()
                .as_ref()
                .map(|_| ())
                .ok_or_else(DataStoreError::closed);
        }
        let batch = Self::encode_batch(map, namespace, ops)?;
        self.commits.submit(batch, |group| self.commit_group(group))
    }

    async fn load(
        &self,
        map: &str,
        namespace: Namespace,
        key: &str,
    ) -> DataStoreResult<Option<StoredRecord>> {
        let stored = encode_key(namespace, map, key);
        self.read(|table| {
            let Some(guard) = table.get(stored.as_slice()).map_err(|e| self.error(e))? else {
                return Ok(None);
            };
            decode_record(guard.value())
                .map(Some)
                .map_err(|e| corrupt_entry(map, key, e))
        })
    }

    async fn load_all(
        &self,
        map: &str,
        namespace: Namespace,
        keys: &[String],
    ) -> DataStoreResult<Vec<(String, StoredRecord)>> {
        self.read(|table| {
            let mut out = Vec::with_capacity(keys.len());
            let mut stored = Vec::new();
            for key in keys {
                stored.clear();
                super::format::map_prefix_into(namespace, map, &mut stored);
                stored.extend_from_slice(key.as_bytes());
                if let Some(guard) = table.get(stored.as_slice()).map_err(|e| self.error(e))? {
                    let record =
                        decode_record(guard.value()).map_err(|e| corrupt_entry(map, key, e))?;
                    out.push((key.clone(), record));
                }
            }
            Ok(out)
        })
    }

    async fn scan(&self, request: &ScanRequest<'_>) -> DataStoreResult<ScanPage> {
        request.check()?;
        let range = scan_range(
            request.namespace,
            request.map,
            request.prefix,
            request.after,
        );
        let prefix_len = map_prefix_len(request.map);
        self.read(|table| {
            let Some((start, end)) = range else {
                return Ok(ScanPage::default());
            };
            // Sized for the page up front (most pages are full): growing a
            // vector of entries by doubling copies each one twice.
            let mut page = ScanPage {
                entries: Vec::with_capacity(request.limit.min(PAGE_RESERVE)),
                resume_after: None,
            };
            let start = start.as_ref().map(Vec::as_slice);
            let iter = table
                .range::<&[u8]>((start, Bound::Excluded(end.as_slice())))
                .map_err(|e| self.error(e))?;
            for item in iter {
                let (key, value) = item.map_err(|e| self.error(e))?;
                if page.entries.len() == request.limit {
                    page.resume_after = page.entries.last().map(|e| e.key.clone());
                    break;
                }
                let key = key_after_prefix(key.value(), prefix_len)
                    .map_err(|e| in_context(&format!("map {:?}", request.map), e))?;
                let record = if request.with_records {
                    Some(
                        decode_record(value.value())
                            .map_err(|e| corrupt_entry(request.map, key, e))?,
                    )
                } else {
                    None
                };
                page.entries.push(ScanEntry {
                    key: key.to_owned(),
                    record,
                });
            }
            Ok(page)
        })
    }

    async fn list_maps(&self) -> DataStoreResult<Vec<String>> {
        self.read(|table| {
            let mut maps = Vec::new();
            for namespace in Namespace::ALL {
                let (mut cursor, end) = namespace_range(namespace);
                loop {
                    let mut iter = table
                        .range::<&[u8]>(cursor.as_slice()..end.as_slice())
                        .map_err(|e| self.error(e))?;
                    let Some(item) = iter.next() else { break };
                    let (key, _) = item.map_err(|e| self.error(e))?;
                    let entry = decode_key(key.value()).map_err(|e| in_context(&self.label, e))?;
                    cursor = entry.next_map();
                    maps.push(entry.map);
                }
            }
            maps.sort_unstable();
            maps.dedup();
            Ok(maps)
        })
    }

    /// Operations of batches waiting for the commit in progress to end
    /// (they join the next one).
    fn pending_operation_count(&self) -> u64 {
        self.commits.queued_ops()
    }

    async fn flush(&self) -> DataStoreResult<()> {
        let state = self.state.read();
        let open = state.as_ref().ok_or_else(DataStoreError::closed)?;
        self.sync(open)
    }

    async fn close(&self) -> DataStoreResult<()> {
        let Some(open) = self.state.write().take() else {
            return Ok(());
        };
        let flushed = self.sync(&open);
        let OpenDb { db, raw } = open;
        let closed = db.close().map_err(|e| self.error(e));
        // At `os`, redb's shutdown writes were not synced either.
        let synced = if self.durability == Durability::Os {
            raw.sync_data()
                .map_err(|e| DataStoreError::io(format_args!("syncing {}", self.label), e))
        } else {
            Ok(())
        };
        flushed.and(closed).and(synced)
    }
}
