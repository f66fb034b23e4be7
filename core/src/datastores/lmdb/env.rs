//! The three heed calls that are `unsafe`, each wrapped once with the
//! reason it is sound here. This is the only module of the crate that may
//! hold `unsafe` code (`tests/unsafe_audit.rs` checks it).
//!
//! * Opening an environment: heed marks it `unsafe` because LMDB memory-maps
//!   the data file, so a file changed behind LMDB's back (truncated,
//!   rewritten by a program that ignores LMDB's lock file) would change
//!   memory this process reads. The store's directory belongs to the store:
//!   every process that opens it goes through LMDB and its lock file, and
//!   [`LmdbDataStore`](super::LmdbDataStore) checks the file length against
//!   LMDB's meta page before it reads anything (a truncated file is refused
//!   as corrupt instead of being mapped past its end). heed itself refuses
//!   a second open of the same path in one process.
//! * Setting `NO_SYNC`: heed marks the sync-weakening flags `unsafe` because
//!   they trade durability after an OS crash or power loss for speed. That
//!   trade is exactly the `os` and `none` durability levels, documented on
//!   [`LmdbDataStore`](super::LmdbDataStore); the flag does not touch memory
//!   safety (no `WRITE_MAP`, no `NO_LOCK`).
//! * Resizing the map: LMDB requires that no transaction of this process is
//!   active on the environment. [`resize`] takes the environment by `&mut`,
//!   and every transaction borrows it through a shared reference, so the
//!   borrow checker proves the condition (the store never clones its `Env`).

#![allow(unsafe_code)]

use heed::{Env, EnvFlags, EnvOpenOptions, WithoutTls};
use std::path::Path;

/// How an environment is opened.
pub(super) struct EnvSettings {
    /// Open read-only (`MDB_RDONLY`): no write transactions, no map setting.
    pub read_only: bool,
    /// Skip the fsync at commit (`MDB_NOSYNC`).
    pub no_sync: bool,
    /// Map size to configure (read-write only); `None` keeps the size the
    /// file records.
    pub map_size: Option<usize>,
    /// Reader slots (`mdb_env_set_maxreaders`).
    pub max_readers: u32,
    /// Named databases (`mdb_env_set_maxdbs`).
    pub max_dbs: u32,
}

/// Opens the LMDB environment in the directory `path` (which must exist),
/// with read transactions not tied to threads (`MDB_NOTLS`), so that they
/// can be used from any thread and several per thread.
pub(super) fn open(path: &Path, settings: &EnvSettings) -> heed::Result<Env<WithoutTls>> {
    let mut options = EnvOpenOptions::new().read_txn_without_tls();
    options
        .max_readers(settings.max_readers)
        .max_dbs(settings.max_dbs);
    if let Some(size) = settings.map_size {
        options.map_size(size);
    }
    let mut flags = EnvFlags::empty();
    if settings.read_only {
        flags |= EnvFlags::READ_ONLY;
    }
    if settings.no_sync {
        flags |= EnvFlags::NO_SYNC;
    }
    // SAFETY: NO_SYNC only drops the fsync at commit (see the module docs:
    // it is the documented `os` / `none` durability); READ_ONLY forbids
    // writes. Neither affects memory safety.
    unsafe {
        options.flags(flags);
    }
    // SAFETY: the directory belongs to the store and is only changed through
    // LMDB, which coordinates processes through its lock file; the caller
    // checks the data file against the meta page before reading (module
    // docs). heed returns `EnvAlreadyOpened` for a second open in this
    // process.
    unsafe { options.open(path) }
}

/// Sets the map size of an open environment: `size` bytes, or with 0 the
/// size another process recorded in the file (after `MDB_MAP_RESIZED`).
pub(super) fn resize(env: &mut Env<WithoutTls>, size: usize) -> heed::Result<()> {
    // SAFETY: `env` is borrowed mutably, so no transaction (each borrows the
    // `Env` immutably) is alive in this process, and the store never clones
    // its `Env` (module docs). That is LMDB's condition for
    // mdb_env_set_mapsize.
    unsafe { env.resize(size) }
}
