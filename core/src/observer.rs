//! Mutation observers: callbacks a record store makes after it changes.
//!
//! Guarantees every record store in this crate gives:
//!
//! * callbacks run after the store has released its internal locks, so an
//!   observer may read or write the same store (it sees the change done);
//! * callbacks run on the thread that made the change, in the order of the
//!   changes that thread made;
//! * delivery is never nested: a change made while a callback runs on this
//!   thread (in any store, by the callback or by code it calls) is queued
//!   on this thread, and the *outermost* delivery (the one started by the
//!   first change made outside any callback) delivers it after the running
//!   callback returns, in first-in first-out order. So a chain of callbacks
//!   that each write (an observer that writes on every event) uses constant
//!   native stack whatever its length, and the call that made the first
//!   change returns when the chain has run out. A write made inside a
//!   callback returns before its own events are delivered;
//! * an event goes to the observers registered when it is delivered;
//! * a panicking observer is isolated by [`CompositeMutationObserver`]: the
//!   panic is caught and counted, the store stays consistent, and the other
//!   observers are still called.
//!
//! [`in_delivery`] tells whether this thread is inside a delivery, and
//! [`after_delivery`] defers work until the outermost one ends (what the C
//! binding's `storage_unsubscribe` uses so that it never waits inside a
//! callback).

use crate::expiry::ExpiryReason;
use crate::record::{Record, RecordValue};
use parking_lot::RwLock;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
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
///
/// Called while this thread is already delivering events (see the module
/// docs), a callback method copies its arguments into an event and queues
/// it instead of calling the observers: the outermost delivery calls them.
#[derive(Default)]
pub struct CompositeMutationObserver {
    listeners: Arc<Listeners>,
}

/// The state of a [`CompositeMutationObserver`], shared with the events
/// queued for it.
#[derive(Default)]
struct Listeners {
    observers: RwLock<Arc<Vec<Arc<dyn MutationObserver>>>>,
    /// Mirrors the list's length (written under its write lock), so the
    /// "anyone listening?" check every store operation makes is one load.
    count: AtomicUsize,
    panics: AtomicU64,
}

impl Listeners {
    /// Calls `call` on every observer of a snapshot of the list.
    fn each(&self, call: &dyn Fn(&dyn MutationObserver)) {
        let snapshot = Arc::clone(&self.observers.read());
        for observer in snapshot.iter() {
            if catch_unwind(AssertUnwindSafe(|| call(observer.as_ref()))).is_err() {
                self.panics.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
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
            listeners: Arc::new(Listeners {
                count: AtomicUsize::new(observers.len()),
                observers: RwLock::new(Arc::new(observers)),
                panics: AtomicU64::new(0),
            }),
        }
    }

    /// Adds an observer; it sees every change made after this returns.
    /// O(number of observers) (the list is copied on write).
    pub fn add(&self, observer: Arc<dyn MutationObserver>) {
        let mut list = self.listeners.observers.write();
        let mut next = Vec::with_capacity(list.len() + 1);
        next.extend(list.iter().cloned());
        next.push(observer);
        self.listeners.count.store(next.len(), Ordering::Release);
        *list = Arc::new(next);
    }

    /// Removes `observer` (compared by pointer); returns whether it was
    /// registered. Deliveries that start after this returns do not call it;
    /// one running on another thread may still be calling it.
    pub fn remove(&self, observer: &Arc<dyn MutationObserver>) -> bool {
        let mut list = self.listeners.observers.write();
        let before = list.len();
        let next: Vec<_> = list
            .iter()
            .filter(|o| !Arc::ptr_eq(o, observer))
            .cloned()
            .collect();
        let removed = next.len() != before;
        self.listeners.count.store(next.len(), Ordering::Release);
        *list = Arc::new(next);
        removed
    }

    /// Number of observers. O(1), lock free.
    #[must_use]
    pub fn len(&self) -> usize {
        self.listeners.count.load(Ordering::Acquire)
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
        self.listeners.panics.load(Ordering::Relaxed)
    }

    /// Delivers one event given by reference: now if this thread is not
    /// delivering (then drains what the callbacks queued), else queued as
    /// `later()` builds it.
    fn notify(&self, now: &dyn Fn(&dyn MutationObserver), later: impl FnOnce() -> PendingEvent) {
        match enter() {
            Entry::Nested => queue(&self.listeners, std::iter::once(later())),
            Entry::Outermost(delivery) => {
                self.listeners.each(now);
                delivery.drain();
            }
            Entry::Direct => self.listeners.each(now),
        }
    }

    /// Delivers owned events in order, as [`Self::notify`] does.
    fn notify_owned(&self, events: Vec<PendingEvent>) {
        match enter() {
            Entry::Nested => queue(&self.listeners, events),
            Entry::Outermost(delivery) => {
                for event in events {
                    self.listeners.each(&|o| event.apply(o));
                }
                delivery.drain();
            }
            Entry::Direct => {
                for event in events {
                    self.listeners.each(&|o| event.apply(o));
                }
            }
        }
    }
}

impl MutationObserver for CompositeMutationObserver {
    fn on_put(&self, key: &str, record: &Record, old_value: Option<&RecordValue>, is_backup: bool) {
        self.notify(&|o| o.on_put(key, record, old_value, is_backup), || {
            PendingEvent::Put(
                key.to_owned(),
                record.clone(),
                old_value.cloned(),
                is_backup,
            )
        });
    }

    fn on_update(
        &self,
        key: &str,
        record: &Record,
        old_value: &RecordValue,
        new_value: &RecordValue,
        is_backup: bool,
    ) {
        self.notify(
            &|o| o.on_update(key, record, old_value, new_value, is_backup),
            || {
                PendingEvent::UpdateTo(
                    key.to_owned(),
                    record.clone(),
                    old_value.clone(),
                    new_value.clone(),
                    is_backup,
                )
            },
        );
    }

    fn on_remove(&self, key: &str, record: &Record, is_backup: bool) {
        self.notify(&|o| o.on_remove(key, record, is_backup), || {
            PendingEvent::Remove(key.to_owned(), record.clone(), is_backup)
        });
    }

    fn on_evict(&self, key: &str, record: &Record, is_backup: bool) {
        self.notify(&|o| o.on_evict(key, record, is_backup), || {
            PendingEvent::Evict(key.to_owned(), record.clone(), is_backup)
        });
    }

    fn on_expire(&self, key: &str, record: &Record, reason: ExpiryReason, is_backup: bool) {
        self.notify(&|o| o.on_expire(key, record, reason, is_backup), || {
            PendingEvent::Expire(key.to_owned(), record.clone(), reason, is_backup)
        });
    }

    fn on_load(&self, key: &str, record: &Record, is_backup: bool) {
        self.notify(&|o| o.on_load(key, record, is_backup), || {
            PendingEvent::Load(key.to_owned(), record.clone(), is_backup)
        });
    }

    fn on_replication_put(&self, key: &str, record: &Record, populate_index: bool) {
        self.notify(
            &|o| o.on_replication_put(key, record, populate_index),
            || PendingEvent::ReplicationPut(key.to_owned(), record.clone(), populate_index),
        );
    }

    fn on_clear(&self) {
        self.notify(&|o| o.on_clear(), || PendingEvent::Clear);
    }

    fn on_reset(&self) {
        self.notify(&|o| o.on_reset(), || PendingEvent::Reset);
    }

    fn on_destroy(&self, is_shutdown: bool) {
        self.notify(&|o| o.on_destroy(is_shutdown), || {
            PendingEvent::Destroy(is_shutdown)
        });
    }
}

/// A change an operation made, held in an [`EventBuffer`] until the
/// operation has released every lock, or queued for the outermost delivery
/// on this thread.
pub(crate) enum PendingEvent {
    /// `on_put(key, record, old_value, is_backup)`.
    Put(String, Record, Option<RecordValue>, bool),
    /// `on_update(key, record, old_value, record.value, is_backup)`.
    Update(String, Record, RecordValue, bool),
    /// `on_update(key, record, old_value, new_value, is_backup)`.
    UpdateTo(String, Record, RecordValue, RecordValue, bool),
    /// `on_remove(key, record, is_backup)`.
    Remove(String, Record, bool),
    /// `on_evict(key, record, is_backup)`.
    Evict(String, Record, bool),
    /// `on_expire(key, record, reason, is_backup)`.
    Expire(String, Record, ExpiryReason, bool),
    /// `on_load(key, record, is_backup)`.
    Load(String, Record, bool),
    /// `on_replication_put(key, record, populate_index)`.
    ReplicationPut(String, Record, bool),
    /// `on_clear()`.
    Clear,
    /// `on_reset()`.
    Reset,
    /// `on_destroy(is_shutdown)`.
    Destroy(bool),
}

impl PendingEvent {
    /// Makes the call this event stands for on `o`.
    fn apply(&self, o: &dyn MutationObserver) {
        match self {
            PendingEvent::Put(k, r, old, b) => o.on_put(k, r, old.as_ref(), *b),
            PendingEvent::Update(k, r, old, b) => o.on_update(k, r, old, &r.value, *b),
            PendingEvent::UpdateTo(k, r, old, new, b) => o.on_update(k, r, old, new, *b),
            PendingEvent::Remove(k, r, b) => o.on_remove(k, r, *b),
            PendingEvent::Evict(k, r, b) => o.on_evict(k, r, *b),
            PendingEvent::Expire(k, r, why, b) => o.on_expire(k, r, *why, *b),
            PendingEvent::Load(k, r, b) => o.on_load(k, r, *b),
            PendingEvent::ReplicationPut(k, r, p) => o.on_replication_put(k, r, *p),
            PendingEvent::Clear => o.on_clear(),
            PendingEvent::Reset => o.on_reset(),
            PendingEvent::Destroy(s) => o.on_destroy(*s),
        }
    }
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

    /// Calls the observers, in the order the events were pushed (or queues
    /// the events, when this thread is already delivering: see the module
    /// docs). Must be called with no store or engine lock held.
    pub(crate) fn deliver(self, observers: &CompositeMutationObserver) {
        if !self.list.is_empty() {
            observers.notify_owned(self.list);
        }
    }
}

// ---------------------------------------------------------------------------
// Per-thread delivery: one queue, drained by the outermost delivery.
// ---------------------------------------------------------------------------

/// This thread's delivery state. Invariant: `queue` is empty whenever
/// `active` is false.
struct ThreadDelivery {
    /// A delivery is running on this thread (observers may be running).
    active: Cell<bool>,
    /// Events made during the delivery, oldest first, with their listeners.
    queue: RefCell<VecDeque<(Arc<Listeners>, PendingEvent)>>,
    /// Work to run when the outermost delivery ends, oldest first.
    after: RefCell<VecDeque<Box<dyn FnOnce()>>>,
}

thread_local! {
    static DELIVERY: ThreadDelivery = const {
        ThreadDelivery {
            active: Cell::new(false),
            queue: RefCell::new(VecDeque::new()),
            after: RefCell::new(VecDeque::new()),
        }
    };
}

/// How a delivery starts on this thread.
enum Entry {
    /// Another delivery runs on this thread: queue the events.
    Nested,
    /// This is the outermost delivery: call the observers, then drain.
    Outermost(Outermost),
    /// The thread is exiting (its thread-locals are gone): call directly.
    Direct,
}

fn enter() -> Entry {
    DELIVERY
        .try_with(|d| {
            if d.active.replace(true) {
                Entry::Nested
            } else {
                Entry::Outermost(Outermost {
                    _not_send: std::marker::PhantomData,
                })
            }
        })
        .unwrap_or(Entry::Direct)
}

/// Appends `events` for `listeners` to this thread's queue (this thread is
/// delivering); delivers them at once if the thread-locals are gone.
fn queue(listeners: &Arc<Listeners>, events: impl IntoIterator<Item = PendingEvent>) {
    let mut events = events.into_iter();
    let queued = DELIVERY.try_with(|d| {
        d.queue
            .borrow_mut()
            .extend(events.by_ref().map(|e| (Arc::clone(listeners), e)));
    });
    if queued.is_err() {
        for event in events {
            listeners.each(&|o| event.apply(o));
        }
    }
}

/// The outermost delivery on this thread; ending it (also by a panic)
/// clears the flag and runs the deferred work.
struct Outermost {
    /// Tied to the thread whose flag it set.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Outermost {
    /// Delivers the queued events, oldest first, until none is left
    /// (callbacks may queue more meanwhile). No borrow of the queue is held
    /// while observers run.
    fn drain(self) {
        while let Some((listeners, event)) = DELIVERY
            .try_with(|d| d.queue.borrow_mut().pop_front())
            .ok()
            .flatten()
        {
            listeners.each(&|o| event.apply(o));
        }
    }
}

impl Drop for Outermost {
    fn drop(&mut self) {
        // The queue is empty unless delivery code (not an observer: those
        // are caught) panicked; start the next delivery clean.
        let _ = DELIVERY.try_with(|d| {
            d.queue.borrow_mut().clear();
            d.active.set(false);
        });
        while let Some(action) = DELIVERY
            .try_with(|d| d.after.borrow_mut().pop_front())
            .ok()
            .flatten()
        {
            // A panic in deferred work must not skip the rest of it.
            let _ = catch_unwind(AssertUnwindSafe(action));
        }
    }
}

/// Whether this thread is delivering observer events right now (of any
/// store): true inside an observer callback and in code it calls. O(1).
#[must_use]
pub fn in_delivery() -> bool {
    DELIVERY.try_with(|d| d.active.get()).unwrap_or(false)
}

/// Runs `action` once this thread's outermost delivery has ended (after
/// every queued event was delivered and no callback runs on this thread),
/// or now when this thread is not delivering. Deferred actions run in the
/// order they were given, on this thread, before the call that started the
/// delivery returns; a panic in one is caught and the others still run.
pub fn after_delivery(action: impl FnOnce() + 'static) {
    let action: Box<dyn FnOnce()> = Box::new(action);
    let deferred = DELIVERY.try_with(|d| {
        if d.active.get() {
            d.after.borrow_mut().push_back(action);
            None
        } else {
            Some(action)
        }
    });
    match deferred {
        Ok(None) => {}
        Ok(Some(action)) => action(),
        Err(_) => {} // the thread is exiting: nothing runs on it any more
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
