//! [`FaultInjectingDataStore`]: a wrapper that makes any data store fail on
//! command, for tests of what sits above it.

use crate::map_data_store::{
    DataStoreError, DataStoreErrorKind, DataStoreResult, MapDataStore, Namespace, ScanPage,
    ScanRequest, StoredRecord, WriteOp,
};
use async_trait::async_trait;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Wraps a [`MapDataStore`] and fails its calls when told to, counting what
/// reaches it.
///
/// Made for tests of record stores, write-behind queues and bindings: "the
/// disk fails for the next 3 writes, then recovers", "every read fails with
/// `Unavailable`". A failed call does not reach the inner store at all, so
/// it changes nothing, like a real backend's failed atomic write. Faults
/// are set per direction (writes: `write` and everything built on it;
/// reads: `load`, `load_all`, `scan`, `list_maps`). Flush and close always
/// pass through.
///
/// Costs: one uncontended mutex and two atomic increments per call on top
/// of the inner store.
#[derive(Debug, Default)]
pub struct FaultInjectingDataStore<D> {
    inner: D,
    faults: Mutex<Faults>,
    write_calls: AtomicU64,
    written_ops: AtomicU64,
    read_calls: AtomicU64,
    failed_calls: AtomicU64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Fault {
    kind: Option<DataStoreErrorKind>,
    /// `None`: every call until cleared; `Some(n)`: the next `n` calls.
    remaining: Option<u64>,
}

#[derive(Debug, Default)]
struct Faults {
    writes: Fault,
    reads: Fault,
}

impl Fault {
    /// Whether this call fails, consuming one from a counted fault.
    fn take(&mut self) -> Option<DataStoreErrorKind> {
        let kind = self.kind?;
        match &mut self.remaining {
            None => Some(kind),
            Some(0) => {
                self.kind = None;
                None
            }
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    self.kind = None;
                    self.remaining = None;
                }
                Some(kind)
            }
        }
    }
}

impl<D: MapDataStore> FaultInjectingDataStore<D> {
    /// `inner`, failing nothing yet.
    pub fn new(inner: D) -> Self {
        Self {
            inner,
            faults: Mutex::new(Faults::default()),
            write_calls: AtomicU64::new(0),
            written_ops: AtomicU64::new(0),
            read_calls: AtomicU64::new(0),
            failed_calls: AtomicU64::new(0),
        }
    }

    /// The wrapped store (to inspect it, or to reach it without faults).
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// Every write fails with `kind` until [`heal`](Self::heal); `None`
    /// stops failing writes.
    pub fn fail_writes(&self, kind: Option<DataStoreErrorKind>) {
        self.faults.lock().writes = Fault {
            kind,
            remaining: None,
        };
    }

    /// The next `count` writes fail with `kind`, then writes succeed again.
    pub fn fail_next_writes(&self, count: u64, kind: DataStoreErrorKind) {
        self.faults.lock().writes = Fault {
            kind: (count > 0).then_some(kind),
            remaining: Some(count),
        };
    }

    /// Every read fails with `kind` until healed; `None` stops failing
    /// reads.
    pub fn fail_reads(&self, kind: Option<DataStoreErrorKind>) {
        self.faults.lock().reads = Fault {
            kind,
            remaining: None,
        };
    }

    /// Stops every fault.
    pub fn heal(&self) {
        *self.faults.lock() = Faults::default();
    }

    /// `write` calls that reached the inner store (successful or not there).
    pub fn write_calls(&self) -> u64 {
        self.write_calls.load(Ordering::SeqCst)
    }

    /// Operations in the batches that reached the inner store.
    pub fn written_ops(&self) -> u64 {
        self.written_ops.load(Ordering::SeqCst)
    }

    /// Read calls that reached the inner store.
    pub fn read_calls(&self) -> u64 {
        self.read_calls.load(Ordering::SeqCst)
    }

    /// Calls failed by an injected fault.
    pub fn failed_calls(&self) -> u64 {
        self.failed_calls.load(Ordering::SeqCst)
    }

    fn check(&self, write: bool) -> DataStoreResult<()> {
        let kind = {
            let mut faults = self.faults.lock();
            if write {
                faults.writes.take()
            } else {
                faults.reads.take()
            }
        };
        match kind {
            Some(kind) => {
                self.failed_calls.fetch_add(1, Ordering::SeqCst);
                let what = if write { "write" } else { "read" };
                Err(DataStoreError::new(
                    kind,
                    format!("injected {} fault on a {what}", kind.as_str()),
                ))
            }
            None => {
                let counter = if write {
                    &self.write_calls
                } else {
                    &self.read_calls
                };
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }
    }
}

#[async_trait]
impl<D: MapDataStore> MapDataStore for FaultInjectingDataStore<D> {
    async fn write(
        &self,
        map: &str,
        namespace: Namespace,
        ops: &[WriteOp<'_>],
    ) -> DataStoreResult<()> {
        self.check(true)?;
        self.written_ops
            .fetch_add(ops.len() as u64, Ordering::SeqCst);
        self.inner.write(map, namespace, ops).await
    }

    async fn load(
        &self,
        map: &str,
        namespace: Namespace,
        key: &str,
    ) -> DataStoreResult<Option<StoredRecord>> {
        self.check(false)?;
        self.inner.load(map, namespace, key).await
    }

    async fn load_all(
        &self,
        map: &str,
        namespace: Namespace,
        keys: &[String],
    ) -> DataStoreResult<Vec<(String, StoredRecord)>> {
        self.check(false)?;
        self.inner.load_all(map, namespace, keys).await
    }

    async fn scan(&self, request: &ScanRequest<'_>) -> DataStoreResult<ScanPage> {
        self.check(false)?;
        self.inner.scan(request).await
    }

    async fn list_maps(&self) -> DataStoreResult<Vec<String>> {
        self.check(false)?;
        self.inner.list_maps().await
    }

    fn is_loadable(&self, map: &str, namespace: Namespace, key: &str) -> bool {
        self.inner.is_loadable(map, namespace, key)
    }

    fn pending_operation_count(&self) -> u64 {
        self.inner.pending_operation_count()
    }

    async fn soft_flush(&self) -> DataStoreResult<u64> {
        self.inner.soft_flush().await
    }

    async fn hard_flush(&self) -> DataStoreResult<()> {
        self.inner.hard_flush().await
    }

    async fn flush(&self) -> DataStoreResult<()> {
        self.inner.flush().await
    }

    async fn close(&self) -> DataStoreResult<()> {
        self.inner.close().await
    }

    fn reset(&self) {
        self.inner.reset();
    }

    fn is_null(&self) -> bool {
        self.inner.is_null()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastores::MemoryDataStore;
    use crate::record::{RecordValue, Timestamp};
    use pollster::block_on;

    #[test]
    fn counted_faults_fail_exactly_that_many_writes_and_change_nothing() {
        let s = FaultInjectingDataStore::new(MemoryDataStore::new());
        let r = StoredRecord::new(RecordValue::lww("v", Timestamp::new(1, 0, "n")), 1);
        s.fail_next_writes(2, DataStoreErrorKind::DiskFull);
        for _ in 0..2 {
            let err = block_on(s.add("m", Namespace::Primary, "k", &r)).unwrap_err();
            assert_eq!(err.kind(), DataStoreErrorKind::DiskFull);
        }
        assert_eq!(s.inner().len("m", Namespace::Primary), 0);
        block_on(s.add("m", Namespace::Primary, "k", &r)).unwrap();
        assert_eq!((s.write_calls(), s.failed_calls()), (1, 2));
        s.fail_reads(Some(DataStoreErrorKind::Unavailable));
        let err = block_on(s.load("m", Namespace::Primary, "k")).unwrap_err();
        assert_eq!(err.kind(), DataStoreErrorKind::Unavailable);
        s.heal();
        assert_eq!(
            block_on(s.load("m", Namespace::Primary, "k")).unwrap(),
            Some(r)
        );
        assert_eq!(s.read_calls(), 1);
    }
}
