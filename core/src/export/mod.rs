//! Consistent export and import of a record store or a whole `MapStorage`.
//!
//! An export writes one snapshot ([`StoreSnapshot`] or [`MapsSnapshot`]) to
//! one file while writes to the store go on: the file holds exactly the
//! state at the snapshot's instant. An import reads a file back into a
//! record store or a `MapStorage`, through its normal write path (so a
//! durable data store behind it receives every record).
//!
//! # File format (version [`FORMAT_VERSION`] = 1)
//!
//! All integers little-endian; every checksum is CRC32C (Castagnoli).
//!
//! **Header** (24 bytes):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `89 54 47 58 0D 0A 1A 0A` (`\x89TGX\r\n\x1a\n`) |
//! | 8 | 2 | format version, `1` |
//! | 10 | 1 | kind: `1` one record store, `2` a `MapStorage` |
//! | 11 | 1 | reserved, `0` |
//! | 12 | 8 | the snapshot's clock reading, `i64` epoch ms |
//! | 20 | 4 | CRC32C of bytes `0..20` |
//!
//! **Frames** follow, each `tag (1) | length n (4) | payload (n) | CRC32C of
//! tag, length and payload (4)`:
//!
//! * `S` (store): `partition u32 | map name (UTF-8, the rest)`; the
//!   records frames after it belong to that store.
//! * `R` (records): `count u32`, then `count` entries, each
//!   `key length u32 | key (UTF-8) | metadata (64) | value length u32 |
//!   value` where the value is canonical MessagePack (TopGun's wire form,
//!   [`crate::codec`]) and the metadata is `version u32, hits u32,
//!   creation_time, last_access_time, last_update_time, last_stored_time
//!   (i64 each), cost, ttl_millis, max_idle_millis (u64 each)`. A frame
//!   holds about 64 KiB of entries (one entry at least).
//! * `E` (end, last, exactly once): `stores u64 | records u64 | CRC32C of
//!   every byte of the file before this frame`. Nothing may follow it.
//!
//! A record-store export holds one `S` frame; a `MapStorage` export one per
//! (map, partition) store that had records, by map name then partition.
//! Only records live at the snapshot's instant are written (see
//! [`StoreSnapshot`] for expiry), with the metadata they had then.
//!
//! # Guarantees
//!
//! * **Consistent**: the file is one snapshot's state, whatever writes run
//!   meanwhile (a [`MapsSnapshot`] is one instant across every map).
//! * **Atomic**: the export is written to a temporary file in the target's
//!   directory, synced, and renamed over `path`; a failed or interrupted
//!   export leaves no file (and no partial one) at `path`.
//! * **Checked**: every truncation, every flipped bit (each frame's CRC32C,
//!   and the end frame's count and whole-file checksum for frames dropped or
//!   reordered at their boundaries), a foreign file, and an unknown version
//!   are a clear [`ExportError`] that names the file and, for damage, the
//!   byte offset. An import reads and checks the whole file (values
//!   decoded) **before** it writes anything, so a damaged file changes
//!   nothing.
//! * **Import** writes each record as it was exported, metadata included,
//!   through [`RecordStore::restore`] with [`CallerProvenance::Client`]:
//!   write-through to a durable data store, observers notified, bounds
//!   enforced. It replaces records of the same keys and leaves other keys
//!   alone (clear the target first for an exact copy). If the target
//!   refuses a record (a bound with eviction off, a data-store failure), the
//!   import stops with [`ExportError::Store`], which says how many records
//!   went in before it.
//!
//! Progress is reported through a callback after every frame (about 64 KiB
//! of records) and at the end, with the records done and the total known
//! (for an export, the snapshot's size, which may count records expired at
//! its instant that are not written).

mod format;
mod reader;
mod writer;

pub use format::{ExportKind, FORMAT_VERSION};

use crate::block_on;
use crate::error_code::ErrorCode;
use crate::map_storage::MapStorage;
use crate::record_store::{CallerProvenance, RecordStore, StoreError};
use crate::snapshot::{MapsSnapshot, StoreSnapshot};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Where an export or import stands, for a progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Progress {
    /// Records written (export) or checked / imported so far.
    pub records_done: u64,
    /// Records expected in all (for an export, the snapshot's size, an upper
    /// bound; for an import, the count the file declares).
    pub records_total: u64,
    /// Stores (map, partition) done so far.
    pub stores_done: u64,
    /// Whether an import is still checking the file (nothing written yet).
    pub checking: bool,
}

/// What a finished export or import did, or what a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Summary {
    /// Whether the file holds one record store or a `MapStorage`.
    pub kind: ExportKind,
    /// The snapshot's clock reading (epoch ms).
    pub instant: i64,
    /// Stores (map, partition) in the file.
    pub stores: u64,
    /// Records in the file.
    pub records: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// Why an export or an import failed.
#[derive(Debug, Error)]
pub enum ExportError {
    /// Reading or writing the file failed (missing, no permission, disk
    /// full).
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`"cannot read"`, `"cannot write"`, ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file does not start with an export's magic bytes.
    #[error("{path} is not a topgun-storage export file")]
    NotAnExport {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a newer (or unknown) format version.
    #[error("{path} has export format version {found}; this build reads version {supported}")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// The file is truncated or damaged.
    #[error("export file {path} is damaged at byte {offset}: {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Where the damage was found.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// The file holds a different kind of export than the target takes (a
    /// `MapStorage` export into one record store).
    #[error("{path} holds {found:?} export, and {expected:?} was expected")]
    WrongKind {
        /// The file.
        path: PathBuf,
        /// What the target takes.
        expected: ExportKind,
        /// What the file holds.
        found: ExportKind,
    },
    /// The target refused a record; `imported` records went in before.
    #[error("import stopped after {imported} records: {source}")]
    Store {
        /// Records written before the failure.
        imported: u64,
        /// The target's error.
        source: StoreError,
    },
}

impl From<&ExportError> for ErrorCode {
    fn from(e: &ExportError) -> Self {
        match e {
            ExportError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                ErrorCode::DiskFull
            }
            ExportError::Io { .. } => ErrorCode::Io,
            ExportError::NotAnExport { .. }
            | ExportError::UnsupportedVersion { .. }
            | ExportError::Damaged { .. } => ErrorCode::Corrupt,
            ExportError::WrongKind { .. } => ErrorCode::InvalidArgument,
            ExportError::Store { source, .. } => ErrorCode::from(source),
        }
    }
}

/// Writes `snapshot` (one record store) to `path`, atomically; calls
/// `progress` after every frame. O(records in the snapshot).
///
/// # Errors
/// [`ExportError::Io`] when the file cannot be written; `path` is then left
/// as it was.
pub fn export_store(
    snapshot: &StoreSnapshot,
    path: &Path,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, ExportError> {
    let total = snapshot.len() as u64;
    let mut out = writer::Writer::create(path, ExportKind::Store, snapshot.now(), total, progress)?;
    out.store(snapshot)?;
    out.finish()
}

/// Writes `snapshot` (every map of a `MapStorage`, one instant) to `path`,
/// atomically; calls `progress` after every frame. O(records).
///
/// # Errors
/// [`ExportError::Io`] when the file cannot be written; `path` is then left
/// as it was.
pub fn export_maps(
    snapshot: &MapsSnapshot,
    path: &Path,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, ExportError> {
    let instant = snapshot.stores().first().map_or(0, StoreSnapshot::now);
    let total = snapshot.len() as u64;
    let mut out = writer::Writer::create(path, ExportKind::Maps, instant, total, progress)?;
    for store in snapshot.stores() {
        out.store(store)?;
    }
    out.finish()
}

/// Reads and checks the whole file at `path` (every checksum, every
/// value) without importing it; returns what it holds.
///
/// # Errors
/// [`ExportError::Io`], [`ExportError::NotAnExport`],
/// [`ExportError::UnsupportedVersion`] or [`ExportError::Damaged`].
pub fn verify(path: &Path, progress: &mut dyn FnMut(&Progress)) -> Result<Summary, ExportError> {
    reader::read(path, true, progress, &mut |_, _, _| Ok(()))
}

/// Imports a record-store export into `store` (see the module docs): checks
/// the whole file first, then writes every record through
/// [`RecordStore::restore`]. Blocks on the store's async calls.
///
/// # Errors
/// Any error of [`verify`] (nothing written then),
/// [`ExportError::WrongKind`] for a `MapStorage` export, or
/// [`ExportError::Store`] when the store refuses a record.
pub fn import_store(
    store: &dyn RecordStore,
    path: &Path,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, ExportError> {
    let summary = verify(path, progress)?;
    if summary.kind != ExportKind::Store {
        return Err(ExportError::WrongKind {
            path: path.to_owned(),
            expected: ExportKind::Store,
            found: summary.kind,
        });
    }
    let mut imported = 0u64;
    reader::read(path, false, progress, &mut |_, key, record| {
        block_on(store.restore(key, record, CallerProvenance::Client))
            .map_err(|source| ExportError::Store { imported, source })?;
        imported += 1;
        Ok(())
    })
}

/// Imports an export (of either kind) into `storage`: each record goes to
/// its map (the store's map name for a record-store export) and is routed
/// to its partition by key; checks the whole file first. See the module
/// docs.
///
/// # Errors
/// Any error of [`verify`] (nothing written then), or
/// [`ExportError::Store`] when a store refuses a record or the storage is
/// closed.
pub fn import_maps(
    storage: &MapStorage,
    path: &Path,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, ExportError> {
    verify(path, progress)?;
    let mut imported = 0u64;
    reader::read(path, false, progress, &mut |map, key, record| {
        storage
            .restore(map, key, record)
            .map_err(|source| ExportError::Store { imported, source })?;
        imported += 1;
        Ok(())
    })
}
