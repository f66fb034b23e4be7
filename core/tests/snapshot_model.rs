//! Property tests: `HashMapStorage` snapshots against a model that copies
//! the whole map at each snapshot.
//!
//! Random sequences of writes (put, update, remove, clear), snapshots taken
//! and dropped in any order, and reads through every open snapshot (get,
//! len, full scans with several page sizes, samples) and through the live
//! engine. Each snapshot must equal the model's copy taken at the same
//! point, for its whole life.

use proptest::prelude::*;
use std::collections::{BTreeMap, HashSet};
use topgun_storage_core::{
    EngineSnapshot, HashMapStorage, IterationCursor, Record, RecordMetadata, RecordValue,
    StorageEngine, Timestamp,
};

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u64),
    Update(u8, u64),
    Remove(u8),
    Clear,
    Snapshot,
    Drop(usize),
    Get(usize, u8),
    Scan(usize, usize),
    Step(usize, usize),
    Sample(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u8..40, 0u64..1_000).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (0u8..40, 0u64..1_000).prop_map(|(k, v)| Op::Update(k, v)),
        5 => (0u8..40).prop_map(Op::Remove),
        1 => Just(Op::Clear),
        3 => Just(Op::Snapshot),
        2 => any::<usize>().prop_map(Op::Drop),
        4 => (any::<usize>(), 0u8..40).prop_map(|(s, k)| Op::Get(s, k)),
        2 => (any::<usize>(), 1usize..20).prop_map(|(s, p)| Op::Scan(s, p)),
        6 => (any::<usize>(), 1usize..6).prop_map(|(s, p)| Op::Step(s, p)),
        1 => (any::<usize>(), 0usize..30).prop_map(|(s, n)| Op::Sample(s, n)),
    ]
}

fn record(v: u64) -> Record {
    Record::new(
        RecordValue::lww(v as i64, Timestamp::new(v, 0, "n")),
        RecordMetadata::new(v as i64, v),
    )
}

fn key(k: u8) -> String {
    format!("key-{k}")
}

type Model = BTreeMap<String, Record>;

/// An open snapshot, the model's copy taken with it, and a scan of it in
/// progress (one page per `Step`, with writes in between).
struct Open {
    snap: Box<dyn EngineSnapshot>,
    copy: Model,
    scan: Option<(IterationCursor, Vec<(String, Record)>)>,
}

fn scan(
    view: &dyn Fn(&IterationCursor) -> topgun_storage_core::FetchResult<(String, Record)>,
) -> Vec<(String, Record)> {
    let mut cursor = IterationCursor::start();
    let mut out = Vec::new();
    while !cursor.is_finished() {
        let page = view(&cursor);
        out.extend(page.items);
        cursor = page.next_cursor;
    }
    out
}

fn check_view(snap: &dyn EngineSnapshot, model: &Model, page: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(snap.len(), model.len());
    let entries = scan(&|c| snap.fetch_entries(c, page).expect("valid cursor"));
    prop_assert_eq!(
        entries.len(),
        model.len(),
        "duplicates or misses in a snapshot scan"
    );
    let got: Model = entries.into_iter().collect();
    prop_assert_eq!(&got, model);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn snapshots_match_model_copies(ops in proptest::collection::vec(op(), 1..250), shards in 0usize..4) {
        let engine = HashMapStorage::with_shards(1 << shards);
        let mut model = Model::new();
        let mut open: Vec<Open> = Vec::new();
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    prop_assert_eq!(engine.put(&key(k), record(v)), model.insert(key(k), record(v)));
                }
                Op::Update(k, v) => {
                    let found = engine.update(&key(k), &mut |r| {
                        r.metadata.hits += 1;
                        r.metadata.cost = v;
                    });
                    if let Some(r) = model.get_mut(&key(k)) {
                        r.metadata.hits += 1;
                        r.metadata.cost = v;
                    }
                    prop_assert_eq!(found, model.contains_key(&key(k)));
                }
                Op::Remove(k) => {
                    prop_assert_eq!(engine.remove(&key(k)), model.remove(&key(k)));
                }
                Op::Clear => {
                    engine.clear();
                    model.clear();
                }
                Op::Snapshot => open.push(Open {
                    snap: Box::new(engine.snapshot()),
                    copy: model.clone(),
                    scan: None,
                }),
                Op::Drop(i) => {
                    if !open.is_empty() {
                        let i = i % open.len();
                        open.remove(i);
                    }
                }
                Op::Get(i, k) => {
                    if !open.is_empty() {
                        let Open { snap, copy, .. } = &open[i % open.len()];
                        prop_assert_eq!(snap.get(&key(k)), copy.get(&key(k)).cloned());
                        prop_assert_eq!(snap.contains_key(&key(k)), copy.contains_key(&key(k)));
                    }
                }
                Op::Scan(i, page) => {
                    if !open.is_empty() {
                        let Open { snap, copy, .. } = &open[i % open.len()];
                        check_view(snap.as_ref(), copy, page)?;
                    }
                }
                Op::Step(i, page) => {
                    if !open.is_empty() {
                        let len = open.len();
                        let Open { snap, copy, scan } = &mut open[i % len];
                        let (cursor, seen) =
                            scan.get_or_insert_with(|| (IterationCursor::start(), Vec::new()));
                        let result = snap.fetch_entries(cursor, page).expect("valid cursor");
                        prop_assert!(result.items.len() <= page);
                        seen.extend(result.items);
                        *cursor = result.next_cursor;
                        if cursor.is_finished() {
                            let seen = std::mem::take(seen);
                            *scan = None;
                            prop_assert_eq!(seen.len(), copy.len(), "duplicates or misses across writes");
                            let got: Model = seen.into_iter().collect();
                            prop_assert_eq!(&got, &*copy);
                        }
                    }
                }
                Op::Sample(i, n) => {
                    if !open.is_empty() {
                        let Open { snap, copy, .. } = &open[i % open.len()];
                        let samples = snap.random_samples(n);
                        prop_assert_eq!(samples.len(), n.min(copy.len()));
                        let distinct: HashSet<_> = samples.iter().map(|(k, _)| k).collect();
                        prop_assert_eq!(distinct.len(), samples.len());
                        for (k, r) in &samples {
                            prop_assert_eq!(copy.get(k), Some(r));
                        }
                    }
                    let live = engine.random_samples(n);
                    prop_assert_eq!(live.len(), n.min(model.len()));
                    for (k, r) in &live {
                        prop_assert_eq!(model.get(k), Some(r));
                    }
                }
            }
            prop_assert_eq!(engine.len(), model.len());
            prop_assert_eq!(
                engine.estimated_cost(),
                model.values().map(|r| r.metadata.cost).sum::<u64>()
            );
        }
        // Every open snapshot still sees its copy, then the live scan is
        // exact once they are gone.
        for Open { snap, copy, .. } in &open {
            check_view(snap.as_ref(), copy, 3)?;
        }
        drop(open);
        let live = scan(&|c| engine.fetch_entries(c, 4).expect("valid cursor"));
        prop_assert_eq!(live.len(), model.len());
        let got: Model = live.into_iter().collect();
        prop_assert_eq!(&got, &model);
    }
}
