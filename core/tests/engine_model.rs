//! Property tests: `HashMapStorage` against a plain `BTreeMap` model.

use proptest::prelude::*;
use std::collections::{BTreeMap, HashSet};
use topgun_storage_core::{
    HashMapStorage, IterationCursor, Record, RecordMetadata, RecordValue, StorageEngine, Timestamp,
};

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u64),
    Update(u8, u64),
    Remove(u8),
    Get(u8),
    Clear,
    Scan(usize),
    Sample(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<u8>(), 0u64..10_000).prop_map(|(k, c)| Op::Put(k, c)),
        2 => (any::<u8>(), 0u64..10_000).prop_map(|(k, c)| Op::Update(k, c)),
        4 => any::<u8>().prop_map(Op::Remove),
        3 => any::<u8>().prop_map(Op::Get),
        1 => Just(Op::Clear),
        1 => (1usize..40).prop_map(Op::Scan),
        1 => (0usize..40).prop_map(Op::Sample),
    ]
}

fn record(cost: u64) -> Record {
    Record::new(
        RecordValue::lww(cost as i64, Timestamp::new(cost, 0, "n")),
        RecordMetadata::new(cost as i64, cost),
    )
}

fn key(k: u8) -> String {
    // Some keys collide on a prefix and one is empty, to vary lengths.
    if k == 0 {
        String::new()
    } else {
        format!("key-{k}")
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn engine_matches_model(ops in proptest::collection::vec(op(), 1..200), shards in 0usize..5) {
        let engine = HashMapStorage::with_shards(1 << shards);
        let mut model: BTreeMap<String, Record> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Put(k, c) => {
                    prop_assert_eq!(engine.put(&key(k), record(c)), model.insert(key(k), record(c)));
                }
                Op::Update(k, c) => {
                    let present = engine.update(&key(k), &mut |r| r.metadata.cost = c);
                    prop_assert_eq!(present, model.contains_key(&key(k)));
                    if let Some(r) = model.get_mut(&key(k)) {
                        r.metadata.cost = c;
                    }
                }
                Op::Remove(k) => prop_assert_eq!(engine.remove(&key(k)), model.remove(&key(k))),
                Op::Get(k) => {
                    prop_assert_eq!(engine.get(&key(k)), model.get(&key(k)).cloned());
                    prop_assert_eq!(engine.contains_key(&key(k)), model.contains_key(&key(k)));
                }
                Op::Clear => {
                    engine.clear();
                    model.clear();
                }
                Op::Scan(page) => {
                    let mut cursor = IterationCursor::start();
                    let mut seen = BTreeMap::new();
                    while !cursor.is_finished() {
                        let r = engine.fetch_entries(&cursor, page).unwrap();
                        prop_assert!(r.items.len() <= page);
                        for (k, rec) in r.items {
                            prop_assert!(seen.insert(k, rec).is_none(), "duplicate without writes");
                        }
                        cursor = r.next_cursor;
                    }
                    prop_assert_eq!(&seen, &model);
                }
                Op::Sample(n) => {
                    let sample = engine.random_samples(n);
                    prop_assert_eq!(sample.len(), n.min(model.len()));
                    let distinct: HashSet<_> = sample.iter().map(|(k, _)| k.clone()).collect();
                    prop_assert_eq!(distinct.len(), sample.len());
                    for (k, r) in &sample {
                        prop_assert_eq!(model.get(k), Some(r));
                    }
                }
            }
            prop_assert_eq!(engine.len(), model.len());
            prop_assert_eq!(engine.is_empty(), model.is_empty());
            let cost: u64 = model.values().map(|r| r.metadata.cost).sum();
            prop_assert_eq!(engine.estimated_cost(), cost);
        }
        // Whatever happened, emptying the engine brings the cost back to 0.
        for k in model.keys() {
            engine.remove(k);
        }
        prop_assert_eq!(engine.estimated_cost(), 0);
        prop_assert_eq!(engine.len(), 0);
    }
}
