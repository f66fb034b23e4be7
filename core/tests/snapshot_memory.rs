//! Memory returns to its baseline once snapshots are dropped, counted by an
//! instrumented global allocator (this file holds a single test so that no
//! other test allocates meanwhile).
//!
//! A store of 20,000 entries is overwritten, updated, emptied of a quarter
//! of its keys which are then written again, and given 5,000 keys that come
//! and go, while four snapshots taken at different points are open (so
//! writers keep versions and tombstones for them). The kept memory must be
//! visible while they are open, and all of it must be gone once they are
//! dropped, in an order that frees part of it at each drop.

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use topgun_storage_core::{
    EngineSnapshot, HashMapStorage, Record, RecordMetadata, RecordValue, StorageEngine, Timestamp,
};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const N: usize = 20_000;
const TRANSIENT: usize = 5_000;

fn record(i: usize, round: usize) -> Record {
    // Same size in every round: the final state costs what the first did.
    let text = format!("value-{i:08}-round-{round:04}");
    Record::new(
        RecordValue::lww(text, Timestamp::new(1, 0, "node-1")),
        RecordMetadata::new(i as i64, 40),
    )
}

fn key(i: usize) -> String {
    format!("key-{i:012}")
}

fn net(region: &Region<'_, System>) -> i64 {
    let s = region.change();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

/// One round of writes that ends in the same logical state and size.
fn churn(engine: &HashMapStorage, round: usize) {
    for i in 0..N {
        engine.put(&key(i), record(i, round));
    }
    for i in (0..N).step_by(3) {
        engine.update(&key(i), &mut |r| r.metadata.hits += 1);
    }
    for i in (0..N).step_by(4) {
        engine.remove(&key(i));
    }
    for i in 0..TRANSIENT {
        engine.put(&format!("transient-{i}"), record(i, round));
    }
    for i in (0..N).step_by(4) {
        engine.put(&key(i), record(i, round));
    }
    for i in 0..TRANSIENT {
        engine.remove(&format!("transient-{i}"));
    }
}

#[test]
fn memory_returns_to_baseline_after_snapshots_drop() {
    let region = Region::new(GLOBAL);
    let engine = HashMapStorage::with_shards(8);
    for i in 0..N {
        engine.put(&key(i), record(i, 0));
    }
    // A round without snapshots first, so the tables reach their steady
    // capacity (the transient keys grow them once).
    churn(&engine, 1);
    let baseline = net(&region);

    let mut snapshots = Vec::new();
    let mut peak = baseline;
    for round in 2..6 {
        snapshots.push(engine.snapshot());
        churn(&engine, round);
        peak = peak.max(net(&region));
    }
    assert_eq!(engine.len(), N);
    for (n, snap) in snapshots.iter().enumerate() {
        assert_eq!(snap.len(), N, "snapshot {n}");
    }
    let kept = peak - baseline;
    eprintln!("baseline {baseline} B, with 4 snapshots open {peak} B (+{kept} B)");
    assert!(
        kept > (N * 100) as i64,
        "four rounds of overwrites should keep at least one version per key: +{kept} B"
    );

    // Drop in an order that frees some versions at each step.
    let mut after_each = Vec::new();
    for i in [1, 2, 0, 0] {
        drop(snapshots.remove(i));
        after_each.push(net(&region) - baseline);
    }
    eprintln!("above baseline after each drop: {after_each:?}");
    assert!(
        after_each.windows(2).all(|w| w[1] <= w[0]),
        "{after_each:?}"
    );
    assert!(after_each[0] < kept, "the first drop freed nothing");
    let left = after_each[3];
    assert!(
        left.abs() <= 4096,
        "{left} B above the baseline of {baseline} B after every snapshot dropped"
    );
    assert_eq!(engine.len(), N);
    assert_eq!(engine.estimated_cost(), (N * 40) as u64);
}
