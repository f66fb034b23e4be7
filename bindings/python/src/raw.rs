//! `_RawDashMap`: the benchmark baseline of docs/benchmarks.md (P1, P5).
//!
//! A plain `DashMap<String, RecordValue>` with the same hasher as the core
//! engine (foldhash), reached through exactly the same pyo3 conversions as
//! `Storage` (`str` key in, the value classes or a TS dict in, the value
//! classes out) but none of the store's logic: no metadata, expiry,
//! eviction, statistics or observers. Private: only `bench.py` uses it.

use crate::values::{record_value_from_py, record_value_into_py};
use dashmap::DashMap;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use topgun_storage_core::RecordValue;

type Map = DashMap<String, RecordValue, foldhash::fast::RandomState>;

/// A raw concurrent map with the binding's conversions (benchmark only).
#[pyclass(frozen, module = "topgun_storage", name = "_RawDashMap")]
pub(crate) struct RawDashMap {
    map: Map,
}

#[pymethods]
impl RawDashMap {
    #[new]
    fn new() -> Self {
        Self {
            map: Map::with_hasher(foldhash::fast::RandomState::default()),
        }
    }

    /// Stores a value (converted as `Storage.put` converts it).
    fn put(&self, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = record_value_from_py(value)?;
        self.map.insert(key.to_owned(), value);
        Ok(())
    }

    /// A clone of the value, converted as `Storage.get` converts it.
    #[pyo3(signature = (key, default = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let value = self.map.get(key).map(|v| v.value().clone());
        match value {
            Some(v) => record_value_into_py(py, v),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    /// `{key: value}` for the keys present, the GIL released while reading
    /// (as `Storage.get_many`).
    fn get_many<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut key_objs: Vec<Bound<'py, PyString>> = Vec::new();
        for item in keys.try_iter()? {
            key_objs.push(item?.cast_into::<PyString>()?);
        }
        let strs = key_objs
            .iter()
            .map(|k| k.to_str())
            .collect::<PyResult<Vec<&str>>>()?;
        let map = &self.map;
        let found: Vec<Option<RecordValue>> = py.detach(|| {
            strs.iter()
                .map(|k| map.get(*k).map(|v| v.value().clone()))
                .collect()
        });
        let out = PyDict::new(py);
        for (key, value) in key_objs.iter().zip(found) {
            if let Some(value) = value {
                out.set_item(key, record_value_into_py(py, value)?)?;
            }
        }
        Ok(out)
    }

    fn __len__(&self) -> usize {
        self.map.len()
    }
}
