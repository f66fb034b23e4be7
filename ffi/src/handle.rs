//! What a `storage_t *` points to, and the store behind it.
//!
//! A handle is two parts. [`storage_t`], what the C pointer points to, is a
//! small header: a state word and a pointer to the [`Store`] (a record
//! store, its optional manual clock, the C observers registered on it).
//! `storage_free` drops the store and marks the header freed, but keeps the
//! header's memory: it goes to a quarantine of freed headers and is reused
//! for a new handle only after [`FREED_HANDLES_KEPT`] more handles have been
//! freed. So a call on a freed handle, or a second `storage_free`, reads a
//! live header in the freed state and is refused with `STORAGE_MISUSE`
//! (SQLite's `SQLITE_MISUSE` idea, without reading freed memory), at the
//! cost of one atomic load per call (`raw::handle`). What is and is not
//! detected is listed in docs/c-api.md ("Misuse").
//!
//! [`with_handle`] is the boundary of every export that takes a handle
//! (so `error.rs` needs nothing from here).

use crate::error::{boundary, panic_message, set_last_error, Failure, Outcome};
use crate::raw::{self, Callback, UserData};
use crate::types::storage_expiry_reason_t::*;
use crate::types::storage_status_t::{self, STORAGE_CLOSED, STORAGE_PANIC};
use crate::types::{storage_event_kind_t, storage_event_t};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use topgun_storage_core::codec::encode_record_value;
use topgun_storage_core::{
    after_delivery, block_on, in_delivery, DefaultRecordStore, EventKind, EventObserver,
    ExpiryReason, ManualClock, MapDataStore, MutationObserver, NullDataStore, RecordStore,
    StorageConfig, StoreEvent, Subscriptions,
};

/// An opaque store handle. Create it with storage_new() or
/// storage_new_with_options(); release it with storage_free().
#[allow(non_camel_case_types)]
pub struct storage_t {
    /// [`LIVE`] from creation to `storage_free`, then [`FREED`].
    pub(crate) state: AtomicU32,
    /// The store (`Box::into_raw`) while live, null once freed.
    pub(crate) store: AtomicPtr<Store>,
}

/// The state of a handle that may be used.
pub(crate) const LIVE: u32 = 0x5354_4f52; // "STOR"
/// The state of a handle after `storage_free`.
pub(crate) const FREED: u32 = 0x4652_4545; // "FREE"

/// Freed handle headers kept out of reuse: a call on a freed handle is
/// detected until this many more handles have been freed after it (4096
/// headers of 16 bytes: 64 KiB at most, held until the process exits).
pub(crate) const FREED_HANDLES_KEPT: usize = 4096;

/// Headers of freed handles, oldest first (see the module docs).
static FREED_HEADERS: Mutex<VecDeque<&'static storage_t>> = Mutex::new(VecDeque::new());

/// The quarantine, locked. Nothing panics while it is held; were it
/// poisoned, the queue of headers is still whole, so it is used as it is.
fn freed_headers() -> MutexGuard<'static, VecDeque<&'static storage_t>> {
    FREED_HEADERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A header for a new live handle over `store` (from `Box::into_raw`): the
/// oldest freed header once more than [`FREED_HANDLES_KEPT`] wait, else a
/// new one, which is never deallocated.
pub(crate) fn new_header(store: *mut Store) -> &'static storage_t {
    let reused = {
        let mut freed = freed_headers();
        if freed.len() > FREED_HANDLES_KEPT {
            freed.pop_front()
        } else {
            None
        }
    };
    let header = reused.unwrap_or_else(|| {
        Box::leak(Box::new(storage_t {
            state: AtomicU32::new(FREED),
            store: AtomicPtr::new(std::ptr::null_mut()),
        }))
    });
    header.store.store(store, Ordering::Release);
    header.state.store(LIVE, Ordering::Release);
    header
}

/// Puts the header of a freed handle into the quarantine.
pub(crate) fn retire(header: &'static storage_t) {
    freed_headers().push_back(header);
}

/// Whether a callback of the store at `store` is running on this thread
/// (where `storage_free` of its handle would pull the store from under it).
pub(crate) fn in_callback_of(store: *const Store) -> bool {
    let store = store as usize;
    RUNNING.with(|r| r.borrow().iter().any(|&(s, _)| s == store))
}

/// The store behind a live handle: a record store (over a data store for a
/// durable handle), its optional manual clock, the C observers registered
/// on it.
pub(crate) struct Store {
    pub(crate) store: DefaultRecordStore,
    /// Present when the options asked for a manual clock.
    pub(crate) clock: Option<ManualClock>,
    /// Set when a call on this handle panicked.
    pub(crate) poisoned: AtomicBool,
    /// Set by `storage_close` (and by `storage_free` of an open handle).
    closed: AtomicBool,
    subscriptions: Subscriptions<Arc<CallbackState>>,
}

impl std::fmt::Debug for storage_t {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("storage_t")
            .field("live", &(self.state.load(Ordering::Relaxed) == LIVE))
            .finish_non_exhaustive()
    }
}

/// `storage_free` of a handle that was not closed closes it first, best
/// effort: a failure only sets the thread's last error message.
impl Drop for Store {
    fn drop(&mut self) {
        if let Err(failure) = self.close() {
            set_last_error(&format!("storage_free: {}", failure.message));
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("store", &self.store)
            .field("manual_clock", &self.clock.is_some())
            .finish_non_exhaustive()
    }
}

/// What the observer closure shares with `unsubscribe`.
struct CallbackState {
    /// The address of the [`Store`] it belongs to (an identity only).
    store: usize,
    callback: Callback,
    user_data: UserData,
    /// Cleared by `unsubscribe` before it waits for calls in flight.
    active: AtomicBool,
    /// Calls of this callback running now, on any thread.
    in_flight: AtomicUsize,
}

thread_local! {
    /// Subscriptions whose callback is running on this thread (innermost
    /// last; the core never nests deliveries, so at most one unless a
    /// thread is exiting), as (address of their [`Store`], address of their
    /// [`CallbackState`]): `storage_free` of a handle from inside one of its
    /// callbacks is refused.
    static RUNNING: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
}

/// Decrements `in_flight` and pops `RUNNING` however the call ends.
struct InFlight<'a>(&'a CallbackState);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        RUNNING.with(|r| {
            r.borrow_mut().pop();
        });
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn event_kind(kind: EventKind) -> storage_event_kind_t {
    use storage_event_kind_t::*;
    match kind {
        EventKind::Put => STORAGE_EVENT_PUT,
        EventKind::Update => STORAGE_EVENT_UPDATE,
        EventKind::Remove => STORAGE_EVENT_REMOVE,
        EventKind::Evict => STORAGE_EVENT_EVICT,
        EventKind::Expire => STORAGE_EVENT_EXPIRE,
        EventKind::Load => STORAGE_EVENT_LOAD,
        EventKind::Clear => STORAGE_EVENT_CLEAR,
        EventKind::Reset => STORAGE_EVENT_RESET,
        EventKind::Destroy => STORAGE_EVENT_DESTROY,
    }
}

impl CallbackState {
    /// Tells this subscription apart in [`RUNNING`].
    fn address(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Returns once no call of this callback runs on another thread (calls
    /// on this thread, if any, are ours to finish).
    fn wait_for_other_threads(&self) {
        let me = self.address();
        let own = RUNNING.with(|r| r.borrow().iter().filter(|&&(_, x)| x == me).count());
        while self.in_flight.load(Ordering::SeqCst) > own {
            std::thread::yield_now();
        }
    }

    /// Turns a core event into a `storage_event_t` and calls the C
    /// callback, unless the subscription was cancelled.
    fn deliver(&self, event: &StoreEvent<'_>) {
        // Announce the call before checking `active` (SeqCst on both sides):
        // either `unsubscribe` sees this call in flight and waits for it, or
        // this call sees the subscription cancelled and skips it.
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        RUNNING.with(|r| r.borrow_mut().push((self.store, self.address())));
        let _guard = InFlight(self);
        if !self.active.load(Ordering::SeqCst) {
            return;
        }
        let value = event.record.map(|r| encode_record_value(&r.value));
        let old_value = event.old_value.map(encode_record_value);
        let (value_ptr, value_len) = value
            .as_deref()
            .map_or((std::ptr::null(), 0), |v| (v.as_ptr(), v.len()));
        let (old_ptr, old_len) = old_value
            .as_deref()
            .map_or((std::ptr::null(), 0), |v| (v.as_ptr(), v.len()));
        let c_event = storage_event_t {
            kind: event_kind(event.kind),
            expiry_reason: match event.reason {
                Some(ExpiryReason::Ttl) => STORAGE_EXPIRY_TTL,
                Some(ExpiryReason::MaxIdle) => STORAGE_EXPIRY_MAX_IDLE,
                Some(ExpiryReason::NotExpired) | None => STORAGE_EXPIRY_NONE,
            },
            key: event.key.as_ptr().cast(),
            key_len: event.key.len(),
            value: value_ptr,
            value_len,
            old_value: old_ptr,
            old_value_len: old_len,
            is_backup: event.is_backup,
        };
        raw::call(self.callback, &c_event, self.user_data);
    }
}

impl Store {
    /// A store in memory only with `config`, reading `clock` if given
    /// (else the system clock).
    pub(crate) fn new(config: StorageConfig, clock: Option<ManualClock>) -> Self {
        Self::over("default", Arc::new(NullDataStore), config, clock)
    }

    /// A store of map `map_name` over `data_store` (memory is its cache),
    /// with `config`, reading `clock` if given (else the system clock).
    pub(crate) fn over(
        map_name: &str,
        data_store: Arc<dyn MapDataStore>,
        config: StorageConfig,
        clock: Option<ManualClock>,
    ) -> Self {
        let store = DefaultRecordStore::standalone_over(
            map_name,
            config,
            data_store,
            clock
                .clone()
                .map(|c| Arc::new(c) as Arc<dyn topgun_storage_core::Clock>),
        );
        Self {
            subscriptions: Subscriptions::new(Arc::clone(store.observers())),
            store,
            clock,
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    /// The data store when it keeps data (a durable handle).
    pub(crate) fn durable(&self) -> Option<&dyn MapDataStore> {
        let ds = self.store.map_data_store();
        (!ds.is_null()).then_some(ds)
    }

    /// Whether `storage_close` was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the store: the data store is flushed and closed (every
    /// acknowledged write reaches it) and memory is dropped, without
    /// events. Every later call on the handle but close and free is
    /// refused with `STORAGE_CLOSED`. A second close does nothing.
    ///
    /// # Errors
    /// The data store's failure to flush or close; the store is closed all
    /// the same.
    pub(crate) fn close(&self) -> Result<(), Failure> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let closed = block_on(self.store.map_data_store().close());
        self.store.storage().clear();
        closed.map_err(|e| {
            let mut failure = Failure::from(e);
            failure.message = format!(
                "closing the data store failed (the handle is closed all the same): {}",
                failure.message
            );
            failure
        })
    }

    /// The manual clock, or the error for a handle without one.
    pub(crate) fn manual_clock(&self) -> Result<&ManualClock, Failure> {
        self.clock.as_ref().ok_or_else(|| {
            Failure::invalid(
                "this handle reads the system clock; create it with options.use_manual_clock = 1",
            )
        })
    }

    /// Registers a C callback; returns its subscription id (never 0).
    pub(crate) fn subscribe(&self, callback: Callback, user_data: UserData) -> u64 {
        let state = Arc::new(CallbackState {
            store: std::ptr::from_ref(self) as usize,
            callback,
            user_data,
            active: AtomicBool::new(true),
            in_flight: AtomicUsize::new(0),
        });
        let shared = Arc::clone(&state);
        let observer: Arc<dyn MutationObserver> =
            Arc::new(EventObserver::new(move |e: &StoreEvent<'_>| {
                shared.deliver(e)
            }));
        self.subscriptions.subscribe(observer, state)
    }

    /// Cancels subscription `id`; returns whether it existed. No call of
    /// the callback starts after this returns. Called outside any observer
    /// callback, it also waits for the calls running on other threads, so
    /// on return the callback runs nowhere. Called inside a callback (of any
    /// store), it never waits, as the thread it would wait for may be
    /// waiting for this one (two callbacks that cancel each other from two
    /// threads); the wait is deferred to the end of this thread's outermost
    /// delivery ([`after_delivery`]), which is before the library call that
    /// started it returns. Waits only ever happen on a thread that runs no
    /// callback, for threads that run one and never wait, so they cannot
    /// form a cycle.
    pub(crate) fn unsubscribe(&self, id: u64) -> bool {
        let Some(state) = self.subscriptions.unsubscribe(id) else {
            return false;
        };
        state.active.store(false, Ordering::SeqCst);
        if in_delivery() {
            after_delivery(move || state.wait_for_other_threads());
        } else {
            state.wait_for_other_threads();
        }
        true
    }
}

/// Runs `f`, a call of a C callback of `store` that is not a subscription
/// (an export's progress callback), marked in [`RUNNING`] so that
/// `storage_free` of the handle from inside it is refused.
pub(crate) fn calling_back<R>(store: &Store, f: impl FnOnce() -> R) -> R {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            RUNNING.with(|r| {
                r.borrow_mut().pop();
            });
        }
    }
    RUNNING.with(|r| r.borrow_mut().push((std::ptr::from_ref(store) as usize, 0)));
    let _pop = Pop;
    f()
}

/// [`boundary`] for exports on a handle: checks the handle pointer, refuses
/// a poisoned or closed handle, and poisons the handle when `body` panics
/// (its invariants can no longer be trusted).
pub(crate) fn with_handle(
    handle: *mut storage_t,
    body: impl FnOnce(&Store) -> Outcome,
) -> storage_status_t {
    with_any_handle(handle, |storage| {
        if storage.is_closed() {
            return Err(Failure::new(
                STORAGE_CLOSED,
                "this handle was closed by storage_close(); only storage_free() remains valid on it",
            ));
        }
        body(storage)
    })
}

/// [`with_handle`] that also runs on a closed handle (for `storage_close`).
pub(crate) fn with_any_handle(
    handle: *mut storage_t,
    body: impl FnOnce(&Store) -> Outcome,
) -> storage_status_t {
    boundary(|| {
        let storage = raw::handle(handle)?;
        if storage.poisoned.load(Ordering::Acquire) {
            return Err(Failure::new(
                STORAGE_PANIC,
                "this handle is unusable: an earlier call on it failed internally (panic)",
            ));
        }
        catch_unwind(AssertUnwindSafe(|| body(storage))).unwrap_or_else(|payload| {
            storage.poisoned.store(true, Ordering::Release);
            Err(Failure::new(STORAGE_PANIC, panic_message(payload.as_ref())))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::with_last_error;
    use crate::types::storage_status_t::*;

    #[test]
    fn a_panic_on_a_handle_poisons_it() {
        use topgun_storage_core::StorageConfig;
        let handle = raw::into_handle(Box::new(Store::new(StorageConfig::default(), None)));
        assert_eq!(with_handle(handle, |_| Ok(STORAGE_OK)), STORAGE_OK);
        let status = with_handle(handle, |_| panic!("inside a call (expected by the test)"));
        assert_eq!(status, STORAGE_PANIC);
        // Every later call on the handle is refused, without running.
        let mut ran = false;
        let status = with_handle(handle, |_| {
            ran = true;
            Ok(STORAGE_OK)
        });
        assert_eq!(status, STORAGE_PANIC);
        assert!(!ran);
        with_last_error(|m| assert!(m.contains("unusable"), "{m}"));
        assert_eq!(
            with_handle(std::ptr::null_mut(), |_| Ok(STORAGE_OK)),
            STORAGE_NULL_POINTER
        );
        assert_eq!(raw::free_handle(handle), Ok(()));
    }
}
