//! The backends the durable-tier suite runs against, and a wrapper that
//! opens race windows for the concurrency tests.

use async_trait::async_trait;
use pollster::block_on;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use topgun_storage_core::{
    DataStoreError, DataStoreResult, Durability, MapDataStore, MemoryDataStore, Namespace,
    RedbDataStore, RedbOptions, ScanPage, ScanRequest, StoredRecord, WriteOp,
};

/// A data store the suite can "restart": `open` hands out a handle on the
/// data, `shutdown` ends it as a clean stop would. Between the two the
/// record stores, factories and `MapStorage`s above are thrown away, so
/// what the next `open` sees is only what the data store kept.
pub trait Backend {
    /// Name in failure messages.
    const NAME: &'static str;
    /// An empty data set.
    fn new() -> Self;
    /// A handle on the data set (the previous one was shut down).
    fn open(&mut self) -> Arc<dyn MapDataStore>;
    /// Ends `store` as a clean shutdown would.
    fn shutdown(&mut self, store: Arc<dyn MapDataStore>);
}

/// `MemoryDataStore`: its data lives as long as the process. Each `open`
/// hands out a [`MemoryHandle`] onto the same instance, which closes on its
/// own, as a file outlives the handle that closed it.
pub struct Memory(Arc<MemoryDataStore>);

impl Backend for Memory {
    const NAME: &'static str = "memory";

    fn new() -> Self {
        Memory(Arc::new(MemoryDataStore::new()))
    }

    fn open(&mut self) -> Arc<dyn MapDataStore> {
        Arc::new(MemoryHandle {
            data: self.0.clone(),
            closed: AtomicBool::new(false),
        })
    }

    fn shutdown(&mut self, store: Arc<dyn MapDataStore>) {
        block_on(store.close()).expect("close");
    }
}

/// `RedbDataStore` in a temporary directory, at durability `os` (what the
/// suite checks holds at every level; the crash harness checks the levels).
/// A restart closes the store and opens the file again.
pub struct Redb(tempfile::TempDir);

impl Backend for Redb {
    const NAME: &'static str = "redb";

    fn new() -> Self {
        Redb(tempfile::tempdir().expect("temporary directory"))
    }

    fn open(&mut self) -> Arc<dyn MapDataStore> {
        let options = RedbOptions::with_durability(Durability::Os);
        Arc::new(RedbDataStore::open(self.0.path().join("store.redb"), options).expect("open"))
    }

    fn shutdown(&mut self, store: Arc<dyn MapDataStore>) {
        block_on(store.close()).expect("close");
    }
}

/// `LmdbDataStore` in a temporary directory at durability `os`, with a
/// 1 MiB initial map (the larger data sets grow it).
#[cfg(feature = "lmdb")]
pub struct Lmdb(tempfile::TempDir);

#[cfg(feature = "lmdb")]
impl Backend for Lmdb {
    const NAME: &'static str = "lmdb";

    fn new() -> Self {
        Lmdb(tempfile::tempdir().expect("temporary directory"))
    }

    fn open(&mut self) -> Arc<dyn MapDataStore> {
        use topgun_storage_core::datastores::{LmdbDataStore, LmdbOptions};
        let options = LmdbOptions {
            initial_map_size: 1 << 20,
            ..LmdbOptions::with_durability(Durability::Os)
        };
        Arc::new(LmdbDataStore::open(self.0.path().join("lmdb"), options).expect("open"))
    }

    fn shutdown(&mut self, store: Arc<dyn MapDataStore>) {
        block_on(store.close()).expect("close");
    }
}

/// `RocksDbDataStore` in a temporary directory at durability `os`.
#[cfg(feature = "rocksdb")]
pub struct RocksDb(tempfile::TempDir);

#[cfg(feature = "rocksdb")]
impl Backend for RocksDb {
    const NAME: &'static str = "rocksdb";

    fn new() -> Self {
        RocksDb(tempfile::tempdir().expect("temporary directory"))
    }

    fn open(&mut self) -> Arc<dyn MapDataStore> {
        use topgun_storage_core::datastores::{RocksDbDataStore, RocksDbOptions};
        let options = RocksDbOptions::with_durability(Durability::Os);
        Arc::new(RocksDbDataStore::open(self.0.path().join("rocksdb"), options).expect("open"))
    }

    fn shutdown(&mut self, store: Arc<dyn MapDataStore>) {
        block_on(store.close()).expect("close");
    }
}

/// One "process's" handle on a shared `MemoryDataStore`: calls after its
/// `close` fail with `Closed`, the data stays for the next handle.
pub struct MemoryHandle {
    data: Arc<MemoryDataStore>,
    closed: AtomicBool,
}

impl MemoryHandle {
    fn open(&self) -> DataStoreResult<&MemoryDataStore> {
        if self.closed.load(Ordering::SeqCst) {
            Err(DataStoreError::closed())
        } else {
            Ok(&self.data)
        }
    }
}

#[async_trait]
impl MapDataStore for MemoryHandle {
    async fn write(
        &self,
        map: &str,
        namespace: Namespace,
        ops: &[WriteOp<'_>],
    ) -> DataStoreResult<()> {
        self.open()?.write(map, namespace, ops).await
    }

    async fn load(
        &self,
        map: &str,
        namespace: Namespace,
        key: &str,
    ) -> DataStoreResult<Option<StoredRecord>> {
        self.open()?.load(map, namespace, key).await
    }

    async fn load_all(
        &self,
        map: &str,
        namespace: Namespace,
        keys: &[String],
    ) -> DataStoreResult<Vec<(String, StoredRecord)>> {
        self.open()?.load_all(map, namespace, keys).await
    }

    async fn scan(&self, request: &ScanRequest<'_>) -> DataStoreResult<ScanPage> {
        self.open()?.scan(request).await
    }

    async fn list_maps(&self) -> DataStoreResult<Vec<String>> {
        self.open()?.list_maps().await
    }

    async fn close(&self) -> DataStoreResult<()> {
        self.closed.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// Stalls the next write or load after it has reached the inner store,
/// when armed: a record store that does not order its data-store calls and
/// memory updates per key lets another thread's whole write or remove slip
/// into that gap, and the concurrency tests catch it there.
pub struct Stalling<D> {
    inner: D,
    armed: AtomicBool,
    reached: AtomicBool,
}

/// How long an armed call holds on after reaching the inner store: far
/// longer than a write through a memory store takes, so the other thread's
/// call fits in the gap.
const STALL: Duration = Duration::from_millis(2);

impl<D: MapDataStore> Stalling<D> {
    pub fn new(inner: D) -> Self {
        Self {
            inner,
            armed: AtomicBool::new(false),
            reached: AtomicBool::new(false),
        }
    }

    /// The next write or load stalls after it has reached the inner store.
    pub fn arm(&self) {
        self.reached.store(false, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Waits until the armed call has reached the inner store.
    pub fn wait_until_reached(&self) {
        while !self.reached.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
    }

    fn stall_if_armed(&self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.reached.store(true, Ordering::SeqCst);
            let start = Instant::now();
            while start.elapsed() < STALL {
                std::thread::yield_now();
            }
        }
    }
}

#[async_trait]
impl<D: MapDataStore> MapDataStore for Stalling<D> {
    async fn write(
        &self,
        map: &str,
        namespace: Namespace,
        ops: &[WriteOp<'_>],
    ) -> DataStoreResult<()> {
        let result = self.inner.write(map, namespace, ops).await;
        self.stall_if_armed();
        result
    }

    async fn load(
        &self,
        map: &str,
        namespace: Namespace,
        key: &str,
    ) -> DataStoreResult<Option<StoredRecord>> {
        let result = self.inner.load(map, namespace, key).await;
        self.stall_if_armed();
        result
    }

    async fn scan(&self, request: &ScanRequest<'_>) -> DataStoreResult<ScanPage> {
        self.inner.scan(request).await
    }

    async fn list_maps(&self) -> DataStoreResult<Vec<String>> {
        self.inner.list_maps().await
    }
}
