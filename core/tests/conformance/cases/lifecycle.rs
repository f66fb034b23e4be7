//! Flush and close: flush keeps everything and may be called any time;
//! after close every call fails with `Closed`, and closing twice succeeds.

use crate::harness::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use topgun_storage_core::{block_on, DataStoreErrorKind, MapDataStore, ScanRequest};

pub fn flushing_an_empty_store_succeeds<H: Harness>() {
    let s = Fixture::<H>::new();
    block_on(s.flush()).unwrap();
    block_on(s.hard_flush()).unwrap();
    assert_eq!(block_on(s.soft_flush()).unwrap(), 0);
    assert!(block_on(s.list_maps()).unwrap().is_empty());
}

pub fn flush_is_idempotent_and_keeps_everything<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "b"]);
    for _ in 0..3 {
        block_on(s.flush()).unwrap();
    }
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["a", "b"]);
    put(&*s, "m", Primary, "c", "v");
    block_on(s.flush()).unwrap();
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["a", "b", "c"]);
}

pub fn flush_runs_alongside_writers<H: Harness>() {
    let s = Fixture::<H>::new();
    std::thread::scope(|scope| {
        for t in 0..2 {
            let s = &*s;
            scope.spawn(move || {
                for i in 0..200 {
                    put(s, "m", Primary, &format!("t{t}-{i:03}"), "v");
                }
            });
        }
        let s = &*s;
        scope.spawn(move || {
            for _ in 0..20 {
                block_on(s.flush()).unwrap();
            }
        });
    });
    assert_eq!(scan_all(&*s, "m", Primary, "", 100).len(), 400);
}

pub fn every_call_after_close_fails_with_closed<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "k", "v");
    block_on(s.close()).unwrap();
    let closed = DataStoreErrorKind::Closed;
    assert_kind(block_on(s.add("m", Primary, "k", &rec("w"))), closed);
    assert_kind(block_on(s.write("m", Primary, &[])), closed);
    assert_kind(block_on(s.remove("m", Primary, "k")), closed);
    assert_kind(block_on(s.load("m", Primary, "k")), closed);
    assert_kind(
        block_on(s.load_all("m", Primary, &["k".to_owned()])),
        closed,
    );
    assert_kind(
        block_on(s.scan(&ScanRequest::keys("m", Primary, 10))),
        closed,
    );
    assert_kind(block_on(s.list_maps()), closed);
    assert_kind(block_on(s.flush()), closed);
}

pub fn closing_twice_succeeds<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "k", "v");
    block_on(s.close()).unwrap();
    block_on(s.close()).unwrap();
    assert_kind(
        block_on(s.load("m", Primary, "k")),
        DataStoreErrorKind::Closed,
    );
}

pub fn closing_an_unused_store_succeeds<H: Harness>() {
    let s = Fixture::<H>::new();
    block_on(s.close()).unwrap();
    assert_kind(block_on(s.list_maps()), DataStoreErrorKind::Closed);
}

pub fn close_while_threads_use_the_store_fails_them_cleanly<H: Harness>() {
    let s = Fixture::<H>::new();
    let closed_errors = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 0..3 {
            let (s, closed_errors) = (&*s, &closed_errors);
            scope.spawn(move || {
                for i in 0..10_000 {
                    let key = format!("t{t}-{i}");
                    let result = if i % 2 == 0 {
                        block_on(s.add("m", Primary, &key, &rec("v"))).map(|_| ())
                    } else {
                        block_on(s.load("m", Primary, &key)).map(|_| ())
                    };
                    match result {
                        Ok(()) => {}
                        Err(e) if e.kind() == DataStoreErrorKind::Closed => {
                            closed_errors.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        Err(e) => panic!("unexpected error during close: {}", describe(&e)),
                    }
                }
            });
        }
        // Let the threads get going, then close under them.
        while scan(&*s, &ScanRequest::keys("m", Primary, 10))
            .entries
            .len()
            < 10
        {
            std::thread::yield_now();
        }
        block_on(s.close()).unwrap();
    });
    assert!(
        closed_errors.load(Ordering::Relaxed) > 0,
        "no thread saw the close"
    );
    assert_kind(block_on(s.list_maps()), DataStoreErrorKind::Closed);
}
