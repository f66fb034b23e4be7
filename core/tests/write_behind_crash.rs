//! Write-behind with its write-ahead log under SIGKILL: a child process
//! writes through a record store (single puts) and the data store (batches
//! of puts and removes) over `WriteBehindDataStore<RedbDataStore>` (log at
//! `os`, the drain thread storing as it goes) and prints each
//! acknowledgement; the parent kills it at a random point (sometimes while
//! it is still replaying the previous round's log), reopens the store
//! (which replays the log) and checks that every acknowledged write is
//! there and that the one write that may have been in flight is there
//! entirely or not at all. Rounds go on over the same directory.
//!
//! `TOPGUN_CRASH_ROUNDS` sets the number of rounds (default 40).

// Test helpers outside `#[test]` functions panic on setup failures.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use topgun_storage_core::{
    block_on, CallerProvenance, CompositeMutationObserver, DefaultRecordStore, Durability,
    ExpiryPolicy, HashMapStorage, MapDataStore, Namespace, RecordStore, RecordValue, RedbDataStore,
    RedbOptions, ScanRequest, StorageConfig, StoredRecord, Timestamp, Value, WriteBehindConfig,
    WriteBehindDataStore, WriteOp,
};

const CHILD: &str = "TOPGUN_WB_CRASH_CHILD";
const KEYS: u64 = 64;
const MAP: &str = "crash";

/// One write of the child's sequence.
#[derive(Debug, Clone)]
enum Op {
    /// A single put through the record store.
    Put(String, String),
    /// A batch through the data store: `Some(value)` puts, `None` removes.
    Batch(Vec<(String, Option<String>)>),
}

/// The deterministic op sequence of a round (the child runs it, the parent
/// replays it to know what each acknowledgement meant).
struct Ops {
    state: u64,
    round: u64,
    index: u64,
}

impl Ops {
    fn new(round: u64) -> Self {
        Self {
            state: round.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            round,
            index: 0,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    fn next_op(&mut self) -> Op {
        let i = self.index;
        self.index += 1;
        let round = self.round;
        let value = move |k: u64| format!("r{round}-o{i}-k{k}");
        if self.next_u64().is_multiple_of(4) {
            let n = 2 + self.next_u64() % 4;
            let items = (0..n)
                .map(|_| {
                    let k = self.next_u64() % KEYS;
                    let remove = self.next_u64().is_multiple_of(3);
                    (format!("k{k}"), (!remove).then(|| value(k)))
                })
                .collect();
            Op::Batch(items)
        } else {
            let k = self.next_u64() % KEYS;
            Op::Put(format!("k{k}"), value(k))
        }
    }
}

type Model = BTreeMap<String, String>;

fn apply(model: &mut Model, op: &Op) {
    match op {
        Op::Put(k, v) => {
            model.insert(k.clone(), v.clone());
        }
        Op::Batch(items) => {
            for (k, v) in items {
                match v {
                    Some(v) => model.insert(k.clone(), v.clone()),
                    None => model.remove(k),
                };
            }
        }
    }
}

fn lww(v: &str) -> RecordValue {
    RecordValue::lww(v, Timestamp::new(1, 0, "n"))
}

fn open(dir: &Path) -> WriteBehindDataStore<RedbDataStore> {
    let inner = RedbDataStore::open(
        dir.join("store.redb"),
        RedbOptions {
            durability: Durability::Os,
            ..RedbOptions::default()
        },
    )
    .unwrap();
    let config = WriteBehindConfig {
        write_delay_millis: 2,
        batch_size: 16,
        ..WriteBehindConfig::with_log(dir.join("wal"), Durability::Os)
    };
    WriteBehindDataStore::open(inner, config).unwrap()
}

/// The child: open (replaying the last round's log), then write forever,
/// printing `ack <i>` after each write returned.
fn child(dir: &Path, round: u64) {
    let wb = Arc::new(open(dir));
    let store = DefaultRecordStore::new(
        MAP.into(),
        0,
        Box::new(HashMapStorage::new()),
        Arc::clone(&wb) as Arc<dyn MapDataStore>,
        Arc::new(CompositeMutationObserver::default()),
        StorageConfig::default(),
    );
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    let mut ops = Ops::new(round);
    for i in 0.. {
        match ops.next_op() {
            Op::Put(k, v) => {
                block_on(store.put(&k, lww(&v), ExpiryPolicy::NONE, CallerProvenance::Client))
                    .unwrap();
            }
            Op::Batch(items) => {
                let records: Vec<Option<StoredRecord>> = items
                    .iter()
                    .map(|(_, v)| v.as_ref().map(|v| StoredRecord::new(lww(v), 1)))
                    .collect();
                let ops: Vec<WriteOp<'_>> = items
                    .iter()
                    .zip(&records)
                    .map(|((k, _), r)| match r {
                        Some(record) => WriteOp::Put { key: k, record },
                        None => WriteOp::Remove { key: k },
                    })
                    .collect();
                block_on(wb.write(MAP, Namespace::Primary, &ops)).unwrap();
            }
        }
        writeln!(out, "ack {i}").unwrap();
        out.flush().unwrap();
    }
}

fn read_state(dir: &Path) -> (Model, u64) {
    let wb = open(dir);
    let replayed = wb.replay_report().frames;
    let page = block_on(wb.scan(&ScanRequest::entries(MAP, Namespace::Primary, 1 << 20))).unwrap();
    let state = page
        .entries
        .into_iter()
        .map(|e| {
            let value = match e.record.unwrap().value {
                RecordValue::Lww {
                    value: Value::String(s),
                    ..
                } => s,
                other => panic!("unexpected value {other:?}"),
            };
            (e.key, value)
        })
        .collect();
    // Dropped without close: the next child replays nothing twice that
    // matters (the log was emptied by this open's replay).
    drop(wb);
    (state, replayed)
}

#[test]
fn every_acknowledged_write_survives_sigkill_and_reopen() {
    if let Ok(arg) = std::env::var(CHILD) {
        let (dir, round) = arg.split_once('|').unwrap();
        child(Path::new(dir), round.parse().unwrap());
        return;
    }
    let rounds: u64 = std::env::var("TOPGUN_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(40);
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    let mut acked_total = 0u64;
    let mut in_flight_seen = 0u64;
    let mut replayed_total = 0u64;
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "every_acknowledged_write_survives_sigkill_and_reopen",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, format!("{}|{round}", dir.path().display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Every fifth round dies at once (often inside the replay of the
        // previous round's log); the others after 1 to 600 acknowledgements.
        let kill_after = if round % 5 == 4 {
            0
        } else {
            1 + (round.wrapping_mul(2_654_435_761) >> 7) % 600
        };
        let mut acked: Option<u64> = None;
        if kill_after > 0 {
            for line in lines.by_ref() {
                let line = line.unwrap();
                if let Some(i) = line.strip_prefix("ack ") {
                    let i: u64 = i.parse().unwrap();
                    acked = Some(i);
                    if i + 1 >= kill_after {
                        break;
                    }
                }
            }
        }
        child.kill().unwrap(); // SIGKILL: no destructor, no flush
                               // Acknowledgements already in the pipe count too.
        for line in lines {
            let Ok(line) = line else { break };
            if let Some(i) = line.strip_prefix("ack ") {
                acked = Some(i.parse().unwrap());
            }
        }
        child.wait().unwrap();
        let mut ops = Ops::new(round);
        let done = acked.map_or(0, |i| i + 1);
        for _ in 0..done {
            apply(&mut model, &ops.next_op());
        }
        acked_total += done;
        // The next write may have been in flight: all of it or none of it.
        let mut with_next = model.clone();
        apply(&mut with_next, &ops.next_op());
        let (state, replayed) = read_state(dir.path());
        replayed_total += replayed;
        if state == with_next && state != model {
            in_flight_seen += 1;
            model = with_next;
        } else {
            assert_eq!(
                state, model,
                "round {round}: after {done} acknowledged writes the store differs from them \
                 (and from them plus the one in flight)"
            );
        }
    }
    println!(
        "write-behind + WAL SIGKILL: {rounds} rounds, {acked_total} acknowledged writes all \
         present, {in_flight_seen} in-flight writes found whole, {replayed_total} log frames replayed"
    );
    assert!(acked_total > 0);
}

#[test]
fn the_ops_sequence_is_reproducible() {
    let a: Vec<String> = {
        let mut o = Ops::new(3);
        (0..50).map(|_| format!("{:?}", o.next_op())).collect()
    };
    let b: Vec<String> = {
        let mut o = Ops::new(3);
        (0..50).map(|_| format!("{:?}", o.next_op())).collect()
    };
    assert_eq!(a, b);
    assert!(a.iter().any(|s| s.starts_with("Batch")));
    assert!(a.iter().any(|s| s.contains("None")), "batches remove too");
}
