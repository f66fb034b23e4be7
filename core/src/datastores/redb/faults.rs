//! [`FaultInjectingStorage`]: a redb storage backend that fails on command,
//! for deterministic tests of what the store does when its disk misbehaves.

use parking_lot::{Condvar, Mutex};
use redb::StorageBackend;
use std::io;
use std::sync::Arc;

/// What the next I/O calls do; see [`FaultControl`].
#[derive(Debug, Default)]
struct Plan {
    /// Fail every write (and `set_len`) with EIO.
    fail_writes: bool,
    /// Fail every `sync_data` with EIO.
    fail_syncs: bool,
    /// Writes and `set_len` beyond this many bytes fail with ENOSPC.
    capacity: Option<u64>,
    /// `Some(n)`: the write after the next `n` succeeds only in part (its
    /// first half reaches the storage), then fails, and so does every later
    /// I/O call: the process "crashed" mid-write.
    torn_after: Option<u64>,
    /// Set once a torn write happened: every call fails.
    crashed: bool,
    writes: u64,
    syncs: u64,
}

/// The switch of a [`FaultInjectingStorage`]; clones control the same
/// storage.
#[derive(Debug, Clone, Default)]
pub struct FaultControl {
    plan: Arc<Mutex<Plan>>,
    gate: Arc<SyncGate>,
}

/// Holds `sync_data` calls while closed (a disk that takes its time).
#[derive(Debug, Default)]
struct SyncGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    closed: bool,
    waiting: u64,
}

impl FaultControl {
    /// While `on`, every write and resize fails with an I/O error (EIO).
    pub fn fail_writes(&self, on: bool) {
        self.plan.lock().fail_writes = on;
    }

    /// While `on`, every `sync_data` (fsync) fails with an I/O error.
    pub fn fail_syncs(&self, on: bool) {
        self.plan.lock().fail_syncs = on;
    }

    /// The storage holds at most `bytes` (`None`: no limit): writes and
    /// resizes past it fail with "no space left on device".
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.plan.lock().capacity = bytes;
    }

    /// After `writes` more successful writes, the next write reaches the
    /// storage only in part (its first half: a torn page) and fails, and
    /// every later call fails too, as if the process died mid-write. Reopen
    /// the underlying storage without faults to see what survived.
    pub fn tear_write_after(&self, writes: u64) {
        self.plan.lock().torn_after = Some(writes);
    }

    /// While `on`, every `sync_data` waits (does not return) until the hold
    /// is lifted: a slow disk, to make writers queue up deterministically.
    pub fn hold_syncs(&self, on: bool) {
        self.gate.state.lock().closed = on;
        self.gate.changed.notify_all();
    }

    /// How many `sync_data` calls are waiting on [`hold_syncs`](Self::hold_syncs).
    pub fn held_syncs(&self) -> u64 {
        self.gate.state.lock().waiting
    }

    /// Stops every fault (a torn-write crash stays: the "process" is dead).
    pub fn heal(&self) {
        let mut plan = self.plan.lock();
        plan.fail_writes = false;
        plan.fail_syncs = false;
        plan.capacity = None;
        plan.torn_after = None;
    }

    /// Writes that reached the storage (whole or torn).
    pub fn writes(&self) -> u64 {
        self.plan.lock().writes
    }

    /// Successful syncs.
    pub fn syncs(&self) -> u64 {
        self.plan.lock().syncs
    }

    /// Whether a torn write "crashed" the storage.
    pub fn crashed(&self) -> bool {
        self.plan.lock().crashed
    }
}

fn injected(kind: io::ErrorKind, what: &str) -> io::Error {
    io::Error::new(kind, format!("injected fault: {what}"))
}

/// A redb [`StorageBackend`] over another one (a
/// [`FileBackend`](redb::backends::FileBackend), an
/// [`InMemoryBackend`](redb::backends::InMemoryBackend)) that fails writes,
/// syncs or resizes when its [`FaultControl`] says so: a failed write, a
/// failed fsync, a full disk, a torn page. Everything is deterministic
/// (counted calls, no randomness, no time).
///
/// Pass it to [`RedbDataStore::open_with_backend`](super::RedbDataStore::open_with_backend).
/// Locks are forwarded to the inner backend, so a file stays locked.
///
/// Costs: one uncontended mutex per I/O call.
#[derive(Debug)]
pub struct FaultInjectingStorage {
    inner: Box<dyn StorageBackend>,
    control: FaultControl,
}

impl FaultInjectingStorage {
    /// Wraps `inner`, failing nothing until `control` says so.
    pub fn new(inner: impl StorageBackend, control: FaultControl) -> Self {
        Self {
            inner: Box::new(inner),
            control,
        }
    }

    fn check_alive(plan: &Plan) -> io::Result<()> {
        if plan.crashed {
            Err(injected(
                io::ErrorKind::Other,
                "the storage crashed mid-write",
            ))
        } else {
            Ok(())
        }
    }
}

impl StorageBackend for FaultInjectingStorage {
    fn len(&self) -> Result<u64, io::Error> {
        Self::check_alive(&self.control.plan.lock())?;
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        Self::check_alive(&self.control.plan.lock())?;
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        {
            let plan = self.control.plan.lock();
            Self::check_alive(&plan)?;
            if plan.fail_writes {
                return Err(injected(io::ErrorKind::Other, "resize failed"));
            }
            if plan.capacity.is_some_and(|cap| len > cap) {
                return Err(injected(io::ErrorKind::StorageFull, "disk full"));
            }
        }
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        {
            let mut gate = self.control.gate.state.lock();
            gate.waiting += 1;
            self.control.gate.changed.notify_all();
            while gate.closed {
                self.control.gate.changed.wait(&mut gate);
            }
            gate.waiting -= 1;
        }
        {
            let plan = self.control.plan.lock();
            Self::check_alive(&plan)?;
            if plan.fail_syncs {
                return Err(injected(io::ErrorKind::Other, "fsync failed"));
            }
        }
        self.inner.sync_data()?;
        self.control.plan.lock().syncs += 1;
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut plan = self.control.plan.lock();
        Self::check_alive(&plan)?;
        if plan.fail_writes {
            return Err(injected(io::ErrorKind::Other, "write failed"));
        }
        let end = offset.saturating_add(data.len() as u64);
        if plan.capacity.is_some_and(|cap| end > cap) {
            return Err(injected(io::ErrorKind::StorageFull, "disk full"));
        }
        match plan.torn_after {
            Some(0) => {
                plan.crashed = true;
                plan.writes += 1;
                drop(plan);
                let half = data.len() / 2;
                self.inner.write(offset, &data[..half])?;
                return Err(injected(io::ErrorKind::Other, "torn write"));
            }
            Some(n) => plan.torn_after = Some(n - 1),
            None => {}
        }
        plan.writes += 1;
        drop(plan);
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }

    forward_locks!(inner);
}
