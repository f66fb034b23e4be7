//! `WriteBehindDataStore`: a model test with injected backend failures and
//! crashes, and tests of each promise (write delay, coalescing, batches,
//! retries with backoff, stalls, back-pressure, reads from the queue, replay
//! of the log, torn tails, close). The clock is a `ManualClock` and the
//! drain is driven by hand (`drain_once`, flushes): nothing sleeps.

// Test helpers outside `#[test]` functions panic on setup failures.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use topgun_storage_core::datastores::write_behind::LogConfig;
use topgun_storage_core::datastores::FaultInjectingDataStore;
use topgun_storage_core::wal::{FileLogOptions, MemoryLog, WriteAheadLog};
use topgun_storage_core::{
    block_on, DataStoreErrorKind, Durability, ManualClock, MapDataStore, MemoryDataStore,
    Namespace, RecordValue, ScanRequest, StoredRecord, Timestamp, WriteBehindConfig,
    WriteBehindDataStore, WriteOp,
};

type Inner = Arc<FaultInjectingDataStore<MemoryDataStore>>;
type Store = WriteBehindDataStore<Inner>;

const P: Namespace = Namespace::Primary;

fn rec(v: &str) -> StoredRecord {
    StoredRecord::new(RecordValue::lww(v, Timestamp::new(1, 0, "n")), 1)
}

fn value_of(r: &StoredRecord) -> String {
    match &r.value {
        RecordValue::Lww { value, .. } => format!("{value:?}"),
        other => format!("{other:?}"),
    }
}

/// Settings for hand-driven tests: no thread, 1 s write delay, batches of
/// 4, 2 retries from 100 ms, no waiting for room.
fn manual(log: LogConfig) -> WriteBehindConfig {
    WriteBehindConfig {
        write_delay_millis: 1000,
        batch_size: 4,
        capacity: 1000,
        backpressure_wait: Duration::ZERO,
        max_retries: 2,
        backoff_base_millis: 100,
        backoff_cap_millis: 1000,
        log,
        background_drain: false,
        jitter_seed: Some(7),
    }
}

fn new_inner() -> Inner {
    Arc::new(FaultInjectingDataStore::new(MemoryDataStore::new()))
}

fn open_memory_logged(
    inner: &Inner,
    clock: &ManualClock,
    segments: Vec<Vec<u8>>,
) -> (Store, Arc<MemoryLog>) {
    let (log, recovery) = MemoryLog::recover(512, segments).unwrap();
    let log = Arc::new(log);
    let store = WriteBehindDataStore::with_log(
        Arc::clone(inner),
        manual(LogConfig::Off),
        Arc::new(clock.clone()),
        Arc::clone(&log) as Arc<dyn WriteAheadLog>,
        recovery,
    )
    .unwrap();
    (store, log)
}

fn put(s: &impl MapDataStore, key: &str, v: &str) {
    block_on(s.add("m", P, key, &rec(v))).unwrap();
}

fn load(s: &impl MapDataStore, key: &str) -> Option<String> {
    block_on(s.load("m", P, key)).unwrap().map(|r| value_of(&r))
}

fn backend(inner: &Inner) -> BTreeMap<String, String> {
    let page = block_on(inner.inner().scan(&ScanRequest::entries("m", P, 1 << 20))).unwrap();
    page.entries
        .into_iter()
        .map(|e| (e.key, value_of(&e.record.unwrap())))
        .collect()
}

fn scan_all(s: &impl MapDataStore, limit: usize) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let req = ScanRequest::entries("m", P, limit).resume_after(after.as_deref());
        let page = block_on(s.scan(&req)).unwrap();
        assert!(page.entries.len() <= limit);
        for e in page.entries {
            let prev = out.insert(e.key.clone(), value_of(&e.record.unwrap()));
            assert!(prev.is_none(), "key {} returned twice", e.key);
        }
        match page.resume_after {
            Some(k) => after = Some(k),
            None => return out,
        }
    }
}

// ---------------------------------------------------------------------------
// The model test.

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Remove(u8),
    Batch(Vec<(u8, Option<u8>)>),
    Tick(u16),
    Drain,
    SoftFlush,
    HardFlush,
    FailNext(u8),
    FailAll,
    Heal,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..12, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (0u8..12).prop_map(Op::Remove),
        2 => prop::collection::vec((0u8..12, prop::option::of(any::<u8>())), 1..6).prop_map(Op::Batch),
        3 => (0u16..1500).prop_map(Op::Tick),
        3 => Just(Op::Drain),
        1 => Just(Op::SoftFlush),
        1 => Just(Op::HardFlush),
        1 => (1u8..4).prop_map(Op::FailNext),
        1 => Just(Op::FailAll),
        1 => Just(Op::Heal),
        1 => Just(Op::Crash),
    ]
}

fn key(k: u8) -> String {
    format!("k{k}")
}

fn val(v: u8) -> String {
    format!("{:?}", topgun_storage_core::Value::from(format!("v{v}")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random puts, removes, batches, time, drains, flushes, backend
    /// failures and crashes (drop and replay of the in-memory log), against
    /// a plain map: every read through the store equals the model at every
    /// step, and after healing and `hard_flush` the backend equals it.
    #[test]
    fn the_backend_ends_equal_to_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let clock = ManualClock::new(1_000_000);
        let inner = new_inner();
        let (mut store, mut log) = open_memory_logged(&inner, &clock, Vec::new());
        let mut model: BTreeMap<String, String> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    put(&store, &key(k), &format!("v{v}"));
                    model.insert(key(k), val(v));
                }
                Op::Remove(k) => {
                    block_on(store.remove("m", P, &key(k))).unwrap();
                    model.remove(&key(k));
                }
                Op::Batch(items) => {
                    let keys: Vec<String> = items.iter().map(|(k, _)| key(*k)).collect();
                    let recs: Vec<Option<StoredRecord>> =
                        items.iter().map(|(_, v)| v.map(|v| rec(&format!("v{v}")))).collect();
                    let ops: Vec<WriteOp<'_>> = keys
                        .iter()
                        .zip(&recs)
                        .map(|(k, r)| match r {
                            Some(record) => WriteOp::Put { key: k, record },
                            None => WriteOp::Remove { key: k },
                        })
                        .collect();
                    block_on(store.write("m", P, &ops)).unwrap();
                    for ((k, _), (kk, v)) in items.iter().zip(keys.iter().zip(&items)) {
                        let _ = k;
                        match v.1 {
                            Some(v) => model.insert(kk.clone(), val(v)),
                            None => model.remove(kk),
                        };
                    }
                }
                Op::Tick(ms) => {
                    clock.advance(i64::from(ms));
                }
                Op::Drain => {
                    let _ = store.drain_once();
                }
                Op::SoftFlush => {
                    let _ = block_on(store.soft_flush());
                }
                Op::HardFlush => {
                    let _ = block_on(store.hard_flush());
                }
                Op::FailNext(n) => inner.fail_next_writes(u64::from(n), DataStoreErrorKind::Io),
                Op::FailAll => inner.fail_writes(Some(DataStoreErrorKind::Unavailable)),
                Op::Heal => inner.heal(),
                Op::Crash => {
                    let segments = log.segments();
                    drop(store);
                    // Replay may hit an injected fault: the open fails and
                    // the log is still there for the next one.
                    loop {
                        let (l, recovery) = MemoryLog::recover(512, segments.clone()).unwrap();
                        let l = Arc::new(l);
                        match WriteBehindDataStore::with_log(
                            Arc::clone(&inner),
                            manual(LogConfig::Off),
                            Arc::new(clock.clone()),
                            Arc::clone(&l) as Arc<dyn WriteAheadLog>,
                            recovery,
                        ) {
                            Ok(s) => {
                                store = s;
                                log = l;
                                break;
                            }
                            Err(_) => inner.heal(),
                        }
                    }
                }
            }
            for k in 0..12u8 {
                prop_assert_eq!(load(&store, &key(k)), model.get(&key(k)).cloned(), "key {}", k);
            }
        }
        prop_assert_eq!(scan_all(&store, 3), model.clone());
        inner.heal();
        block_on(store.hard_flush()).unwrap();
        prop_assert_eq!(store.pending_operation_count(), 0);
        prop_assert_eq!(backend(&inner), model.clone());
        prop_assert_eq!(scan_all(&store, 5), model);
    }
}

// ---------------------------------------------------------------------------
// Promises one by one.

fn unlogged(clock: &ManualClock, config: WriteBehindConfig) -> (Store, Inner) {
    let inner = new_inner();
    let store =
        WriteBehindDataStore::open_with_clock(Arc::clone(&inner), config, Arc::new(clock.clone()))
            .unwrap();
    (store, inner)
}

#[test]
fn writes_wait_for_the_write_delay_and_rewrites_keep_their_first_time() {
    let clock = ManualClock::new(0);
    let (s, inner) = unlogged(&clock, manual(LogConfig::Off));
    put(&s, "a", "1");
    clock.set(900);
    put(&s, "a", "2"); // coalesces, keeps t=0
    put(&s, "b", "1"); // first pending at 900
    assert_eq!(
        s.drain_once().unwrap().stored,
        0,
        "nothing is due before 1000"
    );
    assert_eq!(inner.write_calls(), 0);
    clock.set(1000);
    let r = s.drain_once().unwrap();
    assert_eq!(
        (r.stored, r.batches),
        (1, 1),
        "a is due at 1000 despite its rewrite"
    );
    assert_eq!(backend(&inner).get("a"), Some(&val_str("2")));
    assert!(!s.is_loadable("m", P, "b") && s.is_loadable("m", P, "a"));
    clock.set(1900);
    assert_eq!(s.drain_once().unwrap().stored, 1);
    assert_eq!(s.pending_operation_count(), 0);
    let stats = s.stats();
    assert_eq!(
        (
            stats.accepted_ops,
            stats.coalesced,
            stats.stored,
            stats.batches
        ),
        (3, 1, 2, 2)
    );
}

#[test]
fn a_full_batch_is_stored_before_its_delay_and_batches_respect_their_size() {
    let clock = ManualClock::new(0);
    let (s, inner) = unlogged(&clock, manual(LogConfig::Off));
    for i in 0..10 {
        put(&s, &format!("k{i}"), "v");
    }
    // 10 waiting >= batch size 4: full batches go at once, the rest waits.
    assert_eq!(s.drain_once().unwrap().stored, 4);
    assert_eq!(s.drain_once().unwrap().stored, 4);
    assert_eq!(
        s.drain_once().unwrap().stored,
        0,
        "2 left, not a full batch, not due"
    );
    assert_eq!(inner.written_ops(), 8);
    block_on(s.hard_flush()).unwrap();
    assert_eq!(backend(&inner).len(), 10);
}

#[test]
fn a_put_then_a_remove_ends_removed_in_the_backend() {
    let clock = ManualClock::new(0);
    let (s, inner) = unlogged(&clock, manual(LogConfig::Off));
    put(&s, "k", "1");
    block_on(s.hard_flush()).unwrap();
    put(&s, "k", "2");
    block_on(s.remove("m", P, "k")).unwrap();
    assert_eq!(
        load(&s, "k"),
        None,
        "the queued remove hides the stored copy"
    );
    assert!(backend(&inner).contains_key("k"));
    block_on(s.hard_flush()).unwrap();
    assert!(backend(&inner).is_empty());
}

#[test]
fn reads_merge_the_queue_over_the_backend() {
    let clock = ManualClock::new(0);
    let (s, inner) = unlogged(&clock, manual(LogConfig::Off));
    for k in ["a", "b", "c", "d"] {
        block_on(inner.add("m", P, k, &rec("old"))).unwrap();
    }
    block_on(inner.add("gone", P, "x", &rec("old"))).unwrap();
    put(&s, "b", "new");
    put(&s, "e", "new");
    block_on(s.remove("m", P, "c")).unwrap();
    block_on(s.remove("gone", P, "x")).unwrap();
    let expected: BTreeMap<String, String> =
        [("a", "old"), ("b", "new"), ("d", "old"), ("e", "new")]
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_owned(),
                    format!("{:?}", topgun_storage_core::Value::from(v)),
                )
            })
            .collect();
    for limit in 1..6 {
        assert_eq!(scan_all(&s, limit), expected, "pages of {limit}");
    }
    let keys: Vec<String> = ["c", "b", "zz", "a", "b"]
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
    let got: Vec<String> = block_on(s.load_all("m", P, &keys))
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(got, ["b", "a", "b"]);
    assert_eq!(
        block_on(s.list_maps()).unwrap(),
        ["m"],
        "a map whose keys are all removed is gone"
    );
    let prefixed = block_on(s.scan(&ScanRequest::keys("m", P, 10).with_prefix("b"))).unwrap();
    assert_eq!(prefixed.entries.len(), 1);
    assert!(prefixed.entries[0].record.is_none());
}

#[test]
fn a_failing_backend_is_retried_with_backoff_then_stalls_then_recovers() {
    let clock = ManualClock::new(0);
    let (s, inner) = unlogged(&clock, manual(LogConfig::Off));
    put(&s, "a", "1");
    put(&s, "b", "1");
    inner.fail_writes(Some(DataStoreErrorKind::Unavailable));
    clock.set(1000);
    // Attempt 1 fails; retry 1 comes 50..=100 ms later (half to all of
    // 100 ms), retry 2 50..=200 ms... jitter stays inside those bounds.
    assert_eq!(
        s.drain_once().unwrap_err().kind(),
        DataStoreErrorKind::Unavailable
    );
    let attempts = |s: &Store| s.stats().failures;
    let mut last = 1000;
    for (retry, full) in [(1u64, 100i64), (2, 200)] {
        clock.set(last + full / 2 - 1);
        assert_eq!(
            s.drain_once().unwrap(),
            Default::default(),
            "retry {retry} too early"
        );
        assert_eq!(attempts(&s), retry);
        clock.set(last + full);
        assert!(s.drain_once().is_err());
        assert_eq!(attempts(&s), retry + 1);
        last += full;
    }
    let stats = s.stats();
    assert!(stats.stalled, "{stats:?}");
    assert_eq!((stats.retries, stats.failures, stats.queued), (2, 3, 2));
    assert!(stats.last_error.unwrap().contains("injected"));
    // Stalled: the drain does not try any more, whatever the time.
    clock.set(1_000_000);
    let calls = inner.failed_calls();
    assert_eq!(s.drain_once().unwrap().stored, 0);
    assert_eq!(inner.failed_calls(), calls);
    // Reads still see the queued writes; the next flush reports the stall.
    assert_eq!(load(&s, "a"), Some(val_str("1")));
    let err = block_on(s.soft_flush()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Unavailable);
    assert!(
        err.message().contains("stalled") && err.message().contains("2 keys"),
        "{err}"
    );
    let err = block_on(s.hard_flush()).unwrap_err();
    assert!(err.message().contains("nothing is dropped"), "{err}");
    assert_eq!(s.pending_operation_count(), 2);
    // The backend recovers: the retries go on and everything lands.
    inner.heal();
    block_on(s.hard_flush()).unwrap();
    assert_eq!(backend(&inner).len(), 2);
    assert!(!s.stats().stalled);
}

#[test]
fn the_inner_store_failing_for_a_while_then_recovering_loses_nothing() {
    let clock = ManualClock::new(0);
    let config = WriteBehindConfig {
        max_retries: 100,
        ..manual(LogConfig::Off)
    };
    let (s, inner) = unlogged(&clock, config);
    inner.fail_next_writes(7, DataStoreErrorKind::Io);
    for i in 0..30 {
        put(&s, &format!("k{i:02}"), &i.to_string());
        clock.advance(100);
        let _ = s.drain_once();
    }
    for _ in 0..200 {
        clock.advance(1000);
        let _ = s.drain_once();
    }
    assert_eq!(s.pending_operation_count(), 0);
    assert_eq!(s.stats().failures, 7);
    let stored = backend(&inner);
    assert_eq!(stored.len(), 30);
    for i in 0..30 {
        assert_eq!(stored[&format!("k{i:02}")], val_str(&i.to_string()));
    }
}

fn val_str(v: &str) -> String {
    format!("{:?}", topgun_storage_core::Value::from(v))
}

#[test]
fn a_full_queue_refuses_new_keys_but_takes_rewrites() {
    let clock = ManualClock::new(0);
    let config = WriteBehindConfig {
        capacity: 3,
        ..manual(LogConfig::Off)
    };
    let (s, inner) = unlogged(&clock, config);
    for k in ["a", "b", "c"] {
        put(&s, k, "1");
    }
    let err = block_on(s.add("m", P, "d", &rec("1"))).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Unavailable);
    assert!(
        err.message().contains("full") && err.message().contains("nothing was written"),
        "{err}"
    );
    assert_eq!(load(&s, "d"), None);
    put(&s, "a", "2");
    let big: Vec<String> = (0..4).map(|i| format!("n{i}")).collect();
    let r = rec("x");
    let ops: Vec<WriteOp<'_>> = big
        .iter()
        .map(|k| WriteOp::Put { key: k, record: &r })
        .collect();
    assert_eq!(
        block_on(s.write("m", P, &ops)).unwrap_err().kind(),
        DataStoreErrorKind::Rejected
    );
    let stats = s.stats();
    assert_eq!(
        (stats.backpressure_waits, stats.backpressure_rejections),
        (1, 1)
    );
    block_on(s.hard_flush()).unwrap();
    put(&s, "d", "1");
    block_on(s.hard_flush()).unwrap();
    assert_eq!(backend(&inner).len(), 4);
}

#[test]
fn a_writer_waiting_for_room_goes_on_once_the_drain_makes_it() {
    let clock = ManualClock::new(0);
    let config = WriteBehindConfig {
        capacity: 2,
        backpressure_wait: Duration::from_secs(600),
        ..manual(LogConfig::Off)
    };
    let (s, inner) = unlogged(&clock, config);
    let s = Arc::new(s);
    put(&*s, "a", "1");
    put(&*s, "b", "1");
    let writer = {
        let s = Arc::clone(&s);
        std::thread::spawn(move || block_on(s.add("m", P, "c", &rec("1"))))
    };
    while s.stats().backpressure_waits == 0 {
        std::thread::yield_now();
    }
    block_on(s.hard_flush()).unwrap();
    writer.join().unwrap().unwrap();
    block_on(s.hard_flush()).unwrap();
    assert_eq!(backend(&inner).len(), 3);
}

/// A write-behind store over a backend that outlives it, with its log in a
/// temporary directory: `open` as often as a test likes (a drop without
/// close is a crash).
struct Logged {
    dir: tempfile::TempDir,
    inner: Inner,
    clock: ManualClock,
    log: LogConfig,
}

impl Logged {
    fn new(durability: Durability, segment_bytes: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = LogConfig::File(FileLogOptions {
            segment_bytes,
            ..FileLogOptions::new(dir.path(), durability)
        });
        Self {
            dir,
            inner: new_inner(),
            clock: ManualClock::new(0),
            log,
        }
    }

    /// The log's one segment file.
    fn only_segment(&self) -> std::path::PathBuf {
        let mut segments: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "wal"))
            .collect();
        assert_eq!(segments.len(), 1, "{segments:?}");
        segments.pop().unwrap()
    }

    fn open(&self) -> topgun_storage_core::DataStoreResult<Store> {
        WriteBehindDataStore::open_with_clock(
            Arc::clone(&self.inner),
            manual(self.log.clone()),
            Arc::new(self.clock.clone()),
        )
    }
}

#[test]
fn acknowledged_writes_are_replayed_from_the_file_log_after_a_crash() {
    let t = Logged::new(Durability::Os, 600);
    let (inner, open) = (&t.inner, || t.open());
    let s = open().unwrap();
    for i in 0..40 {
        put(&s, &format!("k{i:02}"), &i.to_string());
    }
    block_on(s.remove("m", P, "k03")).unwrap();
    // Some reach the backend, the rest only the queue and the log.
    assert_eq!(s.drain_once().unwrap().stored, 4);
    let head = s.log_chain_head().unwrap();
    // The stored frames' segment was deleted, but no frame of a queued key.
    assert!(s.stats().log.unwrap().segments_deleted > 0);
    drop(s); // as a crash: no flush
    assert_eq!(backend(inner).len(), 3, "k00..k02 stored, k03's remove too");
    let s = open().unwrap();
    let report = s.replay_report().clone();
    assert!((37..41).contains(&report.frames), "{report:?}");
    assert_eq!(report.torn_tail, None);
    assert_eq!(
        s.log_chain_head(),
        Some(head),
        "the chain goes on after the replay"
    );
    let stored = backend(inner);
    assert_eq!(stored.len(), 39);
    assert!(!stored.contains_key("k03"));
    assert_eq!(stored["k39"], val_str("39"));
    // The replayed log was emptied: a second crash replays nothing.
    drop(s);
    let s = open().unwrap();
    assert_eq!(s.replay_report().frames, 0);
}

#[test]
fn a_torn_log_tail_is_cut_and_reported_and_earlier_writes_survive() {
    let t = Logged::new(Durability::Os, 64 << 20);
    let open = || t.open();
    let s = open().unwrap();
    put(&s, "a", "1");
    put(&s, "b", "2");
    drop(s);
    let seg = t.only_segment();
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let s = open().unwrap();
    let torn = s.replay_report().torn_tail.clone().unwrap();
    assert!(
        torn.dropped_bytes > 0 && torn.reason.contains("truncated"),
        "{torn:?}"
    );
    assert_eq!(s.replay_report().frames, 1);
    assert_eq!(load(&s, "a"), Some(val_str("1")));
    assert_eq!(load(&s, "b"), None, "the torn write was never acknowledged");
}

#[test]
fn a_corrupt_log_refuses_to_open_and_changes_nothing() {
    let t = Logged::new(Durability::Os, 64 << 20);
    let (inner, open) = (&t.inner, || t.open());
    let s = open().unwrap();
    put(&s, "a", "1");
    put(&s, "b", "2");
    drop(s);
    let seg = t.only_segment();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[64 + 48 + 3] ^= 0x10; // inside the first frame's payload
    std::fs::write(&seg, &bytes).unwrap();
    let err = open().unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Corrupt, "{err}");
    assert_eq!(
        std::fs::read(&seg).unwrap(),
        bytes,
        "nothing was cut or deleted"
    );
    assert!(backend(inner).is_empty(), "nothing was replayed");
}

#[test]
fn segments_are_deleted_once_the_backend_holds_them() {
    let t = Logged::new(Durability::Fsync, 400);
    let s = t.open().unwrap();
    for i in 0..60 {
        put(&s, &format!("k{}", i % 5), &i.to_string());
    }
    let before = s.stats().log.unwrap();
    assert!(before.segments > 5, "{before:?}");
    block_on(s.hard_flush()).unwrap();
    let after = s.stats().log.unwrap();
    assert!(after.segments_deleted >= before.segments - 1, "{after:?}");
    assert_eq!(after.segments, 1);
    let files = std::fs::read_dir(t.dir.path()).unwrap().filter(|e| {
        e.as_ref()
            .unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "wal")
    });
    assert_eq!(files.count(), 1);
}

#[test]
fn close_stores_everything_and_later_calls_fail() {
    let dir = tempfile::tempdir().unwrap();
    let inner = new_inner();
    let config = WriteBehindConfig::with_log(dir.path(), Durability::Fsync);
    let s = WriteBehindDataStore::open(Arc::clone(&inner), config.clone()).unwrap();
    for i in 0..100 {
        put(&s, &format!("k{i}"), "v");
    }
    block_on(s.close()).unwrap();
    assert_eq!(inner.written_ops(), 100, "everything was stored");
    let err = block_on(inner.load("m", P, "k1")).unwrap_err();
    assert_eq!(
        err.kind(),
        DataStoreErrorKind::Closed,
        "the backend itself was closed"
    );
    assert_eq!(
        block_on(s.load("m", P, "k1")).unwrap_err().kind(),
        DataStoreErrorKind::Closed
    );
    assert_eq!(
        block_on(s.add("m", P, "k", &rec("v"))).unwrap_err().kind(),
        DataStoreErrorKind::Closed
    );
    block_on(s.close()).unwrap();
}

#[test]
fn a_failed_close_keeps_the_queue_and_can_be_retried() {
    let clock = ManualClock::new(0);
    let (s, inner) = unlogged(&clock, manual(LogConfig::Off));
    put(&s, "a", "1");
    inner.fail_writes(Some(DataStoreErrorKind::DiskFull));
    let err = block_on(s.close()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::DiskFull);
    assert_eq!(load(&s, "a"), Some(val_str("1")), "reads still work");
    assert_eq!(
        block_on(s.add("m", P, "b", &rec("1"))).unwrap_err().kind(),
        DataStoreErrorKind::Closed
    );
    inner.heal();
    block_on(s.close()).unwrap();
    assert_eq!(inner.written_ops(), 1, "stored once the backend came back");
    let err = block_on(inner.load("m", P, "a")).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Closed);
}

#[test]
fn the_background_thread_stores_writes_without_being_asked() {
    let inner = new_inner();
    let config = WriteBehindConfig {
        write_delay_millis: 0,
        ..WriteBehindConfig::without_log()
    };
    let s = WriteBehindDataStore::open(Arc::clone(&inner), config).unwrap();
    put(&s, "a", "1");
    // Wait for the thread, not for time: spin until it stored the key.
    while inner.written_ops() == 0 {
        std::thread::yield_now();
    }
    while s.pending_operation_count() > 0 {
        std::thread::yield_now();
    }
    assert_eq!(backend(&inner).len(), 1);
    drop(s);
}

#[test]
fn reset_drops_the_queue_and_the_log() {
    let t = Logged::new(Durability::Os, 64 << 20);
    let open = || t.open();
    let s = open().unwrap();
    put(&s, "a", "1");
    s.reset();
    assert_eq!(s.pending_operation_count(), 0);
    assert_eq!(load(&s, "a"), None);
    drop(s);
    let s = open().unwrap();
    assert_eq!(s.replay_report().frames, 0, "reset writes are not replayed");
}
