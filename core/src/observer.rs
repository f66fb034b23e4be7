//! Mutation observers: callbacks a record store makes after it changes.
//!
//! Guarantees every record store in this crate gives:
//!
//! * callbacks run after the store has released its internal locks, so an
//!   observer may read or write the same store (it sees the change done);
//! * callbacks run on the thread that made the change, in the order of the
//!   changes that thread made;
//! * a panicking observer is isolated by [`CompositeMutationObserver`]: the
//!   panic is caught and counted, the store stays consistent, and the other
//!   observers are still called.

use crate::expiry::ExpiryReason;
use crate::record::{Record, RecordValue};
use parking_lot::RwLock;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Callbacks for changes to a record store. Every method has an empty
/// default, so an observer implements only what it needs. `is_backup` tells
/// whether the change was made in the backup role.
pub trait MutationObserver: Send + Sync {
    /// A key was written that held no live record. `old_value` is `None` in
    /// that case; it is kept in the signature for backups that overwrite.
    fn on_put(&self, key: &str, record: &Record, old_value: Option<&RecordValue>, is_backup: bool) {
        let _ = (key, record, old_value, is_backup);
    }

    /// A live record was overwritten.
    fn on_update(
        &self,
        key: &str,
        record: &Record,
        old_value: &RecordValue,
        new_value: &RecordValue,
        is_backup: bool,
    ) {
        let _ = (key, record, old_value, new_value, is_backup);
    }

    /// A record was removed by a caller.
    fn on_remove(&self, key: &str, record: &Record, is_backup: bool) {
        let _ = (key, record, is_backup);
    }

    /// A record was evicted to respect the store's bounds, or by `evict`.
    fn on_evict(&self, key: &str, record: &Record, is_backup: bool) {
        let _ = (key, record, is_backup);
    }

    /// A record was removed because it expired.
    fn on_expire(&self, key: &str, record: &Record, reason: ExpiryReason, is_backup: bool) {
        let _ = (key, record, reason, is_backup);
    }

    /// A record was loaded from the data store into memory.
    fn on_load(&self, key: &str, record: &Record, is_backup: bool) {
        let _ = (key, record, is_backup);
    }

    /// A record arrived by replication.
    fn on_replication_put(&self, key: &str, record: &Record, populate_index: bool) {
        let _ = (key, record, populate_index);
    }

    /// The store was cleared.
    fn on_clear(&self) {}

    /// The store was reset (cleared, and its data store's queue dropped).
    fn on_reset(&self) {}

    /// The store was destroyed.
    fn on_destroy(&self, is_shutdown: bool) {
        let _ = is_shutdown;
    }
}

/// Fans every callback out to a list of observers.
///
/// Observers can be added at any time, also from inside a callback. A
/// callback works on a snapshot of the list (an `Arc` taken under a brief
/// read lock), so no lock is held while observers run. Each observer call is
/// wrapped in `catch_unwind`: a panic is counted ([`Self::panics`]) and
/// reported by the panic hook, and the remaining observers still run.
#[derive(Default)]
pub struct CompositeMutationObserver {
    observers: RwLock<Arc<Vec<Arc<dyn MutationObserver>>>>,
    /// Mirrors the list's length (written under its write lock), so the
    /// "anyone listening?" check every store operation makes is one load.
    count: AtomicUsize,
    panics: AtomicU64,
}

impl std::fmt::Debug for CompositeMutationObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompositeMutationObserver")
            .field("observers", &self.len())
            .field("panics", &self.panics())
            .finish()
    }
}

impl CompositeMutationObserver {
    /// A composite of `observers`, called in this order.
    #[must_use]
    pub fn new(observers: Vec<Arc<dyn MutationObserver>>) -> Self {
        Self {
            count: AtomicUsize::new(observers.len()),
            observers: RwLock::new(Arc::new(observers)),
            panics: AtomicU64::new(0),
        }
    }

    /// Adds an observer; it sees every change made after this returns.
    /// O(number of observers) (the list is copied on write).
    pub fn add(&self, observer: Arc<dyn MutationObserver>) {
        let mut list = self.observers.write();
        let mut next = Vec::with_capacity(list.len() + 1);
        next.extend(list.iter().cloned());
        next.push(observer);
        self.count.store(next.len(), Ordering::Release);
        *list = Arc::new(next);
    }

    /// Removes `observer` (compared by pointer); returns whether it was
    /// registered.
    pub fn remove(&self, observer: &Arc<dyn MutationObserver>) -> bool {
        let mut list = self.observers.write();
        let before = list.len();
        let next: Vec<_> = list
            .iter()
            .filter(|o| !Arc::ptr_eq(o, observer))
            .cloned()
            .collect();
        let removed = next.len() != before;
        self.count.store(next.len(), Ordering::Release);
        *list = Arc::new(next);
        removed
    }

    /// Number of observers. O(1), lock free.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Whether there are no observers (stores skip building events then).
    /// O(1), lock free.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many observer calls have panicked.
    #[must_use]
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    fn each(&self, call: &dyn Fn(&dyn MutationObserver)) {
        let snapshot = Arc::clone(&self.observers.read());
        for observer in snapshot.iter() {
            if catch_unwind(AssertUnwindSafe(|| call(observer.as_ref()))).is_err() {
                self.panics.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl MutationObserver for CompositeMutationObserver {
    fn on_put(&self, key: &str, record: &Record, old_value: Option<&RecordValue>, is_backup: bool) {
        self.each(&|o| o.on_put(key, record, old_value, is_backup));
    }

    fn on_update(
        &self,
        key: &str,
        record: &Record,
        old_value: &RecordValue,
        new_value: &RecordValue,
        is_backup: bool,
    ) {
        self.each(&|o| o.on_update(key, record, old_value, new_value, is_backup));
    }

    fn on_remove(&self, key: &str, record: &Record, is_backup: bool) {
        self.each(&|o| o.on_remove(key, record, is_backup));
    }

    fn on_evict(&self, key: &str, record: &Record, is_backup: bool) {
        self.each(&|o| o.on_evict(key, record, is_backup));
    }

    fn on_expire(&self, key: &str, record: &Record, reason: ExpiryReason, is_backup: bool) {
        self.each(&|o| o.on_expire(key, record, reason, is_backup));
    }

    fn on_load(&self, key: &str, record: &Record, is_backup: bool) {
        self.each(&|o| o.on_load(key, record, is_backup));
    }

    fn on_replication_put(&self, key: &str, record: &Record, populate_index: bool) {
        self.each(&|o| o.on_replication_put(key, record, populate_index));
    }

    fn on_clear(&self) {
        self.each(&|o| o.on_clear());
    }

    fn on_reset(&self) {
        self.each(&|o| o.on_reset());
    }

    fn on_destroy(&self, is_shutdown: bool) {
        self.each(&|o| o.on_destroy(is_shutdown));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::{RecordMetadata, Timestamp};

    /// Counts every callback; shared by the record store tests.
    #[derive(Default, Debug)]
    pub(crate) struct CountingObserver {
        pub put: AtomicU64,
        pub update: AtomicU64,
        pub remove: AtomicU64,
        pub evict: AtomicU64,
        pub expire: AtomicU64,
        pub load: AtomicU64,
        pub replication: AtomicU64,
        pub clear: AtomicU64,
        pub reset: AtomicU64,
        pub destroy: AtomicU64,
    }

    impl CountingObserver {
        pub(crate) fn get(counter: &AtomicU64) -> u64 {
            counter.load(Ordering::SeqCst)
        }
    }

    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::SeqCst);
    }

    impl MutationObserver for CountingObserver {
        fn on_put(&self, _: &str, _: &Record, _: Option<&RecordValue>, _: bool) {
            bump(&self.put);
        }
        fn on_update(&self, _: &str, _: &Record, _: &RecordValue, _: &RecordValue, _: bool) {
            bump(&self.update);
        }
        fn on_remove(&self, _: &str, _: &Record, _: bool) {
            bump(&self.remove);
        }
        fn on_evict(&self, _: &str, _: &Record, _: bool) {
            bump(&self.evict);
        }
        fn on_expire(&self, _: &str, _: &Record, _: ExpiryReason, _: bool) {
            bump(&self.expire);
        }
        fn on_load(&self, _: &str, _: &Record, _: bool) {
            bump(&self.load);
        }
        fn on_replication_put(&self, _: &str, _: &Record, _: bool) {
            bump(&self.replication);
        }
        fn on_clear(&self) {
            bump(&self.clear);
        }
        fn on_reset(&self) {
            bump(&self.reset);
        }
        fn on_destroy(&self, _: bool) {
            bump(&self.destroy);
        }
    }

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
    fn mutation_observer_is_object_safe() {
        let o: Arc<dyn MutationObserver> = Arc::new(CountingObserver::default());
        o.on_clear();
    }
}

/// The kind of a [`StoreEvent`]. The numbers are stable (the C API exposes
/// them) and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventKind {
    /// A key that held no live record was written.
    Put = 1,
    /// A live record was overwritten.
    Update = 2,
    /// A caller removed a record.
    Remove = 3,
    /// The store evicted a record.
    Evict = 4,
    /// A record expired and was removed.
    Expire = 5,
    /// A record was loaded from the data store.
    Load = 6,
    /// The store was cleared.
    Clear = 7,
    /// The store was reset.
    Reset = 8,
    /// The store was destroyed.
    Destroy = 9,
}

impl EventKind {
    /// Lower-case name (`"put"`, `"update"`, ...), the same in every binding.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Put => "put",
            EventKind::Update => "update",
            EventKind::Remove => "remove",
            EventKind::Evict => "evict",
            EventKind::Expire => "expire",
            EventKind::Load => "load",
            EventKind::Clear => "clear",
            EventKind::Reset => "reset",
            EventKind::Destroy => "destroy",
        }
    }
}

/// One change, as the language bindings deliver it: the kind, the key (empty
/// for clear, reset, destroy), the record after the change (for put, update
/// and load) or the record that went (remove, evict, expire), the previous
/// value for an update, and whether it happened in the backup role.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreEvent<'a> {
    /// What happened.
    pub kind: EventKind,
    /// The key concerned; empty for store-wide events.
    pub key: &'a str,
    /// The record written, loaded or removed; `None` for store-wide events.
    pub record: Option<&'a Record>,
    /// The value replaced by an update.
    pub old_value: Option<&'a RecordValue>,
    /// Why the record expired (for `Expire`).
    pub reason: Option<ExpiryReason>,
    /// Whether the change was made in the backup role.
    pub is_backup: bool,
}

/// Adapts a single closure to [`MutationObserver`]: every callback becomes a
/// [`StoreEvent`]. What the C, Python and Node bindings register. Replication
/// puts are reported as `Put`.
pub struct EventObserver<F> {
    callback: F,
}

impl<F: Fn(&StoreEvent<'_>) + Send + Sync> EventObserver<F> {
    /// An observer that calls `callback` for every event.
    pub fn new(callback: F) -> Self {
        Self { callback }
    }

    fn emit(
        &self,
        kind: EventKind,
        key: &str,
        record: Option<&Record>,
        old_value: Option<&RecordValue>,
        reason: Option<ExpiryReason>,
        is_backup: bool,
    ) {
        (self.callback)(&StoreEvent {
            kind,
            key,
            record,
            old_value,
            reason,
            is_backup,
        });
    }
}

impl<F: Fn(&StoreEvent<'_>) + Send + Sync> MutationObserver for EventObserver<F> {
    fn on_put(&self, key: &str, record: &Record, old_value: Option<&RecordValue>, is_backup: bool) {
        self.emit(
            EventKind::Put,
            key,
            Some(record),
            old_value,
            None,
            is_backup,
        );
    }

    fn on_update(
        &self,
        key: &str,
        record: &Record,
        old_value: &RecordValue,
        _new_value: &RecordValue,
        is_backup: bool,
    ) {
        self.emit(
            EventKind::Update,
            key,
            Some(record),
            Some(old_value),
            None,
            is_backup,
        );
    }

    fn on_remove(&self, key: &str, record: &Record, is_backup: bool) {
        self.emit(EventKind::Remove, key, Some(record), None, None, is_backup);
    }

    fn on_evict(&self, key: &str, record: &Record, is_backup: bool) {
        self.emit(EventKind::Evict, key, Some(record), None, None, is_backup);
    }

    fn on_expire(&self, key: &str, record: &Record, reason: ExpiryReason, is_backup: bool) {
        self.emit(
            EventKind::Expire,
            key,
            Some(record),
            None,
            Some(reason),
            is_backup,
        );
    }

    fn on_load(&self, key: &str, record: &Record, is_backup: bool) {
        self.emit(EventKind::Load, key, Some(record), None, None, is_backup);
    }

    fn on_replication_put(&self, key: &str, record: &Record, _populate_index: bool) {
        self.emit(EventKind::Put, key, Some(record), None, None, false);
    }

    fn on_clear(&self) {
        self.emit(EventKind::Clear, "", None, None, None, false);
    }

    fn on_reset(&self) {
        self.emit(EventKind::Reset, "", None, None, None, false);
    }

    fn on_destroy(&self, _is_shutdown: bool) {
        self.emit(EventKind::Destroy, "", None, None, None, false);
    }
}

#[cfg(test)]
mod event_tests {
    use super::*;
    use crate::record::{RecordMetadata, Timestamp};
    use parking_lot::Mutex;

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
}
