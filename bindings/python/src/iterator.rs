//! `StorageIterator`: iteration over a `Storage` by cursor pages.

use crate::errors;
use crate::observers::raise_interrupt;
use crate::values::record_value_into_py;
use parking_lot::Mutex;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};
use std::collections::VecDeque;
use std::sync::Arc;
use topgun_storage_core::{DefaultRecordStore, IterationCursor, Record, RecordStore};

/// Keys or entries fetched per page by iteration.
const ITER_PAGE: usize = 1024;

#[derive(Clone, Copy)]
pub(crate) enum IterMode {
    Keys,
    Values,
    Items,
}

struct IterState {
    cursor: IterationCursor,
    page: VecDeque<(String, Option<Record>)>,
    /// A page is being fetched (the GIL is released meanwhile).
    busy: bool,
}

/// Iterator over a `Storage` by cursor pages of 1024, fetched with the GIL
/// released. Tolerates concurrent writes with the guarantees of
/// `fetch_keys`; like a generator, it raises `ValueError` if used from a
/// second thread while it is fetching a page.
#[pyclass(frozen, module = "topgun_storage", name = "StorageIterator")]
pub(crate) struct StorageIterator {
    store: Arc<DefaultRecordStore>,
    mode: IterMode,
    state: Mutex<IterState>,
}

impl StorageIterator {
    /// An iterator over `store` from its start, yielding keys, values or
    /// `(key, value)` pairs; nothing is fetched until the first `next`.
    pub(crate) fn new(store: &Arc<DefaultRecordStore>, mode: IterMode) -> Self {
        Self {
            store: Arc::clone(store),
            mode,
            state: Mutex::new(IterState {
                cursor: IterationCursor::start(),
                page: VecDeque::new(),
                busy: false,
            }),
        }
    }

    fn convert<'py>(
        &self,
        py: Python<'py>,
        key: String,
        record: Option<Record>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match (self.mode, record) {
            (IterMode::Keys, _) | (_, None) => Ok(PyString::new(py, &key).into_any()),
            (IterMode::Values, Some(r)) => record_value_into_py(py, r.value),
            (IterMode::Items, Some(r)) => {
                let value = record_value_into_py(py, r.value)?;
                Ok(PyTuple::new(py, [PyString::new(py, &key).into_any(), value])?.into_any())
            }
        }
    }
}

#[pymethods]
impl StorageIterator {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        loop {
            let cursor = {
                let mut state = self.state.lock();
                if state.busy {
                    return Err(PyValueError::new_err(
                        "StorageIterator is already fetching a page in another thread",
                    ));
                }
                if let Some((key, record)) = state.page.pop_front() {
                    drop(state);
                    return self.convert(py, key, record).map(Some);
                }
                if state.cursor.is_finished() {
                    return Ok(None);
                }
                state.busy = true;
                state.cursor
            };
            // The lock is not held here: another thread (or an observer
            // called during the fetch) sees `busy` instead of blocking.
            let store = &self.store;
            let mode = self.mode;
            let fetched = py.detach(|| match mode {
                IterMode::Keys => store.fetch_keys(&cursor, ITER_PAGE).map(|p| {
                    let items: VecDeque<_> = p.items.into_iter().map(|k| (k, None)).collect();
                    (items, p.next_cursor)
                }),
                IterMode::Values | IterMode::Items => {
                    store.fetch_entries(&cursor, ITER_PAGE).map(|p| {
                        let items: VecDeque<_> =
                            p.items.into_iter().map(|(k, r)| (k, Some(r))).collect();
                        (items, p.next_cursor)
                    })
                }
            });
            let mut state = self.state.lock();
            state.busy = false;
            drop(state);
            let fetched = raise_interrupt(Ok(fetched))?;
            let mut state = self.state.lock();
            match fetched {
                Ok((items, next)) => {
                    state.page = items;
                    state.cursor = next;
                }
                Err(e) => return Err(errors::cursor_error(py, &e)),
            }
        }
    }
}
