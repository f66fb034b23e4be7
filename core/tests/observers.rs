//! Observers through the public API: `CompositeMutationObserver` (every
//! callback reaches every observer, add and remove at any time, also from a
//! callback, panics isolated and counted) and `EventObserver` (one event per
//! callback, with its kind, key, record, old value and reason), and
//! re-entrant delivery (changes made inside a callback are queued and
//! delivered by the outermost delivery, in constant stack).

mod support;

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use support::CountingObserver;
use topgun_storage_core::{
    after_delivery, block_on, in_delivery, CallerProvenance, CompositeMutationObserver,
    DefaultRecordStore, EventKind, EventObserver, ExpiryPolicy, ExpiryReason, MutationObserver,
    Record, RecordMetadata, RecordStore, RecordValue, StorageConfig, StoreEvent, Timestamp,
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

// ---------------------------------------------------------------------------
// Re-entrant delivery: changes made inside a callback are queued on the
// thread and delivered by the outermost delivery, never nested.
// ---------------------------------------------------------------------------

/// How far the write chains below go. Nested delivery used several KiB of
/// stack per link, so this many links overflowed the 256 KiB stacks the
/// tests run them on (the process died with SIGSEGV) before delivery was
/// made iterative.
const CHAIN: u64 = 100_000;

/// Runs `f` on a thread with a 256 KiB stack and returns its result.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .expect("spawn a test thread")
        .join()
        .expect("the chain thread finished without a panic")
}

fn put(store: &DefaultRecordStore, key: &str, n: i64) {
    block_on(store.put(
        key,
        RecordValue::lww(n, Timestamp::new(1, 0, "n")),
        ExpiryPolicy::NONE,
        CallerProvenance::Client,
    ))
    .expect("put on a standalone store");
}

/// On the put of `k<i>` puts `k<i+1>`, up to `k<CHAIN>`: an observer that
/// writes on every event. Records the deepest nesting it saw.
struct Chain {
    store: OnceLock<Weak<DefaultRecordStore>>,
    calls: AtomicU64,
    depth: AtomicU64,
    deepest: AtomicU64,
}

impl MutationObserver for Chain {
    fn on_put(&self, key: &str, _: &Record, _: Option<&RecordValue>, _: bool) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let depth = self.depth.fetch_add(1, Ordering::SeqCst) + 1;
        self.deepest.fetch_max(depth, Ordering::SeqCst);
        assert!(in_delivery(), "a callback runs inside a delivery");
        let i: u64 = key[1..].parse().expect("keys are k<number>");
        if i < CHAIN {
            let store = self.store.get().and_then(Weak::upgrade).expect("store");
            put(&store, &format!("k{}", i + 1), 0);
        }
        self.depth.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn an_observer_that_writes_on_every_event_runs_in_constant_stack() {
    let (calls, deepest, size) = on_small_stack(|| {
        let store = Arc::new(DefaultRecordStore::standalone(
            StorageConfig::default(),
            None,
        ));
        let chain = Arc::new(Chain {
            store: OnceLock::new(),
            calls: AtomicU64::new(0),
            depth: AtomicU64::new(0),
            deepest: AtomicU64::new(0),
        });
        let _ = chain.store.set(Arc::downgrade(&store));
        store.observers().add(chain.clone());
        put(&store, "k0", 0);
        assert!(!in_delivery(), "the outermost put returns after the chain");
        (
            chain.calls.load(Ordering::SeqCst),
            chain.deepest.load(Ordering::SeqCst),
            store.size(),
        )
    });
    assert_eq!(calls, CHAIN + 1, "every link delivered");
    assert_eq!(deepest, 1, "callbacks never nest");
    assert_eq!(size, usize::try_from(CHAIN + 1).unwrap());
}

/// Clears on every clear: a chain of store-wide events (delivered by direct
/// calls on the composite, not through a store's event buffer).
struct ClearChain {
    composite: Weak<CompositeMutationObserver>,
    left: AtomicU64,
    depth: AtomicU64,
    deepest: AtomicU64,
}

impl MutationObserver for ClearChain {
    fn on_clear(&self) {
        let depth = self.depth.fetch_add(1, Ordering::SeqCst) + 1;
        self.deepest.fetch_max(depth, Ordering::SeqCst);
        if self.left.fetch_sub(1, Ordering::SeqCst) > 1 {
            if let Some(c) = self.composite.upgrade() {
                c.on_clear();
            }
        }
        self.depth.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn direct_calls_on_a_composite_are_queued_too() {
    let deepest = on_small_stack(|| {
        let composite = Arc::new(CompositeMutationObserver::default());
        let chain = Arc::new(ClearChain {
            composite: Arc::downgrade(&composite),
            left: AtomicU64::new(CHAIN),
            depth: AtomicU64::new(0),
            deepest: AtomicU64::new(0),
        });
        composite.add(chain.clone());
        composite.on_clear();
        assert_eq!(chain.left.load(Ordering::SeqCst), 0, "every link ran");
        chain.deepest.load(Ordering::SeqCst)
    });
    assert_eq!(deepest, 1);
}

/// Logs `<name>:<key>` for every put; the first one (`a`) writes `x` and
/// `y` when it sees `k`.
struct Logger {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
    store: OnceLock<Weak<DefaultRecordStore>>,
}

impl MutationObserver for Logger {
    fn on_put(&self, key: &str, _: &Record, _: Option<&RecordValue>, _: bool) {
        self.log.lock().push(format!("{}:{key}", self.name));
        if self.name == "a" && key == "k" {
            let store = self.store.get().and_then(Weak::upgrade).expect("store");
            put(&store, "x", 1);
            self.log.lock().push("a:x-written".to_owned());
            put(&store, "y", 1);
        }
    }
}

#[test]
fn nested_changes_reach_every_observer_after_the_current_event_in_order() {
    let store = Arc::new(DefaultRecordStore::standalone(
        StorageConfig::default(),
        None,
    ));
    let log = Arc::new(Mutex::new(Vec::new()));
    for name in ["a", "b"] {
        let logger = Arc::new(Logger {
            name,
            log: log.clone(),
            store: OnceLock::new(),
        });
        let _ = logger.store.set(Arc::downgrade(&store));
        store.observers().add(logger);
    }
    put(&store, "k", 0);
    assert_eq!(
        *log.lock(),
        ["a:k", "a:x-written", "b:k", "a:x", "b:x", "a:y", "b:y"],
        "b sees k before x and y (the order of the changes); x is delivered after a's callback returned"
    );
}

#[test]
fn after_delivery_runs_now_outside_and_at_the_end_of_the_outermost_delivery_inside() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    after_delivery(move || o.lock().push("now"));
    assert_eq!(*order.lock(), ["now"]);

    let composite = Arc::new(CompositeMutationObserver::default());
    let o = order.clone();
    let inner = Arc::downgrade(&composite);
    composite.add(Arc::new(EventObserver::new(move |e: &StoreEvent<'_>| {
        if e.kind == EventKind::Clear {
            let o2 = o.clone();
            after_delivery(move || {
                assert!(!in_delivery());
                o2.lock().push("deferred");
            });
            o.lock().push("clear");
            // A nested change: delivered before the deferred work runs.
            if let Some(c) = inner.upgrade() {
                c.on_reset();
            }
        } else {
            o.lock().push("reset");
        }
    })));
    composite.on_clear();
    assert_eq!(*order.lock(), ["now", "clear", "reset", "deferred"]);
    assert!(!in_delivery());
}

/// A callback that panics while a chain is queued: the panic is counted and
/// the rest of the chain is still delivered.
#[test]
fn a_panic_in_a_chain_is_counted_and_the_queue_goes_on() {
    let composite = Arc::new(CompositeMutationObserver::default());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let inner = Arc::downgrade(&composite);
    composite.add(Arc::new(EventObserver::new(move |e: &StoreEvent<'_>| {
        s.lock().push(e.kind.as_str());
        if e.kind == EventKind::Clear {
            if let Some(c) = inner.upgrade() {
                c.on_reset();
                c.on_destroy(false);
            }
        }
        assert!(
            e.kind != EventKind::Reset,
            "observer failure (expected by the test)"
        );
    })));
    composite.on_clear();
    assert_eq!(*seen.lock(), ["clear", "reset", "destroy"]);
    assert_eq!(composite.panics(), 1);
    assert!(!in_delivery());
}
