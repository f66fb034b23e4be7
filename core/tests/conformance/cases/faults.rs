//! Storage that fails part way through a write: the store reports a clear
//! error, the failed batch leaves nothing, and everything acknowledged
//! before is there after a reopen.

use crate::harness::*;
use topgun_storage_core::{block_on, DataStoreErrorKind, StoredRecord, WriteOp};

fn open_faulty<H: FaultHarness>(location: &H::Location) -> (H::Store, H::Switch) {
    match H::open_with_faults(location) {
        Ok(pair) => pair,
        Err(e) => panic!("opening with faults failed: {}", describe(&e)),
    }
}

/// Opens the store at `location` again (without faults) and checks it holds
/// exactly `keys` in map "m".
fn assert_after_reopen<H: Harness>(location: &H::Location, keys: &[&str]) {
    let s = open_ok::<H>(location);
    assert_eq!(scan_all(&s, "m", Primary, "", 1000), keys);
    for k in keys {
        assert_eq!(get(&s, "m", Primary, k).as_deref(), Some(*k));
    }
    block_on(topgun_storage_core::MapDataStore::close(&s)).unwrap();
}

pub fn a_failed_write_is_reported_and_nothing_acknowledged_is_lost<H: FaultHarness>() {
    let location = H::new_location();
    let (s, switch) = open_faulty::<H>(&location);
    put_many(&s, "m", Primary, &["a", "b"]);
    switch.fail_storage_writes(true);
    let err = block_on(s.add("m", Primary, "c", &rec("c"))).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            DataStoreErrorKind::Io | DataStoreErrorKind::DiskFull
        ),
        "{}",
        describe(&err)
    );
    switch.fail_storage_writes(false);
    drop(s);
    assert_after_reopen::<H>(&location, &["a", "b"]);
}

pub fn a_failed_batch_leaves_none_of_its_entries<H: FaultHarness>() {
    let location = H::new_location();
    let (s, switch) = open_faulty::<H>(&location);
    put_many(&s, "m", Primary, &["keep"]);
    let keys = numbered(5_000);
    let r = rec("doomed");
    let mut ops: Vec<WriteOp<'_>> = keys
        .iter()
        .map(|key| WriteOp::Put { key, record: &r })
        .collect();
    ops.push(WriteOp::Remove { key: "keep" });
    switch.fail_storage_writes(true);
    assert!(block_on(s.write("m", Primary, &ops)).is_err());
    // Reads on the same handle do not see any of it either.
    match block_on(s.load("m", Primary, "k00000")) {
        Ok(found) => assert_eq!(found, None, "half a failed batch is visible"),
        Err(e) => assert!(
            matches!(
                e.kind(),
                DataStoreErrorKind::Io | DataStoreErrorKind::DiskFull
            ),
            "{}",
            describe(&e)
        ),
    }
    switch.fail_storage_writes(false);
    drop(s);
    assert_after_reopen::<H>(&location, &["keep"]);
}

pub fn the_store_takes_writes_again_after_a_reopen<H: FaultHarness>() {
    let location = H::new_location();
    let (s, switch) = open_faulty::<H>(&location);
    put_many(&s, "m", Primary, &["a"]);
    switch.fail_storage_writes(true);
    for _ in 0..3 {
        assert!(block_on(s.add("m", Primary, "x", &rec("x"))).is_err());
    }
    switch.fail_storage_writes(false);
    drop(s);
    let s = open_ok::<H>(&location);
    put_many(&s, "m", Primary, &["b"]);
    drop(s);
    assert_after_reopen::<H>(&location, &["a", "b"]);
}

pub fn many_acknowledged_writes_survive_a_failure_in_the_middle<H: FaultHarness>() {
    let location = H::new_location();
    let (s, switch) = open_faulty::<H>(&location);
    let keys = numbered(300);
    for (i, k) in keys.iter().enumerate() {
        if i == 150 {
            switch.fail_storage_writes(true);
            let big = StoredRecord::new(rec_value(vec![7u8; 1 << 20]).value, 1);
            assert!(block_on(s.add("m", Primary, "zz-failed", &big)).is_err());
            break;
        }
        put(&s, "m", Primary, k, k);
    }
    switch.fail_storage_writes(false);
    drop(s);
    let acknowledged: Vec<&str> = keys[..150].iter().map(String::as_str).collect();
    assert_after_reopen::<H>(&location, &acknowledged);
}
