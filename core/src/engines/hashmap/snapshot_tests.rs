//! Unit tests of [`HashMapSnapshot`] and of what writers keep for it.

use super::tests::assert_uniform_samples;
use super::*;
use crate::record::{RecordMetadata, RecordValue, Timestamp};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::{BTreeMap, HashSet};

fn record(n: i64) -> Record {
    Record::new(
        RecordValue::lww(n, Timestamp::new(1, 0, "node")),
        RecordMetadata::new(n, 10),
    )
}

fn value_of(r: &Record) -> i64 {
    r.metadata.creation_time
}

fn scan(view: &dyn EngineSnapshot, page: usize) -> Vec<(String, i64)> {
    let mut cursor = IterationCursor::start();
    let mut out = Vec::new();
    while !cursor.is_finished() {
        let p = view.fetch_entries(&cursor, page).unwrap();
        assert!(p.items.len() <= page);
        out.extend(p.items.into_iter().map(|(k, r)| (k, value_of(&r))));
        cursor = p.next_cursor;
    }
    out
}

fn as_map(entries: Vec<(String, i64)>) -> BTreeMap<String, i64> {
    let n = entries.len();
    let map: BTreeMap<_, _> = entries.into_iter().collect();
    assert_eq!(map.len(), n, "a key was returned twice");
    map
}

/// Nothing is kept for snapshots and no tombstone is left.
fn assert_nothing_kept(s: &HashMapStorage) {
    for shard in s.shared.shards.iter() {
        let table = shard.table.read();
        assert!(!table.keeps_anything(), "versions or tombstones left");
        assert_eq!(table.slots(), table.live(), "tombstones left");
    }
}

#[test]
fn a_snapshot_sees_the_state_when_it_was_taken() {
    let s = HashMapStorage::with_shards(4);
    s.put("a", record(1));
    s.put("b", record(2));
    let snap = s.snapshot();
    s.put("a", record(10));
    s.remove("b");
    s.put("c", record(3));
    assert!(s.update("a", &mut |r| r.metadata.creation_time = 11));

    assert_eq!(snap.get("a").map(|r| value_of(&r)), Some(1));
    assert_eq!(snap.get("b").map(|r| value_of(&r)), Some(2));
    assert!(!snap.contains_key("c"));
    assert_eq!(snap.len(), 2);
    let expected: BTreeMap<String, i64> = [("a".into(), 1), ("b".into(), 2)].into();
    for page in [1, 2, 100] {
        assert_eq!(as_map(scan(&snap, page)), expected);
    }
    // The live engine has moved on.
    assert_eq!(s.get("a").map(|r| value_of(&r)), Some(11));
    assert_eq!(s.get("b"), None);
    assert_eq!(s.len(), 2);
    drop(snap);
    assert_nothing_kept(&s);
    assert_eq!(s.len(), 2);
    assert_eq!(s.get("c").map(|r| value_of(&r)), Some(3));
}

#[test]
fn snapshots_at_different_instants_each_see_their_own() {
    let s = HashMapStorage::with_shards(2);
    let mut snaps = Vec::new();
    for i in 0..5 {
        s.put("k", record(i));
        s.put(&format!("only-{i}"), record(i));
        snaps.push(s.snapshot());
    }
    s.remove("k");
    for (i, snap) in snaps.iter().enumerate() {
        assert_eq!(snap.get("k").map(|r| value_of(&r)), Some(i as i64));
        assert_eq!(snap.len(), i + 2);
        for j in 0..5 {
            assert_eq!(snap.contains_key(&format!("only-{j}")), j <= i);
        }
    }
    // Drop from the middle: the others still see theirs.
    snaps.remove(2);
    snaps.remove(0);
    let left: Vec<i64> = snaps
        .iter()
        .map(|s| value_of(&s.get("k").unwrap()))
        .collect();
    assert_eq!(left, [1, 3, 4]);
    drop(snaps);
    assert_nothing_kept(&s);
    assert!(!s.contains_key("k"));
}

#[test]
fn dropping_a_snapshot_frees_only_what_no_other_needs() {
    let s = HashMapStorage::with_shards(1);
    s.put("k", record(1));
    let first = s.snapshot();
    s.put("k", record(2));
    let second = s.snapshot();
    s.put("k", record(3));
    let kept = |s: &HashMapStorage| {
        let table = s.shared.shards[0].table.read();
        table.older_len()
    };
    assert_eq!(kept(&s), 2);
    drop(first);
    assert_eq!(kept(&s), 1, "version 1 was only the first snapshot's");
    assert_eq!(second.get("k").map(|r| value_of(&r)), Some(2));
    drop(second);
    assert_eq!(kept(&s), 0);
    assert_nothing_kept(&s);
}

#[test]
fn writes_in_the_same_epoch_keep_one_version() {
    let s = HashMapStorage::with_shards(1);
    s.put("k", record(0));
    let snap = s.snapshot();
    for i in 1..100 {
        s.put("k", record(i));
        assert!(s.update("k", &mut |r| r.metadata.hits += 1));
    }
    assert_eq!(s.shared.shards[0].table.read().older_len(), 1);
    assert_eq!(snap.get("k").map(|r| value_of(&r)), Some(0));
}

#[test]
fn clear_is_one_instant_for_snapshots() {
    let s = HashMapStorage::with_shards(8);
    for i in 0..100 {
        s.put(&format!("k{i}"), record(i));
    }
    let before = s.snapshot();
    s.clear();
    let after = s.snapshot();
    s.put("k1", record(1000));
    assert_eq!(before.len(), 100);
    assert_eq!(scan(&before, 7).len(), 100);
    assert_eq!(after.len(), 0);
    assert!(scan(&after, 7).is_empty());
    assert_eq!(s.len(), 1);
    assert_eq!(s.estimated_cost(), 10);
    drop(before);
    drop(after);
    assert_nothing_kept(&s);
    assert_eq!(s.len(), 1);
}

#[test]
fn removed_and_revived_keys_resolve_per_snapshot() {
    let s = HashMapStorage::with_shards(1);
    s.put("k", record(1));
    let a = s.snapshot();
    s.remove("k");
    let b = s.snapshot();
    s.put("k", record(2));
    let c = s.snapshot();
    s.remove("k");
    assert_eq!(a.get("k").map(|r| value_of(&r)), Some(1));
    assert_eq!(b.get("k"), None);
    assert_eq!(c.get("k").map(|r| value_of(&r)), Some(2));
    assert_eq!((a.len(), b.len(), c.len(), s.len()), (1, 0, 1, 0));
    drop((a, b, c));
    assert_nothing_kept(&s);
    assert_eq!(s.shared.shards[0].table.read().slots(), 0);
}

#[test]
fn keys_written_after_every_snapshot_are_removed_at_once() {
    let s = HashMapStorage::with_shards(1);
    for i in 0..10 {
        s.put(&format!("old{i}"), record(i));
    }
    let snap = s.snapshot();
    for i in 0..1000 {
        s.put(&format!("new{i}"), record(i));
    }
    for i in 0..1000 {
        s.remove(&format!("new{i}"));
    }
    // None of the new keys left a tombstone: no snapshot could see them.
    assert_eq!(s.shared.shards[0].table.read().slots(), 10);
    assert_eq!(snap.len(), 10);
    drop(snap);
}

#[test]
fn a_snapshot_scan_is_exact_while_keys_are_removed_and_moved() {
    let s = HashMapStorage::with_shards(4);
    for i in 0..2_000 {
        s.put(&format!("k{i}"), record(i));
    }
    let snap = s.snapshot();
    let mut cursor = IterationCursor::start();
    let mut seen = Vec::new();
    let mut round = 0;
    while !cursor.is_finished() {
        let page = snap.fetch_keys(&cursor, 50).unwrap();
        seen.extend(page.items);
        cursor = page.next_cursor;
        // Remove keys all over the table, add new ones, revive some.
        for i in (round..2_000).step_by(97) {
            s.remove(&format!("k{i}"));
            s.put(&format!("n{round}-{i}"), record(i));
        }
        for i in (round..2_000).step_by(301) {
            s.put(&format!("k{i}"), record(-1));
        }
        round += 1;
    }
    let distinct: HashSet<_> = seen.iter().collect();
    assert_eq!(seen.len(), 2_000, "duplicates or misses");
    assert_eq!(distinct.len(), 2_000);
    assert!(seen.iter().all(|k| k.starts_with('k')));
    drop(snap);
    assert_nothing_kept(&s);
}

#[test]
fn snapshot_samples_come_from_the_snapshot_uniformly() {
    let s = HashMapStorage::with_shards(4);
    for i in 0..200 {
        s.put(&format!("k{i}"), record(i));
    }
    let snap = s.snapshot();
    for i in 0..200 {
        s.put(&format!("k{i}"), record(-1));
        s.put(&format!("later{i}"), record(-1));
    }
    for i in (0..200).step_by(3) {
        s.remove(&format!("k{i}"));
    }
    let mut rng = StdRng::seed_from_u64(3);
    assert_uniform_samples(200, 20_000, &mut |f| {
        snap.sample_with_rng(15, &mut rng, &mut |k, r| {
            assert!(value_of(r) >= 0, "a later version was sampled");
            f(k, r);
        })
    });
    // Asking for more than there is returns everything once.
    let mut all = HashSet::new();
    assert_eq!(
        snap.sample_with_rng(500, &mut rng, &mut |k, _| assert!(all.insert(k.to_owned()))),
        200
    );
}

#[test]
fn live_sampling_skips_tombstones_and_stays_uniform() {
    let s = HashMapStorage::with_shards(2);
    for i in 0..300 {
        s.put(&format!("k{i}"), record(i));
    }
    let snap = s.snapshot();
    for i in 0..100 {
        s.remove(&format!("k{i}"));
    }
    let mut rng = StdRng::seed_from_u64(5);
    assert_uniform_samples(200, 20_000, &mut |f| s.sample_with_rng(15, &mut rng, f));
    drop(snap);
}

#[test]
fn views_of_engines_sharing_a_registry_form_one_snapshot() {
    let registry = SnapshotRegistry::new();
    let a = HashMapStorage::with_registry(2, Arc::clone(&registry));
    let b = HashMapStorage::with_registry(2, Arc::clone(&registry));
    let other = HashMapStorage::with_shards(2);
    a.put("x", record(1));
    b.put("y", record(1));
    let ticket = Arc::new(registry.acquire());
    let (va, vb) = (
        a.snapshot_at(&ticket).unwrap(),
        b.snapshot_at(&ticket).unwrap(),
    );
    assert!(other.snapshot_at(&ticket).is_none());
    drop(ticket);
    a.put("x", record(2));
    b.remove("y");
    assert_eq!(va.get("x").map(|r| value_of(&r)), Some(1));
    assert!(vb.contains_key("y"));
    assert_eq!(registry.open_count(), 1);
    drop(va);
    assert_eq!(registry.open_count(), 1, "vb still holds the ticket");
    drop(vb);
    assert_eq!(registry.open_count(), 0);
    assert_nothing_kept(&a);
    assert_nothing_kept(&b);
}

#[test]
fn a_snapshot_outlives_its_engine_handle() {
    let s = HashMapStorage::with_shards(2);
    s.put("k", record(7));
    let snap = s.snapshot();
    drop(s);
    assert_eq!(snap.get("k").map(|r| value_of(&r)), Some(7));
}

#[test]
fn snapshot_iter_is_one_instant() {
    let s = HashMapStorage::with_shards(4);
    for i in 0..50 {
        s.put(&format!("k{i}"), record(i));
    }
    let all = s.snapshot_iter();
    assert_eq!(all.len(), 50);
    assert_nothing_kept(&s);
}

#[test]
fn cursor_errors_hold_for_snapshots() {
    let s = HashMapStorage::with_shards(4);
    s.put("a", record(1));
    let snap = s.snapshot();
    assert_eq!(
        snap.fetch_keys(&IterationCursor::start(), 0),
        Err(CursorError::ZeroPageSize)
    );
    let foreign = HashMapStorage::with_shards(8);
    foreign.put("b", record(1));
    let c = foreign
        .fetch_keys(&IterationCursor::start(), 1)
        .unwrap()
        .next_cursor;
    assert!(snap.fetch_keys(&c, 1).is_err());
    let end = snap
        .fetch_keys(&IterationCursor::start(), 10)
        .unwrap()
        .next_cursor;
    assert!(end.is_finished());
    let again = snap.fetch_keys(&end, 10).unwrap();
    assert!(again.items.is_empty() && again.next_cursor.is_finished());
}
