//! Arguments of `Storage`'s methods: ranges, cursors, page sizes and key
//! lists, each checked with the documented error and message.

use crate::convert::int_in;
use crate::errors;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use topgun_storage_core::{ErrorCode, EvictionPolicy, IterationCursor};

/// Default page size of `fetch_keys` / `fetch_entries`.
pub(crate) const DEFAULT_PAGE: usize = 1000;

/// The `eviction` option by name (`none`, `lru`, `lfu`, `random`).
///
/// # Errors
/// `InvalidArgumentError` naming the accepted names.
pub(crate) fn eviction_policy(py: Python<'_>, name: &str) -> PyResult<EvictionPolicy> {
    name.parse()
        .map_err(|e| errors::invalid_argument(py, format!("eviction {e}")))
}

/// `max_entries` / `max_cost`: `None` (0, no bound) or `1 ..= 2**64-1`.
pub(crate) fn bound_arg(
    py: Python<'_>,
    obj: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<u64> {
    match obj.filter(|o| !o.is_none()) {
        None => Ok(0),
        Some(obj) => int_in(
            py,
            obj,
            what,
            1..=i128::from(u64::MAX),
            ErrorCode::InvalidArgument,
        ),
    }
}

/// Most entries sampled per eviction (the C API's limit too).
pub(crate) const MAX_SAMPLES: i128 = u32::MAX as i128;

/// Largest page size and sample count: what a signed 64-bit size holds.
pub(crate) const MAX_COUNT: i128 = i64::MAX as i128;

/// A page size: `1 ..= 2**63-1`.
///
/// # Errors
/// `InvalidArgumentError` outside that range, `TypeError` for a non-int.
pub(crate) fn page_size(py: Python<'_>, size: &Bound<'_, PyAny>) -> PyResult<usize> {
    int_in(py, size, "size", 1..=MAX_COUNT, ErrorCode::InvalidArgument)
}

/// A cursor argument: `None` (start) or the `bytes` a page returned.
///
/// # Errors
/// `TypeError` for another type; `InvalidCursorError` for bytes that are
/// not a cursor of this store.
pub(crate) fn parse_cursor(
    py: Python<'_>,
    cursor: Option<&Bound<'_, PyAny>>,
) -> PyResult<IterationCursor> {
    let Some(cursor) = cursor.filter(|c| !c.is_none()) else {
        return Ok(IterationCursor::start());
    };
    let bytes = cursor.cast::<PyBytes>().map_err(|_| {
        PyTypeError::new_err(format!(
            "cursor must be bytes or None, not {}",
            cursor
                .get_type()
                .name()
                .map_or_else(|_| "object".to_owned(), |n| n.to_string())
        ))
    })?;
    IterationCursor::from_bytes(bytes.as_bytes()).map_err(|e| errors::cursor_error(py, &e))
}

/// The arguments of `fetch_keys` / `fetch_entries`: the parsed cursor and
/// the page size (`DEFAULT_PAGE` when `None`).
pub(crate) fn page_request(
    py: Python<'_>,
    cursor: Option<&Bound<'_, PyAny>>,
    size: Option<&Bound<'_, PyAny>>,
) -> PyResult<(IterationCursor, usize)> {
    let cursor = parse_cursor(py, cursor)?;
    let size = match size {
        Some(s) => page_size(py, s)?,
        None => DEFAULT_PAGE,
    };
    Ok((cursor, size))
}

/// The cursor handed back to Python: `None` once the iteration is finished.
pub(crate) fn cursor_out<'py>(py: Python<'py>, next: &IterationCursor) -> Bound<'py, PyAny> {
    if next.is_finished() {
        py.None().into_bound(py)
    } else {
        PyBytes::new(py, &next.to_bytes()).into_any()
    }
}

/// Keys of `obj` (any iterable of str) as Python strings and their UTF-8.
pub(crate) fn key_list<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyString>>> {
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "keys must be an iterable of str, not a single str",
        ));
    }
    let mut out = Vec::with_capacity(obj.len().unwrap_or(0));
    for item in obj.try_iter()? {
        let item = item?;
        match item.cast_into::<PyString>() {
            Ok(s) => out.push(s),
            Err(e) => {
                return Err(PyTypeError::new_err(format!(
                    "keys must be str, not {}",
                    e.into_inner()
                        .get_type()
                        .name()
                        .map_or_else(|_| "object".to_owned(), |n| n.to_string())
                )))
            }
        }
    }
    Ok(out)
}
