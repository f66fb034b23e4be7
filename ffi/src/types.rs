//! The `#[repr(C)]` types and constants of the C API, as the header shows
//! them. Names follow the C side (`storage_*_t`, `STORAGE_*`), so the Rust
//! code reads like the header it generates.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_void};

/// Version of the binary interface. It changes only when an existing
/// function, type or constant changes meaning or layout; adding functions,
/// constants or trailing option fields does not change it. Compare it with
/// storage_abi_version() at run time.
pub const STORAGE_ABI_VERSION: u32 = 1;

/// Size in bytes of an iteration cursor. Keep a cursor in a
/// `uint8_t cursor[STORAGE_CURSOR_SIZE]` array; all zeros is the start.
pub const STORAGE_CURSOR_SIZE: usize = 24;

const _: () = assert!(STORAGE_CURSOR_SIZE == topgun_storage_core::CURSOR_LEN);

/// Size of the packed length prefix in the outputs of
/// storage_fetch_keys(), storage_fetch_entries() and
/// storage_random_samples(): every item is a 32-bit little-endian byte count
/// followed by that many bytes.
pub const STORAGE_ITEM_PREFIX_SIZE: usize = 4;

/// What a call returned. STORAGE_OK (0) is success; STORAGE_NOT_FOUND is an
/// answer, not an error; every other value is an error whose detail is in
/// storage_last_error_message(). The numbers are stable and never reused.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum storage_status_t {
    /// Success.
    STORAGE_OK = 0,
    /// The key holds no live record (absent or expired).
    STORAGE_NOT_FOUND = 1,
    /// An output buffer is too small; the `out_len` parameter holds the size
    /// needed. Nothing was read or changed (a read is not counted).
    STORAGE_BUFFER_TOO_SMALL = 2,
    /// A required pointer argument was NULL (the message names it).
    STORAGE_NULL_POINTER = 3,
    /// A key is not valid UTF-8.
    STORAGE_INVALID_UTF8 = 4,
    /// Value bytes or text are not valid MessagePack / JSON (or not UTF-8 JSON).
    STORAGE_MALFORMED_VALUE = 5,
    /// A well-formed value of the wrong shape (missing field, wrong type, unknown tag).
    STORAGE_VALUE_SHAPE = 6,
    /// A number outside what its field can hold, or a float JSON cannot write.
    STORAGE_VALUE_RANGE = 7,
    /// A cursor that is malformed, truncated, corrupted or from another store.
    STORAGE_INVALID_CURSOR = 8,
    /// An argument that can never be valid (page size 0, bad option, no manual clock, ...).
    STORAGE_INVALID_ARGUMENT = 9,
    /// The store is full and its eviction policy is STORAGE_EVICTION_NONE.
    STORAGE_CAPACITY_EXCEEDED = 10,
    /// One entry costs more than the store's max_cost.
    STORAGE_ENTRY_TOO_LARGE = 11,
    /// The data store behind the store failed in a way no more specific
    /// status describes.
    STORAGE_DATA_STORE = 12,
    /// An internal error (a Rust panic) was caught at the boundary. The handle
    /// it happened on is poisoned: every later call on it returns
    /// STORAGE_PANIC. Only storage_free() remains valid on it.
    STORAGE_PANIC = 13,
    /// The store was closed by storage_close(): every later call on the
    /// handle returns this, except storage_close() (which does nothing
    /// more) and storage_free().
    STORAGE_CLOSED = 14,
    /// Reading or writing the data store's files or connection failed.
    STORAGE_IO = 15,
    /// Stored data cannot be read back as written (a damaged or torn file,
    /// a checksum mismatch, an unknown format version). The store refuses to
    /// open rather than open empty.
    STORAGE_CORRUPT = 16,
    /// Another process holds the data store (its file is locked).
    STORAGE_LOCKED = 17,
    /// The database server cannot be reached or did not answer in time;
    /// nothing was changed and a later call may succeed.
    STORAGE_UNAVAILABLE = 18,
    /// The disk (or the database's storage) is full; nothing was written.
    STORAGE_DISK_FULL = 19,
    /// The data store cannot hold this key or value (too long, a character
    /// it cannot store); nothing was written. Also what opening a durable
    /// store returns when the data store refuses its description: an
    /// unknown backend, an unknown option, a value that does not parse, an
    /// option the backend does not have, a backend this build lacks (the
    /// same category the Python and Node bindings report for them).
    STORAGE_REJECTED = 20,
    /// The API was used against its rules in a way the library detected:
    /// a call on a handle after storage_free(), a second storage_free() (it
    /// then does nothing), storage_free() from inside a callback of the same
    /// handle (it then does nothing). Not every misuse is detected; see
    /// docs/c-api.md ("Misuse").
    STORAGE_MISUSE = 21,
}

impl storage_status_t {
    /// Every status, in the order of their numbers (`ALL[n] as c_int == n`,
    /// checked by a test).
    pub(crate) const ALL: [storage_status_t; 22] = {
        use storage_status_t::*;
        [
            STORAGE_OK,
            STORAGE_NOT_FOUND,
            STORAGE_BUFFER_TOO_SMALL,
            STORAGE_NULL_POINTER,
            STORAGE_INVALID_UTF8,
            STORAGE_MALFORMED_VALUE,
            STORAGE_VALUE_SHAPE,
            STORAGE_VALUE_RANGE,
            STORAGE_INVALID_CURSOR,
            STORAGE_INVALID_ARGUMENT,
            STORAGE_CAPACITY_EXCEEDED,
            STORAGE_ENTRY_TOO_LARGE,
            STORAGE_DATA_STORE,
            STORAGE_PANIC,
            STORAGE_CLOSED,
            STORAGE_IO,
            STORAGE_CORRUPT,
            STORAGE_LOCKED,
            STORAGE_UNAVAILABLE,
            STORAGE_DISK_FULL,
            STORAGE_REJECTED,
            STORAGE_MISUSE,
        ]
    };

    /// The status numbered `n`, if there is one.
    pub(crate) fn from_number(n: std::ffi::c_int) -> Option<Self> {
        usize::try_from(n)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// What storage_status_str() returns for this status: a short lowercase
    /// phrase.
    pub(crate) fn text(self) -> &'static std::ffi::CStr {
        use storage_status_t::*;
        match self {
            STORAGE_OK => c"ok",
            STORAGE_NOT_FOUND => c"not found",
            STORAGE_BUFFER_TOO_SMALL => c"buffer too small",
            STORAGE_NULL_POINTER => c"null pointer argument",
            STORAGE_INVALID_UTF8 => c"key is not valid UTF-8",
            STORAGE_MALFORMED_VALUE => c"malformed value",
            STORAGE_VALUE_SHAPE => c"value has the wrong shape",
            STORAGE_VALUE_RANGE => c"number out of range",
            STORAGE_INVALID_CURSOR => c"invalid cursor",
            STORAGE_INVALID_ARGUMENT => c"invalid argument",
            STORAGE_CAPACITY_EXCEEDED => c"store is full",
            STORAGE_ENTRY_TOO_LARGE => c"entry too large",
            STORAGE_DATA_STORE => c"data store error",
            STORAGE_PANIC => c"internal error (panic)",
            STORAGE_CLOSED => c"store is closed",
            STORAGE_IO => c"data store I/O error",
            STORAGE_CORRUPT => c"stored data is corrupt",
            STORAGE_LOCKED => c"data store is locked by another process",
            STORAGE_UNAVAILABLE => c"data store unavailable",
            STORAGE_DISK_FULL => c"disk full",
            STORAGE_REJECTED => c"data store rejected the key, value or options",
            STORAGE_MISUSE => c"API misuse (freed handle, double free, free from a callback)",
        }
    }
}

/// How a bounded store chooses what to evict (storage_options_t.eviction_policy).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum storage_eviction_policy_t {
    /// Never evict: a write past a bound fails with STORAGE_CAPACITY_EXCEEDED.
    STORAGE_EVICTION_NONE = 0,
    /// Least recently used among the sampled entries.
    STORAGE_EVICTION_LRU = 1,
    /// Least frequently used among the sampled entries.
    STORAGE_EVICTION_LFU = 2,
    /// Any one of the sampled entries.
    STORAGE_EVICTION_RANDOM = 3,
}

/// Durability of an acknowledged write to a data store
/// (storage_options_t.durability). What each level survives is in
/// docs/c-api.md ("Durable stores").
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum storage_durability_t {
    /// The data store's default: STORAGE_DURABILITY_FSYNC.
    STORAGE_DURABILITY_DEFAULT = 0,
    /// An acknowledged write has been synced to the device (fsync): it
    /// survives a process kill and a power loss.
    STORAGE_DURABILITY_FSYNC = 1,
    /// An acknowledged write has been handed to the operating system: it
    /// survives a process kill, not a power loss.
    STORAGE_DURABILITY_OS = 2,
    /// Writes may stay in the process until storage_flush() or
    /// storage_close(): a kill may lose them (tests, caches).
    STORAGE_DURABILITY_NONE = 3,
}

/// One data-store option by name (storage_options_t.extra_options), e.g.
/// `{ "write_delay_ms", "200" }` or `{ "table_name", "maps" }`. Both are
/// NUL-terminated UTF-8, read during storage_new_with_options() only.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct storage_option_t {
    /// The option's name (required); docs/c-api.md lists them.
    pub name: *const c_char,
    /// Its value as text (required), e.g. "true", "1000", "fsync".
    pub value: *const c_char,
}

/// Options of storage_new_with_options(). Zero in every field but
/// `struct_size` means the default, so
/// `storage_options_t o = { .struct_size = sizeof(storage_options_t) };`
/// asks for an unbounded store in memory without expiry on the system
/// clock. Setting `location` (and optionally `backend`) asks for a durable
/// store: every write is kept by a data store (a file, a directory or a
/// PostgreSQL table) and memory holds a cache of it (docs/c-api.md,
/// "Durable stores").
///
/// The struct only grows at its end. `struct_size` tells the library which
/// version of the struct the caller compiled against; fields the library
/// does not know must be zero. Strings are NUL-terminated UTF-8, read
/// during the call only.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct storage_options_t {
    /// Must be `sizeof(storage_options_t)` as the caller's header defines it.
    pub struct_size: u32,
    /// A storage_eviction_policy_t value; 0 = STORAGE_EVICTION_NONE.
    pub eviction_policy: u32,
    /// Entries sampled per eviction; 0 = the default, 15.
    pub eviction_sample_count: u32,
    /// 1: the store reads a manual clock that starts at
    /// `manual_clock_start_ms` and moves only through storage_clock_set() and
    /// storage_clock_advance() (for tests); 0: the system clock.
    pub use_manual_clock: u32,
    /// Time to live of entries put without their own, in ms (at most
    /// 2^63-1, else STORAGE_INVALID_ARGUMENT); 0 = never expire.
    pub default_ttl_ms: u64,
    /// Longest time an entry may go unread or unwritten, in ms (at most
    /// 2^63-1, else STORAGE_INVALID_ARGUMENT); 0 = no limit.
    pub default_max_idle_ms: u64,
    /// Most entries the store holds in memory; 0 = unbounded. Over a data
    /// store this bounds the cache, not the data.
    pub max_entries: u64,
    /// Most total cost (key bytes + MessagePack value bytes) the store holds
    /// in memory; 0 = unbounded. Over a data store this bounds the cache.
    pub max_cost: u64,
    /// Start time of the manual clock, in ms since the Unix epoch.
    pub manual_clock_start_ms: i64,
    /// The data store's backend by name: "redb" (one file), "lmdb" (a
    /// directory), "rocksdb" (a directory), "postgres" (a table on a
    /// server), "memory" (a data store in memory, for tests). NULL: "redb"
    /// when `location` is set, else no data store (the store lives in
    /// memory only, as with storage_new()).
    pub backend: *const c_char,
    /// Where the data lives: the redb file, the LMDB or RocksDB directory,
    /// or the PostgreSQL connection string (`postgres://user@host/db` or
    /// `host=... dbname=...`). NULL for the "memory" backend.
    pub location: *const c_char,
    /// The map the store keeps its records under in the data store; NULL =
    /// "default" (what the Python and Node `Storage` use, so the same file
    /// reads back in every language).
    pub map_name: *const c_char,
    /// A storage_durability_t value; 0 = STORAGE_DURABILITY_DEFAULT (fsync).
    pub durability: u32,
    /// 1: writes are acknowledged once queued (and logged, with the option
    /// "wal" on, the default) and stored by a background thread
    /// (write-behind); 0: write-through, acknowledged once the data store
    /// holds them.
    pub write_behind: u32,
    /// More data-store options by name (`extra_options_len` of them; may be
    /// NULL when 0): write_delay_ms, write_batch_size, write_queue_capacity,
    /// wal, wal_dir, cache_size (redb), max_map_size (LMDB), the PostgreSQL
    /// options (table_name, pool_size, ...), durability and write_behind by
    /// name. Applied in order after the fields above (a later one wins).
    pub extra_options: *const storage_option_t,
    /// Number of entries in `extra_options`.
    pub extra_options_len: usize,
}

impl Default for storage_options_t {
    fn default() -> Self {
        Self {
            struct_size: 0,
            eviction_policy: 0,
            eviction_sample_count: 0,
            use_manual_clock: 0,
            default_ttl_ms: 0,
            default_max_idle_ms: 0,
            max_entries: 0,
            max_cost: 0,
            manual_clock_start_ms: 0,
            backend: std::ptr::null(),
            location: std::ptr::null(),
            map_name: std::ptr::null(),
            durability: 0,
            write_behind: 0,
            extra_options: std::ptr::null(),
            extra_options_len: 0,
        }
    }
}

/// Metadata of one record, filled by storage_get_with_metadata(). Times are
/// milliseconds since the Unix epoch, read from the store's clock.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct storage_metadata_t {
    /// Write count: 1 for a new record, +1 per overwrite.
    pub version: u32,
    /// Reads of this record since it was created (this read included).
    pub hits: u32,
    /// When the record was created.
    pub creation_time_ms: i64,
    /// When the record was last read (or created).
    pub last_access_time_ms: i64,
    /// When the record was last written.
    pub last_update_time_ms: i64,
    /// When the record was last written to a data store; 0 = never (always 0
    /// for a store without a data store).
    pub last_stored_time_ms: i64,
    /// What the record counts against max_cost: key bytes + MessagePack value bytes.
    pub cost: u64,
    /// The record's own time to live in ms; 0 = the store default applies.
    pub ttl_ms: u64,
    /// The record's own max idle time in ms; 0 = the store default applies.
    pub max_idle_ms: u64,
    /// When the record expires if nothing touches it (own limits, else defaults); 0 = never.
    pub expiration_time_ms: i64,
}

/// Counters of a store, filled by storage_stats().
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct storage_stats_t {
    /// Reads by key that found a live record.
    pub hits: u64,
    /// Reads by key that found no live record.
    pub misses: u64,
    /// Writes that created a record.
    pub puts: u64,
    /// Writes that replaced a live record.
    pub updates: u64,
    /// Records removed by storage_remove().
    pub removes: u64,
    /// Records evicted to stay within the bounds.
    pub evictions: u64,
    /// Records removed because they expired.
    pub expirations: u64,
    /// Records in memory now (may include expired ones not yet removed).
    pub entry_count: u64,
    /// Sum of the records' costs now.
    pub total_cost: u64,
    /// Observer callbacks that failed inside the library (always 0 for C callbacks).
    pub observer_panics: u64,
}

/// What one storage_maintain() pass did.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct storage_maintenance_t {
    /// Entries the expiry sweep looked at.
    pub scanned: u64,
    /// Expired records removed.
    pub expired: u64,
    /// Records evicted to get back within the bounds.
    pub evicted: u64,
}

/// The kind of a storage_event_t. Numbers are stable and never reused.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum storage_event_kind_t {
    /// A key that held no live record was written.
    STORAGE_EVENT_PUT = 1,
    /// A live record was overwritten.
    STORAGE_EVENT_UPDATE = 2,
    /// storage_remove() removed a record.
    STORAGE_EVENT_REMOVE = 3,
    /// The store evicted a record to stay within its bounds.
    STORAGE_EVENT_EVICT = 4,
    /// A record expired and was removed.
    STORAGE_EVENT_EXPIRE = 5,
    /// A record was loaded from a data store (not sent by this library's in-memory store).
    STORAGE_EVENT_LOAD = 6,
    /// storage_clear() emptied the store (key and value are empty).
    STORAGE_EVENT_CLEAR = 7,
    /// The store was reset (not sent by this library's handles).
    STORAGE_EVENT_RESET = 8,
    /// The store was destroyed (not sent by this library's handles).
    STORAGE_EVENT_DESTROY = 9,
}

/// Why a record expired (storage_event_t.expiry_reason).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum storage_expiry_reason_t {
    /// Not an expiry event.
    STORAGE_EXPIRY_NONE = 0,
    /// Its time to live passed.
    STORAGE_EXPIRY_TTL = 1,
    /// It went unread and unwritten longer than its max idle time.
    STORAGE_EXPIRY_MAX_IDLE = 2,
}

/// One change, passed to a storage_callback_t. Every pointer in it is valid
/// only during the callback and points into library memory: copy what you
/// need to keep. `key` is not NUL-terminated.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct storage_event_t {
    /// What happened.
    pub kind: storage_event_kind_t,
    /// For STORAGE_EVENT_EXPIRE: why; otherwise STORAGE_EXPIRY_NONE.
    pub expiry_reason: storage_expiry_reason_t,
    /// The key (UTF-8, `key_len` bytes, not NUL-terminated); "" for STORAGE_EVENT_CLEAR.
    pub key: *const c_char,
    /// Length of `key` in bytes.
    pub key_len: usize,
    /// MessagePack of the record's value: the new value for put and update,
    /// the value that went for remove, evict and expire; NULL for clear.
    pub value: *const u8,
    /// Length of `value` in bytes (0 when `value` is NULL).
    pub value_len: usize,
    /// MessagePack of the value an update replaced; NULL for other kinds.
    pub old_value: *const u8,
    /// Length of `old_value` in bytes (0 when `old_value` is NULL).
    pub old_value_len: usize,
    /// Whether the change was made in the backup role (always false here).
    pub is_backup: bool,
}

/// An observer callback (see storage_subscribe()). `event` and everything it
/// points to are valid only during the call; `user_data` is the pointer given
/// to storage_subscribe(). It runs on the thread that made the change, after
/// the library released its locks, so it may call any function on the same
/// handle (except storage_free()); changes it makes are delivered after it
/// returns (callbacks never nest). It must return normally: it must not
/// longjmp out or throw.
pub type storage_callback_t =
    Option<unsafe extern "C" fn(event: *const storage_event_t, user_data: *mut c_void)>;

/// What an export file holds (storage_export_summary_t.kind).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum storage_export_kind_t {
    /// One record store (what storage_export() writes).
    STORAGE_EXPORT_STORE = 1,
    /// Every map of a MapStorage (written by the Rust, Python or Node API);
    /// storage_import() refuses it with STORAGE_INVALID_ARGUMENT.
    STORAGE_EXPORT_MAPS = 2,
}

/// Where a storage_export(), storage_import() or storage_export_verify()
/// stands, passed to its progress callback after every frame of the file
/// (about 64 KiB of records) and once at the end.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct storage_progress_t {
    /// Records written (export), checked or imported (import) so far.
    pub records_done: u64,
    /// Records expected in all: for an export the snapshot's size (an upper
    /// bound: records expired at its instant are not written), for an
    /// import the count the file declares.
    pub records_total: u64,
    /// Stores done so far (0 or 1 for one record store).
    pub stores_done: u64,
    /// True while an import still checks the file (nothing written yet);
    /// the records are then counted again as they are imported.
    pub checking: bool,
}

/// What a finished storage_export(), storage_import() or
/// storage_export_verify() found in the file.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct storage_export_summary_t {
    /// What the file holds.
    pub kind: storage_export_kind_t,
    /// The snapshot's clock reading (ms since the Unix epoch): the instant
    /// the file's state is from.
    pub instant_ms: i64,
    /// Stores in the file (one per map and partition that had records).
    pub stores: u64,
    /// Records in the file.
    pub records: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// A progress callback (see storage_export()). `progress` is valid only
/// during the call; `user_data` is the pointer given with the callback. It
/// runs on the thread that called storage_export() / storage_import(); it
/// may read the same handle (writes from it during an import are allowed
/// but land between the imported records), must not call storage_free() on
/// it, and must return normally (no longjmp, no throw).
pub type storage_progress_callback_t =
    Option<unsafe extern "C" fn(progress: *const storage_progress_t, user_data: *mut c_void)>;

#[cfg(test)]
mod tests {
    #[test]
    fn soname_carries_the_abi_version() {
        assert_eq!(
            env!("TOPGUN_STORAGE_SONAME"),
            format!("libtopgun_storage.so.{}", super::STORAGE_ABI_VERSION)
        );
    }

    use super::*;

    #[test]
    fn every_status_is_in_all_at_its_number_with_its_own_text() {
        for (i, status) in storage_status_t::ALL.into_iter().enumerate() {
            assert_eq!(status as usize, i, "{status:?} is out of place");
            let n = std::ffi::c_int::try_from(i).unwrap();
            assert_eq!(storage_status_t::from_number(n), Some(status));
        }
        assert_eq!(storage_status_t::from_number(-1), None);
        assert_eq!(storage_status_t::from_number(22), None);
        let mut texts: Vec<_> = storage_status_t::ALL.map(storage_status_t::text).into();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(
            texts.len(),
            storage_status_t::ALL.len(),
            "texts are distinct"
        );
    }

    /// The header lists as many statuses as `ALL` (a status added to the
    /// enum but not to `ALL` fails here).
    #[test]
    fn all_has_every_status_of_the_header() {
        let header = include_str!("../../include/topgun_storage.h");
        let start = header.find("typedef enum storage_status_t {").unwrap();
        let end = start + header[start..].find('}').unwrap();
        let listed = header[start..end].matches(" = ").count();
        assert_eq!(listed, storage_status_t::ALL.len());
    }
}
