//! R10 of docs/benchmarks.md: heap bytes per entry of `HashMapStorage`
//! against a raw `DashMap<String, RecordValue>` holding the same data,
//! counted by an instrumented global allocator in the same run.

mod data;

use dashmap::DashMap;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::hint::black_box;
use topgun_storage_core::{HashMapStorage, RecordValue, StorageEngine};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const TARGET_EXTRA: f64 = 64.0;

fn net_bytes(region: &Region<'_, System>) -> f64 {
    let s = region.change();
    // Reallocations are already folded into both totals.
    s.bytes_allocated as f64 - s.bytes_deallocated as f64
}

fn main() {
    // Several sizes, because both tables sit at different points of their
    // growth cycles at any one size.
    let sizes = [100_000usize, 300_000, 600_000, 1_000_000];
    println!("== R10 memory per entry (heap bytes, counting allocator) ==");
    let mut worst: f64 = f64::MIN;
    for &n in &sizes {
        let keys = data::keys(n);
        let values: Vec<RecordValue> = (0..n).map(data::value).collect();

        let region = Region::new(GLOBAL);
        let raw: DashMap<String, RecordValue, foldhash::fast::RandomState> =
            DashMap::with_hasher(Default::default());
        for (k, v) in keys.iter().zip(&values) {
            raw.insert(String::from(k.as_str()), v.clone());
        }
        let raw_bytes = net_bytes(&region) / n as f64;
        black_box(&raw);
        drop(raw);

        let region = Region::new(GLOBAL);
        let store = HashMapStorage::new();
        for (i, (k, v)) in keys.iter().zip(&values).enumerate() {
            store.put(
                k,
                topgun_storage_core::Record::new(v.clone(), data::record(i).metadata),
            );
        }
        let ours_bytes = net_bytes(&region) / n as f64;
        black_box(&store);
        drop(store);

        let extra = ours_bytes - raw_bytes;
        worst = worst.max(extra);
        println!(
            "R10  {n:>9} entries: baseline(DashMap<String, RecordValue>) {raw_bytes:7.1} B/entry | ours {ours_bytes:7.1} B/entry | extra {extra:+6.1} B (target <= +{TARGET_EXTRA} B) {}",
            if extra <= TARGET_EXTRA { "MET" } else { "MISSED" }
        );
    }
    println!(
        "R10  worst extra over sizes: {worst:+.1} B/entry ({} of the payload: 16-byte key, 64-byte string, 6-byte node id)",
        if worst <= TARGET_EXTRA { "MET" } else { "MISSED" }
    );
}
