//! Unit tests of the live engine (the snapshot tests are in `snapshot_tests.rs`).

use super::*;
use crate::record::{RecordMetadata, RecordValue, Timestamp};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

fn record(n: i64, cost: u64) -> Record {
    Record::new(
        RecordValue::lww(n, Timestamp::new(1, 0, "node")),
        RecordMetadata::new(n, cost),
    )
}

fn filled(n: usize) -> HashMapStorage {
    let s = HashMapStorage::new();
    for i in 0..n {
        s.put(&format!("key{i}"), record(i as i64, 1));
    }
    s
}

fn scan_keys(s: &HashMapStorage, page: usize) -> Vec<String> {
    let mut cursor = IterationCursor::start();
    let mut out = Vec::new();
    while !cursor.is_finished() {
        let r = s.fetch_keys(&cursor, page).unwrap();
        assert!(r.items.len() <= page);
        out.extend(r.items);
        cursor = r.next_cursor;
    }
    out
}

#[test]
fn put_get_remove_round_trip() {
    let s = HashMapStorage::new();
    assert!(s.put("a", record(1, 10)).is_none());
    assert_eq!(s.get("a"), Some(record(1, 10)));
    let old = s.put("a", record(2, 20));
    assert_eq!(old, Some(record(1, 10)));
    assert_eq!(s.remove("a"), Some(record(2, 20)));
    assert_eq!(s.get("a"), None);
    assert_eq!(s.remove("a"), None);
}

#[test]
fn empty_key_is_an_ordinary_key() {
    let s = HashMapStorage::new();
    s.put("", record(7, 1));
    assert!(s.contains_key(""));
    assert_eq!(scan_keys(&s, 10), vec![String::new()]);
}

#[test]
fn contains_key_reflects_state() {
    let s = HashMapStorage::new();
    assert!(!s.contains_key("a"));
    s.put("a", record(1, 0));
    assert!(s.contains_key("a"));
    s.remove("a");
    assert!(!s.contains_key("a"));
}

#[test]
fn len_and_is_empty() {
    let s = HashMapStorage::new();
    assert!(s.is_empty());
    s.put("a", record(1, 0));
    s.put("b", record(2, 0));
    s.put("a", record(3, 0));
    assert_eq!(s.len(), 2);
    assert!(!s.is_empty());
}

#[test]
fn clear_empties_storage() {
    let s = filled(100);
    s.clear();
    assert!(s.is_empty());
    assert_eq!(s.estimated_cost(), 0);
    assert_eq!(s.get("key1"), None);
    assert!(scan_keys(&s, 10).is_empty());
}

#[test]
fn get_with_and_update_work_in_place() {
    let s = HashMapStorage::new();
    s.put("a", record(1, 5));
    let mut seen = None;
    assert!(s.get_with("a", &mut |r| seen = Some(r.metadata.cost)));
    assert_eq!(seen, Some(5));
    assert!(s.update("a", &mut |r| {
        r.metadata.on_access(9);
        r.metadata.cost = 8;
    }));
    assert_eq!(s.get("a").unwrap().metadata.hits, 1);
    assert_eq!(s.estimated_cost(), 8);
    assert!(!s.update("missing", &mut |_| panic!("called for a missing key")));
    assert!(!s.get_with("missing", &mut |_| panic!("called for a missing key")));
}

#[test]
fn fetch_keys_with_cursor_pagination() {
    let s = filled(5);
    let first = s.fetch_keys(&IterationCursor::start(), 3).unwrap();
    assert_eq!(first.items.len(), 3);
    assert!(!first.next_cursor.is_finished());
    let second = s.fetch_keys(&first.next_cursor, 3).unwrap();
    assert_eq!(second.items.len(), 2);
    assert!(second.next_cursor.is_finished());
    let all: HashSet<String> = first.items.into_iter().chain(second.items).collect();
    assert_eq!(all.len(), 5);
}

#[test]
fn fetch_entries_with_cursor_pagination() {
    let s = filled(5);
    let mut cursor = IterationCursor::start();
    let mut sizes = Vec::new();
    let mut finished = Vec::new();
    let mut seen = HashMap::new();
    while !cursor.is_finished() {
        let page = s.fetch_entries(&cursor, 2).unwrap();
        sizes.push(page.items.len());
        finished.push(page.next_cursor.is_finished());
        for (k, r) in page.items {
            assert_eq!(s.get(&k), Some(r.clone()));
            seen.insert(k, r);
        }
        cursor = page.next_cursor;
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(finished, [false, false, true]);
    assert_eq!(seen.len(), 5);
}

#[test]
fn full_page_at_the_end_reports_finished() {
    let s = filled(5);
    let page = s.fetch_keys(&IterationCursor::start(), 5).unwrap();
    assert_eq!(page.items.len(), 5);
    assert!(page.next_cursor.is_finished());
}

#[test]
fn empty_storage_finishes_on_first_call() {
    let s = HashMapStorage::new();
    let page = s.fetch_keys(&IterationCursor::start(), 10).unwrap();
    assert!(page.items.is_empty());
    assert!(page.next_cursor.is_finished());
}

#[test]
fn snapshot_iter_returns_all_entries() {
    let s = filled(50);
    let snap = s.snapshot_iter();
    assert_eq!(snap.len(), 50);
    let keys: HashSet<_> = snap.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys.len(), 50);
    for (k, r) in snap {
        assert_eq!(s.get(&k), Some(r));
    }
}

#[test]
fn random_samples_respects_count() {
    let s = filled(100);
    let five = s.random_samples(5);
    assert_eq!(five.len(), 5);
    let distinct: HashSet<_> = five.iter().map(|(k, _)| k).collect();
    assert_eq!(distinct.len(), 5);
    for (k, r) in &five {
        assert_eq!(s.get(k).as_ref(), Some(r));
    }
    assert_eq!(s.random_samples(200).len(), 100);
    assert!(s.random_samples(0).is_empty());
}

#[test]
fn random_samples_empty_storage() {
    assert!(HashMapStorage::new().random_samples(15).is_empty());
}

#[test]
fn fetch_keys_cursor_past_end() {
    let s = filled(10);
    let all = scan_keys(&s, 3);
    assert_eq!(all.len(), 10);
    // A finished cursor stays finished.
    let end = s
        .fetch_keys(&IterationCursor::start(), 100)
        .unwrap()
        .next_cursor;
    let again = s.fetch_keys(&end, 100).unwrap();
    assert!(again.items.is_empty() && again.next_cursor.is_finished());
    // A cursor whose position is past what is left: the shard shrank.
    let mid = s
        .fetch_keys(&IterationCursor::start(), 1)
        .unwrap()
        .next_cursor;
    s.clear();
    let past = s.fetch_keys(&mid, 100).unwrap();
    assert!(past.items.is_empty() && past.next_cursor.is_finished());
}

#[test]
fn fetch_entries_cursor_past_end() {
    let s = filled(10);
    let mid = s
        .fetch_entries(&IterationCursor::start(), 4)
        .unwrap()
        .next_cursor;
    s.clear();
    let past = s.fetch_entries(&mid, 4).unwrap();
    assert!(past.items.is_empty() && past.next_cursor.is_finished());
    let again = s.fetch_entries(&past.next_cursor, 4).unwrap();
    assert!(again.items.is_empty() && again.next_cursor.is_finished());
}

#[test]
fn zero_page_size_is_an_error() {
    let s = filled(3);
    assert_eq!(
        s.fetch_keys(&IterationCursor::start(), 0),
        Err(CursorError::ZeroPageSize)
    );
}

#[test]
fn cursor_from_another_layout_is_rejected() {
    let big = HashMapStorage::with_shards(16);
    let small = HashMapStorage::with_shards(4);
    for i in 0..100 {
        big.put(&format!("k{i}"), record(i, 0));
    }
    let c = big
        .fetch_keys(&IterationCursor::start(), 7)
        .unwrap()
        .next_cursor;
    assert_eq!(small.fetch_keys(&c, 7), Err(CursorError::ForeignCursor));
}

#[test]
fn cursor_from_another_store_with_the_same_layout_is_rejected() {
    // Before cursors were bound to their engine, B resumed A's cursor at
    // A's position and silently skipped most of its own keys.
    let a = filled(1_000);
    let b = filled(1_000);
    assert_eq!(a.shard_count(), b.shard_count());
    let mid = a
        .fetch_keys(&IterationCursor::start(), 700)
        .unwrap()
        .next_cursor;
    assert!(!mid.is_finished());
    let bytes = mid.to_bytes();
    let parsed = IterationCursor::from_bytes(&bytes).unwrap();
    assert_eq!(b.fetch_keys(&parsed, 10), Err(CursorError::ForeignCursor));
    assert_eq!(
        b.fetch_entries(&parsed, 10),
        Err(CursorError::ForeignCursor)
    );
    assert_eq!(
        b.fetch_with(&parsed, 10, &mut |_, _| panic!("visited")),
        Err(CursorError::ForeignCursor)
    );
    let end = scan_cursor_end(&a);
    assert_eq!(b.fetch_keys(&end, 10), Err(CursorError::ForeignCursor));
    // A's own cursor still works, from the bytes as well.
    assert_eq!(a.fetch_keys(&parsed, 1_000).unwrap().items.len(), 300);
}

/// The finished cursor of a full scan of `s`.
fn scan_cursor_end(s: &HashMapStorage) -> IterationCursor {
    let mut cursor = IterationCursor::start();
    while !cursor.is_finished() {
        cursor = s.fetch_keys(&cursor, 100).unwrap().next_cursor;
    }
    cursor
}

#[test]
fn malformed_cursor_bytes_are_errors_not_panics() {
    let s = filled(100);
    let c = s
        .fetch_keys(&IterationCursor::start(), 7)
        .unwrap()
        .next_cursor;
    let bytes = c.to_bytes();
    for len in 1..bytes.len() {
        assert!(IterationCursor::from_bytes(&bytes[..len]).is_err());
    }
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..10_000 {
        let mut b = bytes;
        let i = rng.random_range(0..b.len());
        b[i] = rng.random();
        if let Ok(c) = IterationCursor::from_bytes(&b) {
            // Whatever parses must still be safe to use.
            let _ = s.fetch_keys(&c, 5);
        }
    }
}

#[test]
fn single_shard_store_works() {
    let s = HashMapStorage::with_shards(1);
    for i in 0..20 {
        s.put(&format!("k{i}"), record(i, 1));
    }
    let keys: HashSet<_> = scan_keys(&s, 6).into_iter().collect();
    assert_eq!(keys.len(), 20);
    assert_eq!(s.shard_count(), 1);
}

#[test]
fn estimated_cost_sums_all_records() {
    let s = HashMapStorage::new();
    s.put("a", record(1, 100));
    s.put("b", record(2, 200));
    s.put("c", record(3, 300));
    assert_eq!(s.estimated_cost(), 600);
    s.remove("b");
    assert_eq!(s.estimated_cost(), 400);
    s.put("a", record(1, 50));
    assert_eq!(s.estimated_cost(), 350);
}

#[test]
fn no_duplicates_and_nothing_missed_without_writes() {
    let s = filled(5_000);
    for page in [1, 7, 1000, 10_000] {
        let keys = scan_keys(&s, page);
        let set: HashSet<_> = keys.iter().collect();
        assert_eq!(keys.len(), 5_000, "page {page}");
        assert_eq!(set.len(), 5_000, "page {page}");
    }
}

#[test]
fn removals_between_pages_never_hide_a_remaining_key() {
    let s = filled(2_000);
    let mut cursor = IterationCursor::start();
    let mut seen = HashSet::new();
    let mut round = 0;
    while !cursor.is_finished() {
        let page = s.fetch_keys(&cursor, 50).unwrap();
        seen.extend(page.items);
        cursor = page.next_cursor;
        // Remove keys all over the table, including not yet visited ones.
        for i in (round..2_000).step_by(97) {
            s.remove(&format!("key{i}"));
        }
        round += 1;
    }
    for (key, _) in s.snapshot_iter() {
        assert!(
            seen.contains(&key),
            "{key} was present throughout but missed"
        );
    }
}

#[test]
fn sampling_is_uniform() {
    // 200 keys, 40_000 draws of 15: each key expects 3000 hits. A
    // chi-square statistic over 199 degrees of freedom has mean 199 and
    // standard deviation 20; 320 is six deviations out (seeded: fixed).
    let s = filled(200);
    let mut rng = StdRng::seed_from_u64(0x5eed);
    assert_uniform_samples(200, 40_000, &mut |f| s.sample_with_rng(15, &mut rng, f));
}

/// What a sampler calls for each entry it picks.
pub(super) type Visitor<'a> = &'a mut dyn FnMut(&str, &Record);

/// Draws `draws` samples of 15 distinct entries with `sample` and asserts
/// that all of `keys` keys come up about equally often: with 200 keys the
/// chi-square statistic over 199 degrees of freedom has mean 199 and
/// standard deviation 20, and 320 is six deviations out (seeded: fixed).
pub(super) fn assert_uniform_samples(
    keys: usize,
    draws: usize,
    sample: &mut dyn FnMut(Visitor<'_>) -> usize,
) {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for _ in 0..draws {
        let mut picked = HashSet::new();
        let n = sample(&mut |k, _| {
            assert!(picked.insert(k.to_owned()), "duplicate in one sample");
            *counts.entry(k.to_owned()).or_default() += 1;
        });
        assert_eq!(n, 15);
    }
    assert_eq!(counts.len(), keys);
    let expected = (draws * 15) as f64 / keys as f64;
    let chi2: f64 = counts
        .values()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    assert!(chi2 < 320.0, "chi-square {chi2} too large for uniform");
}

#[test]
fn sampling_is_uniform_across_uneven_shards() {
    // Two shards of very different sizes: a per-shard-uniform sampler
    // would favour the small shard's keys.
    let s = HashMapStorage::with_shards(2);
    let mut i = 0;
    let (mut small, mut large) = (Vec::new(), Vec::new());
    while small.len() < 10 || large.len() < 190 {
        let key = format!("u{i}");
        i += 1;
        let (_, shard) = s.shared.locate(&key);
        let is_first = std::ptr::eq(shard, &*s.shared.shards[0]);
        if is_first && small.len() < 10 {
            small.push(key);
        } else if !is_first && large.len() < 190 {
            large.push(key);
        }
    }
    for k in small.iter().chain(&large) {
        s.put(k, record(0, 0));
    }
    let mut rng = StdRng::seed_from_u64(11);
    let small_set: HashSet<_> = small.iter().cloned().collect();
    let mut small_hits = 0u64;
    let draws = 20_000;
    for _ in 0..draws {
        s.sample_with_rng(1, &mut rng, &mut |k, _| {
            if small_set.contains(k) {
                small_hits += 1;
            }
        });
    }
    // Expected share 10/200 = 5% (1000 of 20000, sd ~31).
    assert!((800..1200).contains(&small_hits), "{small_hits}");
}

#[test]
fn storage_engine_is_object_safe() {
    let engine: Arc<dyn StorageEngine> = Arc::new(HashMapStorage::new());
    engine.put("k", record(1, 1));
    assert_eq!(engine.len(), 1);
}

#[test]
fn fetch_with_resumes_at_a_refused_entry() {
    let s = filled(1_000);
    let mut cursor = IterationCursor::start();
    let mut seen = Vec::new();
    let mut calls = 0;
    while !cursor.is_finished() {
        // Accept 3 entries per call, then refuse the 4th.
        let mut budget = 3;
        cursor = s
            .fetch_with(&cursor, 10, &mut |key, _| {
                if budget == 0 {
                    return false;
                }
                budget -= 1;
                seen.push(key.to_owned());
                true
            })
            .unwrap();
        calls += 1;
    }
    let distinct: HashSet<_> = seen.iter().collect();
    assert_eq!(seen.len(), 1_000, "a refused entry was lost or repeated");
    assert_eq!(distinct.len(), 1_000);
    assert!(calls >= 334);
}

#[test]
fn refusing_the_first_entry_makes_no_progress_but_no_loss() {
    let s = filled(5);
    let c = s
        .fetch_with(&IterationCursor::start(), 5, &mut |_, _| false)
        .unwrap();
    assert!(!c.is_finished());
    let rest = s.fetch_keys(&c, 10).unwrap();
    assert_eq!(rest.items.len(), 5);
}

#[test]
fn upsert_inserts_replaces_and_declines() {
    let s = HashMapStorage::new();
    assert_eq!(
        s.upsert("a", &mut |cur| {
            assert!(cur.is_none());
            Some(record(1, 10))
        }),
        None
    );
    let old = s.upsert("a", &mut |cur| {
        let mut next = cur.cloned().unwrap();
        next.metadata.on_update(5);
        next.metadata.cost = 30;
        Some(next)
    });
    assert_eq!(old, Some(record(1, 10)));
    assert_eq!(s.get("a").unwrap().metadata.version, 2);
    assert_eq!(s.estimated_cost(), 30);
    assert_eq!(s.upsert("a", &mut |_| None), None);
    assert_eq!(s.upsert("b", &mut |_| None), None);
    assert!(!s.contains_key("b"));
    assert_eq!(s.len(), 1);
}

#[test]
fn remove_if_only_removes_what_the_predicate_accepts() {
    let s = HashMapStorage::new();
    s.put("a", record(1, 10));
    assert_eq!(s.remove_if("a", &mut |r| r.metadata.cost == 99), None);
    assert!(s.contains_key("a"));
    assert_eq!(
        s.remove_if("a", &mut |r| r.metadata.cost == 10),
        Some(record(1, 10))
    );
    assert_eq!(s.estimated_cost(), 0);
    assert_eq!(s.remove_if("a", &mut |_| true), None);
}

#[test]
fn tables_shrink_after_mass_removal() {
    let s = HashMapStorage::with_shards(1);
    for i in 0..10_000 {
        s.put(&format!("k{i}"), record(i, 1));
    }
    let big = s.capacity();
    for i in 0..9_990 {
        s.remove(&format!("k{i}"));
    }
    let small = s.capacity();
    assert!(small * 10 < big, "capacity {big} -> {small}");
    assert_eq!(scan_keys(&s, 3).len(), 10);
}
