//! Export and import of a handle's store to and from one file: the C face
//! of `topgun_storage_core::export` (format and guarantees:
//! docs/architecture.md, "Export and import"). Conversion and error mapping
//! only. Like `api`, this module has no `unsafe` code; the lint allowance is
//! for `#[no_mangle]` alone (tests/unsafe_audit.rs checks that).

#![allow(unsafe_code)]

use crate::error::{boundary, status_of, Failure};
use crate::handle::{calling_back, storage_t, with_handle, Store};
use crate::raw::{self, UserData};
use crate::types::storage_status_t::{self, *};
use crate::types::{
    storage_export_kind_t, storage_export_summary_t, storage_progress_callback_t,
    storage_progress_t,
};
use std::ffi::{c_char, c_void};
use topgun_storage_core::export::{self, ExportError, ExportKind, Progress, Summary};
use topgun_storage_core::{ErrorCode, RecordStore};

fn failure(e: &ExportError) -> Failure {
    Failure::new(status_of(ErrorCode::from(e)), e.to_string())
}

fn c_summary(s: &Summary) -> storage_export_summary_t {
    storage_export_summary_t {
        kind: match s.kind {
            ExportKind::Store => storage_export_kind_t::STORAGE_EXPORT_STORE,
            ExportKind::Maps => storage_export_kind_t::STORAGE_EXPORT_MAPS,
        },
        instant_ms: s.instant,
        stores: s.stores,
        records: s.records,
        bytes: s.bytes,
    }
}

fn c_progress(p: &Progress) -> storage_progress_t {
    storage_progress_t {
        records_done: p.records_done,
        records_total: p.records_total,
        stores_done: p.stores_done,
        checking: p.checking,
    }
}

/// Runs `work` with a progress closure calling `callback` (if any) and
/// writes its summary to `out_summary` (if not NULL).
fn run(
    store: Option<&Store>,
    callback: storage_progress_callback_t,
    user_data: *mut c_void,
    out_summary: *mut storage_export_summary_t,
    work: impl FnOnce(&mut dyn FnMut(&Progress)) -> Result<Summary, ExportError>,
) -> Result<storage_status_t, Failure> {
    let out = raw::out_opt(out_summary, "out_summary")?;
    let user_data = UserData(user_data);
    let mut report = |p: &Progress| {
        if let Some(cb) = callback {
            let progress = c_progress(p);
            match store {
                Some(s) => calling_back(s, || raw::call_progress(cb, &progress, user_data)),
                None => raw::call_progress(cb, &progress, user_data),
            }
        }
    };
    let summary = work(&mut report).map_err(|e| failure(&e))?;
    if let Some(mut out) = out {
        out.set(c_summary(&summary));
    }
    Ok(STORAGE_OK)
}

/// Writes every live record of the store, with its metadata, to the file
/// at `path`, from a snapshot taken at the start of the call: the file
/// holds exactly the store's state at that instant, whatever other threads
/// write meanwhile (they are not blocked). The file is written beside
/// `path` under a temporary name, synced and renamed over `path`: on
/// failure nothing is left at `path` (an older file there stays as it
/// was). Format (versioned, CRC32C-checksummed): docs/architecture.md,
/// "Export and import". Cost: O(records) time, one snapshot (writers keep
/// the versions it sees until it is dropped at the end of the call).
///
/// - `path` (required): NUL-terminated file name.
/// - `progress` (may be NULL): called on this thread after every frame
///   (about 64 KiB of records) and at the end; `user_data` (may be NULL)
///   is passed back to it.
/// - `out_summary` (may be NULL): what was written.
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER, STORAGE_INVALID_ARGUMENT
/// (empty path), STORAGE_IO (the file cannot be written), STORAGE_DISK_FULL,
/// STORAGE_PANIC.
///
/// Thread safety: any thread, concurrently with every call on the handle
/// but storage_free().
#[no_mangle]
pub extern "C" fn storage_export(
    storage: *mut storage_t,
    path: *const c_char,
    progress: storage_progress_callback_t,
    user_data: *mut c_void,
    out_summary: *mut storage_export_summary_t,
) -> storage_status_t {
    with_handle(storage, |s| {
        let path = raw::path(path, "path")?;
        run(Some(s), progress, user_data, out_summary, |report| {
            export::export_store(&s.store.snapshot(), path, report)
        })
    })
}

/// Imports a file written by storage_export() (or by another language's
/// record-store export) into the store: the whole file is read and checked
/// first (every checksum, every value), so a truncated, damaged or foreign
/// file changes nothing; then every record is written as it was exported,
/// metadata (TTL, max idle, times, version) included, replacing records of
/// the same keys and leaving other keys alone (storage_clear() first for an
/// exact copy). Observers see each record as a put or an update; bounds
/// and eviction apply as for storage_put(). Cost: O(records), the file read
/// twice.
///
/// - `path` (required): NUL-terminated file name.
/// - `progress` (may be NULL), `user_data` (may be NULL): as for
///   storage_export(); `checking` is true during the first pass.
/// - `out_summary` (may be NULL): what the file held.
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER, STORAGE_INVALID_ARGUMENT
/// (empty path, or the file holds a STORAGE_EXPORT_MAPS export),
/// STORAGE_CORRUPT (not an export file, an unknown format version, or a
/// truncated or damaged file; the message names the byte offset),
/// STORAGE_IO (cannot be read), STORAGE_CAPACITY_EXCEEDED /
/// STORAGE_ENTRY_TOO_LARGE (the store refused a record: the records before
/// it stay imported, the message says how many), STORAGE_PANIC.
///
/// Thread safety: any thread, concurrently with every call on the handle
/// but storage_free().
#[no_mangle]
pub extern "C" fn storage_import(
    storage: *mut storage_t,
    path: *const c_char,
    progress: storage_progress_callback_t,
    user_data: *mut c_void,
    out_summary: *mut storage_export_summary_t,
) -> storage_status_t {
    with_handle(storage, |s| {
        let path = raw::path(path, "path")?;
        run(Some(s), progress, user_data, out_summary, |report| {
            export::import_store(&s.store, path, report)
        })
    })
}

/// Reads and checks a whole export file (every checksum, every value)
/// without importing it, and says what it holds. Needs no handle.
///
/// - `path` (required), `progress` (may be NULL), `user_data` (may be
///   NULL), `out_summary` (may be NULL): as for storage_import().
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER, STORAGE_INVALID_ARGUMENT
/// (empty path), STORAGE_CORRUPT, STORAGE_IO, STORAGE_PANIC.
///
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn storage_export_verify(
    path: *const c_char,
    progress: storage_progress_callback_t,
    user_data: *mut c_void,
    out_summary: *mut storage_export_summary_t,
) -> storage_status_t {
    boundary(|| {
        let path = raw::path(path, "path")?;
        run(None, progress, user_data, out_summary, |report| {
            export::verify(path, report)
        })
    })
}
