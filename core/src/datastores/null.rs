//! [`NullDataStore`]: persistence that keeps nothing.

use crate::map_data_store::{DataStoreResult, MapDataStore};
use crate::record::RecordValue;
use async_trait::async_trait;

/// A [`MapDataStore`] that stores nothing and finds nothing.
///
/// Every write succeeds at once without effect, every load finds nothing,
/// nothing is ever pending, and [`MapDataStore::is_null`] is `true`, so record
/// stores above it skip loads and treat no record as dirty. For ephemeral
/// maps and tests. No state, no cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NullDataStore;

#[async_trait]
impl MapDataStore for NullDataStore {
    async fn add(&self, _: &str, _: &str, _: &RecordValue, _: i64, _: i64) -> DataStoreResult<()> {
        Ok(())
    }

    async fn add_backup(
        &self,
        _: &str,
        _: &str,
        _: &RecordValue,
        _: i64,
        _: i64,
    ) -> DataStoreResult<()> {
        Ok(())
    }

    async fn remove(&self, _: &str, _: &str, _: i64) -> DataStoreResult<()> {
        Ok(())
    }

    async fn remove_backup(&self, _: &str, _: &str, _: i64) -> DataStoreResult<()> {
        Ok(())
    }

    async fn load(&self, _: &str, _: &str) -> DataStoreResult<Option<RecordValue>> {
        Ok(None)
    }

    async fn load_all(&self, _: &str, _: &[String]) -> DataStoreResult<Vec<(String, RecordValue)>> {
        Ok(Vec::new())
    }

    async fn remove_all(&self, _: &str, _: &[String]) -> DataStoreResult<()> {
        Ok(())
    }

    fn is_loadable(&self, _: &str) -> bool {
        true
    }

    fn pending_operation_count(&self) -> u64 {
        0
    }

    async fn soft_flush(&self) -> DataStoreResult<u64> {
        Ok(0)
    }

    async fn hard_flush(&self) -> DataStoreResult<()> {
        Ok(())
    }

    async fn flush_key(&self, _: &str, _: &str, _: &RecordValue, _: bool) -> DataStoreResult<()> {
        Ok(())
    }

    fn reset(&self) {}

    fn is_null(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Timestamp;
    use pollster::block_on;
    use std::sync::Arc;

    fn value() -> RecordValue {
        RecordValue::lww("v", Timestamp::new(1, 0, "n"))
    }

    #[test]
    fn add_returns_ok() {
        assert!(block_on(NullDataStore.add("m", "k", &value(), 0, 1)).is_ok());
    }

    #[test]
    fn add_backup_returns_ok() {
        assert!(block_on(NullDataStore.add_backup("m", "k", &value(), 0, 1)).is_ok());
    }

    #[test]
    fn remove_returns_ok() {
        assert!(block_on(NullDataStore.remove("m", "k", 1)).is_ok());
    }

    #[test]
    fn remove_backup_returns_ok() {
        assert!(block_on(NullDataStore.remove_backup("m", "k", 1)).is_ok());
    }

    #[test]
    fn load_returns_none() {
        block_on(NullDataStore.add("m", "k", &value(), 0, 1)).unwrap();
        assert_eq!(block_on(NullDataStore.load("m", "k")).unwrap(), None);
    }

    #[test]
    fn load_all_returns_empty_vec() {
        let keys = vec!["a".to_owned(), "b".to_owned()];
        assert!(block_on(NullDataStore.load_all("m", &keys))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn remove_all_returns_ok() {
        assert!(block_on(NullDataStore.remove_all("m", &["a".to_owned()])).is_ok());
    }

    #[test]
    fn is_null_returns_true() {
        assert!(NullDataStore.is_null());
    }

    #[test]
    fn is_loadable_returns_true() {
        assert!(NullDataStore.is_loadable("k"));
    }

    #[test]
    fn pending_operation_count_returns_zero() {
        block_on(NullDataStore.add("m", "k", &value(), 0, 1)).unwrap();
        assert_eq!(NullDataStore.pending_operation_count(), 0);
    }

    #[test]
    fn soft_flush_returns_zero() {
        assert_eq!(block_on(NullDataStore.soft_flush()).unwrap(), 0);
    }

    #[test]
    fn hard_flush_returns_ok() {
        assert!(block_on(NullDataStore.hard_flush()).is_ok());
    }

    #[test]
    fn flush_key_returns_ok() {
        assert!(block_on(NullDataStore.flush_key("m", "k", &value(), false)).is_ok());
        NullDataStore.reset();
    }

    #[test]
    fn map_data_store_is_object_safe() {
        let store: Arc<dyn MapDataStore> = Arc::new(NullDataStore);
        assert!(store.is_null());
    }
}
