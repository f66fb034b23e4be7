//! # topgun_storage (Python)
//!
//! The pyo3 extension behind the `topgun_storage` wheel: the record store of
//! `topgun-storage-core` with Python objects. The Python package
//! (`python/topgun_storage/`) re-exports everything from this module
//! (`topgun_storage._topgun_storage`) and ships the type stubs.
//!
//! Wheel: one per CPython version (not abi3): the version-specific API makes
//! the per-call overhead smaller (docs/benchmarks.md, Python), and `str` keys
//! are read without copying.
//!
//! The crate writes no `unsafe` code; pyo3's macros generate some, which is
//! why it does not inherit the workspace's `unsafe_code = "forbid"`.

mod args;
mod clock;
mod convert;
mod errors;
mod export;
mod iterator;
mod observers;
mod open;
#[cfg(feature = "bench-baselines")]
mod raw;
mod storage;
mod values;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

/// MessagePack bytes (TopGun's wire format) of a record value: a value class
/// or a TS-shaped dict.
#[pyfunction]
fn encode<'py>(py: Python<'py>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let value = values::record_value_from_py(value)?;
    storage::encode_into_bytes(py, &value)
}

/// The record value in MessagePack `data`, as a value class.
#[pyfunction]
fn decode<'py>(py: Python<'py>, data: &Bound<'py, PyBytes>) -> PyResult<Bound<'py, PyAny>> {
    let value = storage::decode_bytes(py, data.as_bytes())?;
    values::record_value_into_py(py, value)
}

/// TopGun's partition of `key`: FNV-1a over its UTF-16 code units, mod 271.
#[pyfunction]
fn partition_for_key(key: &str) -> u32 {
    topgun_storage_core::partition_for_key(key)
}

/// The extension module.
#[pymodule]
fn _topgun_storage(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // Fails the import if python/topgun_storage/_errors.py does not match
    // the core's error categories.
    errors::exceptions(py)?;
    m.add_class::<storage::Storage>()?;
    m.add_class::<clock::ManualClock>()?;
    m.add_class::<iterator::StorageIterator>()?;
    m.add_class::<export::ExportProgress>()?;
    m.add_class::<export::ExportSummary>()?;
    m.add_class::<values::PyTimestamp>()?;
    m.add_class::<values::LwwRecord>()?;
    m.add_class::<values::OrMapRecord>()?;
    m.add_class::<values::OrMapValue>()?;
    m.add_class::<values::OrTombstones>()?;
    m.add_class::<values::RecordMetadata>()?;
    m.add_class::<values::Stats>()?;
    m.add_class::<values::MaintenanceReport>()?;
    m.add_class::<values::PyStoreEvent>()?;
    #[cfg(feature = "bench-baselines")]
    m.add_class::<raw::RawDashMap>()?;
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    m.add_function(wrap_pyfunction!(partition_for_key, m)?)?;
    m.add_function(wrap_pyfunction!(export::verify_export, m)?)?;
    m.add("PARTITION_COUNT", topgun_storage_core::PARTITION_COUNT)?;
    // The backends `Storage(backend=...)` accepts in this build.
    m.add(
        "BACKENDS",
        PyTuple::new(py, topgun_storage_core::BackendKind::available())?,
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
