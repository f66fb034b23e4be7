//! Write batches: sizes from 0 to 100,000 operations, order within a batch
//! (the last op on a key wins), and atomicity as readers see it.

use crate::harness::*;
use std::sync::atomic::{AtomicBool, Ordering};
use topgun_storage_core::{block_on, MapDataStore, ScanRequest, StoredRecord, WriteOp};

pub fn an_empty_batch_succeeds_without_effect<H: Harness>() {
    let s = Fixture::<H>::new();
    write(&*s, "m", Primary, &[]);
    assert!(block_on(s.list_maps()).unwrap().is_empty());
    put(&*s, "m", Primary, "k", "v");
    write(&*s, "m", Primary, &[]);
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["k"]);
}

pub fn a_batch_of_one_put<H: Harness>() {
    let s = Fixture::<H>::new();
    let r = rec("one");
    write(
        &*s,
        "m",
        Primary,
        &[WriteOp::Put {
            key: "k",
            record: &r,
        }],
    );
    assert_eq!(get(&*s, "m", Primary, "k").as_deref(), Some("one"));
}

pub fn a_batch_of_1000_puts_is_all_visible<H: Harness>() {
    let s = Fixture::<H>::new();
    let keys = numbered(1000);
    let records: Vec<StoredRecord> = keys.iter().map(|k| rec(k)).collect();
    let ops: Vec<WriteOp<'_>> = keys
        .iter()
        .zip(&records)
        .map(|(key, record)| WriteOp::Put { key, record })
        .collect();
    write(&*s, "m", Primary, &ops);
    assert_eq!(scan_all(&*s, "m", Primary, "", 333), keys);
    for k in keys.iter().step_by(111) {
        assert_eq!(get(&*s, "m", Primary, k).as_deref(), Some(k.as_str()));
    }
}

pub fn a_batch_of_100_000_puts_is_all_visible<H: Harness>() {
    let s = Fixture::<H>::new();
    let keys: Vec<String> = (0..100_000).map(|i| format!("key-{i:06}")).collect();
    let record = rec("payload");
    let ops: Vec<WriteOp<'_>> = keys
        .iter()
        .map(|key| WriteOp::Put {
            key,
            record: &record,
        })
        .collect();
    write(&*s, "m", Primary, &ops);
    let got = scan_all(&*s, "m", Primary, "", 10_000);
    assert_eq!(got.len(), 100_000);
    assert!(got.iter().zip(&keys).all(|(a, b)| a == b));
    for k in ["key-000000", "key-049999", "key-099999"] {
        assert_eq!(get(&*s, "m", Primary, k).as_deref(), Some("payload"));
    }
    // And removed again in one batch.
    let removes: Vec<WriteOp<'_>> = keys.iter().map(|key| WriteOp::Remove { key }).collect();
    write(&*s, "m", Primary, &removes);
    assert!(scan_all(&*s, "m", Primary, "", 10_000).is_empty());
}

pub fn duplicate_keys_in_a_batch_keep_the_last_put<H: Harness>() {
    let s = Fixture::<H>::new();
    let (a, b, c) = (rec("a"), rec("b"), rec("c"));
    write(
        &*s,
        "m",
        Primary,
        &[
            WriteOp::Put {
                key: "k",
                record: &a,
            },
            WriteOp::Put {
                key: "j",
                record: &a,
            },
            WriteOp::Put {
                key: "k",
                record: &b,
            },
            WriteOp::Put {
                key: "k",
                record: &c,
            },
        ],
    );
    assert_eq!(get(&*s, "m", Primary, "k").as_deref(), Some("c"));
    assert_eq!(get(&*s, "m", Primary, "j").as_deref(), Some("a"));
    let entries = vec![("x".to_owned(), rec("1")), ("x".to_owned(), rec("2"))];
    block_on(s.add_all("m", Primary, &entries)).unwrap();
    assert_eq!(get(&*s, "m", Primary, "x").as_deref(), Some("2"));
}

pub fn a_put_then_a_remove_of_a_key_in_a_batch_removes_it<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "old", "v");
    let r = rec("new");
    write(
        &*s,
        "m",
        Primary,
        &[
            WriteOp::Put {
                key: "k",
                record: &r,
            },
            WriteOp::Remove { key: "k" },
            WriteOp::Put {
                key: "old",
                record: &r,
            },
            WriteOp::Remove { key: "old" },
        ],
    );
    assert_eq!(get(&*s, "m", Primary, "k"), None);
    assert_eq!(get(&*s, "m", Primary, "old"), None);
    assert!(block_on(s.list_maps()).unwrap().is_empty());
}

pub fn a_remove_then_a_put_of_a_key_in_a_batch_keeps_the_put<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "k", "before");
    let r = rec("after");
    write(
        &*s,
        "m",
        Primary,
        &[
            WriteOp::Remove { key: "k" },
            WriteOp::Put {
                key: "k",
                record: &r,
            },
        ],
    );
    assert_eq!(get(&*s, "m", Primary, "k").as_deref(), Some("after"));
}

pub fn a_mixed_batch_over_existing_data<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "b", "c", "d"]);
    let (x, y) = (rec("x"), rec("y"));
    write(
        &*s,
        "m",
        Primary,
        &[
            WriteOp::Remove { key: "a" },
            WriteOp::Put {
                key: "b",
                record: &x,
            },
            WriteOp::Put {
                key: "e",
                record: &y,
            },
            WriteOp::Remove { key: "d" },
            WriteOp::Remove { key: "zz" },
        ],
    );
    let page = scan(&*s, &ScanRequest::entries("m", Primary, 10));
    let got: Vec<(String, String)> = page
        .entries
        .iter()
        .map(|e| (e.key.clone(), text(e.record.as_ref().unwrap())))
        .collect();
    let want = [("b", "x"), ("c", "c"), ("e", "y")].map(|(k, v)| (k.to_owned(), v.to_owned()));
    assert_eq!(got, want);
}

pub fn a_batch_of_large_values<H: Harness>() {
    let s = Fixture::<H>::new();
    let records: Vec<StoredRecord> = (0..8u8).map(|i| rec_value(vec![i; 1024 * 1024])).collect();
    let keys: Vec<String> = (0..8).map(|i| format!("big{i}")).collect();
    let ops: Vec<WriteOp<'_>> = keys
        .iter()
        .zip(&records)
        .map(|(key, record)| WriteOp::Put { key, record })
        .collect();
    write(&*s, "m", Primary, &ops);
    for (k, r) in keys.iter().zip(&records) {
        assert_eq!(block_on(s.load("m", Primary, k)).unwrap().as_ref(), Some(r));
    }
}

pub fn readers_see_a_batch_whole_or_not_at_all<H: Harness>() {
    let s = Fixture::<H>::new();
    let keys = numbered(64);
    let done = AtomicBool::new(false);
    write_generation(&*s, &keys, 0);
    std::thread::scope(|scope| {
        let (store, done_flag, ks) = (&*s, &done, &keys);
        scope.spawn(move || {
            for generation in 1..=60 {
                write_generation(store, ks, generation);
            }
            done_flag.store(true, Ordering::Release);
        });
        let mut checks = 0;
        while !done.load(Ordering::Acquire) || checks < 5 {
            // One page (one read) of every key: all from one generation.
            let page = scan(&*s, &ScanRequest::entries("m", Primary, 1000));
            let gens: Vec<String> = page
                .entries
                .iter()
                .map(|e| text(e.record.as_ref().unwrap()))
                .collect();
            assert_eq!(gens.len(), 64);
            assert!(gens.iter().all(|g| *g == gens[0]), "half a batch: {gens:?}");
            // load_all reads in one go too.
            let loaded = block_on(s.load_all("m", Primary, &keys)).unwrap();
            assert!(loaded.iter().all(|(_, r)| text(r) == text(&loaded[0].1)));
            checks += 1;
        }
    });
}

fn write_generation<S: MapDataStore + ?Sized>(s: &S, keys: &[String], generation: u32) {
    let r = rec(&generation.to_string());
    let ops: Vec<WriteOp<'_>> = keys
        .iter()
        .map(|key| WriteOp::Put { key, record: &r })
        .collect();
    write(s, "m", Primary, &ops);
}

pub fn batches_to_different_maps_are_independent<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "a", Primary, &["k1", "k2"]);
    put_many(&*s, "b", Primary, &["k1", "k3"]);
    write(&*s, "a", Primary, &[WriteOp::Remove { key: "k1" }]);
    assert_eq!(scan_all(&*s, "a", Primary, "", 10), ["k2"]);
    assert_eq!(scan_all(&*s, "b", Primary, "", 10), ["k1", "k3"]);
}

pub fn remove_all_of_missing_keys_succeeds<H: Harness>() {
    let s = Fixture::<H>::new();
    let keys: Vec<String> = numbered(100);
    block_on(s.remove_all("m", Primary, &keys)).unwrap();
    put(&*s, "m", Primary, "k00050", "v");
    block_on(s.remove_all("m", Primary, &keys)).unwrap();
    assert!(scan_all(&*s, "m", Primary, "", 10).is_empty());
}

pub fn many_ops_on_one_key_apply_in_order<H: Harness>() {
    let s = Fixture::<H>::new();
    let records: Vec<StoredRecord> = (0..50).map(|i| rec(&i.to_string())).collect();
    let mut ops = Vec::new();
    for (i, r) in records.iter().enumerate() {
        ops.push(WriteOp::Put {
            key: "k",
            record: r,
        });
        if i % 7 == 3 {
            ops.push(WriteOp::Remove { key: "k" });
        }
    }
    write(&*s, "m", Primary, &ops);
    assert_eq!(get(&*s, "m", Primary, "k").as_deref(), Some("49"));
    ops.push(WriteOp::Remove { key: "k" });
    write(&*s, "m", Primary, &ops);
    assert_eq!(get(&*s, "m", Primary, "k"), None);
}

pub fn a_batch_with_empty_and_nul_keys_in_an_empty_map<H: Harness>() {
    let s = Fixture::<H>::new();
    let r = rec("v");
    write(
        &*s,
        "",
        Backup,
        &[
            WriteOp::Put {
                key: "",
                record: &r,
            },
            WriteOp::Put {
                key: "\0",
                record: &r,
            },
            WriteOp::Put {
                key: "x",
                record: &r,
            },
        ],
    );
    assert_eq!(scan_all(&*s, "", Backup, "", 10), ["", "\0", "x"]);
    assert!(scan_all(&*s, "", Primary, "", 10).is_empty());
}
