//! Concurrent writers: threads of one process sharing one store, and two
//! processes with a store each, on the same keys.

use crate::support::*;
use pollster::block_on;
use std::collections::BTreeMap;
use std::process::Command;
use topgun_storage_core::{
    MapDataStore, Namespace, RecordValue, ScanRequest, StoredRecord, WriteOp,
};

const SHARED: [&str; 8] = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"];
const CONTENDED: [&str; 8] = ["x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"];

fn text(r: &StoredRecord) -> String {
    match &r.value {
        RecordValue::Lww {
            value: topgun_storage_core::Value::String(s),
            ..
        } => s.clone(),
        other => panic!("{other:?}"),
    }
}

/// Writer `w`'s round `i`: one batch over its own keys, the shared keys and
/// the contended ones.
fn round(s: &impl MapDataStore, map: &str, w: usize, i: usize) {
    let mine: Vec<String> = (0..5).map(|j| format!("w{w}-{i}-{j}")).collect();
    let r = rec(lww(format!("w{w}-{i}")));
    let mut ops: Vec<WriteOp<'_>> = mine
        .iter()
        .map(|k| WriteOp::Put { key: k, record: &r })
        .collect();
    for key in SHARED {
        ops.push(WriteOp::Put { key, record: &r });
    }
    // Keys that one batch puts while another removes them, so concurrent
    // batches lock the same rows in the insert of one and the delete of
    // the other (PostgreSQL detects the deadlocks this can make and the
    // store retries the batch it rolled back).
    for (n, key) in CONTENDED.iter().enumerate() {
        if (n + w + i).is_multiple_of(2) {
            ops.push(WriteOp::Put { key, record: &r });
        } else {
            ops.push(WriteOp::Remove { key });
        }
    }
    block_on(s.write(map, Namespace::Primary, &ops)).unwrap();
}

fn check(s: &impl MapDataStore, map: &str, writers: usize, rounds: usize) {
    let page = block_on(s.scan(&ScanRequest::entries(map, Namespace::Primary, 100_000))).unwrap();
    let got: BTreeMap<String, String> = page
        .entries
        .iter()
        .map(|e| (e.key.clone(), text(e.record.as_ref().unwrap())))
        .collect();
    for w in 0..writers {
        for i in 0..rounds {
            for j in 0..5 {
                assert_eq!(
                    got.get(&format!("w{w}-{i}-{j}")),
                    Some(&format!("w{w}-{i}"))
                );
            }
        }
    }
    // Every batch put every shared key, so each holds some writer's last round.
    let last: Vec<String> = (0..writers)
        .map(|w| format!("w{w}-{}", rounds - 1))
        .collect();
    for key in SHARED {
        let v = got.get(key).unwrap_or_else(|| panic!("{key} missing"));
        assert!(
            last.contains(v),
            "{key} = {v}, not a last write of {last:?}"
        );
    }
    let contended = CONTENDED.iter().filter(|k| got.contains_key(**k)).count();
    assert_eq!(got.len(), writers * rounds * 5 + SHARED.len() + contended);
}

#[test]
fn threads_sharing_one_store_write_contended_batches() {
    let (s, _) = store("threads");
    let (writers, rounds) = (6, 40);
    std::thread::scope(|scope| {
        for w in 0..writers {
            let s = &s;
            scope.spawn(move || {
                for i in 0..rounds {
                    round(s, "m", w, i);
                }
            });
        }
    });
    check(&s, "m", writers, rounds);
}

/// The child of the next test: one process with its own store.
#[test]
#[ignore = "run by two_processes_write_the_same_table_concurrently as its child process"]
fn writer_process() {
    let table = std::env::var("TGS_PG_WRITER_TABLE").expect("started by its parent test");
    let w: usize = std::env::var("TGS_PG_WRITER").unwrap().parse().unwrap();
    let rounds: usize = std::env::var("TGS_PG_ROUNDS").unwrap().parse().unwrap();
    let s = connect(config(&table));
    for i in 0..rounds {
        round(&s, "m", w, i);
    }
    block_on(s.close()).unwrap();
}

#[test]
fn two_processes_write_the_same_table_concurrently() {
    let (s, t) = store("processes");
    let rounds = 60;
    let children: Vec<_> = (0..2)
        .map(|w| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--ignored",
                    "--exact",
                    "concurrency::writer_process",
                    "--test-threads=1",
                ])
                .env("TGS_PG_WRITER_TABLE", &t)
                .env("TGS_PG_WRITER", w.to_string())
                .env("TGS_PG_ROUNDS", rounds.to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a writer process failed");
    }
    check(&s, "m", 2, rounds);
}
