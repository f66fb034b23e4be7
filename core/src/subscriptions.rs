//! [`Subscriptions`]: the observers a language binding registered on one
//! store on behalf of its callers, by id. What the C `storage_subscribe` /
//! `storage_unsubscribe`, Python's `Storage.subscribe` / `unsubscribe` and
//! Node's `Storage.subscribe` / `unsubscribe` keep.

use crate::observer::{CompositeMutationObserver, MutationObserver};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One subscription: the observer registered with the store and what the
/// binding keeps with it (a C callback's state, a Python callable, a Node
/// thread-safe function).
struct Subscription<T> {
    id: u64,
    observer: Arc<dyn MutationObserver>,
    data: T,
}

/// Observers registered on one store's [`CompositeMutationObserver`] under
/// ids, each with the binding's data `T`.
///
/// * ids start at 1, increase, and are never reused by this registry (so a
///   stale id never cancels someone else's subscription);
/// * an observer is registered with the store when `subscribe` returns and
///   removed when `unsubscribe` returns (a callback already running on
///   another thread may still finish: waiting for it is the binding's
///   choice, as it depends on its threads; a binding that waits must not
///   wait inside a callback, where the thread it waits for may be waiting
///   for this one, and defers the wait with
///   [`crate::observer::after_delivery`] there, as the C binding does);
/// * the registry's lock is never held while an observer runs or while `T`
///   is dropped, so a callback may subscribe or unsubscribe (itself
///   included), and dropping `T` may run foreign code (a Python `__del__`);
/// * dropping the registry unsubscribes everything left.
///
/// Cost: `subscribe` and `unsubscribe` are O(subscriptions) (the store
/// copies its observer list on every change).
pub struct Subscriptions<T> {
    observers: Arc<CompositeMutationObserver>,
    next_id: AtomicU64,
    list: Mutex<Vec<Subscription<T>>>,
}

impl<T> std::fmt::Debug for Subscriptions<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriptions")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl<T> Subscriptions<T> {
    /// No subscriptions yet, on the store whose observer list is
    /// `observers` ([`crate::DefaultRecordStore::observers`]).
    #[must_use]
    pub fn new(observers: Arc<CompositeMutationObserver>) -> Self {
        Self {
            observers,
            next_id: AtomicU64::new(1),
            list: Mutex::new(Vec::new()),
        }
    }

    /// Registers `observer` with the store, keeping `data` with it; returns
    /// the new subscription's id (never 0). The observer sees every change
    /// made after this returns.
    pub fn subscribe(&self, observer: Arc<dyn MutationObserver>, data: T) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut list = self.list.lock();
        self.observers.add(Arc::clone(&observer));
        list.push(Subscription { id, observer, data });
        id
    }

    /// Removes subscription `id` from the store; returns its data, or
    /// `None` if there is no such subscription (never made, or cancelled
    /// already). Drop the data after the call, not inside a lock of yours
    /// that its drop might need.
    pub fn unsubscribe(&self, id: u64) -> Option<T> {
        let mut list = self.list.lock();
        let index = list.iter().position(|s| s.id == id)?;
        let sub = list.swap_remove(index);
        self.observers.remove(&sub.observer);
        drop(list);
        Some(sub.data)
    }

    /// Removes every subscription from the store; returns their data.
    pub fn unsubscribe_all(&self) -> Vec<T> {
        let taken = std::mem::take(&mut *self.list.lock());
        taken
            .into_iter()
            .map(|sub| {
                self.observers.remove(&sub.observer);
                sub.data
            })
            .collect()
    }

    /// Calls `visit` on the data of every subscription, unless another
    /// thread holds the registry right now: then it returns `false` at once
    /// and visits nothing (for a garbage collector's traversal, which must
    /// not block).
    pub fn try_for_each(&self, mut visit: impl FnMut(&T)) -> bool {
        let Some(list) = self.list.try_lock() else {
            return false;
        };
        list.iter().for_each(|s| visit(&s.data));
        true
    }

    /// Number of subscriptions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.list.lock().len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Subscriptions<T> {
    fn drop(&mut self) {
        drop(self.unsubscribe_all());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Record, RecordMetadata, RecordValue, Timestamp};

    #[derive(Default)]
    struct Count(AtomicU64);
    impl MutationObserver for Count {
        fn on_clear(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Arc<dyn MutationObserver>) {
        let c = Arc::new(Count::default());
        let o: Arc<dyn MutationObserver> = c.clone();
        (c, o)
    }

    #[test]
    fn subscribe_registers_and_unsubscribe_removes_once() {
        let observers = Arc::new(CompositeMutationObserver::default());
        let subs = Subscriptions::new(observers.clone());
        let (a, oa) = counter();
        let (b, ob) = counter();
        let ia = subs.subscribe(oa, "a");
        let ib = subs.subscribe(ob, "b");
        assert_eq!((ia, ib), (1, 2));
        assert_eq!((subs.len(), observers.len()), (2, 2));
        observers.on_clear();
        assert_eq!(subs.unsubscribe(ia), Some("a"));
        assert_eq!(subs.unsubscribe(ia), None, "a second cancel finds nothing");
        assert_eq!(subs.unsubscribe(0), None);
        observers.on_clear();
        assert_eq!(a.0.load(Ordering::SeqCst), 1, "no events after unsubscribe");
        assert_eq!(b.0.load(Ordering::SeqCst), 2);
        // Ids are not reused after a cancel.
        let (_, oc) = counter();
        assert_eq!(subs.subscribe(oc, "c"), 3);
        let mut seen = Vec::new();
        assert!(subs.try_for_each(|d| seen.push(*d)));
        seen.sort_unstable();
        assert_eq!(seen, ["b", "c"]);
        let mut all = subs.unsubscribe_all();
        all.sort_unstable();
        assert_eq!(all, ["b", "c"]);
        assert!(subs.is_empty() && observers.is_empty());
    }

    #[test]
    fn dropping_the_registry_unsubscribes_everything() {
        let observers = Arc::new(CompositeMutationObserver::default());
        let subs = Subscriptions::new(observers.clone());
        let (_, o) = counter();
        subs.subscribe(o, ());
        drop(subs);
        assert!(observers.is_empty());
    }

    /// Unsubscribes its own id from inside its callback.
    struct SelfCancelling {
        subs: Arc<Subscriptions<()>>,
        id: AtomicU64,
        calls: AtomicU64,
    }
    impl MutationObserver for SelfCancelling {
        fn on_put(&self, _: &str, _: &Record, _: Option<&RecordValue>, _: bool) {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let id = self.id.load(Ordering::SeqCst);
            assert!(self.subs.unsubscribe(id).is_some());
            let (_, other) = counter();
            self.subs.subscribe(other, ());
        }
    }

    #[test]
    fn a_callback_may_unsubscribe_itself_and_subscribe_others() {
        let observers = Arc::new(CompositeMutationObserver::default());
        let subs = Arc::new(Subscriptions::new(observers.clone()));
        let observer = Arc::new(SelfCancelling {
            subs: subs.clone(),
            id: AtomicU64::new(0),
            calls: AtomicU64::new(0),
        });
        let id = subs.subscribe(observer.clone(), ());
        observer.id.store(id, Ordering::SeqCst);
        let r = Record::new(
            RecordValue::lww(1, Timestamp::new(1, 0, "n")),
            RecordMetadata::new(1, 1),
        );
        observers.on_put("k", &r, None, false);
        observers.on_put("k", &r, None, false);
        assert_eq!(observer.calls.load(Ordering::SeqCst), 1);
        assert_eq!(subs.len(), 1, "only the one it subscribed");
        assert_eq!(observers.panics(), 0);
    }
}
