//! Observers through the public API: `CompositeMutationObserver` (every
//! callback reaches every observer, add and remove at any time, also from a
//! callback, panics isolated and counted) and `EventObserver` (one event per
//! callback, with its kind, key, record, old value and reason).

mod support;

use parking_lot::Mutex;
use std::sync::Arc;
use support::CountingObserver;
use topgun_storage_core::{
    CompositeMutationObserver, EventKind, EventObserver, ExpiryReason, MutationObserver, Record,
    RecordMetadata, RecordValue, StoreEvent, Timestamp,
};

fn record() -> Record {
    Record::new(
        RecordValue::lww(1, Timestamp::new(1, 0, "n")),
        RecordMetadata::new(1, 1),
    )
}

fn call_everything(o: &dyn MutationObserver) {
    let r = record();
    o.on_put("k", &r, None, false);
    o.on_update("k", &r, &r.value, &r.value, false);
    o.on_remove("k", &r, false);
    o.on_evict("k", &r, false);
    o.on_expire("k", &r, ExpiryReason::Ttl, false);
    o.on_load("k", &r, false);
    o.on_replication_put("k", &r, true);
    o.on_clear();
    o.on_reset();
    o.on_destroy(false);
}

fn all_counts(c: &CountingObserver) -> [u64; 10] {
    [
        &c.put,
        &c.update,
        &c.remove,
        &c.evict,
        &c.expire,
        &c.load,
        &c.replication,
        &c.clear,
        &c.reset,
        &c.destroy,
    ]
    .map(CountingObserver::get)
}

#[test]
fn empty_composite_does_not_panic() {
    let composite = CompositeMutationObserver::default();
    assert!(composite.is_empty());
    call_everything(&composite);
    assert_eq!(composite.panics(), 0);
}

#[test]
fn single_observer_receives_all_notifications() {
    let counter = Arc::new(CountingObserver::default());
    let composite = CompositeMutationObserver::new(vec![counter.clone()]);
    call_everything(&composite);
    assert_eq!(all_counts(&counter), [1; 10]);
}

#[test]
fn multiple_observers_all_receive_notifications() {
    let counters: Vec<Arc<CountingObserver>> = (0..3)
        .map(|_| Arc::new(CountingObserver::default()))
        .collect();
    let composite = CompositeMutationObserver::new(
        counters
            .iter()
            .map(|c| c.clone() as Arc<dyn MutationObserver>)
            .collect(),
    );
    let r = record();
    composite.on_put("a", &r, None, false);
    composite.on_put("b", &r, None, false);
    composite.on_clear();
    for c in &counters {
        assert_eq!(CountingObserver::get(&c.put), 2);
        assert_eq!(CountingObserver::get(&c.clear), 1);
    }
}

#[test]
fn add_observer_after_construction() {
    let composite = CompositeMutationObserver::default();
    let counter = Arc::new(CountingObserver::default());
    composite.on_clear();
    composite.add(counter.clone());
    composite.on_clear();
    assert_eq!(CountingObserver::get(&counter.clear), 1);
    assert_eq!(composite.len(), 1);
    let as_dyn: Arc<dyn MutationObserver> = counter.clone();
    assert!(composite.remove(&as_dyn));
    assert!(!composite.remove(&as_dyn));
    composite.on_clear();
    assert_eq!(CountingObserver::get(&counter.clear), 1);
}

struct Panicker;
impl MutationObserver for Panicker {
    fn on_clear(&self) {
        panic!("observer failure (expected by the test)");
    }
}

#[test]
fn a_panicking_observer_does_not_stop_the_others() {
    let counter = Arc::new(CountingObserver::default());
    let composite = CompositeMutationObserver::new(vec![Arc::new(Panicker), counter.clone()]);
    composite.on_clear();
    composite.on_clear();
    assert_eq!(CountingObserver::get(&counter.clear), 2);
    assert_eq!(composite.panics(), 2);
}

struct AddsAnother(Arc<CompositeMutationObserver>);
impl MutationObserver for AddsAnother {
    fn on_clear(&self) {
        self.0.add(Arc::new(CountingObserver::default()));
    }
}

#[test]
fn an_observer_may_register_observers_from_a_callback() {
    let composite = Arc::new(CompositeMutationObserver::default());
    composite.add(Arc::new(AddsAnother(composite.clone())));
    composite.on_clear();
    assert_eq!(composite.len(), 2);
}

#[test]
fn every_callback_becomes_one_event() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let observer = EventObserver::new(move |e: &StoreEvent<'_>| {
        sink.lock().push((
            e.kind,
            e.key.to_owned(),
            e.record.is_some(),
            e.old_value.is_some(),
            e.reason,
        ));
    });
    let r = Record::new(
        RecordValue::lww(1, Timestamp::new(1, 0, "n")),
        RecordMetadata::new(1, 1),
    );
    observer.on_put("a", &r, None, false);
    observer.on_update("a", &r, &r.value, &r.value, false);
    observer.on_remove("a", &r, false);
    observer.on_evict("a", &r, false);
    observer.on_expire("a", &r, ExpiryReason::Ttl, false);
    observer.on_load("a", &r, false);
    observer.on_clear();
    observer.on_reset();
    observer.on_destroy(true);
    let kinds: Vec<&str> = seen.lock().iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["put", "update", "remove", "evict", "expire", "load", "clear", "reset", "destroy"]
    );
    let seen = seen.lock();
    assert!(seen[1].3, "update carries the old value");
    assert_eq!(seen[4].4, Some(ExpiryReason::Ttl));
    assert!(
        !seen[6].2 && seen[6].1.is_empty(),
        "clear has no key or record"
    );
    assert_eq!(EventKind::Destroy as u8, 9);
}
