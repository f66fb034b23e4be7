//! Observers as JavaScript callbacks.
//!
//! `subscribe(callback)` registers a core [`EventObserver`] with the store.
//! The core calls it on the thread that made the change, after the store
//! released its locks; the observer copies the event into an [`OwnedEvent`]
//! and posts it, without blocking, to a thread-safe function. Node then
//! calls the JavaScript callback on its own thread in a later turn of the
//! event loop, in the order the events were posted. The thread-safe
//! function is weak (it does not keep the process alive) and its queue is
//! unbounded.
//!
//! The thread-safe function calls a small native function on the
//! JavaScript thread, which calls the user's callback: a callback that
//! throws is caught there, the error is counted and emitted as a process
//! warning (`TopgunStorageObserverError`), and the process goes on. After
//! `unsubscribe` the events still queued are dropped by that function.

use crate::convert::Out;
use crate::errors::{describe, Failure, Outcome};
use crate::helpers;
use napi::bindgen_prelude::{
    FnArgs, FromNapiValue, Function, JsObjectValue, Object, ToNapiValue, Unknown,
};
use napi::threadsafe_function::{
    ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode,
};
use napi::{Env, JsValue, Status, ValueType};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use topgun_storage_core::{
    DefaultRecordStore, EventKind, EventObserver, ExpiryReason, MutationObserver, RecordValue,
    StoreEvent,
};

/// A store event copied out of the store, on its way to JavaScript.
pub struct OwnedEvent {
    kind: EventKind,
    key: String,
    value: Option<RecordValue>,
    old_value: Option<RecordValue>,
    reason: Option<ExpiryReason>,
    is_backup: bool,
}

impl OwnedEvent {
    fn from_event(e: &StoreEvent<'_>) -> Self {
        Self {
            kind: e.kind,
            key: e.key.to_owned(),
            value: e.record.map(|r| r.value.clone()),
            old_value: e.old_value.cloned(),
            reason: e.reason,
            is_backup: e.is_backup,
        }
    }

    /// The event as `{ type, key, value?, oldValue?, reason?, isBackup }`.
    fn to_js(&self, env: &Env) -> napi::Result<Unknown<'static>> {
        let out = Out::new(env)?;
        let reason = match self.reason {
            Some(ExpiryReason::Ttl) => out.js("ttl")?,
            Some(ExpiryReason::MaxIdle) => out.js("maxIdle")?,
            Some(ExpiryReason::NotExpired) | None => out.undefined()?,
        };
        let args = vec![
            out.js(self.kind.as_str())?.raw(),
            out.js(self.key.as_str())?.raw(),
            out.optional_record(self.value.as_ref())?.raw(),
            out.optional_record(self.old_value.as_ref())?.raw(),
            reason.raw(),
            out.js(self.is_backup)?.raw(),
        ];
        let event = helpers::call(env, &out.helpers().event, args)?;
        // The helper returns an object made in this call's scope; the
        // thread-safe function passes it straight on to the callback.
        Ok(Object::from_raw(env.raw(), event.raw()).to_unknown())
    }
}

type Tsfn = ThreadsafeFunction<OwnedEvent, (), Unknown<'static>, Status, false, true, 0>;

/// Where one subscription's events go: the thread-safe function (taken out
/// when the subscription ends) and the flag its JavaScript side checks.
/// Dropping it (on unsubscribe, or with the store) ends the subscription:
/// events still queued are dropped when they come up.
struct Sink {
    tsfn: Arc<Mutex<Option<Tsfn>>>,
    active: Arc<AtomicBool>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.active.store(false, Ordering::Release);
        // Releases the thread-safe function (its queue drains, dropped by
        // the flag above).
        drop(
            self.tsfn
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }
}

/// The subscriptions of one `Storage`: the core's registry, and how many
/// callbacks have thrown.
pub struct Subscriptions {
    registry: topgun_storage_core::Subscriptions<Sink>,
    errors: Arc<AtomicU64>,
}

impl Subscriptions {
    /// No subscriptions yet, for `store`.
    pub fn new(store: &DefaultRecordStore) -> Self {
        Self {
            registry: topgun_storage_core::Subscriptions::new(Arc::clone(store.observers())),
            errors: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many callbacks have thrown.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Registers `callback` (see the module docs); returns its id.
    ///
    /// # Errors
    /// `TypeError` when `callback` is not a function.
    pub fn subscribe(&self, env: &Env, callback: Unknown<'_>) -> Outcome<u32> {
        // Fails now, not at delivery, if the package entry did not register
        // its helpers.
        helpers::get(env)?;
        if callback.get_type()? != ValueType::Function {
            return Err(Failure::type_error(format!(
                "callback must be a function, got {}",
                describe(&callback)
            )));
        }
        let user: Function<'_, Unknown<'static>, Unknown<'static>> =
            Function::from_unknown(callback)?;
        let user = user.create_ref()?;
        let active = Arc::new(AtomicBool::new(true));
        let errors = Arc::clone(&self.errors);
        let still_active = Arc::clone(&active);
        // Runs on the JavaScript thread for each delivered event: drops
        // events of a cancelled subscription, and keeps a throwing callback
        // from reaching the event loop as an uncaught exception.
        let deliver = env.create_function_from_closure::<Unknown<'static>, (), _>(
            "topgunStorageObserver",
            move |ctx| {
                if !still_active.load(Ordering::Acquire) {
                    return Ok(());
                }
                // Never let an error out of here: an exception escaping a
                // thread-safe function call is fatal to the process.
                let delivered = ctx
                    .get::<Unknown<'static>>(0)
                    .and_then(|event| user.borrow_back(ctx.env)?.call(event));
                if let Err(e) = delivered {
                    errors.fetch_add(1, Ordering::Relaxed);
                    warn(ctx.env, &e.reason);
                }
                Ok(())
            },
        )?;
        let tsfn: Tsfn = deliver
            .build_threadsafe_function::<OwnedEvent>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx: ThreadsafeCallContext<OwnedEvent>| {
                // An error here would be fatal (see above): fall back to
                // delivering `undefined`, which only fails if the
                // environment is gone (and then nothing is delivered).
                ctx.value.to_js(&ctx.env).or_else(|_| {
                    let undefined = ().into_unknown(&ctx.env)?;
                    Ok(Object::from_raw(ctx.env.raw(), undefined.raw()).to_unknown())
                })
            })?;
        let tsfn = Arc::new(Mutex::new(Some(tsfn)));
        let post_to = Arc::clone(&tsfn);
        let observer: Arc<dyn MutationObserver> =
            Arc::new(EventObserver::new(move |event: &StoreEvent<'_>| {
                let guard = post_to.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(tsfn) = guard.as_ref() {
                    // NonBlocking on an unbounded queue never waits; a
                    // closing function drops the event.
                    let _ = tsfn.call(
                        OwnedEvent::from_event(event),
                        ThreadsafeFunctionCallMode::NonBlocking,
                    );
                }
            }));
        let id = self.registry.subscribe(observer, Sink { tsfn, active });
        u32::try_from(id).map_err(|_| {
            drop(self.registry.unsubscribe(id));
            Failure::invalid_argument("this store ran out of subscription ids (2^32 - 1 used)")
        })
    }

    /// Removes subscription `id`; returns whether it existed. Events of it
    /// still queued are dropped when they come up.
    pub fn unsubscribe(&self, id: u32) -> bool {
        // Dropping the sink ends the subscription (see `Sink`).
        self.registry.unsubscribe(u64::from(id)).is_some()
    }
}

/// Emits `process.emitWarning(message, 'TopgunStorageObserverError')`.
/// Best effort: if the process object is unusable the warning is skipped
/// (the error is still counted). `Function::call` clears an exception the
/// call throws, so a replaced, throwing `emitWarning` cannot leave one
/// pending (which would be fatal in a thread-safe function call).
fn warn(env: &Env, reason: &str) {
    let emit = || -> napi::Result<()> {
        let process: Object<'_> = env.get_global()?.get_named_property("process")?;
        let emit: Function<'_, FnArgs<(String, String)>, Unknown<'_>> =
            process.get_named_property("emitWarning")?;
        emit.call(FnArgs::from((
            format!("a topgun-storage observer callback threw: {reason}"),
            "TopgunStorageObserverError".to_owned(),
        )))?;
        Ok(())
    };
    let _ = emit();
}
