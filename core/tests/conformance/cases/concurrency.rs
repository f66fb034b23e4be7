//! Real threads writing and reading one store at once.

use crate::harness::*;
use std::sync::atomic::{AtomicBool, Ordering};
use topgun_storage_core::{block_on, MapDataStore, StoredRecord, WriteOp};

pub fn threads_writing_disjoint_keys_all_land<H: Harness>() {
    let s = Fixture::<H>::new();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let s = &*s;
            scope.spawn(move || {
                for i in 0..250 {
                    let k = format!("t{t}-{i:03}");
                    put(s, "m", Primary, &k, &k);
                }
            });
        }
    });
    let keys = scan_all(&*s, "m", Primary, "", 100);
    assert_eq!(keys.len(), 1000);
    for k in keys.iter().step_by(37) {
        assert_eq!(get(&*s, "m", Primary, k).as_deref(), Some(k.as_str()));
    }
}

pub fn threads_writing_one_key_leave_one_of_their_values<H: Harness>() {
    let s = Fixture::<H>::new();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let s = &*s;
            scope.spawn(move || {
                for i in 0..100 {
                    put(s, "m", Primary, "hot", &format!("{t}:{i}"));
                }
            });
        }
    });
    let last = get(&*s, "m", Primary, "hot").unwrap();
    // Each thread's final write is 99; whichever came last wins.
    assert!(last.ends_with(":99"), "{last}");
}

pub fn readers_see_old_or_new_records_while_writers_run<H: Harness>() {
    let s = Fixture::<H>::new();
    let keys = numbered(100);
    for k in &keys {
        put(&*s, "m", Primary, k, "0");
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (store, done_flag, ks) = (&*s, &done, &keys);
        scope.spawn(move || {
            for round in 1..=20 {
                for k in ks {
                    put(store, "m", Primary, k, &round.to_string());
                }
            }
            done_flag.store(true, Ordering::Release);
        });
        for _ in 0..2 {
            let (store, done_flag, ks) = (&*s, &done, &keys);
            scope.spawn(move || {
                let mut last_seen = vec![0u32; ks.len()];
                while !done_flag.load(Ordering::Acquire) {
                    for (i, k) in ks.iter().enumerate() {
                        let v: u32 = get(store, "m", Primary, k).unwrap().parse().unwrap();
                        // A key's value never goes back: reads are not stale
                        // after a newer read.
                        assert!(v >= last_seen[i], "{k}: {v} after {}", last_seen[i]);
                        last_seen[i] = v;
                    }
                }
            });
        }
    });
    for k in &keys {
        assert_eq!(get(&*s, "m", Primary, k).as_deref(), Some("20"));
    }
}

pub fn concurrent_batches_are_each_atomic<H: Harness>() {
    let s = Fixture::<H>::new();
    let keys = numbered(40);
    std::thread::scope(|scope| {
        for t in 0..3 {
            let (s, ks) = (&*s, &keys);
            scope.spawn(move || {
                for round in 0..30 {
                    let r = rec(&format!("{t}:{round}"));
                    let ops: Vec<WriteOp<'_>> = ks
                        .iter()
                        .map(|key| WriteOp::Put { key, record: &r })
                        .collect();
                    write(s, "m", Primary, &ops);
                }
            });
        }
    });
    // Every key holds the value of the batch that committed last.
    let loaded = block_on(s.load_all("m", Primary, &keys)).unwrap();
    assert_eq!(loaded.len(), 40);
    let first = text(&loaded[0].1);
    assert!(first.ends_with(":29"), "{first}");
    assert!(
        loaded.iter().all(|(_, r)| text(r) == first),
        "batches interleaved"
    );
}

pub fn threads_writing_many_maps_are_all_listed<H: Harness>() {
    let s = Fixture::<H>::new();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let s = &*s;
            scope.spawn(move || {
                for m in 0..25 {
                    put(s, &format!("map-{t}-{m:02}"), Primary, "k", "v");
                }
            });
        }
    });
    assert_eq!(block_on(s.list_maps()).unwrap().len(), 100);
}

pub fn concurrent_puts_and_removes_of_disjoint_keys_converge<H: Harness>() {
    let s = Fixture::<H>::new();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let s = &*s;
            scope.spawn(move || {
                for i in 0..200 {
                    let k = format!("t{t}-{i:03}");
                    put(s, "m", Primary, &k, "v");
                    if i % 4 != 0 {
                        block_on(s.remove("m", Primary, &k)).unwrap();
                    }
                }
            });
        }
    });
    let keys = scan_all(&*s, "m", Primary, "", 1000);
    assert_eq!(keys.len(), 4 * 50);
    assert!(keys.iter().all(|k| {
        let i: usize = k.rsplit('-').next().unwrap().parse().unwrap();
        i.is_multiple_of(4)
    }));
}

pub fn loads_by_many_threads_agree_with_what_was_written<H: Harness>() {
    let s = Fixture::<H>::new();
    let records: Vec<(String, StoredRecord)> = numbered(300)
        .into_iter()
        .map(|k| {
            let r = rec(&format!("value of {k}"));
            (k, r)
        })
        .collect();
    block_on(s.add_all("m", Primary, &records)).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let (s, records) = (&*s, &records);
            scope.spawn(move || {
                for (k, r) in records {
                    assert_eq!(block_on(s.load("m", Primary, k)).unwrap().as_ref(), Some(r));
                }
            });
        }
    });
    let _: &dyn MapDataStore = &*s;
}
