//! The mapping of every core error to the package's exceptions.
//!
//! The classes are Python classes in `python/topgun_storage/_errors.py`
//! (one per core [`ErrorCode`] category, all under `StorageError`, each with
//! a class attribute `code` naming its category). The extension finds them
//! by that attribute the first time it needs them (at import) and fails to
//! import if a category of the core has no class, or two have the same
//! `code`: the Python table is checked against the core's one.

use pyo3::exceptions::PyImportError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use topgun_storage_core::codec::DecodeError;
use topgun_storage_core::{CursorError, DataStoreError, ErrorCode, StoreError};

/// The module defining the classes.
const MODULE: &str = "topgun_storage._errors";

/// The exception classes, by category, and the observer warning.
pub(crate) struct Exceptions {
    /// Indexed like [`ErrorCode::ALL`].
    by_code: Vec<Py<PyType>>,
    pub(crate) observer_warning: Py<PyType>,
}

static EXCEPTIONS: PyOnceLock<Exceptions> = PyOnceLock::new();

fn load(py: Python<'_>) -> PyResult<Exceptions> {
    let module = py.import(MODULE)?;
    let base = module.getattr("StorageError")?.cast_into::<PyType>()?;
    let mut by_code: Vec<Option<Py<PyType>>> = ErrorCode::ALL.iter().map(|_| None).collect();
    for (_, item) in module.dict().iter() {
        let Ok(class) = item.cast_into::<PyType>() else {
            continue;
        };
        if class.is(&base) || !class.is_subclass(&base)? {
            continue;
        }
        let name: String = class.getattr("code")?.extract()?;
        let code: ErrorCode = name.parse().map_err(|e| {
            PyImportError::new_err(format!(
                "{MODULE}.{}: {e}",
                class.name().map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?;
        let slot = &mut by_code[code as usize];
        if slot.is_some() {
            return Err(PyImportError::new_err(format!(
                "{MODULE}: two classes have code {name:?}"
            )));
        }
        *slot = Some(class.unbind());
    }
    let by_code = ErrorCode::ALL
        .iter()
        .zip(by_code)
        .map(|(code, class)| {
            class.ok_or_else(|| {
                PyImportError::new_err(format!(
                    "{MODULE} has no exception class with code {:?}",
                    code.as_str()
                ))
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let observer_warning = module
        .getattr("ObserverWarning")?
        .cast_into::<PyType>()?
        .unbind();
    Ok(Exceptions {
        by_code,
        observer_warning,
    })
}

/// The classes (found on first use; the extension does it at import).
///
/// # Errors
/// `ImportError` when `_errors.py` does not match the core's categories.
pub(crate) fn exceptions(py: Python<'_>) -> PyResult<&Exceptions> {
    EXCEPTIONS.get_or_try_init(py, || load(py))
}

impl Exceptions {
    /// The class of a category.
    pub(crate) fn class(&self, code: ErrorCode) -> &Py<PyType> {
        // One class per category, in the order of `ErrorCode::ALL` (checked
        // when loading).
        &self.by_code[code as usize]
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

/// A `DataStoreError` from core (opening, flushing or closing a data
/// store; a bad option), mapped by its category.
#[cold]
pub(crate) fn data_store_error(py: Python<'_>, e: &DataStoreError) -> PyErr {
    error(py, ErrorCode::from(e), e.message().to_owned(), None)
}
