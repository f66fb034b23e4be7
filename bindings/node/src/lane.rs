//! A lane: the ordered, off-thread execution of the calls made on one
//! durable store (a durable `Storage` or a durable `TopgunStorageAdapter`).
//!
//! Disk and network work must never run on the JavaScript thread. Each call
//! on a durable store converts and checks its arguments at once (so a wrong
//! type still throws synchronously), then queues a [`Job`] in its lane. The
//! package's JavaScript (`lib/lane.js`) keeps one Promise per queued job and
//! calls [`Lane::run`] when jobs are waiting and no batch is running: the
//! batch takes every job queued so far and runs them one after another, in
//! call order, on libuv's thread pool (an `AsyncTask`); when it resolves,
//! each Promise settles with its own result. So:
//!
//! * calls on one store take effect in the order they were made, reads
//!   included (a `load` made after a `store` that was not awaited sees it);
//! * consecutive adapter `store` / `storeAll` calls of one map queued in the
//!   same batch are written as one data-store batch (one commit, one fsync
//!   at durability `fsync`), so they succeed or fail together;
//! * batches of one lane never overlap: each takes a ticket when it is
//!   created and runs only when every earlier batch has finished.

use crate::convert::Out;
use crate::errors::storage_error_value;
use crate::storage::{MaintenanceReport, StoreStats};
use napi::bindgen_prelude::BufferSlice;
use napi::bindgen_prelude::{ToNapiValue, Unknown};
use napi::{Env, JsValue, ScopedTask};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use topgun_storage_core::{
    CursorError, DataStoreError, ErrorCode, ExpiryPolicy, IterationCursor, Record, RecordValue,
    StoreError,
};

/// The failure of one queued call, carried back from the thread pool (the
/// JavaScript error is built on the JavaScript thread).
#[derive(Debug, Clone)]
pub struct JobError {
    /// The category (the `code` of the `StorageError`).
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
}

impl JobError {
    /// The error of a call on a store that is not open.
    #[must_use]
    pub fn not_open(message: &str) -> Self {
        Self {
            code: ErrorCode::Closed,
            message: message.to_owned(),
        }
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        Self {
            code: ErrorCode::from(&e),
            message: e.to_string(),
        }
    }
}

impl From<CursorError> for JobError {
    fn from(e: CursorError) -> Self {
        Self {
            code: ErrorCode::from(&e),
            message: e.to_string(),
        }
    }
}

impl From<DataStoreError> for JobError {
    fn from(e: DataStoreError) -> Self {
        Self {
            code: ErrorCode::from(&e),
            message: e.to_string(),
        }
    }
}

/// What a queued call gives back, converted to JavaScript when its batch
/// resolves.
#[derive(Debug, Clone)]
pub enum Done {
    /// `undefined`.
    Unit,
    /// A boolean.
    Bool(bool),
    /// A number (counts).
    Number(f64),
    /// A value, or `undefined`.
    Value(Option<RecordValue>),
    /// Values or `undefined`s, in the order asked.
    Values(Vec<Option<RecordValue>>),
    /// `[key, value]` pairs.
    Pairs(Vec<(String, RecordValue)>),
    /// Keys.
    Keys(Vec<String>),
    /// MessagePack bytes (a `Buffer`), or `undefined`.
    Bytes(Option<Vec<u8>>),
    /// A `StoredRecord` (its expiration time computed with the store's
    /// default expiry), or `undefined`.
    Record(Option<Box<(Record, ExpiryPolicy)>>),
    /// A page of keys and the cursor after it (`{ items, cursor, finished }`).
    KeysPage(Vec<String>, IterationCursor),
    /// A page of `[key, value]` pairs and the cursor after it.
    EntriesPage(Vec<(String, RecordValue)>, IterationCursor),
    /// A store's counters (`stats()`).
    Stats(topgun_storage_core::StoreStats),
    /// What one `maintain()` pass did.
    Maintenance(topgun_storage_core::MaintenanceReport),
}

/// What one queued call returns.
pub type JobResult = Result<Done, JobError>;

/// What a lane opens, works on and closes.
pub trait Target: Send + Sync + 'static {
    /// Makes everything acknowledged durable and closes the data store.
    ///
    /// # Errors
    /// The data store's failure (the target is dropped all the same).
    fn close(&self) -> Result<(), JobError>;

    /// Stores `records` in `map` (upsert) as one data-store batch.
    ///
    /// # Errors
    /// The store's refusal or the data store's failure; nothing is written.
    fn store_batch(&self, map: &str, records: Vec<(String, RecordValue)>) -> Result<(), JobError>;
}

/// Work on the open target.
pub type Work<T> = Box<dyn FnOnce(&T) -> JobResult + Send>;

/// One queued call.
pub enum Job<T> {
    /// Opens the target (nothing to do when it is open).
    Open,
    /// Closes the target (nothing to do when it is not open).
    Close,
    /// Stores records in a map; merged with the `Store` jobs of the same
    /// map that follow it in the batch.
    Store {
        /// The map.
        map: String,
        /// The records, in call order.
        records: Vec<(String, RecordValue)>,
    },
    /// Any other work on the open target.
    Run(Work<T>),
}

/// Opens the target (on the thread pool).
pub type Opener<T> = Box<dyn Fn() -> Result<T, JobError> + Send + Sync>;

struct Shared<T> {
    what: &'static str,
    opener: Opener<T>,
    slot: Mutex<Option<Arc<T>>>,
    /// Why the last open failed (until an open succeeds or a close): what
    /// the calls queued after a failed open reject with.
    open_error: Mutex<Option<JobError>>,
    /// The ticket of the batch whose turn it is.
    turn: Mutex<u64>,
    turn_changed: Condvar,
}

fn lock<V>(mutex: &Mutex<V>) -> MutexGuard<'_, V> {
    // A panic in a job cannot leave these values half-changed (each is
    // replaced whole), so a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The queue of one durable store (see the module docs).
pub struct Lane<T: Target> {
    shared: Arc<Shared<T>>,
    pending: Mutex<Vec<Job<T>>>,
    next_ticket: Mutex<u64>,
}

impl<T: Target> Lane<T> {
    /// A lane whose `Open` jobs call `opener`; `what` is the message of a
    /// call made while the store is not open (code `ERR_CLOSED`).
    #[must_use]
    pub fn new(what: &'static str, opener: Opener<T>) -> Self {
        Self {
            shared: Arc::new(Shared {
                what,
                opener,
                slot: Mutex::new(None),
                open_error: Mutex::new(None),
                turn: Mutex::new(0),
                turn_changed: Condvar::new(),
            }),
            pending: Mutex::new(Vec::new()),
            next_ticket: Mutex::new(0),
        }
    }

    /// Queues `job` (the JavaScript side adds its Promise in the same call).
    pub fn push(&self, job: Job<T>) {
        lock(&self.pending).push(job);
    }

    /// Queues work on the open target.
    pub fn work(&self, work: impl FnOnce(&T) -> JobResult + Send + 'static) {
        self.push(Job::Run(Box::new(work)));
    }

    /// The open target, if any (for the few synchronous reads of memory).
    #[must_use]
    pub fn current(&self) -> Option<Arc<T>> {
        lock(&self.shared.slot).clone()
    }

    /// A batch of every job queued so far, to run on the thread pool.
    #[must_use]
    pub fn batch(&self) -> Batch<T> {
        let jobs = std::mem::take(&mut *lock(&self.pending));
        let mut next = lock(&self.next_ticket);
        let ticket = *next;
        *next += 1;
        Batch {
            shared: Arc::clone(&self.shared),
            ticket,
            jobs,
        }
    }
}

/// The jobs of one `run()`: executed in order on the thread pool, resolved
/// as an array with one result (a value, or a `StorageError` object) per
/// job.
pub struct Batch<T: Target> {
    shared: Arc<Shared<T>>,
    ticket: u64,
    jobs: Vec<Job<T>>,
}

/// Passes the turn to the next batch however this one ends.
struct Turn<'a, T> {
    shared: &'a Shared<T>,
}

impl<T> Drop for Turn<'_, T> {
    fn drop(&mut self) {
        *lock(&self.shared.turn) += 1;
        self.shared.turn_changed.notify_all();
    }
}

impl<T: Target> Batch<T> {
    /// Runs the jobs in order (after every earlier batch of the lane).
    fn execute(&mut self) -> Vec<JobResult> {
        let shared = &*self.shared;
        {
            let mut turn = lock(&shared.turn);
            while *turn != self.ticket {
                turn = shared
                    .turn_changed
                    .wait(turn)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        let _turn = Turn { shared };
        let mut results = Vec::with_capacity(self.jobs.len());
        let mut jobs = std::mem::take(&mut self.jobs).into_iter().peekable();
        while let Some(job) = jobs.next() {
            match job {
                Job::Open => results.push(open(shared)),
                Job::Close => results.push(close(shared)),
                Job::Run(work) => results.push(match lock(&shared.slot).clone() {
                    Some(target) => work(&target),
                    None => Err(not_open(shared)),
                }),
                Job::Store { map, mut records } => {
                    let mut merged = 1;
                    while let Some(Job::Store { map: next, .. }) = jobs.peek() {
                        if *next != map {
                            break;
                        }
                        if let Some(Job::Store { records: more, .. }) = jobs.next() {
                            records.extend(more);
                            merged += 1;
                        }
                    }
                    let result = match lock(&shared.slot).clone() {
                        Some(target) => target.store_batch(&map, records).map(|()| Done::Unit),
                        None => Err(not_open(shared)),
                    };
                    results.extend(std::iter::repeat_n(result, merged));
                }
            }
        }
        results
    }
}

fn not_open<T>(shared: &Shared<T>) -> JobError {
    lock(&shared.open_error)
        .clone()
        .unwrap_or_else(|| JobError::not_open(shared.what))
}

fn open<T: Target>(shared: &Shared<T>) -> JobResult {
    if lock(&shared.slot).is_some() {
        return Ok(Done::Unit);
    }
    // Opening runs outside the slot's lock: jobs of this lane run one at a
    // time anyway, and a synchronous read of memory must not wait for it.
    match (shared.opener)() {
        Ok(target) => {
            *lock(&shared.open_error) = None;
            *lock(&shared.slot) = Some(Arc::new(target));
            Ok(Done::Unit)
        }
        Err(e) => {
            *lock(&shared.open_error) = Some(e.clone());
            Err(e)
        }
    }
}

fn close<T: Target>(shared: &Shared<T>) -> JobResult {
    *lock(&shared.open_error) = None;
    let target = lock(&shared.slot).take();
    match target {
        Some(target) => target.close().map(|()| Done::Unit),
        None => Ok(Done::Unit),
    }
}

impl<'t, T: Target> ScopedTask<'t> for Batch<T> {
    type Output = Vec<JobResult>;
    type JsValue = Unknown<'t>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.execute())
    }

    fn resolve(&mut self, env: &'t Env, output: Self::Output) -> napi::Result<Unknown<'t>> {
        let out = Out::new(env)?;
        let items = output
            .into_iter()
            .map(|result| Ok(to_js(&out, result)?.raw()))
            .collect::<napi::Result<Vec<_>>>()?;
        out.array(items)
    }
}

fn to_js<'e>(out: &Out<'e>, result: JobResult) -> napi::Result<Unknown<'e>> {
    match result {
        Err(e) => storage_error_value(out.env, e.code, &e.message),
        Ok(Done::Unit) => out.undefined(),
        Ok(Done::Bool(b)) => b.into_unknown(out.env),
        Ok(Done::Number(n)) => n.into_unknown(out.env),
        Ok(Done::Value(v)) => out.optional_record(v.as_ref()),
        Ok(Done::Values(v)) => out.records(v.iter().map(Option::as_ref)),
        Ok(Done::Pairs(p)) => out.pairs(p.iter().map(|(k, v)| (k.as_str(), v))),
        Ok(Done::Keys(keys)) => out.strings(keys.iter().map(String::as_str)),
        Ok(Done::Bytes(None) | Done::Record(None)) => out.undefined(),
        Ok(Done::Bytes(Some(bytes))) => Ok(BufferSlice::copy_from(out.env, bytes)?.to_unknown()),
        Ok(Done::Record(Some(found))) => out.stored_record(&found.0, found.1),
        Ok(Done::KeysPage(keys, cursor)) => {
            let items = out.strings(keys.iter().map(String::as_str))?;
            out.page(items, &cursor)
        }
        Ok(Done::EntriesPage(pairs, cursor)) => {
            let items = out.pairs(pairs.iter().map(|(k, v)| (k.as_str(), v)))?;
            out.page(items, &cursor)
        }
        Ok(Done::Stats(s)) => StoreStats::new(&s, 0).into_unknown(out.env),
        Ok(Done::Maintenance(r)) => MaintenanceReport::from(r).into_unknown(out.env),
    }
}
