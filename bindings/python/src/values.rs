//! The value classes: the three record shapes of TopGun's `StorageValue`
//! (`LwwRecord`, `OrMapValue` with its `OrMapRecord`s, `OrTombstones`), the
//! HLC `Timestamp`, and the read-only reports (`RecordMetadata`, `Stats`,
//! `MaintenanceReport`, `StoreEvent`).
//!
//! Every class is immutable (`frozen`) and holds Rust data; attributes that
//! are Python containers (`LwwRecord.value`, `OrMapValue.records`, ...) are
//! built on each access, so changing the returned object never changes the
//! record. `to_dict()` gives TopGun's TS-shaped dict (built by the core's
//! `record_value_to_value`), `from_dict()` reads one (through the core's
//! `record_value_from_value`, so shape errors and their paths come from the
//! core).

use crate::convert::{self, int_in, value_from_py, value_to_py};
use crate::errors;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use std::ops::RangeInclusive;
use topgun_storage_core::codec::{self, DecodeError};
use topgun_storage_core::{
    ErrorCode, ExpiryReason, MaintenanceReport as CoreReport, OrMapEntry, Record,
    RecordMetadata as CoreMetadata, RecordValue, StoreEvent as CoreEvent, StoreStats, Timestamp,
    Value, MAX_MILLIS,
};

/// `millis` and `ttl_ms`: the range every form of a record holds exactly
/// (the core's `MAX_MILLIS`, 2**63-1).
const MILLIS_RANGE: RangeInclusive<i128> = 0..=MAX_MILLIS as i128;
const U32_RANGE: RangeInclusive<i128> = 0..=u32::MAX as i128;

fn repr_of(py: Python<'_>, v: &Value) -> PyResult<String> {
    Ok(value_to_py(py, v)?.repr()?.to_string())
}

fn str_repr(py: Python<'_>, s: &str) -> PyResult<String> {
    Ok(PyString::new(py, s).repr()?.to_string())
}

fn opt_repr(v: Option<u64>) -> String {
    v.map_or_else(|| "None".to_owned(), |n| n.to_string())
}

fn ttl_ms_arg(py: Python<'_>, ttl_ms: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u64>> {
    match ttl_ms {
        Some(t) if !t.is_none() => Ok(Some(int_in(
            py,
            t,
            "ttl_ms",
            MILLIS_RANGE,
            ErrorCode::ValueRange,
        )?)),
        _ => Ok(None),
    }
}

fn user_value(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Value> {
    value_from_py(value).map_err(|e| e.into_pyerr(py, "$.value"))
}

// ---------------------------------------------------------------------------
// Record values from and to Python

/// A Python record value: one of the three classes, or a TS-shaped dict.
///
/// # Errors
/// `TypeError` for other types; the errors of [`record_from_dict`].
pub(crate) fn record_value_from_py(obj: &Bound<'_, PyAny>) -> PyResult<RecordValue> {
    if let Ok(r) = obj.cast::<LwwRecord>() {
        return Ok(r.get().to_record());
    }
    if let Ok(r) = obj.cast::<OrMapValue>() {
        return Ok(RecordValue::OrMap {
            records: r.get().records.clone(),
        });
    }
    if let Ok(r) = obj.cast::<OrTombstones>() {
        return Ok(RecordValue::OrTombstones {
            tags: r.get().tags.clone(),
        });
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return record_from_dict(obj.py(), d);
    }
    Err(PyTypeError::new_err(format!(
        "expected LwwRecord, OrMapValue, OrTombstones or a dict in TopGun's StorageValue shape \
         ({{\"value\": ..., \"timestamp\": {{\"millis\": ..., \"counter\": ..., \"nodeId\": ...}}}}), not {}",
        obj.get_type().name()?
    )))
}

/// Reads a TS-shaped dict through the core.
///
/// # Errors
/// `TypeError` / `ValueRangeError` / `MalformedValueError` while converting
/// the dict, `ValueShapeError` / `ValueRangeError` from the core's shape
/// reader, `MalformedValueError` for a user value nested too deeply.
pub(crate) fn record_from_dict(py: Python<'_>, d: &Bound<'_, PyDict>) -> PyResult<RecordValue> {
    let tree = convert::envelope_from_py(d.as_any()).map_err(|e| e.into_pyerr(py, "$"))?;
    codec::record_value_from_value(tree).map_err(|e| errors::decode_error(py, &e))
}

/// The class object for a record value (moves the value in).
///
/// # Errors
/// Only on allocation failure inside Python.
pub(crate) fn record_value_into_py(py: Python<'_>, v: RecordValue) -> PyResult<Bound<'_, PyAny>> {
    Ok(match v {
        RecordValue::Lww {
            value,
            timestamp,
            ttl_ms,
        } => Bound::new(
            py,
            LwwRecord {
                value,
                timestamp,
                ttl_ms,
            },
        )?
        .into_any(),
        RecordValue::OrMap { records } => Bound::new(py, OrMapValue { records })?.into_any(),
        RecordValue::OrTombstones { tags } => Bound::new(py, OrTombstones { tags })?.into_any(),
    })
}

/// A record value as the TS-shaped dict (the core builds the tree).
fn record_to_dict<'py>(py: Python<'py>, v: &RecordValue) -> PyResult<Bound<'py, PyAny>> {
    value_to_py(py, &codec::record_value_to_value(v))
}

fn dict_arg<'a, 'py>(data: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyDict>> {
    data.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "from_dict expects a dict, not {}",
            data.get_type()
                .name()
                .map_or_else(|_| "object".to_owned(), |n| n.to_string())
        ))
    })
}

/// Re-roots a core error found under `prefix` (e.g. `$.timestamp`) to `$`.
#[cold]
fn rerooted(py: Python<'_>, e: &DecodeError, prefix: &str) -> PyErr {
    let path = match e.path().strip_prefix(prefix) {
        Some(rest) => format!("${rest}"),
        None => e.path().to_owned(),
    };
    errors::error(
        py,
        ErrorCode::from(e),
        format!("{} at {path}", e.message()),
        Some(path),
    )
}

#[cold]
fn wrong_variant(py: Python<'_>, expected: &str, found: &RecordValue) -> PyErr {
    errors::error(
        py,
        ErrorCode::ValueShape,
        format!(
            "expected {expected}, found a {} value at $",
            found.type_name()
        ),
        Some("$".to_owned()),
    )
}

// ---------------------------------------------------------------------------
// Timestamp

/// A hybrid logical clock timestamp: `millis` (epoch ms, u64), `counter`
/// (u32) and `node_id`. Ordered by millis, then counter, then node id;
/// hashable.
#[pyclass(frozen, eq, ord, hash, module = "topgun_storage", name = "Timestamp")]
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PyTimestamp(pub(crate) Timestamp);

#[pymethods]
impl PyTimestamp {
    #[new]
    fn new(
        py: Python<'_>,
        millis: &Bound<'_, PyAny>,
        counter: &Bound<'_, PyAny>,
        node_id: &str,
    ) -> PyResult<Self> {
        Ok(Self(Timestamp::new(
            int_in(py, millis, "millis", MILLIS_RANGE, ErrorCode::ValueRange)?,
            int_in(py, counter, "counter", U32_RANGE, ErrorCode::ValueRange)?,
            node_id,
        )))
    }

    /// Wall-clock part, epoch milliseconds.
    #[getter]
    fn millis(&self) -> u64 {
        self.0.millis
    }

    /// Logical counter within one millisecond.
    #[getter]
    fn counter(&self) -> u32 {
        self.0.counter
    }

    /// The id of the node that issued the timestamp.
    #[getter]
    fn node_id(&self) -> &str {
        &self.0.node_id
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Timestamp(millis={}, counter={}, node_id={})",
            self.0.millis,
            self.0.counter,
            str_repr(py, &self.0.node_id)?
        ))
    }

    /// `{"millis": ..., "counter": ..., "nodeId": ...}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let tree = codec::record_value_to_value(&RecordValue::lww(Value::Null, self.0.clone()));
        match tree {
            Value::Map(m) => match m.get("timestamp") {
                Some(ts) => value_to_py(py, ts),
                None => Ok(py.None().into_bound(py)),
            },
            other => value_to_py(py, &other),
        }
    }

    /// Reads `{"millis": ..., "counter": ..., "nodeId": ...}`.
    #[staticmethod]
    fn from_dict(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let d = dict_arg(data)?;
        let tree = convert::envelope_from_py(d.as_any()).map_err(|e| e.into_pyerr(py, "$"))?;
        let wrapped: Value = [("value", Value::Null), ("timestamp", tree)]
            .into_iter()
            .collect();
        match codec::record_value_from_value(wrapped) {
            Ok(RecordValue::Lww { timestamp, .. }) => Ok(Self(timestamp)),
            Ok(other) => Err(wrong_variant(py, "a timestamp", &other)),
            Err(e) => Err(rerooted(py, &e, "$.timestamp")),
        }
    }
}

// ---------------------------------------------------------------------------
// LwwRecord

/// A last-writer-wins record: `value` (any supported value, `None` is a
/// tombstone), its `timestamp`, and the client's `ttl_ms` (the TS `ttlMs`
/// field, kept as data; the store's own expiry is set with `put(ttl=...)`).
#[pyclass(frozen, eq, module = "topgun_storage", name = "LwwRecord")]
#[derive(Clone, PartialEq)]
pub(crate) struct LwwRecord {
    value: Value,
    timestamp: Timestamp,
    ttl_ms: Option<u64>,
}

impl LwwRecord {
    fn to_record(&self) -> RecordValue {
        RecordValue::Lww {
            value: self.value.clone(),
            timestamp: self.timestamp.clone(),
            ttl_ms: self.ttl_ms,
        }
    }
}

#[pymethods]
impl LwwRecord {
    #[new]
    #[pyo3(signature = (value, timestamp, ttl_ms = None))]
    fn new(
        py: Python<'_>,
        value: &Bound<'_, PyAny>,
        timestamp: PyRef<'_, PyTimestamp>,
        ttl_ms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(Self {
            value: user_value(py, value)?,
            timestamp: timestamp.0.clone(),
            ttl_ms: ttl_ms_arg(py, ttl_ms)?,
        })
    }

    /// The value (a new Python object on each access).
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        value_to_py(py, &self.value)
    }

    /// The write's HLC timestamp.
    #[getter]
    fn timestamp(&self) -> PyTimestamp {
        PyTimestamp(self.timestamp.clone())
    }

    /// The client's time to live in milliseconds (TS `ttlMs`), or `None`.
    #[getter]
    fn ttl_ms(&self) -> Option<u64> {
        self.ttl_ms
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "LwwRecord(value={}, timestamp={}, ttl_ms={})",
            repr_of(py, &self.value)?,
            PyTimestamp(self.timestamp.clone()).__repr__(py)?,
            opt_repr(self.ttl_ms)
        ))
    }

    /// `{"value": ..., "timestamp": {...}, "ttlMs": ...}` (`ttlMs` only
    /// when set).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        record_to_dict(py, &self.to_record())
    }

    /// Reads the TS shape of an LWW record.
    #[staticmethod]
    fn from_dict(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        match record_from_dict(py, dict_arg(data)?)? {
            RecordValue::Lww {
                value,
                timestamp,
                ttl_ms,
            } => Ok(Self {
                value,
                timestamp,
                ttl_ms,
            }),
            other => Err(wrong_variant(py, "an LWW record", &other)),
        }
    }
}

// ---------------------------------------------------------------------------
// OrMapRecord / OrMapValue

/// One entry of an observed-remove map value: `value`, `timestamp`, the
/// unique `tag` of the add, and the client's `ttl_ms`.
#[pyclass(frozen, eq, module = "topgun_storage", name = "OrMapRecord")]
#[derive(Clone, PartialEq)]
pub(crate) struct OrMapRecord(OrMapEntry);

#[pymethods]
impl OrMapRecord {
    #[new]
    #[pyo3(signature = (value, timestamp, tag, ttl_ms = None))]
    fn new(
        py: Python<'_>,
        value: &Bound<'_, PyAny>,
        timestamp: PyRef<'_, PyTimestamp>,
        tag: &str,
        ttl_ms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(Self(OrMapEntry {
            value: user_value(py, value)?,
            timestamp: timestamp.0.clone(),
            tag: tag.to_owned(),
            ttl_ms: ttl_ms_arg(py, ttl_ms)?,
        }))
    }

    /// The entry's value (a new Python object on each access).
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        value_to_py(py, &self.0.value)
    }

    /// When the entry was added.
    #[getter]
    fn timestamp(&self) -> PyTimestamp {
        PyTimestamp(self.0.timestamp.clone())
    }

    /// The unique tag of this add.
    #[getter]
    fn tag(&self) -> &str {
        &self.0.tag
    }

    /// The client's time to live in milliseconds (TS `ttlMs`), or `None`.
    #[getter]
    fn ttl_ms(&self) -> Option<u64> {
        self.0.ttl_ms
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "OrMapRecord(value={}, timestamp={}, tag={}, ttl_ms={})",
            repr_of(py, &self.0.value)?,
            PyTimestamp(self.0.timestamp.clone()).__repr__(py)?,
            str_repr(py, &self.0.tag)?,
            opt_repr(self.0.ttl_ms)
        ))
    }

    /// `{"value": ..., "timestamp": {...}, "tag": ..., "ttlMs": ...}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let tree = codec::record_value_to_value(&RecordValue::OrMap {
            records: vec![self.0.clone()],
        });
        let entry = match tree {
            Value::Map(m) => match m.get("records") {
                Some(Value::Array(items)) => items.first().cloned(),
                _ => None,
            },
            _ => None,
        };
        value_to_py(py, &entry.unwrap_or(Value::Null))
    }

    /// Reads the TS shape of one OR-map entry.
    #[staticmethod]
    fn from_dict(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let d = dict_arg(data)?;
        let tree = convert::envelope_from_py(d.as_any()).map_err(|e| e.into_pyerr(py, "$"))?;
        let wrapped: Value = [
            ("type", Value::from("OR")),
            ("records", Value::Array(vec![tree])),
        ]
        .into_iter()
        .collect();
        match codec::record_value_from_value(wrapped) {
            Ok(RecordValue::OrMap { mut records }) if records.len() == 1 => {
                Ok(Self(records.remove(0)))
            }
            Ok(other) => Err(wrong_variant(py, "an OR-map entry", &other)),
            Err(e) => Err(rerooted(py, &e, "$.records[0]")),
        }
    }
}

/// An observed-remove map value: its live `records` (`OrMapRecord`s).
#[pyclass(frozen, eq, module = "topgun_storage", name = "OrMapValue")]
#[derive(Clone, PartialEq)]
pub(crate) struct OrMapValue {
    records: Vec<OrMapEntry>,
}

#[pymethods]
impl OrMapValue {
    #[new]
    fn new(records: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut out = Vec::new();
        for item in records.try_iter()? {
            let item = item?;
            let entry = item.cast::<OrMapRecord>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "records must be OrMapRecord objects, not {}",
                    item.get_type()
                        .name()
                        .map_or_else(|_| "object".to_owned(), |n| n.to_string())
                ))
            })?;
            out.push(entry.get().0.clone());
        }
        Ok(Self { records: out })
    }

    /// The entries, as a new list of `OrMapRecord`.
    #[getter]
    fn records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .records
            .iter()
            .map(|e| Bound::new(py, OrMapRecord(e.clone())))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    fn __len__(&self) -> usize {
        self.records.len()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let parts = self
            .records
            .iter()
            .map(|e| OrMapRecord(e.clone()).__repr__(py))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(format!("OrMapValue(records=[{}])", parts.join(", ")))
    }

    /// `{"type": "OR", "records": [...]}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        record_to_dict(
            py,
            &RecordValue::OrMap {
                records: self.records.clone(),
            },
        )
    }

    /// Reads `{"type": "OR", "records": [...]}`.
    #[staticmethod]
    fn from_dict(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        match record_from_dict(py, dict_arg(data)?)? {
            RecordValue::OrMap { records } => Ok(Self { records }),
            other => Err(wrong_variant(py, "an OR value", &other)),
        }
    }
}

// ---------------------------------------------------------------------------
// OrTombstones

/// The removed tags of an observed-remove map (TopGun keeps them under the
/// key `__tombstones__`).
#[pyclass(frozen, eq, module = "topgun_storage", name = "OrTombstones")]
#[derive(Clone, PartialEq)]
pub(crate) struct OrTombstones {
    tags: Vec<String>,
}

#[pymethods]
impl OrTombstones {
    #[new]
    fn new(tags: &Bound<'_, PyAny>) -> PyResult<Self> {
        if tags.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "tags must be an iterable of str, not a single str",
            ));
        }
        let mut out = Vec::new();
        for item in tags.try_iter()? {
            let item = item?;
            let tag = item.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "tags must be str, not {}",
                    item.get_type()
                        .name()
                        .map_or_else(|_| "object".to_owned(), |n| n.to_string())
                ))
            })?;
            out.push(tag.to_str()?.to_owned());
        }
        Ok(Self { tags: out })
    }

    /// The tags, as a new list of str.
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.tags.clone()
    }

    fn __len__(&self) -> usize {
        self.tags.len()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let parts = self
            .tags
            .iter()
            .map(|t| str_repr(py, t))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(format!("OrTombstones(tags=[{}])", parts.join(", ")))
    }

    /// `{"type": "OR_TOMBSTONES", "tags": [...]}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        record_to_dict(
            py,
            &RecordValue::OrTombstones {
                tags: self.tags.clone(),
            },
        )
    }

    /// Reads `{"type": "OR_TOMBSTONES", "tags": [...]}`.
    #[staticmethod]
    fn from_dict(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        match record_from_dict(py, dict_arg(data)?)? {
            RecordValue::OrTombstones { tags } => Ok(Self { tags }),
            other => Err(wrong_variant(py, "OR tombstones", &other)),
        }
    }
}

// ---------------------------------------------------------------------------
// Integer reports: RecordMetadata, Stats, MaintenanceReport

/// The integer types the reports use, with their ranges (for the checks and
/// their messages).
trait IntField: TryFrom<i128> + Copy + for<'a> IntoPyObject<'a> {
    const RANGE: RangeInclusive<i128>;
}
impl IntField for u32 {
    const RANGE: RangeInclusive<i128> = U32_RANGE;
}
impl IntField for u64 {
    const RANGE: RangeInclusive<i128> = 0..=u64::MAX as i128;
}
impl IntField for i64 {
    const RANGE: RangeInclusive<i128> = i64::MIN as i128..=i64::MAX as i128;
}

/// Reads one field of a report's `from_dict`: a wrong type is a shape error.
fn report_field<T: IntField>(py: Python<'_>, v: &Bound<'_, PyAny>, name: &str) -> PyResult<T> {
    use pyo3::types::{PyBool, PyInt};
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        let path = format!("$.{name}");
        return Err(errors::error(
            py,
            ErrorCode::ValueShape,
            format!("expected integer, found {} at {path}", v.get_type().name()?),
            Some(path),
        ));
    }
    let path = format!("$.{name}");
    v.extract::<i128>()
        .ok()
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| {
            errors::error(
                py,
                ErrorCode::ValueRange,
                format!(
                    "{name} must be in {} ..= {} at {path}",
                    convert::bound_text(*T::RANGE.start()),
                    convert::bound_text(*T::RANGE.end())
                ),
                Some(path.clone()),
            )
        })
}

#[cold]
fn shape_at_root(py: Python<'_>, message: String) -> PyErr {
    errors::error(
        py,
        ErrorCode::ValueShape,
        format!("{message} at $"),
        Some("$".to_owned()),
    )
}

/// Defines a frozen report class over a core struct of integer fields, with
/// a keyword-only constructor (missing fields are 0), getters, `to_dict`,
/// `from_dict` (every field required, no others), `__eq__` and `__repr__`.
macro_rules! report_class {
    (
        $(#[$meta:meta])*
        $rust:ident => $py:literal wraps $core:ty {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[pyclass(frozen, eq, module = "topgun_storage", name = $py)]
        #[derive(Clone, PartialEq, Eq)]
        pub(crate) struct $rust(pub(crate) $core);

        #[pymethods]
        impl $rust {
            #[new]
            #[pyo3(signature = (*, $($field = None),*))]
            #[allow(clippy::too_many_arguments)]
            fn new(py: Python<'_>, $($field: Option<&Bound<'_, PyAny>>),*) -> PyResult<Self> {
                let mut inner = <$core>::default();
                $(
                    if let Some(v) = $field {
                        inner.$field = int_in::<$ty>(
                            py,
                            v,
                            stringify!($field),
                            <$ty as IntField>::RANGE,
                            ErrorCode::ValueRange,
                        )?;
                    }
                )*
                Ok(Self(inner))
            }

            $(
                $(#[$fmeta])*
                #[getter]
                fn $field(&self) -> $ty {
                    self.0.$field
                }
            )*

            /// Every field by name.
            fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                let d = PyDict::new(py);
                $( d.set_item(stringify!($field), self.0.$field)?; )*
                Ok(d)
            }

            /// Reads what `to_dict` gives: every field, no others.
            #[staticmethod]
            fn from_dict(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
                let d = dict_arg(data)?;
                const FIELDS: &[&str] = &[$(stringify!($field)),*];
                for key in d.keys() {
                    let known = key
                        .cast::<PyString>()
                        .ok()
                        .and_then(|k| k.to_str().ok().map(|k| FIELDS.contains(&k)))
                        .unwrap_or(false);
                    if !known {
                        return Err(shape_at_root(py, format!("unknown field {}", key.repr()?)));
                    }
                }
                let mut inner = <$core>::default();
                $(
                    match d.get_item(stringify!($field))? {
                        Some(v) => inner.$field = report_field::<$ty>(py, &v, stringify!($field))?,
                        None => {
                            return Err(shape_at_root(
                                py,
                                format!("missing field `{}`", stringify!($field)),
                            ))
                        }
                    }
                )*
                Ok(Self(inner))
            }

            fn __repr__(&self) -> String {
                let parts: Vec<String> = vec![$(format!("{}={}", stringify!($field), self.0.$field)),*];
                format!("{}({})", $py, parts.join(", "))
            }
        }
    };
}

report_class! {
    /// Server-side bookkeeping of one record (times are epoch ms of the
    /// store's clock).
    RecordMetadata => "RecordMetadata" wraps CoreMetadata {
        /// Write count, 1 for a new record.
        version: u32,
        /// When the record was created.
        creation_time: i64,
        /// When the record was last read or written.
        last_access_time: i64,
        /// When the record was last written.
        last_update_time: i64,
        /// When the record was last written to the data store; 0 if never.
        last_stored_time: i64,
        /// Reads since creation.
        hits: u32,
        /// The entry's cost in bytes (key + MessagePack value).
        cost: u64,
        /// The record's own time to live in ms; 0 means the store default.
        ttl_millis: u64,
        /// The record's own max idle time in ms; 0 means the store default.
        max_idle_millis: u64,
    }
}

report_class! {
    /// The store's counters at one moment.
    Stats => "Stats" wraps StoreStats {
        /// Reads by key that found a live record.
        hits: u64,
        /// Reads by key that found nothing.
        misses: u64,
        /// Writes that created a record.
        puts: u64,
        /// Writes that replaced a live record.
        updates: u64,
        /// Records removed by callers.
        removes: u64,
        /// Records evicted to respect the bounds.
        evictions: u64,
        /// Records removed because they expired.
        expirations: u64,
        /// Records in memory now (may include expired ones not yet removed).
        entry_count: u64,
        /// Sum of the records' costs now.
        total_cost: u64,
        /// Observer calls that panicked inside Rust (Python exceptions in
        /// callbacks are reported as warnings instead).
        observer_panics: u64,
    }
}

report_class! {
    /// What one `Storage.maintain()` pass did.
    MaintenanceReport => "MaintenanceReport" wraps CoreReport {
        /// Entries looked at by the expiry sweep.
        scanned: u64,
        /// Expired records removed.
        expired: u64,
        /// Records evicted to get back within bounds.
        evicted: u64,
    }
}

/// Metadata object for a record's metadata.
pub(crate) fn metadata_into_py(py: Python<'_>, m: CoreMetadata) -> PyResult<Bound<'_, PyAny>> {
    Ok(Bound::new(py, RecordMetadata(m))?.into_any())
}

/// `(key, value, metadata)` for a fetched or sampled entry.
pub(crate) fn entry_into_py(
    py: Python<'_>,
    key: String,
    record: Record,
) -> PyResult<Bound<'_, PyAny>> {
    let value = record_value_into_py(py, record.value)?;
    let meta = metadata_into_py(py, record.metadata)?;
    Ok((key, value, meta).into_pyobject(py)?.into_any())
}

// ---------------------------------------------------------------------------
// StoreEvent

/// One change reported to an observer: `kind` (`"put"`, `"update"`,
/// `"remove"`, `"evict"`, `"expire"`, `"load"`, `"clear"`, `"reset"`,
/// `"destroy"`), the `key` (`""` for store-wide events), the record's
/// `value` and `metadata` (after a put/update/load, the removed record for
/// remove/evict/expire, `None` for store-wide events), the `old_value`
/// replaced by an update, the expiry `reason` (`"ttl"` or `"max_idle"`) and
/// `is_backup`.
#[pyclass(frozen, module = "topgun_storage", name = "StoreEvent")]
pub(crate) struct PyStoreEvent {
    kind: &'static str,
    key: String,
    record: Option<Record>,
    old_value: Option<RecordValue>,
    reason: Option<&'static str>,
    is_backup: bool,
}

impl PyStoreEvent {
    /// Copies what a core event borrows.
    pub(crate) fn from_core(e: &CoreEvent<'_>) -> Self {
        Self {
            kind: e.kind.as_str(),
            key: e.key.to_owned(),
            record: e.record.cloned(),
            old_value: e.old_value.cloned(),
            reason: match e.reason {
                Some(ExpiryReason::Ttl) => Some("ttl"),
                Some(ExpiryReason::MaxIdle) => Some("max_idle"),
                _ => None,
            },
            is_backup: e.is_backup,
        }
    }

    pub(crate) fn kind_str(&self) -> &'static str {
        self.kind
    }

    pub(crate) fn key_str(&self) -> &str {
        &self.key
    }
}

#[pymethods]
impl PyStoreEvent {
    /// What happened.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// The key concerned; `""` for store-wide events.
    #[getter]
    fn key(&self) -> &str {
        &self.key
    }

    /// The record's value, or `None` for store-wide events.
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.record {
            Some(r) => record_value_into_py(py, r.value.clone()),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// The record's metadata, or `None` for store-wide events.
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.record {
            Some(r) => metadata_into_py(py, r.metadata),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// The value an update replaced, else `None`.
    #[getter]
    fn old_value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.old_value {
            Some(v) => record_value_into_py(py, v.clone()),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// Why the record expired (`"ttl"` or `"max_idle"`), else `None`.
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        self.reason
    }

    /// Whether the change was made in the backup role.
    #[getter]
    fn is_backup(&self) -> bool {
        self.is_backup
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "StoreEvent(kind={}, key={}, value={}, reason={}, is_backup={})",
            str_repr(py, self.kind)?,
            str_repr(py, &self.key)?,
            self.value(py)?.repr()?,
            self.reason
                .map_or_else(|| Ok("None".to_owned()), |r| str_repr(py, r))?,
            if self.is_backup { "True" } else { "False" }
        ))
    }
}
