//! [`MapsSnapshot`]: every record store of a factory (a whole
//! [`crate::MapStorage`]) at one instant.

use super::StoreSnapshot;
use crate::partition::partition_for_key;
use crate::record::Record;

/// A read-only view of every record store of a
/// [`crate::RecordStoreFactory`] at one instant (what
/// [`crate::RecordStoreFactory::snapshot`] and
/// [`crate::MapStorage::snapshot`] return).
///
/// The factory's engines share one [`super::SnapshotRegistry`], so one
/// epoch covers them all: no write to any map made after the instant is
/// seen, and every store's view has the guarantees of [`StoreSnapshot`]
/// (expiry judged at one clock reading, the same for every store). Stores
/// created after the instant are not in it (they were empty then); maps
/// removed after it still are. Taking one is O(number of stores).
#[derive(Debug)]
pub struct MapsSnapshot {
    /// Sorted by map name, then partition.
    stores: Vec<StoreSnapshot>,
    epoch: u64,
}

impl MapsSnapshot {
    /// A snapshot made of `stores` (views at epoch `epoch`), sorted here.
    pub(crate) fn new(mut stores: Vec<StoreSnapshot>, epoch: u64) -> Self {
        stores.sort_by(|a, b| (a.name(), a.partition_id()).cmp(&(b.name(), b.partition_id())));
        Self { stores, epoch }
    }

    /// The epoch of every view.
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Every store's view, by map name then partition.
    #[must_use]
    pub fn stores(&self) -> &[StoreSnapshot] {
        &self.stores
    }

    /// The names of the maps that had a store, sorted.
    #[must_use]
    pub fn map_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.stores.iter().map(StoreSnapshot::name).collect();
        names.dedup();
        names
    }

    /// The views of `map`'s stores, by partition.
    pub fn map<'a>(&'a self, map: &'a str) -> impl Iterator<Item = &'a StoreSnapshot> + 'a {
        let first = self.stores.partition_point(|s| s.name() < map);
        self.stores[first..]
            .iter()
            .take_while(move |s| s.name() == map)
    }

    /// The live record of `key` in `map` at the instant.
    #[must_use]
    pub fn get(&self, map: &str, key: &str) -> Option<Record> {
        let partition = partition_for_key(key);
        self.map(map)
            .find(|s| s.partition_id() == partition)?
            .get(key)
    }

    /// Records in every view (expired ones not yet removed included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.stores.iter().map(StoreSnapshot::len).sum()
    }

    /// Whether no view holds a record.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
