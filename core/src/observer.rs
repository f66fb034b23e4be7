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

/// A change an operation made, held in an [`EventBuffer`] until the
/// operation has released every lock.
pub(crate) enum PendingEvent {
    /// `on_put(key, record, old_value, is_backup)`.
    Put(String, Record, Option<RecordValue>, bool),
    /// `on_update(key, record, old_value, record.value, is_backup)`.
    Update(String, Record, RecordValue, bool),
    /// `on_remove(key, record, is_backup)`.
    Remove(String, Record, bool),
    /// `on_evict(key, record, is_backup)`.
    Evict(String, Record, bool),
    /// `on_expire(key, record, reason, is_backup)`.
    Expire(String, Record, ExpiryReason, bool),
    /// `on_load(key, record, is_backup)`.
    Load(String, Record, bool),
}

/// The events of one record-store operation. The store collects them while
/// it holds engine locks and hands them to the observers with
/// [`EventBuffer::deliver`] once every engine call has returned, which is how
/// "callbacks run after the store has released its internal locks" holds.
/// Collects nothing (and builds no event) when nobody listens.
pub(crate) struct EventBuffer {
    enabled: bool,
    list: Vec<PendingEvent>,
}

impl EventBuffer {
    /// An empty buffer for `observers`; disabled when the list is empty
    /// (one atomic load).
    pub(crate) fn for_observers(observers: &CompositeMutationObserver) -> Self {
        Self {
            enabled: !observers.is_empty(),
            list: Vec::new(),
        }
    }

    /// Whether anyone listens (callers skip copying records otherwise).
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Adds the event `make` builds; `make` is not called when disabled.
    pub(crate) fn push(&mut self, make: impl FnOnce() -> PendingEvent) {
        if self.enabled {
            self.list.push(make());
        }
    }

    /// Calls the observers, in the order the events were pushed. Must be
    /// called with no store or engine lock held.
    pub(crate) fn deliver(self, observers: &CompositeMutationObserver) {
        let o = observers;
        for event in self.list {
            match event {
                PendingEvent::Put(k, r, old, b) => o.on_put(&k, &r, old.as_ref(), b),
                PendingEvent::Update(k, r, old, b) => {
                    o.on_update(&k, &r, &old, &r.value, b);
                }
                PendingEvent::Remove(k, r, b) => o.on_remove(&k, &r, b),
                PendingEvent::Evict(k, r, b) => o.on_evict(&k, &r, b),
                PendingEvent::Expire(k, r, why, b) => o.on_expire(&k, &r, why, b),
                PendingEvent::Load(k, r, b) => o.on_load(&k, &r, b),
            }
        }
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
