//! The exception hierarchy and the mapping of every core error to it.
//!
//! One class per [`ErrorCode`] category, all under `StorageError`, so a
//! category is the same in C, Python and Node:
//!
//! | category | class | also a |
//! |---|---|---|
//! | `malformed_value` | `MalformedValueError` | `ValueError` |
//! | `value_shape` | `ValueShapeError` | `ValueError` |
//! | `value_range` | `ValueRangeError` | `ValueError`, `OverflowError` |
//! | `invalid_cursor` | `InvalidCursorError` | `ValueError` |
//! | `invalid_argument` | `InvalidArgumentError` | `ValueError` |
//! | `capacity_exceeded` | `CapacityExceededError` | |
//! | `entry_too_large` | `EntryTooLargeError` | |
//! | `data_store` | `DataStoreError` | |
//! | `closed` | `ClosedError` | |
//!
//! The classes are plain Python classes (multiple inheritance from built-in
//! exceptions is not expressible with `create_exception!`), created once when
//! the module is imported. Each has a class attribute `code` (the category
//! name) and an instance attribute `path` (where in a value the problem is,
//! e.g. `$.records[0].timestamp`, or `None`).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};
use topgun_storage_core::codec::DecodeError;
use topgun_storage_core::{CursorError, ErrorCode, StoreError};

/// Python source of the hierarchy; run once at import with
/// `__name__ = "topgun_storage"` so the classes report that module.
const SOURCE: &std::ffi::CStr = cr#"
class StorageError(Exception):
    """Base class of every error topgun_storage raises on purpose.

    ``code`` names the category (the same in the C and Node bindings);
    ``path`` says where inside a value the problem is (``$.value.items[2]``),
    or is ``None`` when the error is not about a value.
    """

    code = "storage_error"

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path


class MalformedValueError(StorageError, ValueError):
    """Bytes that are not valid MessagePack, or a value nested too deeply."""

    code = "malformed_value"


class ValueShapeError(StorageError, ValueError):
    """A value of the wrong shape: a missing, unknown or mistyped field."""

    code = "value_shape"


class ValueRangeError(StorageError, ValueError, OverflowError):
    """A number outside what its field can hold exactly, for example an int
    outside the signed 64-bit range (-2**63 .. 2**63-1). Also an
    ``OverflowError``, like Python's own conversions."""

    code = "value_range"


class InvalidCursorError(StorageError, ValueError):
    """A cursor that is malformed or was made by another store."""

    code = "invalid_cursor"


class InvalidArgumentError(StorageError, ValueError):
    """An argument that can never be valid: page size 0, a negative TTL, an
    unknown eviction policy."""

    code = "invalid_argument"


class CapacityExceededError(StorageError):
    """A bounded store with eviction off is full; nothing was written."""

    code = "capacity_exceeded"


class EntryTooLargeError(StorageError):
    """One entry costs more than the store's whole cost bound."""

    code = "entry_too_large"


class DataStoreError(StorageError):
    """The data store behind the store failed; memory is unchanged."""

    code = "data_store"


class ClosedError(StorageError):
    """The storage was closed."""

    code = "closed"


class StorageIOError(DataStoreError):
    """Reading or writing the data store's files or connection failed."""

    code = "io"


class CorruptDataError(DataStoreError):
    """Stored data cannot be read back as written (damaged file, bad checksum)."""

    code = "corrupt"


class LockedError(DataStoreError):
    """Another process holds the data store."""

    code = "locked"


class UnavailableError(DataStoreError):
    """The database server cannot be reached or did not answer in time."""

    code = "unavailable"


class DiskFullError(DataStoreError):
    """The disk (or the database's storage) is full; nothing was written."""

    code = "disk_full"


class RejectedError(DataStoreError, ValueError):
    """The data store cannot hold this key or value; nothing was written."""

    code = "rejected"


class ObserverWarning(RuntimeWarning):
    """An observer callback raised; the store carried on."""
"#;

/// The exception classes, created at import.
pub(crate) struct Exceptions {
    pub(crate) base: Py<PyType>,
    malformed: Py<PyType>,
    shape: Py<PyType>,
    range: Py<PyType>,
    cursor: Py<PyType>,
    argument: Py<PyType>,
    capacity: Py<PyType>,
    too_large: Py<PyType>,
    data_store: Py<PyType>,
    closed: Py<PyType>,
    io: Py<PyType>,
    corrupt: Py<PyType>,
    locked: Py<PyType>,
    unavailable: Py<PyType>,
    disk_full: Py<PyType>,
    rejected: Py<PyType>,
    pub(crate) observer_warning: Py<PyType>,
}

static EXCEPTIONS: PyOnceLock<Exceptions> = PyOnceLock::new();

/// Class names in the order [`Exceptions`] lists them, for the module.
pub(crate) const NAMES: [&str; 17] = [
    "StorageError",
    "MalformedValueError",
    "ValueShapeError",
    "ValueRangeError",
    "InvalidCursorError",
    "InvalidArgumentError",
    "CapacityExceededError",
    "EntryTooLargeError",
    "DataStoreError",
    "ClosedError",
    "StorageIOError",
    "CorruptDataError",
    "LockedError",
    "UnavailableError",
    "DiskFullError",
    "RejectedError",
    "ObserverWarning",
];

fn create(py: Python<'_>) -> PyResult<Exceptions> {
    let globals = PyDict::new(py);
    globals.set_item("__name__", "topgun_storage")?;
    py.run(SOURCE, Some(&globals), None)?;
    let get = |name: &str| -> PyResult<Py<PyType>> {
        let item = globals
            .get_item(name)?
            .ok_or_else(|| PyRuntimeError::new_err(format!("{name} was not defined")))?;
        Ok(item.cast_into::<PyType>()?.unbind())
    };
    Ok(Exceptions {
        base: get(NAMES[0])?,
        malformed: get(NAMES[1])?,
        shape: get(NAMES[2])?,
        range: get(NAMES[3])?,
        cursor: get(NAMES[4])?,
        argument: get(NAMES[5])?,
        capacity: get(NAMES[6])?,
        too_large: get(NAMES[7])?,
        data_store: get(NAMES[8])?,
        closed: get(NAMES[9])?,
        io: get(NAMES[10])?,
        corrupt: get(NAMES[11])?,
        locked: get(NAMES[12])?,
        unavailable: get(NAMES[13])?,
        disk_full: get(NAMES[14])?,
        rejected: get(NAMES[15])?,
        observer_warning: get(NAMES[16])?,
    })
}

/// The classes (created on first use; the module creates them at import).
///
/// # Errors
/// Only if defining the classes fails, which would be a bug.
pub(crate) fn exceptions(py: Python<'_>) -> PyResult<&Exceptions> {
    EXCEPTIONS.get_or_try_init(py, || create(py))
}

impl Exceptions {
    /// The class of a category.
    pub(crate) fn class(&self, code: ErrorCode) -> &Py<PyType> {
        match code {
            ErrorCode::MalformedValue => &self.malformed,
            ErrorCode::ValueShape => &self.shape,
            ErrorCode::ValueRange => &self.range,
            ErrorCode::InvalidCursor => &self.cursor,
            ErrorCode::InvalidArgument => &self.argument,
            ErrorCode::CapacityExceeded => &self.capacity,
            ErrorCode::EntryTooLarge => &self.too_large,
            ErrorCode::DataStore => &self.data_store,
            ErrorCode::Closed => &self.closed,
            ErrorCode::Io => &self.io,
            ErrorCode::Corrupt => &self.corrupt,
            ErrorCode::Locked => &self.locked,
            ErrorCode::Unavailable => &self.unavailable,
            ErrorCode::DiskFull => &self.disk_full,
            ErrorCode::Rejected => &self.rejected,
        }
    }

    /// The classes with their names, for adding to the module.
    pub(crate) fn named(&self) -> [(&'static str, &Py<PyType>); 17] {
        [
            (NAMES[0], &self.base),
            (NAMES[1], &self.malformed),
            (NAMES[2], &self.shape),
            (NAMES[3], &self.range),
            (NAMES[4], &self.cursor),
            (NAMES[5], &self.argument),
            (NAMES[6], &self.capacity),
            (NAMES[7], &self.too_large),
            (NAMES[8], &self.data_store),
            (NAMES[9], &self.closed),
            (NAMES[10], &self.io),
            (NAMES[11], &self.corrupt),
            (NAMES[12], &self.locked),
            (NAMES[13], &self.unavailable),
            (NAMES[14], &self.disk_full),
            (NAMES[15], &self.rejected),
            (NAMES[16], &self.observer_warning),
        ]
    }
}

/// An error of category `code` with `message` and an optional value path.
/// Lazy: the exception object is built only when Python looks at it.
#[cold]
pub(crate) fn error(
    py: Python<'_>,
    code: ErrorCode,
    message: String,
    path: Option<String>,
) -> PyErr {
    match exceptions(py) {
        Ok(exc) => PyErr::from_type(exc.class(code).bind(py).clone(), (message, path)),
        Err(e) => e,
    }
}

/// A `DecodeError` from core: its category, its message and its path.
#[cold]
pub(crate) fn decode_error(py: Python<'_>, e: &DecodeError) -> PyErr {
    error(
        py,
        ErrorCode::from(e),
        e.to_string(),
        Some(e.path().to_owned()),
    )
}

/// A `CursorError` from core (`invalid_cursor`, or `invalid_argument` for a
/// page size of 0).
#[cold]
pub(crate) fn cursor_error(py: Python<'_>, e: &CursorError) -> PyErr {
    error(py, ErrorCode::from(e), e.to_string(), None)
}

/// A `StoreError` from core (capacity, entry too large, data store, closed).
#[cold]
pub(crate) fn store_error(py: Python<'_>, e: &StoreError) -> PyErr {
    error(py, ErrorCode::from(e), e.to_string(), None)
}

/// An `InvalidArgumentError` with `message`.
#[cold]
pub(crate) fn invalid_argument(py: Python<'_>, message: String) -> PyErr {
    error(py, ErrorCode::InvalidArgument, message, None)
}
