//! Every exported function. Each body runs inside the panic boundary
//! (`error::boundary`, or `error::with_handle` for calls on a handle) and
//! turns pointers into Rust values only through `raw`. This module has no
//! `unsafe` code; the lint allowance below is for `#[no_mangle]` alone
//! (tests/unsafe_audit.rs checks that).

#![allow(unsafe_code)]

use crate::error::{boundary, boundary_or, set_last_error, with_last_error, Failure};
use crate::handle::{storage_t, with_any_handle, with_handle, Store};
use crate::open::data_store_from;
use crate::ops::{self, Read};
use crate::raw::{self, Out, UserData};
use crate::types::storage_status_t::{self, *};
use crate::types::*;
use std::ffi::{c_char, c_int, c_void, CStr};
use topgun_storage_core::codec::{
    decode_record_value, encode_record_value, record_value_from_json, record_value_to_json,
};
use topgun_storage_core::{
    block_on, CallerProvenance, EvictionPolicy, ExpiryPolicy, ManualClock, RecordStore,
    StorageConfig, MAX_EXPIRY_MILLIS,
};

type Outcome = crate::error::Outcome;

const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the package version contains a NUL byte"),
    };

// ---------------------------------------------------------------------------
// Versions, statuses, errors
// ---------------------------------------------------------------------------

/// The ABI version of the loaded library (STORAGE_ABI_VERSION of the
/// header it was built with). A program should refuse to run when it
/// differs from the STORAGE_ABI_VERSION it was compiled against.
///
/// Thread safety: any thread, any time.
#[no_mangle]
pub extern "C" fn storage_abi_version() -> u32 {
    STORAGE_ABI_VERSION
}

/// The library's version as static NUL-terminated text, e.g. "0.1.0".
/// Never NULL; do not free it.
///
/// Thread safety: any thread, any time.
#[no_mangle]
pub extern "C" fn storage_version() -> *const c_char {
    VERSION.as_ptr()
}

/// Static NUL-terminated English text for a status, e.g. "not found";
/// "unknown status" for a number that is not a storage_status_t. Never
/// NULL; do not free it.
///
/// Thread safety: any thread, any time.
#[no_mangle]
pub extern "C" fn storage_status_str(status: c_int) -> *const c_char {
    boundary_or(c"unknown status".as_ptr(), || {
        storage_status_t::from_number(status)
            .map_or(c"unknown status", storage_status_t::text)
            .as_ptr()
    })
}

/// Copies the message of the last failed call made on this thread (any
/// status other than STORAGE_OK and STORAGE_NOT_FOUND) into `buf` as
/// NUL-terminated UTF-8 text; "" if no call on this thread has failed.
/// Successful calls leave the message alone, so read it right after the
/// failing call.
///
/// - `buf`, `capacity`: caller-owned output; NULL with capacity 0 asks for
///   the size.
/// - `out_len` (required): on STORAGE_OK the text's length (as strlen); on
///   STORAGE_BUFFER_TOO_SMALL the capacity needed, NUL included.
///
/// Returns STORAGE_OK, STORAGE_BUFFER_TOO_SMALL, STORAGE_NULL_POINTER.
/// This function never changes the message itself.
///
/// Thread safety: any thread; the message is per thread.
#[no_mangle]
pub extern "C" fn storage_last_error_message(
    buf: *mut c_char,
    capacity: usize,
    out_len: *mut usize,
) -> storage_status_t {
    boundary_or(STORAGE_PANIC, || {
        let run = || -> Result<storage_status_t, Failure> {
            let mut out_len = raw::out(out_len, "out_len")?;
            let buf = raw::output_text(buf, capacity, "buf", &[])?;
            Ok(
                match with_last_error(|m| ops::write_text(m.as_bytes(), buf)) {
                    Read::Done(n) => {
                        out_len.set(n);
                        STORAGE_OK
                    }
                    Read::TooSmall(n) => {
                        out_len.set(n);
                        STORAGE_BUFFER_TOO_SMALL
                    }
                },
            )
        };
        run().unwrap_or_else(|f| f.status)
    })
}

// ---------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------

/// A TTL or max-idle limit in ms, checked: at most 2^63-1 (0 = none or the
/// store default), never saturated.
fn expiry_ms(ms: u64, what: &str) -> Result<u64, Failure> {
    if ms > MAX_EXPIRY_MILLIS {
        return Err(Failure::invalid(format!(
            "{what} is {ms} ms; a limit is at most 2^63-1 = {MAX_EXPIRY_MILLIS} ms (0 for none)"
        )));
    }
    Ok(ms)
}

fn config_from(o: &storage_options_t) -> Result<(StorageConfig, Option<ManualClock>), Failure> {
    let eviction_policy = match o.eviction_policy {
        0 => EvictionPolicy::None,
        1 => EvictionPolicy::Lru,
        2 => EvictionPolicy::Lfu,
        3 => EvictionPolicy::Random,
        other => {
            return Err(Failure::invalid(format!(
                "options.eviction_policy is {other}; use a storage_eviction_policy_t value (0-3)"
            )))
        }
    };
    let clock = match (o.use_manual_clock, o.manual_clock_start_ms) {
        (0, 0) => None,
        (0, _) => {
            return Err(Failure::invalid(
                "options.manual_clock_start_ms is set but options.use_manual_clock is 0",
            ))
        }
        (1, start) => Some(ManualClock::new(start)),
        (other, _) => {
            return Err(Failure::invalid(format!(
                "options.use_manual_clock is {other}; use 0 or 1"
            )))
        }
    };
    let config = StorageConfig {
        default_ttl_millis: expiry_ms(o.default_ttl_ms, "options.default_ttl_ms")?,
        default_max_idle_millis: expiry_ms(o.default_max_idle_ms, "options.default_max_idle_ms")?,
        max_entry_count: o.max_entries,
        max_total_cost: o.max_cost,
        eviction_policy,
        eviction_sample_count: match o.eviction_sample_count {
            0 => StorageConfig::default().eviction_sample_count,
            n => n as usize,
        },
    };
    Ok((config, clock))
}

/// Creates a store with the defaults: no expiry, no bounds, no
/// persistence, the system clock.
///
/// - `out` (required): receives the new handle, or NULL on failure. The
///   caller owns it and releases it with storage_free().
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER.
///
/// Thread safety: any thread, any time.
#[no_mangle]
pub extern "C" fn storage_new(out: *mut *mut storage_t) -> storage_status_t {
    boundary(|| {
        let mut out = raw::out(out, "out")?;
        let storage = Store::new(StorageConfig::default(), None);
        out.set(raw::into_handle(Box::new(storage)));
        Ok(STORAGE_OK)
    })
}

/// Creates a store configured by `options` (see storage_options_t: set
/// `struct_size`, leave the rest zero for defaults). With `location` (or
/// `backend`) set it opens a durable store: the data store is opened (a
/// file lock taken, a write-behind log replayed, a PostgreSQL server
/// connected) before this returns, nothing is loaded into memory, and every
/// record written before under the same map reads back (docs/c-api.md,
/// "Durable stores").
///
/// - `options` (required): read during the call only, strings included.
/// - `out` (required): receives the new handle, or NULL on failure. The
///   caller owns it and closes it with storage_close(), then releases it
///   with storage_free().
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER (also for a NULL name or value
/// in `extra_options`), STORAGE_INVALID_ARGUMENT (bad `struct_size`,
/// a number field out of its range, text that is not UTF-8, `durability`,
/// `write_behind`, `map_name` or `extra_options` without a data store,
/// unknown trailing fields set), STORAGE_REJECTED (the data store refuses
/// the description: unknown backend, a backend this build lacks, a missing
/// or unwanted location, unknown option, a value that does not parse; the
/// message names it), STORAGE_LOCKED (another process, or another open
/// handle, holds the file), STORAGE_CORRUPT (the stored data is damaged:
/// the store refuses to open rather than open empty), STORAGE_IO,
/// STORAGE_DISK_FULL, STORAGE_UNAVAILABLE (the PostgreSQL server cannot be
/// reached), STORAGE_DATA_STORE, STORAGE_PANIC.
///
/// Thread safety: any thread, any time.
#[no_mangle]
pub extern "C" fn storage_new_with_options(
    options: *const storage_options_t,
    out: *mut *mut storage_t,
) -> storage_status_t {
    boundary(|| {
        let mut out = raw::out(out, "out")?;
        out.set(std::ptr::null_mut());
        let options = raw::options(options)?;
        let (config, clock) = config_from(&options)?;
        let store = match data_store_from(&options)? {
            None => Store::new(config, clock),
            Some(durable) => Store::over(&durable.map_name, durable.data_store, config, clock),
        };
        out.set(raw::into_handle(Box::new(store)));
        Ok(STORAGE_OK)
    })
}

/// Makes every write acknowledged so far durable as with
/// STORAGE_DURABILITY_FSYNC, whatever the store's durability: a
/// write-behind queue is drained into the data store and synced, a redb,
/// LMDB or RocksDB file is synced. Does nothing for a store without a data
/// store. Blocks until done.
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER, STORAGE_CLOSED (after
/// storage_close()), STORAGE_IO, STORAGE_DISK_FULL, STORAGE_UNAVAILABLE,
/// STORAGE_REJECTED (a queued write the data store refused),
/// STORAGE_DATA_STORE, STORAGE_PANIC.
///
/// Thread safety: any thread, at the same time as any other call but
/// storage_free().
#[no_mangle]
pub extern "C" fn storage_flush(storage: *mut storage_t) -> storage_status_t {
    with_handle(storage, |s| {
        block_on(s.store.map_data_store().flush())?;
        Ok(STORAGE_OK)
    })
}

/// Closes a store: the data store is flushed (as storage_flush()) and
/// closed, releasing its file lock or connections, and memory is dropped
/// (no events are sent). Afterwards every call on the handle returns
/// STORAGE_CLOSED, except storage_close() (STORAGE_OK, nothing more to do)
/// and storage_free(), which is still needed to release the handle. The
/// same location may then be opened again, in this process or another.
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER, and the data store's failure to
/// flush or close (STORAGE_IO, STORAGE_DISK_FULL, STORAGE_UNAVAILABLE,
/// STORAGE_REJECTED, STORAGE_DATA_STORE): the handle is closed all the
/// same, and writes not yet on disk may be lost (the message says what
/// failed). STORAGE_PANIC.
///
/// Thread safety: any thread. A call running on another thread at the same
/// time either completes before the close or fails with STORAGE_CLOSED.
#[no_mangle]
pub extern "C" fn storage_close(storage: *mut storage_t) -> storage_status_t {
    with_any_handle(storage, |s| {
        s.close()?;
        Ok(STORAGE_OK)
    })
}

/// Releases a store and everything it holds; NULL is ignored. Registered
/// callbacks are dropped without being called. A store not closed with
/// storage_close() is closed first, best effort: its data store is flushed
/// and closed, but a failure is not returned (only this thread's last error
/// message says it); call storage_close() to see it.
///
/// Misuse it detects (see docs/c-api.md, "Misuse"): freeing a handle a
/// second time, or from inside a callback of the same handle, does nothing
/// and sets this thread's last error message (a STORAGE_MISUSE); later calls
/// on a freed handle return STORAGE_MISUSE.
///
/// Thread safety: the one function that must not race: call it once, after
/// every other call on this handle (including callbacks running on other
/// threads) has returned. The handle is invalid afterwards.
#[no_mangle]
pub extern "C" fn storage_free(storage: *mut storage_t) {
    boundary_or((), || {
        if let Err(failure) = raw::free_handle(storage) {
            set_last_error(&failure.message);
        }
    });
}

// ---------------------------------------------------------------------------
// Clock
// ---------------------------------------------------------------------------

/// The current time of the store's clock, in ms since the Unix epoch.
///
/// - `out_now_ms` (required).
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER, STORAGE_PANIC.
#[no_mangle]
pub extern "C" fn storage_clock_now(
    storage: *mut storage_t,
    out_now_ms: *mut i64,
) -> storage_status_t {
    with_handle(storage, |s| {
        raw::out(out_now_ms, "out_now_ms")?.set(s.store.now());
        Ok(STORAGE_OK)
    })
}

/// Sets the manual clock of a store created with `use_manual_clock = 1`.
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER, STORAGE_INVALID_ARGUMENT (the
/// store reads the system clock), STORAGE_PANIC.
#[no_mangle]
pub extern "C" fn storage_clock_set(storage: *mut storage_t, now_ms: i64) -> storage_status_t {
    with_handle(storage, |s| {
        s.manual_clock()?.set(now_ms);
        Ok(STORAGE_OK)
    })
}

/// Moves the manual clock by `delta_ms` (may be negative; saturates).
///
/// - `out_now_ms` (may be NULL): receives the new time.
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER, STORAGE_INVALID_ARGUMENT (the
/// store reads the system clock), STORAGE_PANIC.
#[no_mangle]
pub extern "C" fn storage_clock_advance(
    storage: *mut storage_t,
    delta_ms: i64,
    out_now_ms: *mut i64,
) -> storage_status_t {
    with_handle(storage, |s| {
        let out = raw::out_opt(out_now_ms, "out_now_ms")?;
        let now = s.manual_clock()?.advance(delta_ms);
        if let Some(mut out) = out {
            out.set(now);
        }
        Ok(STORAGE_OK)
    })
}

// ---------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------

fn put_value(
    s: &Store,
    key: &str,
    value: topgun_storage_core::RecordValue,
    ttl_ms: u64,
    max_idle_ms: u64,
) -> Outcome {
    let expiry = ExpiryPolicy {
        ttl_millis: expiry_ms(ttl_ms, "`ttl_ms`")?,
        max_idle_millis: expiry_ms(max_idle_ms, "`max_idle_ms`")?,
    };
    block_on(s.store.put(key, value, expiry, CallerProvenance::Client))?;
    Ok(STORAGE_OK)
}

fn checked_key<'a>(key: *const c_char, key_len: usize) -> Result<&'a str, Failure> {
    let key = raw::key(key, key_len)?;
    if u32::try_from(key.len()).is_err() {
        return Err(Failure::invalid(
            "`key` is longer than 4 GiB - 1 bytes, which pages cannot hold",
        ));
    }
    Ok(key)
}

/// Writes `value` (MessagePack of a record value in TopGun's shape, see
/// docs/c-api.md) under `key`, replacing any previous value. A failed put
/// changes nothing.
///
/// - `key`, `key_len` (required, UTF-8, "" allowed but not NULL): copied.
/// - `value`, `value_len` (required): decoded and copied.
/// - `ttl_ms`, `max_idle_ms`: this entry's own limits in ms, at most 2^63-1
///   (a larger one is STORAGE_INVALID_ARGUMENT, never saturated); 0 = the
///   store's default.
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER, STORAGE_INVALID_UTF8,
/// STORAGE_MALFORMED_VALUE, STORAGE_VALUE_SHAPE, STORAGE_VALUE_RANGE,
/// STORAGE_CAPACITY_EXCEEDED, STORAGE_ENTRY_TOO_LARGE,
/// STORAGE_INVALID_ARGUMENT, STORAGE_PANIC. Observers are called before it
/// returns, on this thread.
#[no_mangle]
pub extern "C" fn storage_put(
    storage: *mut storage_t,
    key: *const c_char,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    ttl_ms: u64,
    max_idle_ms: u64,
) -> storage_status_t {
    with_handle(storage, |s| {
        let key = checked_key(key, key_len)?;
        let value = decode_record_value(raw::input(value, value_len, "value")?)?;
        put_value(s, key, value, ttl_ms, max_idle_ms)
    })
}

fn json_text<'a>(json: *const c_char, json_len: usize) -> Result<&'a str, Failure> {
    let bytes = raw::input_text(json, json_len, "json")?;
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            STORAGE_MALFORMED_VALUE,
            format!(
                "`json` is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// storage_put() with the value as JSON text (`json_len` bytes, no NUL
/// needed), e.g. `{"value":{"name":"Ada"},"timestamp":{"millis":1,"counter":0,"nodeId":"n1"}}`.
///
/// Returns as storage_put(); text that is not UTF-8 or not JSON is
/// STORAGE_MALFORMED_VALUE.
#[no_mangle]
pub extern "C" fn storage_put_json(
    storage: *mut storage_t,
    key: *const c_char,
    key_len: usize,
    json: *const c_char,
    json_len: usize,
    ttl_ms: u64,
    max_idle_ms: u64,
) -> storage_status_t {
    with_handle(storage, |s| {
        let key = checked_key(key, key_len)?;
        let value = record_value_from_json(json_text(json, json_len)?)?;
        put_value(s, key, value, ttl_ms, max_idle_ms)
    })
}

/// Removes `key` (from the data store too, for a durable store). Observers
/// get STORAGE_EVENT_REMOVE when the record was in memory (a record only
/// on disk is removed without an event).
///
/// Returns STORAGE_OK (removed), STORAGE_NOT_FOUND (no live record),
/// STORAGE_NULL_POINTER, STORAGE_INVALID_UTF8, STORAGE_CLOSED, the data
/// store's failures (STORAGE_IO, STORAGE_DISK_FULL, STORAGE_UNAVAILABLE,
/// STORAGE_DATA_STORE; nothing changed then), STORAGE_PANIC.
#[no_mangle]
pub extern "C" fn storage_remove(
    storage: *mut storage_t,
    key: *const c_char,
    key_len: usize,
) -> storage_status_t {
    with_handle(storage, |s| {
        let key = raw::key(key, key_len)?;
        // Over a data store the record store only reports what memory held:
        // a live record only on disk is looked up first.
        let on_disk_only =
            s.durable().is_some() && !s.store.exists_in_memory(key) && ops::contains(s, key)?;
        Ok(
            match block_on(s.store.remove(key, CallerProvenance::Client))? {
                Some(_) => STORAGE_OK,
                None if on_disk_only => STORAGE_OK,
                None => STORAGE_NOT_FOUND,
            },
        )
    })
}

/// Removes every record (observers get one STORAGE_EVENT_CLEAR): from
/// memory and, over a data store, from the data store too (page by page,
/// each page atomic: after a failure the pages before it are gone), as
/// Python's and Node's `clear` do.
///
/// - `out_removed` (may be NULL): how many records there were (over a data
///   store: the keys on disk, records whose TTL had ended included, plus
///   those only in memory).
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER, STORAGE_CLOSED, the data
/// store's failures (STORAGE_IO, STORAGE_DISK_FULL, STORAGE_UNAVAILABLE,
/// STORAGE_DATA_STORE), STORAGE_PANIC.
#[no_mangle]
pub extern "C" fn storage_clear(
    storage: *mut storage_t,
    out_removed: *mut usize,
) -> storage_status_t {
    with_handle(storage, |s| {
        let out = raw::out_opt(out_removed, "out_removed")?;
        let removed = if s.durable().is_some() {
            usize::try_from(block_on(s.store.clear_all())?).unwrap_or(usize::MAX)
        } else {
            s.store.clear(false) as usize
        };
        if let Some(mut out) = out {
            out.set(removed);
        }
        Ok(STORAGE_OK)
    })
}

// ---------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------

fn finish_read(
    read: Option<(Read<usize>, topgun_storage_core::RecordMetadata)>,
    out_len: &mut Out<'_, usize>,
    capacity: usize,
) -> Result<Option<topgun_storage_core::RecordMetadata>, Failure> {
    match read {
        None => {
            out_len.set(0);
            Ok(None)
        }
        Some((Read::Done(n), meta)) => {
            out_len.set(n);
            Ok(Some(meta))
        }
        Some((Read::TooSmall(needed), _)) => {
            out_len.set(needed);
            Err(Failure::too_small("buf", needed, capacity))
        }
    }
}

/// Copies the MessagePack of the live value under `key` into `buf`. A
/// successful read counts as a hit and refreshes the entry's last access
/// (max idle, LRU). It allocates nothing on a hit.
///
/// - `key`, `key_len` (required, UTF-8).
/// - `buf`, `capacity`: caller-owned output, must not overlap `key`; NULL
///   with capacity 0 asks for the size.
/// - `out_len` (required): bytes written on STORAGE_OK; the size needed on
///   STORAGE_BUFFER_TOO_SMALL (then nothing is counted or touched); 0 on
///   STORAGE_NOT_FOUND.
///
/// Returns STORAGE_OK, STORAGE_NOT_FOUND, STORAGE_BUFFER_TOO_SMALL,
/// STORAGE_NULL_POINTER, STORAGE_INVALID_UTF8, STORAGE_INVALID_ARGUMENT
/// (overlapping buffers), STORAGE_PANIC.
#[no_mangle]
pub extern "C" fn storage_get(
    storage: *mut storage_t,
    key: *const c_char,
    key_len: usize,
    buf: *mut u8,
    capacity: usize,
    out_len: *mut usize,
) -> storage_status_t {
    with_handle(storage, |s| {
        let key = raw::key(key, key_len)?;
        let mut out_len = raw::out(out_len, "out_len")?;
        let buf = raw::output(buf, capacity, "buf", &[key.as_bytes()])?;
        let read = ops::get_into(s, key, buf)?;
        Ok(match finish_read(read, &mut out_len, capacity)? {
            Some(_) => STORAGE_OK,
            None => STORAGE_NOT_FOUND,
        })
    })
}

/// storage_get() that also fills `out_metadata` (required) with the
/// record's metadata after this read, on STORAGE_OK only.
///
/// Returns as storage_get().
#[no_mangle]
pub extern "C" fn storage_get_with_metadata(
    storage: *mut storage_t,
    key: *const c_char,
    key_len: usize,
    buf: *mut u8,
    capacity: usize,
    out_len: *mut usize,
    out_metadata: *mut storage_metadata_t,
) -> storage_status_t {
    with_handle(storage, |s| {
        let key = raw::key(key, key_len)?;
        let mut out_len = raw::out(out_len, "out_len")?;
        let mut out_meta = raw::out(out_metadata, "out_metadata")?;
        let buf = raw::output(buf, capacity, "buf", &[key.as_bytes()])?;
        let read = ops::get_into(s, key, buf)?;
        Ok(match finish_read(read, &mut out_len, capacity)? {
            Some(meta) => {
                out_meta.set(ops::metadata(s, &meta));
                STORAGE_OK
            }
            None => STORAGE_NOT_FOUND,
        })
    })
}

/// storage_get() with the value as NUL-terminated JSON text.
///
/// - `out_len` (required): on STORAGE_OK the text's length (as strlen); on
///   STORAGE_BUFFER_TOO_SMALL the capacity needed, NUL included.
///
/// Returns as storage_get(), plus STORAGE_VALUE_RANGE for a NaN or infinite
/// float and STORAGE_VALUE_SHAPE for a map JSON cannot tell from bytes
/// (read such values as MessagePack).
#[no_mangle]
pub extern "C" fn storage_get_json(
    storage: *mut storage_t,
    key: *const c_char,
    key_len: usize,
    buf: *mut c_char,
    capacity: usize,
    out_len: *mut usize,
) -> storage_status_t {
    with_handle(storage, |s| {
        let key = raw::key(key, key_len)?;
        let mut out_len = raw::out(out_len, "out_len")?;
        let buf = raw::output_text(buf, capacity, "buf", &[key.as_bytes()])?;
        let read = ops::read_live(s, key, &mut |record| {
            let text = record_value_to_json(&record.value)?;
            Ok(ops::write_text(text.as_bytes(), buf))
        })?;
        Ok(match finish_read(read, &mut out_len, capacity)? {
            Some(_) => STORAGE_OK,
            None => STORAGE_NOT_FOUND,
        })
    })
}

/// Whether `key` holds a live record (not counted as a read, not touched).
///
/// Returns STORAGE_OK (present), STORAGE_NOT_FOUND, STORAGE_NULL_POINTER,
/// STORAGE_INVALID_UTF8, STORAGE_PANIC.
#[no_mangle]
pub extern "C" fn storage_contains_key(
    storage: *mut storage_t,
    key: *const c_char,
    key_len: usize,
) -> storage_status_t {
    with_handle(storage, |s| {
        let key = raw::key(key, key_len)?;
        Ok(if ops::contains(s, key)? {
            STORAGE_OK
        } else {
            STORAGE_NOT_FOUND
        })
    })
}

/// Number of records in memory (expired records not yet removed count
/// until a read, a scan's sweep or storage_maintain() removes them).
///
/// - `out_len` (required).
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER, STORAGE_PANIC.
#[no_mangle]
pub extern "C" fn storage_len(storage: *mut storage_t, out_len: *mut usize) -> storage_status_t {
    with_handle(storage, |s| {
        raw::out(out_len, "out_len")?.set(s.store.size());
        Ok(STORAGE_OK)
    })
}

/// Sum of the records' costs (key bytes + MessagePack value bytes), O(1).
///
/// - `out_cost` (required).
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER, STORAGE_PANIC.
#[no_mangle]
pub extern "C" fn storage_estimated_cost(
    storage: *mut storage_t,
    out_cost: *mut u64,
) -> storage_status_t {
    with_handle(storage, |s| {
        raw::out(out_cost, "out_cost")?.set(s.store.owned_entry_cost());
        Ok(STORAGE_OK)
    })
}

// ---------------------------------------------------------------------------
// Iteration and sampling
// ---------------------------------------------------------------------------

#[allow(clippy::too_many_arguments)]
fn fetch_export(
    storage: *mut storage_t,
    cursor: *mut u8,
    max_items: usize,
    buf: *mut u8,
    capacity: usize,
    out_len: *mut usize,
    out_count: *mut usize,
    out_finished: *mut bool,
    with_values: bool,
) -> storage_status_t {
    with_handle(storage, |s| {
        let cursor = raw::cursor(cursor)?;
        let mut out_len = raw::out(out_len, "out_len")?;
        let mut out_count = raw::out(out_count, "out_count")?;
        let mut out_finished = raw::out(out_finished, "out_finished")?;
        let buf = raw::output(buf, capacity, "buf", &[&cursor[..]])?;
        match ops::fetch(s, cursor, max_items, buf, with_values)? {
            Read::Done(page) => {
                out_len.set(page.len);
                out_count.set(page.count);
                out_finished.set(page.finished);
                Ok(STORAGE_OK)
            }
            Read::TooSmall(needed) => {
                out_len.set(needed);
                out_count.set(0);
                out_finished.set(false);
                Err(Failure::too_small("buf", needed, capacity))
            }
        }
    })
}

/// The next page of live keys of a scan.
///
/// - `cursor` (required): STORAGE_CURSOR_SIZE bytes, all zeros to start;
///   advanced in place on STORAGE_OK, unchanged otherwise.
/// - `max_items`: most keys in the page (at least 1).
/// - `buf`, `capacity`: caller-owned output, must not overlap `cursor`;
///   receives the keys packed as `uint32_t` little-endian length + bytes
///   (read them with storage_page_next()). Keys are written until the next
///   one does not fit; the cursor then resumes at that key.
/// - `out_len` (required): bytes written; on STORAGE_BUFFER_TOO_SMALL
///   (not even one key fits) the size the next key needs.
/// - `out_count` (required): keys written.
/// - `out_finished` (required): true when the scan has returned everything
///   (later calls return empty, finished pages).
///
/// A page may hold fewer than `max_items` keys, even none, before the scan
/// is finished (expired records are skipped). Guarantees while other
/// threads write (Redis SCAN): a key present for the whole scan is returned
/// at least once; a key absent for the whole scan is never returned; with
/// no concurrent writes every key is returned exactly once.
///
/// Returns STORAGE_OK, STORAGE_BUFFER_TOO_SMALL, STORAGE_NULL_POINTER,
/// STORAGE_INVALID_CURSOR (malformed, truncated, corrupted or foreign
/// cursor), STORAGE_INVALID_ARGUMENT (`max_items` 0, overlapping buffers),
/// STORAGE_PANIC.
#[no_mangle]
pub extern "C" fn storage_fetch_keys(
    storage: *mut storage_t,
    cursor: *mut u8,
    max_items: usize,
    buf: *mut u8,
    capacity: usize,
    out_len: *mut usize,
    out_count: *mut usize,
    out_finished: *mut bool,
) -> storage_status_t {
    fetch_export(
        storage,
        cursor,
        max_items,
        buf,
        capacity,
        out_len,
        out_count,
        out_finished,
        false,
    )
}

/// storage_fetch_keys() for entries: each entry is two packed items, the
/// key and then the MessagePack of its value (`uint32_t` little-endian
/// length + bytes each). Reads by a scan are not counted as hits.
///
/// Returns as storage_fetch_keys().
#[no_mangle]
pub extern "C" fn storage_fetch_entries(
    storage: *mut storage_t,
    cursor: *mut u8,
    max_items: usize,
    buf: *mut u8,
    capacity: usize,
    out_len: *mut usize,
    out_count: *mut usize,
    out_finished: *mut bool,
) -> storage_status_t {
    fetch_export(
        storage,
        cursor,
        max_items,
        buf,
        capacity,
        out_len,
        out_count,
        out_finished,
        true,
    )
}

/// Up to `count` distinct live entries chosen uniformly at random, packed
/// as in storage_fetch_entries(); cost independent of the store's size.
/// Entries are written until one does not fit (`out_count` tells how many).
///
/// - `out_len` (required): bytes written; on STORAGE_BUFFER_TOO_SMALL (not
///   even one sampled entry fits) the size this call's samples needed
///   (another call samples again, so sizes vary).
/// - `out_count` (required): entries written.
///
/// Returns STORAGE_OK, STORAGE_BUFFER_TOO_SMALL, STORAGE_NULL_POINTER,
/// STORAGE_PANIC.
#[no_mangle]
pub extern "C" fn storage_random_samples(
    storage: *mut storage_t,
    count: usize,
    buf: *mut u8,
    capacity: usize,
    out_len: *mut usize,
    out_count: *mut usize,
) -> storage_status_t {
    with_handle(storage, |s| {
        let mut out_len = raw::out(out_len, "out_len")?;
        let mut out_count = raw::out(out_count, "out_count")?;
        let buf = raw::output(buf, capacity, "buf", &[])?;
        match ops::samples(s, count, buf)? {
            Read::Done(page) => {
                out_len.set(page.len);
                out_count.set(page.count);
                Ok(STORAGE_OK)
            }
            Read::TooSmall(needed) => {
                out_len.set(needed);
                out_count.set(0);
                Err(Failure::too_small("buf", needed, capacity))
            }
        }
    })
}

/// Reads the item at `*offset` of a page written by storage_fetch_keys(),
/// storage_fetch_entries() or storage_random_samples().
///
/// - `page`, `page_len`: the bytes the call wrote (its `out_len`); NULL is
///   allowed when `page_len` is 0.
/// - `offset` (required, in/out): 0 for the first item; moved past the item.
/// - `out_item` (required): receives a pointer to the item's bytes inside
///   `page` (not NUL-terminated); `out_item_len` (required) its length.
///
/// Returns STORAGE_OK, STORAGE_NOT_FOUND (no more items), STORAGE_NULL_POINTER,
/// STORAGE_MALFORMED_VALUE (truncated page), STORAGE_INVALID_ARGUMENT
/// (`*offset` past the end).
///
/// Thread safety: any thread; touches only the caller's memory.
#[no_mangle]
pub extern "C" fn storage_page_next(
    page: *const u8,
    page_len: usize,
    offset: *mut usize,
    out_item: *mut *const u8,
    out_item_len: *mut usize,
) -> storage_status_t {
    boundary(|| {
        let page = if page.is_null() && page_len == 0 {
            &[][..]
        } else {
            raw::input(page, page_len, "page")?
        };
        let offset_in = raw::read_usize(offset, "offset")?;
        let mut offset_out = raw::out(offset, "offset")?;
        let mut out_item = raw::out(out_item, "out_item")?;
        let mut out_item_len = raw::out(out_item_len, "out_item_len")?;
        let mut at = offset_in;
        match ops::page_next(page, &mut at)? {
            None => Ok(STORAGE_NOT_FOUND),
            Some(range) => {
                out_item_len.set(range.len());
                out_item.set(page[range].as_ptr());
                offset_out.set(at);
                Ok(STORAGE_OK)
            }
        }
    })
}

// ---------------------------------------------------------------------------
// Expiry, eviction and statistics
// ---------------------------------------------------------------------------

/// One bounded maintenance pass: removes expired records (looking at
/// max(100, 10% of the entries) per call, resuming where the last call
/// stopped) and evicts back within the bounds. Call it periodically when
/// entries can expire.
///
/// - `out_report` (may be NULL): what the pass did.
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER, STORAGE_PANIC.
#[no_mangle]
pub extern "C" fn storage_maintain(
    storage: *mut storage_t,
    out_report: *mut storage_maintenance_t,
) -> storage_status_t {
    with_handle(storage, |s| {
        let out = raw::out_opt(out_report, "out_report")?;
        let r = s.store.maintain();
        if let Some(mut out) = out {
            out.set(storage_maintenance_t {
                scanned: r.scanned,
                expired: r.expired,
                evicted: r.evicted,
            });
        }
        Ok(STORAGE_OK)
    })
}

/// The store's counters at this moment.
///
/// - `out_stats` (required).
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER, STORAGE_PANIC.
#[no_mangle]
pub extern "C" fn storage_stats(
    storage: *mut storage_t,
    out_stats: *mut storage_stats_t,
) -> storage_status_t {
    with_handle(storage, |s| {
        let mut out = raw::out(out_stats, "out_stats")?;
        let st = s.store.stats();
        out.set(storage_stats_t {
            hits: st.hits,
            misses: st.misses,
            puts: st.puts,
            updates: st.updates,
            removes: st.removes,
            evictions: st.evictions,
            expirations: st.expirations,
            entry_count: st.entry_count,
            total_cost: st.total_cost,
            observer_panics: st.observer_panics,
        });
        Ok(STORAGE_OK)
    })
}

// ---------------------------------------------------------------------------
// Observers
// ---------------------------------------------------------------------------

/// Registers `callback` for every later change: put, update, remove,
/// evict, expire and clear (see storage_event_kind_t). It is called on the
/// thread that made the change, after the library released its locks (so
/// it may call any function on this handle, storage_free() excepted), once
/// per change, in the order that thread made them. Callbacks for changes
/// made by several threads run concurrently. Callbacks never nest: a
/// change made while a callback runs on this thread (on any handle) is
/// delivered after that callback returns, before the library call that
/// made the first change returns, so a callback that writes on every event
/// uses constant stack (docs/c-api.md, "Observers").
///
/// - `callback` (required); `user_data` (may be NULL): passed back as is;
///   it must be usable from any thread that writes to the store.
/// - `out_subscription` (required): receives an id (never 0) for
///   storage_unsubscribe().
///
/// Returns STORAGE_OK, STORAGE_NULL_POINTER, STORAGE_PANIC.
#[no_mangle]
pub extern "C" fn storage_subscribe(
    storage: *mut storage_t,
    callback: storage_callback_t,
    user_data: *mut c_void,
    out_subscription: *mut u64,
) -> storage_status_t {
    with_handle(storage, |s| {
        let mut out = raw::out(out_subscription, "out_subscription")?;
        let callback = callback.ok_or_else(|| Failure::null("callback"))?;
        out.set(s.subscribe(callback, UserData(user_data)));
        Ok(STORAGE_OK)
    })
}

/// Cancels a subscription: no call of its callback starts after this
/// returns.
///
/// - Called outside any callback, it also waits for calls running on other
///   threads: when it returns the callback runs nowhere, so `user_data`
///   may be released. Do not call it while holding a lock that the
///   callback takes on another thread.
/// - Called inside a callback (of any handle; its own subscription too), it
///   never waits, so two callbacks that cancel each other from two threads
///   cannot deadlock. The wait happens when the library call on this
///   thread that started the delivery (the outermost put, remove, ...)
///   ends: once that call returns, the callback runs nowhere; release
///   `user_data` after it.
///
/// Returns STORAGE_OK, STORAGE_NOT_FOUND (unknown or already cancelled id),
/// STORAGE_NULL_POINTER, STORAGE_PANIC.
#[no_mangle]
pub extern "C" fn storage_unsubscribe(
    storage: *mut storage_t,
    subscription: u64,
) -> storage_status_t {
    with_handle(storage, |s| {
        Ok(if s.unsubscribe(subscription) {
            STORAGE_OK
        } else {
            STORAGE_NOT_FOUND
        })
    })
}

// ---------------------------------------------------------------------------
// Value conversion (no handle)
// ---------------------------------------------------------------------------

/// Converts a record value from JSON text to MessagePack (what storage_put()
/// takes), checking its shape.
///
/// - `json`, `json_len` (required).
/// - `buf`, `capacity`: caller-owned output, must not overlap `json`; NULL
///   with capacity 0 asks for the size.
/// - `out_len` (required): bytes written; the size needed on
///   STORAGE_BUFFER_TOO_SMALL.
///
/// Returns STORAGE_OK, STORAGE_BUFFER_TOO_SMALL, STORAGE_NULL_POINTER,
/// STORAGE_MALFORMED_VALUE, STORAGE_VALUE_SHAPE, STORAGE_VALUE_RANGE,
/// STORAGE_INVALID_ARGUMENT, STORAGE_PANIC.
///
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn storage_value_json_to_msgpack(
    json: *const c_char,
    json_len: usize,
    buf: *mut u8,
    capacity: usize,
    out_len: *mut usize,
) -> storage_status_t {
    boundary(|| {
        let text = json_text(json, json_len)?;
        let mut out_len = raw::out(out_len, "out_len")?;
        let buf = raw::output(buf, capacity, "buf", &[text.as_bytes()])?;
        let bytes = encode_record_value(&record_value_from_json(text)?);
        match buf.get_mut(..bytes.len()) {
            Some(dest) => {
                dest.copy_from_slice(&bytes);
                out_len.set(bytes.len());
                Ok(STORAGE_OK)
            }
            None => {
                out_len.set(bytes.len());
                Err(Failure::too_small("buf", bytes.len(), capacity))
            }
        }
    })
}

/// Converts a record value from MessagePack (what storage_get(), pages and
/// events give) to NUL-terminated JSON text.
///
/// - `msgpack`, `msgpack_len` (required).
/// - `buf`, `capacity`: caller-owned output, must not overlap `msgpack`;
///   NULL with capacity 0 asks for the size.
/// - `out_len` (required): on STORAGE_OK the text's length (as strlen); on
///   STORAGE_BUFFER_TOO_SMALL the capacity needed, NUL included.
///
/// Returns STORAGE_OK, STORAGE_BUFFER_TOO_SMALL, STORAGE_NULL_POINTER,
/// STORAGE_MALFORMED_VALUE, STORAGE_VALUE_SHAPE, STORAGE_VALUE_RANGE,
/// STORAGE_INVALID_ARGUMENT, STORAGE_PANIC.
///
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn storage_value_msgpack_to_json(
    msgpack: *const u8,
    msgpack_len: usize,
    buf: *mut c_char,
    capacity: usize,
    out_len: *mut usize,
) -> storage_status_t {
    boundary(|| {
        let bytes = raw::input(msgpack, msgpack_len, "msgpack")?;
        let mut out_len = raw::out(out_len, "out_len")?;
        let buf = raw::output_text(buf, capacity, "buf", &[bytes])?;
        let text = record_value_to_json(&decode_record_value(bytes)?)?;
        match ops::write_text(text.as_bytes(), buf) {
            Read::Done(n) => {
                out_len.set(n);
                Ok(STORAGE_OK)
            }
            Read::TooSmall(n) => {
                out_len.set(n);
                Err(Failure::too_small("buf", n, capacity))
            }
        }
    })
}
