//! `Storage.export_to`, `Storage.import_from` and `verify_export`: the
//! Python face of `topgun_storage_core::export` (file format and guarantees
//! in docs/architecture.md, "Export and import"). Conversion and error
//! mapping only.
//!
//! GIL: released for the whole file work; the progress callback re-acquires
//! it for each call (after every ~64 KiB frame), so other Python threads,
//! including writers to the same store, run meanwhile.

use crate::errors;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use std::path::{Path, PathBuf};
use topgun_storage_core::export::{self, ExportError, ExportKind, Progress, Summary};
use topgun_storage_core::{DefaultRecordStore, ErrorCode, RecordStore};

/// Where an export or import stands, passed to its ``progress`` callback
/// after every frame of the file (about 64 KiB of records) and at the end.
#[pyclass(frozen, module = "topgun_storage", name = "ExportProgress")]
pub(crate) struct ExportProgress {
    /// Records written (export), checked or imported (import) so far.
    #[pyo3(get)]
    records_done: u64,
    /// Records expected in all (export: the snapshot's size, an upper
    /// bound; import: the count the file declares).
    #[pyo3(get)]
    records_total: u64,
    /// Stores done so far (0 or 1 for one ``Storage``).
    #[pyo3(get)]
    stores_done: u64,
    /// True while an import still checks the file (nothing written yet).
    #[pyo3(get)]
    checking: bool,
}

#[pymethods]
impl ExportProgress {
    fn __repr__(&self) -> String {
        format!(
            "ExportProgress(records_done={}, records_total={}, stores_done={}, checking={})",
            self.records_done,
            self.records_total,
            self.stores_done,
            if self.checking { "True" } else { "False" }
        )
    }
}

/// What a finished export or import found in the file.
#[pyclass(frozen, module = "topgun_storage", name = "ExportSummary")]
pub(crate) struct ExportSummary {
    /// ``"store"`` (one record store) or ``"maps"`` (every map of a
    /// ``MapStorage``, written by the Rust or Node API).
    #[pyo3(get)]
    kind: &'static str,
    /// The snapshot's clock reading (ms since the Unix epoch).
    #[pyo3(get)]
    instant_ms: i64,
    /// Stores in the file.
    #[pyo3(get)]
    stores: u64,
    /// Records in the file.
    #[pyo3(get)]
    records: u64,
    /// Size of the file in bytes.
    #[pyo3(get)]
    bytes: u64,
}

#[pymethods]
impl ExportSummary {
    fn __repr__(&self) -> String {
        format!(
            "ExportSummary(kind={:?}, instant_ms={}, stores={}, records={}, bytes={})",
            self.kind, self.instant_ms, self.stores, self.records, self.bytes
        )
    }
}

impl From<Summary> for ExportSummary {
    fn from(s: Summary) -> Self {
        Self {
            kind: match s.kind {
                ExportKind::Store => "store",
                ExportKind::Maps => "maps",
            },
            instant_ms: s.instant,
            stores: s.stores,
            records: s.records,
            bytes: s.bytes,
        }
    }
}

/// Runs `work` without the GIL, calling `progress` (if any) with the GIL
/// for each report. The first exception the callback raises stops further
/// calls and is raised when `work` has finished (the file work itself is
/// not interrupted: the core has no cancellation point).
fn run(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    work: impl FnOnce(&mut dyn FnMut(&Progress)) -> Result<Summary, ExportError> + Send,
) -> PyResult<ExportSummary> {
    let progress = match progress {
        Some(p) if !p.is_callable() => {
            return Err(PyTypeError::new_err(format!(
                "progress must be callable or None, not {}",
                p.get_type().name()?
            )))
        }
        p => p.map(|p| p.clone().unbind()),
    };
    let mut raised: Option<PyErr> = None;
    let result = py.detach(|| {
        let mut report = |p: &Progress| {
            let Some(callback) = progress.as_ref() else {
                return;
            };
            if raised.is_some() {
                return;
            }
            Python::attach(|py| {
                let arg = ExportProgress {
                    records_done: p.records_done,
                    records_total: p.records_total,
                    stores_done: p.stores_done,
                    checking: p.checking,
                };
                if let Err(e) = Bound::new(py, arg).and_then(|a| callback.bind(py).call1((a,))) {
                    raised = Some(e);
                }
            });
        };
        work(&mut report)
    });
    let summary =
        result.map_err(|e| errors::error(py, ErrorCode::from(&e), e.to_string(), None))?;
    match raised {
        Some(e) => Err(e),
        None => Ok(summary.into()),
    }
}

/// `Storage.export_to`: see its docstring in storage.rs.
pub(crate) fn export_to(
    py: Python<'_>,
    store: &DefaultRecordStore,
    path: &Path,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<ExportSummary> {
    run(py, progress, |report| {
        export::export_store(&store.snapshot(), path, report)
    })
}

/// `Storage.import_from`: see its docstring in storage.rs.
pub(crate) fn import_from(
    py: Python<'_>,
    store: &DefaultRecordStore,
    path: &Path,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<ExportSummary> {
    run(py, progress, |report| {
        export::import_store(store, path, report)
    })
}

/// Reads and checks a whole export file (every checksum, every value)
/// without importing it; returns what it holds. Raises ``CorruptDataError``
/// for a truncated, damaged or foreign file (or an unknown format
/// version), ``StorageIOError`` when it cannot be read. Releases the GIL.
#[pyfunction]
#[pyo3(signature = (path, progress = None))]
pub(crate) fn verify_export(
    py: Python<'_>,
    path: PathBuf,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<ExportSummary> {
    run(py, progress, |report| export::verify(&path, report))
}
