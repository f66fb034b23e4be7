//! Export and import: consistency under concurrent writes (the imported
//! state is the state at one instant of the snapshot's acquisition), the
//! metadata kept, expiry, write-through on import, and damaged files (every
//! truncation and bit flip of a small file, sampled ones of a large one)
//! refused with a clear error before anything is written.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use support::history::{check_one_instant, overlaps_writes, tick, write_keys, Op};
use topgun_storage_core::export::{
    export_maps, export_store, import_maps, import_store, verify, ExportError, ExportKind,
    Progress, FORMAT_VERSION,
};
use topgun_storage_core::{
    block_on, CallerProvenance, CompositeMutationObserver, DefaultRecordStore, ErrorCode,
    EvictionPolicy, ExpiryPolicy, HashMapStorage, IterationCursor, ManualClock, MapDataStore,
    MapStorage, MemoryDataStore, Namespace, RecordStore, RecordStoreFactory, RecordValue,
    StorageConfig, StoreError, Timestamp, Value,
};

const T0: i64 = 1_700_000_000_000;

fn v(n: u64) -> RecordValue {
    RecordValue::lww(n as i64, Timestamp::new(n, 0, "node"))
}

fn number(value: &RecordValue) -> u64 {
    match value {
        RecordValue::Lww {
            value: Value::Int(n),
            ..
        } => *n as u64,
        other => panic!("unexpected value {other:?}"),
    }
}

fn standalone() -> DefaultRecordStore {
    DefaultRecordStore::standalone(StorageConfig::default(), None)
}

fn put(store: &dyn RecordStore, key: &str, n: u64) {
    block_on(store.put(key, v(n), ExpiryPolicy::NONE, CallerProvenance::Client)).expect("put");
}

/// Every live entry of `store`: key -> version.
fn contents(store: &dyn RecordStore) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut cursor = IterationCursor::start();
    while !cursor.is_finished() {
        let page = store.fetch_entries(&cursor, 500).expect("valid cursor");
        for (k, r) in page.items {
            assert!(out.insert(k, number(&r.value)).is_none());
        }
        cursor = page.next_cursor;
    }
    out
}

fn no_progress() -> impl FnMut(&Progress) {
    |_| {}
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("temporary directory"))
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

#[test]
fn export_during_writes_then_import_is_one_instant() {
    let dir = Dir::new();
    let store = Arc::new(standalone());
    let clock = Arc::new(AtomicU64::new(1));
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (store, clock, done) = (Arc::clone(&store), Arc::clone(&clock), Arc::clone(&done));
            thread::spawn(move || {
                let mut histories = BTreeMap::new();
                let mut round = 0;
                // Keep writing until the exports are done.
                while !done.load(Ordering::SeqCst) || round == 0 {
                    let prefix = format!("w{w}r{round}");
                    histories.extend(write_keys(
                        &prefix,
                        300,
                        6_000,
                        round,
                        &clock,
                        |k, op| match op {
                            Op::Put(n) | Op::Update(n) => put(store.as_ref(), k, n),
                            Op::Remove => {
                                block_on(store.remove(k, CallerProvenance::Client))
                                    .expect("remove");
                            }
                        },
                    ));
                    round += 1;
                }
                histories
            })
        })
        .collect();

    let mut exports = Vec::new();
    for i in 0..6 {
        // Let the writers get going (and change things) between exports.
        while clock.load(Ordering::SeqCst) < 2_000 * (i + 1) {
            thread::yield_now();
        }
        let start = tick(&clock);
        let snapshot = store.snapshot();
        let end = tick(&clock);
        let path = dir.file(&format!("store-{i}.tgx"));
        let summary = export_store(&snapshot, &path, &mut no_progress()).expect("export");
        let expected = contents_of_snapshot(&snapshot);
        assert_eq!(summary.records as usize, expected.len());
        drop(snapshot);
        let target = standalone();
        import_store(&target, &path, &mut no_progress()).expect("import");
        let imported = contents(&target);
        assert_eq!(imported, expected, "import differs from the snapshot");
        exports.push((start, end, imported));
    }
    done.store(true, Ordering::SeqCst);
    let mut histories = BTreeMap::new();
    for w in writers {
        histories.extend(w.join().expect("writer"));
    }
    let mut during = 0;
    for (n, (start, end, imported)) in exports.iter().enumerate() {
        if let Err(e) = check_one_instant(*start, *end, &histories, imported) {
            panic!("export {n}: {e}");
        }
        during += usize::from(overlaps_writes(*start, u64::MAX, &histories));
    }
    assert_eq!(
        during,
        exports.len(),
        "every export ran while writers wrote"
    );
}

fn contents_of_snapshot(snapshot: &topgun_storage_core::StoreSnapshot) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    snapshot.for_each(&mut |k, r| {
        out.insert(k.to_owned(), number(&r.value));
    });
    out
}

#[test]
fn a_map_storage_export_during_writes_is_one_instant_across_maps() {
    let dir = Dir::new();
    let storage = Arc::new(MapStorage::new(RecordStoreFactory::default()));
    let clock = Arc::new(AtomicU64::new(1));
    let writers: Vec<_> = ["users", "orders"]
        .into_iter()
        .enumerate()
        .map(|(i, map)| {
            let (storage, clock) = (Arc::clone(&storage), Arc::clone(&clock));
            thread::spawn(move || {
                write_keys(map, 400, 30_000, i as u64, &clock, |k, op| match op {
                    Op::Put(n) | Op::Update(n) => storage.store(map, k, v(n)).expect("store"),
                    Op::Remove => storage.delete(map, k).expect("delete"),
                })
            })
        })
        .collect();
    while clock.load(Ordering::SeqCst) < 10_000 {
        thread::yield_now();
    }
    let path = dir.file("maps.tgx");
    let start = tick(&clock);
    let snapshot = storage.snapshot().expect("open");
    let end = tick(&clock);
    let summary = export_maps(&snapshot, &path, &mut no_progress()).expect("export");
    drop(snapshot);
    let mut histories = BTreeMap::new();
    for w in writers {
        histories.extend(w.join().expect("writer"));
    }
    assert_eq!(summary.kind, ExportKind::Maps);
    let target = MapStorage::new(RecordStoreFactory::default());
    let imported_summary = import_maps(&target, &path, &mut no_progress()).expect("import");
    assert_eq!(imported_summary, summary);
    let mut imported = BTreeMap::new();
    for map in ["users", "orders"] {
        for key in target.load_all_keys(map).expect("keys") {
            let value = target.load(map, &key).expect("load").expect("present");
            imported.insert(key, number(&value));
        }
    }
    assert_eq!(imported.len() as u64, summary.records);
    check_one_instant(start, end, &histories, &imported).expect("one instant across maps");
}

#[test]
fn records_keep_their_metadata_and_expire_as_they_would_have() {
    let dir = Dir::new();
    let clock = ManualClock::new(T0);
    let source =
        DefaultRecordStore::standalone(StorageConfig::default(), Some(Arc::new(clock.clone())));
    block_on(source.put(
        "ttl",
        v(1),
        ExpiryPolicy::ttl(10_000),
        CallerProvenance::Client,
    ))
    .unwrap();
    block_on(source.put(
        "gone",
        v(2),
        ExpiryPolicy::ttl(100),
        CallerProvenance::Client,
    ))
    .unwrap();
    put(&source, "plain", 3);
    clock.advance(1_000);
    for _ in 0..4 {
        block_on(source.get("plain", true)).unwrap();
    }
    put(&source, "plain", 4);
    let path = dir.file("meta.tgx");
    let snapshot = source.snapshot();
    let summary = export_store(&snapshot, &path, &mut no_progress()).unwrap();
    assert_eq!(
        summary.records, 2,
        "the record expired at the instant is not written"
    );
    assert_eq!(summary.instant, T0 + 1_000);

    let target_clock = ManualClock::new(T0 + 1_000);
    let target = DefaultRecordStore::standalone(
        StorageConfig::default(),
        Some(Arc::new(target_clock.clone())),
    );
    import_store(&target, &path, &mut no_progress()).unwrap();
    for key in ["ttl", "plain"] {
        let a = snapshot.get(key).unwrap();
        let b = block_on(target.get(key, false)).unwrap().unwrap();
        assert_eq!(a, b, "{key}: record or metadata changed");
    }
    assert_eq!(snapshot.get("plain").unwrap().metadata.hits, 4);
    // The TTL still counts from the original write.
    target_clock.set(T0 + 10_001);
    assert!(block_on(target.get("ttl", false)).unwrap().is_none());
    assert!(block_on(target.get("plain", false)).unwrap().is_some());
}

#[test]
fn an_import_writes_through_to_the_data_store() {
    let dir = Dir::new();
    let source = standalone();
    for i in 0..50 {
        put(&source, &format!("k{i}"), i);
    }
    let path = dir.file("durable.tgx");
    export_store(&source.snapshot(), &path, &mut no_progress()).unwrap();
    let data = Arc::new(MemoryDataStore::new());
    let target = DefaultRecordStore::new(
        "durable".into(),
        0,
        Box::new(HashMapStorage::new()),
        data.clone(),
        Arc::new(CompositeMutationObserver::default()),
        StorageConfig::default(),
    );
    import_store(&target, &path, &mut no_progress()).unwrap();
    assert_eq!(data.len("durable", Namespace::Primary), 50);
    let stored = block_on(data.load("durable", Namespace::Primary, "k7"))
        .unwrap()
        .unwrap();
    assert_eq!(number(&stored.value), 7);
}

#[test]
fn a_full_store_stops_the_import_with_the_count() {
    let dir = Dir::new();
    let source = standalone();
    for i in 0..20 {
        put(&source, &format!("k{i}"), i);
    }
    let path = dir.file("big.tgx");
    export_store(&source.snapshot(), &path, &mut no_progress()).unwrap();
    let target = DefaultRecordStore::standalone(
        StorageConfig {
            max_entry_count: 5,
            eviction_policy: EvictionPolicy::None,
            ..StorageConfig::default()
        },
        None,
    );
    let err = import_store(&target, &path, &mut no_progress()).unwrap_err();
    assert!(
        matches!(
            err,
            ExportError::Store {
                imported: 5,
                source: StoreError::CapacityExceeded { .. }
            }
        ),
        "{err}"
    );
    assert_eq!(ErrorCode::from(&err), ErrorCode::CapacityExceeded);
    assert_eq!(target.size(), 5);
}

#[test]
fn progress_is_reported_and_reaches_the_total() {
    let dir = Dir::new();
    let source = standalone();
    let big = "x".repeat(1_000);
    for i in 0..500 {
        block_on(source.put(
            &format!("k{i}"),
            RecordValue::lww(big.clone(), Timestamp::new(i, 0, "n")),
            ExpiryPolicy::NONE,
            CallerProvenance::Client,
        ))
        .unwrap();
    }
    let path = dir.file("progress.tgx");
    let mut reports = Vec::new();
    export_store(&source.snapshot(), &path, &mut |p| reports.push(*p)).unwrap();
    assert!(
        reports.len() >= 5,
        "one report per frame: {}",
        reports.len()
    );
    assert!(reports
        .windows(2)
        .all(|w| w[0].records_done <= w[1].records_done));
    let last = reports.last().unwrap();
    assert_eq!((last.records_done, last.records_total), (500, 500));

    let mut reports = Vec::new();
    import_store(&standalone(), &path, &mut |p| reports.push(*p)).unwrap();
    let checking = reports.iter().filter(|p| p.checking).count();
    assert!(checking >= 5 && checking < reports.len());
    assert!(reports.iter().all(|p| p.records_total == 500));
    assert_eq!(reports.last().unwrap().records_done, 500);
    assert!(!reports.last().unwrap().checking);
}

#[test]
fn a_failed_export_leaves_no_file_and_a_finished_one_leaves_no_temporary() {
    let dir = Dir::new();
    let source = standalone();
    put(&source, "k", 1);
    let missing = dir.file("no-such-dir").join("x.tgx");
    let err = export_store(&source.snapshot(), &missing, &mut no_progress()).unwrap_err();
    assert!(matches!(err, ExportError::Io { .. }), "{err}");
    assert_eq!(ErrorCode::from(&err), ErrorCode::Io);
    assert!(err.to_string().contains("no-such-dir"), "{err}");

    let path = dir.file("ok.tgx");
    std::fs::write(&path, b"an older file").unwrap();
    export_store(&source.snapshot(), &path, &mut no_progress()).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.0.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["ok.tgx"]);
    assert_eq!(verify(&path, &mut no_progress()).unwrap().records, 1);
}

#[test]
fn an_export_of_the_wrong_kind_is_refused() {
    let dir = Dir::new();
    let storage = MapStorage::new(RecordStoreFactory::default());
    storage.store("m", "k", v(1)).unwrap();
    let path = dir.file("maps.tgx");
    storage.export(&path, &mut no_progress()).unwrap();
    let err = import_store(&standalone(), &path, &mut no_progress()).unwrap_err();
    assert!(matches!(err, ExportError::WrongKind { .. }), "{err}");
    // A record-store export goes into a MapStorage under its map name.
    let single = dir.file("single.tgx");
    let source = standalone();
    put(&source, "k", 5);
    export_store(&source.snapshot(), &single, &mut no_progress()).unwrap();
    let target = MapStorage::new(RecordStoreFactory::default());
    target.import(&single, &mut no_progress()).unwrap();
    assert_eq!(
        target.load("default", "k").unwrap().map(|v| number(&v)),
        Some(5)
    );
}

/// An export of `n` records with values of `size` bytes.
fn sample_export(dir: &Dir, name: &str, n: u64, size: usize) -> (PathBuf, Vec<u8>) {
    let source = standalone();
    let text = "v".repeat(size);
    for i in 0..n {
        block_on(source.put(
            &format!("key-{i}"),
            RecordValue::lww(text.clone(), Timestamp::new(i, 0, "n")),
            ExpiryPolicy::ttl(i * 1000),
            CallerProvenance::Client,
        ))
        .expect("put");
    }
    let path = dir.file(name);
    export_store(&source.snapshot(), &path, &mut no_progress()).expect("export");
    let bytes = std::fs::read(&path).expect("read back");
    (path, bytes)
}

/// Imports `bytes` (written to `path`) into an empty store: it must fail
/// with a damage error and write nothing.
fn assert_refused(path: &Path, bytes: &[u8], what: &str) -> ExportError {
    std::fs::write(path, bytes).expect("write the damaged copy");
    let target = standalone();
    let err = match import_store(&target, path, &mut no_progress()) {
        Err(e) => e,
        Ok(s) => panic!("{what}: accepted ({} records)", s.records),
    };
    assert_eq!(target.size(), 0, "{what}: something was imported");
    assert_eq!(ErrorCode::from(&err), ErrorCode::Corrupt, "{what}: {err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{what}: {err}"
    );
    err
}

#[test]
fn every_truncation_and_bit_flip_of_a_small_export_is_refused() {
    let dir = Dir::new();
    let (good, bytes) = sample_export(&dir, "small.tgx", 3, 10);
    assert_eq!(verify(&good, &mut no_progress()).unwrap().records, 3);
    let bad = dir.file("bad.tgx");
    for len in 0..bytes.len() {
        let err = assert_refused(&bad, &bytes[..len], &format!("truncated to {len}"));
        if len >= 8 {
            assert!(err.to_string().contains("truncated"), "at {len}: {err}");
        }
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"junk");
    assert_refused(&bad, &longer, "extended");
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert_refused(&bad, &flipped, &format!("bit {bit} flipped"));
    }
}

#[test]
fn sampled_damage_to_a_large_export_is_refused() {
    let dir = Dir::new();
    let (_, bytes) = sample_export(&dir, "large.tgx", 3_000, 100);
    assert!(
        bytes.len() > 4 * 64 * 1024,
        "several frames: {} bytes",
        bytes.len()
    );
    let bad = dir.file("bad.tgx");
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = |bound: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % bound as u64) as usize
    };
    for _ in 0..60 {
        let len = next(bytes.len());
        assert_refused(&bad, &bytes[..len], &format!("truncated to {len}"));
    }
    for _ in 0..60 {
        let at = next(bytes.len());
        let mut flipped = bytes.clone();
        flipped[at] ^= 1 << next(8);
        assert_refused(&bad, &flipped, &format!("byte {at} flipped"));
    }
    // A whole frame dropped at its boundaries: the end frame notices.
    let frames = frame_offsets(&bytes);
    assert!(frames.len() >= 5);
    let (a, b) = (frames[2], frames[3]);
    let mut dropped = bytes[..a].to_vec();
    dropped.extend_from_slice(&bytes[b..]);
    let err = assert_refused(&bad, &dropped, "a frame dropped");
    assert!(err.to_string().contains("whole-file checksum"), "{err}");
}

/// Where each frame starts (after the 24-byte header).
fn frame_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut at = 24;
    let mut out = Vec::new();
    while at < bytes.len() {
        out.push(at);
        let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().expect("4 bytes")) as usize;
        at += 1 + 4 + len + 4;
    }
    out
}

#[test]
fn foreign_and_future_files_are_named_as_such() {
    let dir = Dir::new();
    let path = dir.file("x");
    for bytes in [
        &b""[..],
        b"hello",
        b"PK\x03\x04 a zip file, or anything else at all",
    ] {
        std::fs::write(&path, bytes).unwrap();
        let err = verify(&path, &mut no_progress()).unwrap_err();
        assert!(matches!(err, ExportError::NotAnExport { .. }), "{err}");
        assert!(
            err.to_string().contains("not a topgun-storage export"),
            "{err}"
        );
    }
    let (_, mut bytes) = sample_export(&dir, "v.tgx", 2, 5);
    bytes[8..10].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let crc = crc32c::crc32c(&bytes[..20]);
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = verify(&path, &mut no_progress()).unwrap_err();
    assert!(
        matches!(err, ExportError::UnsupportedVersion { found, .. } if found == FORMAT_VERSION + 1),
        "{err}"
    );
    let missing = dir.file("missing.tgx");
    let err = verify(&missing, &mut no_progress()).unwrap_err();
    assert!(matches!(err, ExportError::Io { .. }), "{err}");
}
