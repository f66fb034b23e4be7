//! The storage backend redb writes through: the caller's backend (a file,
//! memory, a fault injector) with the `os` durability level applied.

use redb::StorageBackend;
use std::io;
use std::sync::Arc;

/// A shared handle on the backend under a store, so the store can sync it
/// itself (`flush` at the `os` level) while redb owns the [`SyncPolicy`]
/// wrapper.
pub(super) type SharedBackend = Arc<dyn StorageBackend>;

/// Forwards every call to the inner backend, except that `sync_data` does
/// nothing when `sync` is off.
///
/// With `sync` off, a commit at redb's `Immediate` durability still writes
/// every page and the header to the backend (for a file: `pwrite`s into the
/// OS page cache) before it returns, so it survives the process being
/// killed; it just does not wait for the device. That is the `os` level.
#[derive(Debug)]
pub(super) struct SyncPolicy {
    inner: SharedBackend,
    sync: bool,
}

impl SyncPolicy {
    pub(super) fn new(inner: SharedBackend, sync: bool) -> Self {
        Self { inner, sync }
    }
}

impl StorageBackend for SyncPolicy {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        if self.sync {
            self.inner.sync_data()
        } else {
            Ok(())
        }
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }

    forward_locks!(inner);
}
