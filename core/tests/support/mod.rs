//! Helpers shared by the record-store and observer suites.

#![allow(dead_code)] // each suite uses its own part

pub mod child;
pub mod history;

use std::sync::atomic::{AtomicU64, Ordering};
use topgun_storage_core::{ExpiryReason, MutationObserver, Record, RecordValue};

/// Counts every callback, one counter per kind.
#[derive(Default, Debug)]
pub struct CountingObserver {
    pub put: AtomicU64,
    pub update: AtomicU64,
    pub remove: AtomicU64,
    pub evict: AtomicU64,
    pub expire: AtomicU64,
    pub load: AtomicU64,
    pub replication: AtomicU64,
    pub clear: AtomicU64,
    pub reset: AtomicU64,
    pub destroy: AtomicU64,
}

impl CountingObserver {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::SeqCst)
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::SeqCst);
}

impl MutationObserver for CountingObserver {
    fn on_put(&self, _: &str, _: &Record, _: Option<&RecordValue>, _: bool) {
        bump(&self.put);
    }
    fn on_update(&self, _: &str, _: &Record, _: &RecordValue, _: &RecordValue, _: bool) {
        bump(&self.update);
    }
    fn on_remove(&self, _: &str, _: &Record, _: bool) {
        bump(&self.remove);
    }
    fn on_evict(&self, _: &str, _: &Record, _: bool) {
        bump(&self.evict);
    }
    fn on_expire(&self, _: &str, _: &Record, _: ExpiryReason, _: bool) {
        bump(&self.expire);
    }
    fn on_load(&self, _: &str, _: &Record, _: bool) {
        bump(&self.load);
    }
    fn on_replication_put(&self, _: &str, _: &Record, _: bool) {
        bump(&self.replication);
    }
    fn on_clear(&self) {
        bump(&self.clear);
    }
    fn on_reset(&self) {
        bump(&self.reset);
    }
    fn on_destroy(&self, _: bool) {
        bump(&self.destroy);
    }
}
