//! [`NullDataStore`]: persistence that keeps nothing.

use crate::map_data_store::{
    DataStoreResult, MapDataStore, Namespace, ScanPage, ScanRequest, StoredRecord, WriteOp,
};
use async_trait::async_trait;

/// A [`MapDataStore`] that stores nothing and finds nothing.
///
/// Every write succeeds at once without effect, every load and scan finds
/// nothing, and [`MapDataStore::is_null`] is `true`, so record stores above
/// it skip loads and treat no record as dirty. For ephemeral maps. No state,
/// no cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NullDataStore;

#[async_trait]
impl MapDataStore for NullDataStore {
    async fn write(&self, _: &str, _: Namespace, _: &[WriteOp<'_>]) -> DataStoreResult<()> {
        Ok(())
    }

    async fn load(&self, _: &str, _: Namespace, _: &str) -> DataStoreResult<Option<StoredRecord>> {
        Ok(None)
    }

    async fn scan(&self, _: &ScanRequest<'_>) -> DataStoreResult<ScanPage> {
        Ok(ScanPage::default())
    }

    async fn list_maps(&self) -> DataStoreResult<Vec<String>> {
        Ok(Vec::new())
    }

    fn is_null(&self) -> bool {
        true
    }
}
