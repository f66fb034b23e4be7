//! [`MemoryDataStore`]: the in-memory backend that mirrors the durable ones.

use crate::map_data_store::{
    DataStoreError, DataStoreResult, MapDataStore, Namespace, ScanEntry, ScanPage, ScanRequest,
    StoredRecord, WriteOp,
};
use async_trait::async_trait;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::ops::Bound;

type Maps = BTreeMap<(String, Namespace), BTreeMap<String, StoredRecord>>;

/// A [`MapDataStore`] that keeps everything in this process's memory, with
/// exactly the semantics of the durable backends (the conformance suite runs
/// against it like against them): atomic ordered batches, key-ordered
/// keyset scans, separate namespaces, `Closed` after `close`.
///
/// Nothing survives the process; flush and the durability levels have
/// nothing to do. For tests, ephemeral workers, and as the model the
/// durable backends are compared with.
///
/// Costs: one `RwLock` over ordered maps. A write batch holds the write lock
/// for the batch (so readers see all of it or none of it); a load or a scan
/// page holds the read lock for O(log n + page) and clones what it returns.
#[derive(Debug, Default)]
pub struct MemoryDataStore {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    maps: Maps,
    closed: bool,
}

impl State {
    fn open(&self) -> DataStoreResult<&Maps> {
        if self.closed {
            Err(DataStoreError::closed())
        } else {
            Ok(&self.maps)
        }
    }
}

impl MemoryDataStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys stored in `map`'s `namespace` (0 once closed). O(1).
    #[must_use]
    pub fn len(&self, map: &str, namespace: Namespace) -> usize {
        let state = self.state.read();
        state
            .maps
            .get(&(map.to_owned(), namespace))
            .map_or(0, BTreeMap::len)
    }
}

#[async_trait]
impl MapDataStore for MemoryDataStore {
    async fn write(
        &self,
        map: &str,
        namespace: Namespace,
        ops: &[WriteOp<'_>],
    ) -> DataStoreResult<()> {
        let mut state = self.state.write();
        if state.closed {
            return Err(DataStoreError::closed());
        }
        if ops.is_empty() {
            return Ok(());
        }
        let id = (map.to_owned(), namespace);
        let entries = state.maps.entry(id.clone()).or_default();
        for op in ops {
            match op {
                WriteOp::Put { key, record } => {
                    entries.insert((*key).to_owned(), (*record).clone());
                }
                WriteOp::Remove { key } => {
                    entries.remove(*key);
                }
            }
        }
        if entries.is_empty() {
            state.maps.remove(&id);
        }
        Ok(())
    }

    async fn load(
        &self,
        map: &str,
        namespace: Namespace,
        key: &str,
    ) -> DataStoreResult<Option<StoredRecord>> {
        let state = self.state.read();
        Ok(state
            .open()?
            .get(&(map.to_owned(), namespace))
            .and_then(|entries| entries.get(key))
            .cloned())
    }

    async fn load_all(
        &self,
        map: &str,
        namespace: Namespace,
        keys: &[String],
    ) -> DataStoreResult<Vec<(String, StoredRecord)>> {
        let state = self.state.read();
        let Some(entries) = state.open()?.get(&(map.to_owned(), namespace)) else {
            return Ok(Vec::new());
        };
        Ok(keys
            .iter()
            .filter_map(|k| entries.get(k).map(|r| (k.clone(), r.clone())))
            .collect())
    }

    async fn scan(&self, request: &ScanRequest<'_>) -> DataStoreResult<ScanPage> {
        request.check()?;
        let state = self.state.read();
        let Some(entries) = state
            .open()?
            .get(&(request.map.to_owned(), request.namespace))
        else {
            return Ok(ScanPage::default());
        };
        let start = match request.after {
            Some(after) if after >= request.prefix => Bound::Excluded(after),
            _ => Bound::Included(request.prefix),
        };
        let mut page = ScanPage::default();
        let mut matching = entries
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(request.prefix));
        for (key, record) in matching.by_ref().take(request.limit) {
            page.entries.push(ScanEntry {
                key: key.clone(),
                record: request.with_records.then(|| record.clone()),
            });
        }
        if matching.next().is_some() {
            page.resume_after = page.entries.last().map(|e| e.key.clone());
        }
        Ok(page)
    }

    async fn list_maps(&self) -> DataStoreResult<Vec<String>> {
        let state = self.state.read();
        let mut names: Vec<String> = state.open()?.keys().map(|(m, _)| m.clone()).collect();
        names.dedup();
        Ok(names)
    }

    async fn flush(&self) -> DataStoreResult<()> {
        self.state.read().open().map(|_| ())
    }

    async fn close(&self) -> DataStoreResult<()> {
        self.state.write().closed = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map_data_store::DataStoreErrorKind;
    use crate::record::{RecordValue, Timestamp};
    use pollster::block_on;

    fn rec(v: &str) -> StoredRecord {
        StoredRecord::new(RecordValue::lww(v, Timestamp::new(1, 0, "n")), 7)
    }

    #[test]
    fn a_batch_applies_in_order_and_the_last_op_on_a_key_wins() {
        let s = MemoryDataStore::new();
        let (a, b) = (rec("a"), rec("b"));
        let ops = [
            WriteOp::Put {
                key: "k",
                record: &a,
            },
            WriteOp::Remove { key: "k" },
            WriteOp::Put {
                key: "j",
                record: &a,
            },
            WriteOp::Put {
                key: "j",
                record: &b,
            },
        ];
        block_on(s.write("m", Namespace::Primary, &ops)).unwrap();
        assert_eq!(
            block_on(s.load("m", Namespace::Primary, "k")).unwrap(),
            None
        );
        assert_eq!(
            block_on(s.load("m", Namespace::Primary, "j")).unwrap(),
            Some(b)
        );
        assert_eq!(s.len("m", Namespace::Backup), 0);
    }

    #[test]
    fn a_page_ends_exactly_at_the_last_match_without_a_resume_key() {
        let s = MemoryDataStore::new();
        let r = rec("v");
        for k in ["a1", "a2", "b1"] {
            block_on(s.add("m", Namespace::Primary, k, &r)).unwrap();
        }
        let req = ScanRequest::keys("m", Namespace::Primary, 2).with_prefix("a");
        let page = block_on(s.scan(&req)).unwrap();
        let keys: Vec<_> = page.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a1", "a2"]);
        assert_eq!(page.resume_after, None, "b1 does not match the prefix");
        let req = ScanRequest::keys("m", Namespace::Primary, 1);
        let page = block_on(s.scan(&req)).unwrap();
        assert_eq!(page.resume_after.as_deref(), Some("a1"));
    }

    #[test]
    fn emptied_maps_disappear_from_the_list_and_close_refuses_calls() {
        let s = MemoryDataStore::new();
        block_on(s.add("x", Namespace::Backup, "k", &rec("v"))).unwrap();
        block_on(s.add("y", Namespace::Primary, "k", &rec("v"))).unwrap();
        block_on(s.add("y", Namespace::Backup, "k", &rec("v"))).unwrap();
        assert_eq!(block_on(s.list_maps()).unwrap(), ["x", "y"]);
        block_on(s.remove("x", Namespace::Backup, "k")).unwrap();
        assert_eq!(block_on(s.list_maps()).unwrap(), ["y"]);
        block_on(s.close()).unwrap();
        block_on(s.close()).unwrap();
        let err = block_on(s.load("y", Namespace::Primary, "k")).unwrap_err();
        assert_eq!(err.kind(), DataStoreErrorKind::Closed);
        let err = block_on(s.add("y", Namespace::Primary, "k", &rec("v"))).unwrap_err();
        assert_eq!(err.kind(), DataStoreErrorKind::Closed);
    }
}
