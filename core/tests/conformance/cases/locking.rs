//! Stores that one holder at a time may open: a second open is refused
//! with `Locked` until the holder closes or drops its store.

use crate::harness::*;
use topgun_storage_core::{block_on, DataStoreErrorKind, MapDataStore};

pub fn a_second_open_of_a_live_store_is_locked<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "k", "v");
    let err = H::open(&s.location).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Locked, "{}", describe(&err));
}

pub fn a_refused_second_open_leaves_the_holder_working<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "k", "v");
    for _ in 0..3 {
        assert!(H::open(&s.location).is_err());
    }
    put(&*s, "m", Primary, "k2", "v2");
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["k", "k2"]);
    let s = s.reopen();
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["k", "k2"]);
}

pub fn the_store_opens_again_once_the_holder_closes<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "k", "v");
    block_on(s.store.close()).unwrap();
    let again = open_ok::<H>(&s.location);
    assert_eq!(get(&again, "m", Primary, "k").as_deref(), Some("v"));
    let _: &dyn MapDataStore = &again;
}

pub fn the_store_opens_again_once_the_holder_is_dropped<H: Harness>() {
    let Fixture { store, location } = Fixture::<H>::new();
    put(&store, "m", Primary, "k", "v");
    drop(store);
    let again = open_ok::<H>(&location);
    assert_eq!(get(&again, "m", Primary, "k").as_deref(), Some("v"));
}
