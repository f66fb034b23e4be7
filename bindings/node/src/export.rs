//! `exportTo`, `importFrom` (on `Storage` and on `MapStorage`) and
//! `verifyExport`: the JavaScript face of `topgun_storage_core::export`
//! (file format and guarantees in docs/architecture.md, "Export and
//! import"). Conversion and error mapping only.
//!
//! Each returns a Promise: the file work runs on libuv's thread pool, never
//! on the event loop. Progress reaches the optional `onProgress` callback
//! through a thread-safe function, on the JavaScript thread, after every
//! frame of the file (about 64 KiB of records) and at the end; the work
//! waits for each report to be delivered before it settles the Promise, so
//! every `onProgress` call happens before the Promise resolves or rejects.
//! If `onProgress` throws, the work goes on (the core has no cancellation
//! point), later reports are skipped, and the Promise rejects with that
//! error once the work is done.

use crate::adapter::MapStorage;
use crate::args;
use crate::errors::{describe, run, Failure, Outcome};
use crate::storage::Storage;
use napi::bindgen_prelude::{AsyncTask, FromNapiValue, Function, Object, ToNapiValue, Unknown};
use napi::threadsafe_function::{
    ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode,
};
use napi::{Env, JsValue, ScopedTask, Status, ValueType};
use napi_derive::napi;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use topgun_storage_core::export::{self, ExportError, ExportKind, Progress, Summary};
use topgun_storage_core::{DefaultRecordStore, ErrorCode, RecordStore};

#[allow(clippy::cast_precision_loss)]
fn num(n: u64) -> f64 {
    n as f64
}

/// Where an export or import stands (the argument of `onProgress`).
#[napi(object, object_from_js = false)]
pub struct ExportProgress {
    /// Records written (export), checked or imported (import) so far.
    pub records_done: f64,
    /// Records expected in all (export: the snapshot's size, an upper
    /// bound; import: the count the file declares).
    pub records_total: f64,
    /// Stores (map, partition) done so far.
    pub stores_done: f64,
    /// True while an import still checks the file (nothing written yet).
    pub checking: bool,
}

/// What a finished export or import found in the file.
#[napi(object, object_from_js = false)]
pub struct ExportSummary {
    /// `'store'` (one record store) or `'maps'` (every map of a
    /// `MapStorage`).
    pub kind: String,
    /// The snapshot's clock reading (ms since the Unix epoch).
    pub instant_ms: f64,
    /// Stores (map, partition) in the file.
    pub stores: f64,
    /// Records in the file.
    pub records: f64,
    /// Size of the file in bytes.
    pub bytes: f64,
}

impl From<Summary> for ExportSummary {
    fn from(s: Summary) -> Self {
        #[allow(clippy::cast_precision_loss)]
        Self {
            kind: match s.kind {
                ExportKind::Store => "store",
                ExportKind::Maps => "maps",
            }
            .to_owned(),
            instant_ms: s.instant as f64,
            stores: num(s.stores),
            records: num(s.records),
            bytes: num(s.bytes),
        }
    }
}

type Tsfn = ThreadsafeFunction<ExportProgress, (), Unknown<'static>, Status, false, true, 0>;

/// Reports posted to JavaScript and not yet delivered, and the first
/// error `onProgress` threw.
#[derive(Default)]
struct Delivery {
    pending: Mutex<(u64, Option<String>)>,
    done: Condvar,
}

impl Delivery {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Option<String>)> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The `onProgress` side of a task: the thread-safe function, and what it
/// shares with the JavaScript thread.
struct Reporter {
    tsfn: Tsfn,
    delivery: Arc<Delivery>,
}

impl Reporter {
    /// A reporter calling `callback` (a function), or `None` for
    /// `undefined` / `null`.
    fn new(env: &Env, callback: Option<Unknown<'_>>) -> Outcome<Option<Self>> {
        let Some(callback) = callback else {
            return Ok(None);
        };
        if args::is_absent(&callback)? {
            return Ok(None);
        }
        if callback.get_type()? != ValueType::Function {
            return Err(Failure::type_error(format!(
                "onProgress must be a function, got {}",
                describe(&callback)
            )));
        }
        let user: Function<'_, Unknown<'static>, Unknown<'static>> =
            Function::from_unknown(callback)?;
        let user = user.create_ref()?;
        let delivery = Arc::new(Delivery::default());
        let shared = Arc::clone(&delivery);
        // Runs on the JavaScript thread for each report; never lets an
        // exception out (fatal in a thread-safe function call).
        let deliver = env.create_function_from_closure::<Unknown<'static>, (), _>(
            "topgunStorageProgress",
            move |ctx| {
                let failed = shared.lock().1.is_some();
                let result = if failed {
                    Ok(())
                } else {
                    ctx.get::<Unknown<'static>>(0)
                        .and_then(|p| user.borrow_back(ctx.env)?.call(p))
                        .map(|_| ())
                };
                let mut state = shared.lock();
                if let Err(e) = result {
                    state.1.get_or_insert(e.reason);
                }
                state.0 = state.0.saturating_sub(1);
                shared.done.notify_all();
                Ok(())
            },
        )?;
        let tsfn: Tsfn = deliver
            .build_threadsafe_function::<ExportProgress>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx: ThreadsafeCallContext<ExportProgress>| {
                let value = ctx.value.into_unknown(&ctx.env)?;
                Ok(Object::from_raw(ctx.env.raw(), value.raw()).to_unknown())
            })?;
        Ok(Some(Self { tsfn, delivery }))
    }

    /// Posts `p` to JavaScript (on a pool thread).
    fn post(&self, p: &Progress) {
        let mut state = self.delivery.lock();
        if state.1.is_some() {
            return;
        }
        state.0 += 1;
        drop(state);
        let status = self.tsfn.call(
            ExportProgress {
                records_done: num(p.records_done),
                records_total: num(p.records_total),
                stores_done: num(p.stores_done),
                checking: p.checking,
            },
            ThreadsafeFunctionCallMode::NonBlocking,
        );
        if status != Status::Ok {
            // Not queued (the environment is closing): nothing to wait for.
            let mut state = self.delivery.lock();
            state.0 = state.0.saturating_sub(1);
        }
    }

    /// Waits until every posted report was delivered.
    fn drain(&self) {
        let mut state = self.delivery.lock();
        while state.0 > 0 {
            state = self
                .delivery
                .done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn thrown(&self) -> Option<String> {
        self.delivery.lock().1.clone()
    }
}

/// What a task works on.
enum Job {
    ExportStore(Arc<DefaultRecordStore>),
    ImportStore(Arc<DefaultRecordStore>),
    ExportMaps(Arc<topgun_storage_core::MapStorage>),
    ImportMaps(Arc<topgun_storage_core::MapStorage>),
    Verify,
}

/// One export, import or check on the thread pool.
pub struct ExportTask {
    job: Job,
    path: PathBuf,
    reporter: Option<Reporter>,
}

impl<'t> ScopedTask<'t> for ExportTask {
    type Output = Result<Summary, ExportError>;
    type JsValue = ExportSummary;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let reporter = self.reporter.as_ref();
        let mut report = |p: &Progress| {
            if let Some(r) = reporter {
                r.post(p);
            }
        };
        let path = self.path.as_path();
        let result = match &self.job {
            Job::ExportStore(store) => export::export_store(&store.snapshot(), path, &mut report),
            Job::ImportStore(store) => export::import_store(store.as_ref(), path, &mut report),
            Job::ExportMaps(maps) => maps.export(path, &mut report),
            Job::ImportMaps(maps) => maps.import(path, &mut report),
            Job::Verify => export::verify(path, &mut report),
        };
        if let Some(r) = reporter {
            r.drain();
        }
        Ok(result)
    }

    fn resolve(&mut self, env: &'t Env, output: Self::Output) -> napi::Result<ExportSummary> {
        let summary = output
            .map_err(|e| Failure::storage(ErrorCode::from(&e), e.to_string()).into_napi(env))?;
        if let Some(reason) = self.reporter.as_ref().and_then(Reporter::thrown) {
            return Err(napi::Error::new(
                Status::GenericFailure,
                format!("onProgress threw (the work itself finished): {reason}"),
            ));
        }
        Ok(summary.into())
    }
}

/// The task for `job` on the file `path` with `onProgress`.
fn task(
    env: &Env,
    job: Job,
    path: Unknown<'_>,
    on_progress: Option<Unknown<'_>>,
) -> napi::Result<AsyncTask<ExportTask>> {
    run(env, || {
        let path = PathBuf::from(args::string(path, "path")?);
        if path.as_os_str().is_empty() {
            return Err(Failure::invalid_argument("path is empty"));
        }
        let reporter = Reporter::new(env, on_progress)?;
        Ok(AsyncTask::new(ExportTask {
            job,
            path,
            reporter,
        }))
    })
}

#[napi]
impl Storage {
    /// Writes every live record, with its metadata, to the file at `path`
    /// from a snapshot taken when the work starts: the file holds exactly
    /// the store's state at that instant, while writes go on. Written under
    /// a temporary name, synced and renamed: a failure leaves nothing at
    /// `path`. Resolves to what was written; rejects with a `StorageError`
    /// (`ERR_IO`, `ERR_DISK_FULL`). See the module docs for `onProgress`.
    #[napi(
        ts_args_type = "path: string, onProgress?: (progress: ExportProgress) => void",
        ts_return_type = "Promise<ExportSummary>"
    )]
    pub fn export_to(
        &self,
        env: Env,
        path: Unknown<'_>,
        on_progress: Option<Unknown<'_>>,
    ) -> napi::Result<AsyncTask<ExportTask>> {
        task(
            &env,
            Job::ExportStore(Arc::clone(&self.store)),
            path,
            on_progress,
        )
    }

    /// Imports a record-store export file (from any language): checks the
    /// whole file first, so a truncated, damaged or foreign file rejects
    /// with `ERR_CORRUPT` and changes nothing; then writes every record as
    /// exported (metadata included), replacing records of the same keys and
    /// leaving other keys alone. Rejects with `ERR_INVALID_ARGUMENT` for a
    /// `MapStorage` export, `ERR_IO` when the file cannot be read, or the
    /// store's own error if it refuses a record.
    #[napi(
        ts_args_type = "path: string, onProgress?: (progress: ExportProgress) => void",
        ts_return_type = "Promise<ExportSummary>"
    )]
    pub fn import_from(
        &self,
        env: Env,
        path: Unknown<'_>,
        on_progress: Option<Unknown<'_>>,
    ) -> napi::Result<AsyncTask<ExportTask>> {
        task(
            &env,
            Job::ImportStore(Arc::clone(&self.store)),
            path,
            on_progress,
        )
    }
}

#[napi]
impl MapStorage {
    /// Writes every map, at one instant across all of them, to the file at
    /// `path` (as `Storage.exportTo`, for every (map, partition) store).
    /// Rejects with `ERR_CLOSED` after `close`.
    #[napi(
        ts_args_type = "path: string, onProgress?: (progress: ExportProgress) => void",
        ts_return_type = "Promise<ExportSummary>"
    )]
    pub fn export_to(
        &self,
        env: Env,
        path: Unknown<'_>,
        on_progress: Option<Unknown<'_>>,
    ) -> napi::Result<AsyncTask<ExportTask>> {
        task(
            &env,
            Job::ExportMaps(Arc::clone(&self.inner)),
            path,
            on_progress,
        )
    }

    /// Imports an export file of either kind: each record goes to its map
    /// (a record-store export's map name for one store) and partition. As
    /// `Storage.importFrom` otherwise.
    #[napi(
        ts_args_type = "path: string, onProgress?: (progress: ExportProgress) => void",
        ts_return_type = "Promise<ExportSummary>"
    )]
    pub fn import_from(
        &self,
        env: Env,
        path: Unknown<'_>,
        on_progress: Option<Unknown<'_>>,
    ) -> napi::Result<AsyncTask<ExportTask>> {
        task(
            &env,
            Job::ImportMaps(Arc::clone(&self.inner)),
            path,
            on_progress,
        )
    }
}

/// Reads and checks a whole export file (every checksum, every value)
/// without importing it; resolves to what it holds. Rejects with
/// `ERR_CORRUPT` for a truncated, damaged or foreign file (or an unknown
/// format version), `ERR_IO` when it cannot be read.
#[napi(
    ts_args_type = "path: string, onProgress?: (progress: ExportProgress) => void",
    ts_return_type = "Promise<ExportSummary>"
)]
pub fn verify_export(
    env: Env,
    path: Unknown<'_>,
    on_progress: Option<Unknown<'_>>,
) -> napi::Result<AsyncTask<ExportTask>> {
    task(&env, Job::Verify, path, on_progress)
}
