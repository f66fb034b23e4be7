//! Python objects <-> core [`Value`] trees, and argument helpers.
//!
//! | Python | `Value` |
//! |---|---|
//! | `None` | `Null` |
//! | `bool` (checked before `int`) | `Bool` |
//! | `int` in `-2**63 ..= 2**63-1` | `Int` (outside: `ValueRangeError`) |
//! | `float` | `Float` (`-0.0`, inf and NaN kept) |
//! | `str` | `String` |
//! | `bytes`, `bytearray` | `Bytes` (back as `bytes`) |
//! | `list`, `tuple` | `Array` (back as `list`) |
//! | `dict` with `str` keys | `Map`, key order kept (other keys: `TypeError`) |
//!
//! Anything else is a `TypeError` naming the type and where it was found
//! (`$.value.tags[2]`). Nesting deeper than the core's `MAX_DEPTH` (256 levels
//! counted from the user value, as the decoders count) is a
//! `MalformedValueError`; this also stops self-referencing lists.
//!
//! Converting from Python never runs Python code (no `__index__`,
//! `__float__` or `__iter__` of user classes is called), so the objects
//! cannot change while they are read.

use crate::errors;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDelta, PyDeltaAccess, PyDict, PyFloat, PyInt, PyList, PyString,
    PyTuple,
};
use topgun_storage_core::codec::MAX_DEPTH;
use topgun_storage_core::{ErrorCode, Value};

/// Why a Python object could not become a [`Value`]; `path` is relative to
/// the object converted (`""` is the object itself).
pub(crate) struct ConvError {
    kind: ConvKind,
    message: String,
    path: String,
}

enum ConvKind {
    /// Not a supported type: `TypeError`.
    Type,
    /// An int outside i64: `ValueRangeError`.
    Range,
    /// Too deeply nested: `MalformedValueError`.
    Depth,
    /// Python raised while reading (e.g. a `str` with lone surrogates).
    Python(PyErr),
}

impl ConvError {
    #[cold]
    fn new(kind: ConvKind, message: String) -> Self {
        Self {
            kind,
            message,
            path: String::new(),
        }
    }

    #[cold]
    fn in_key(mut self, key: &str) -> Self {
        let mut p = String::with_capacity(key.len() + self.path.len() + 4);
        push_key_segment(&mut p, key);
        p.push_str(&self.path);
        self.path = p;
        self
    }

    #[cold]
    fn in_index(mut self, index: usize) -> Self {
        self.path = format!("[{index}]{}", self.path);
        self
    }

    /// The Python exception, with `root` (e.g. `"$"` or `"$.value"`) before
    /// the relative path.
    #[cold]
    pub(crate) fn into_pyerr(self, py: Python<'_>, root: &str) -> PyErr {
        let path = format!("{root}{}", self.path);
        let message = format!("{} at {path}", self.message);
        match self.kind {
            ConvKind::Type => PyTypeError::new_err(message),
            ConvKind::Range => errors::error(py, ErrorCode::ValueRange, message, Some(path)),
            ConvKind::Depth => errors::error(py, ErrorCode::MalformedValue, message, Some(path)),
            ConvKind::Python(e) => e,
        }
    }
}

/// Appends `.key` for identifiers, `["key"]` (JSON-escaped) otherwise: the
/// path syntax of the core's `DecodeError`.
pub(crate) fn push_key_segment(out: &mut String, key: &str) {
    let mut bytes = key.bytes();
    let identifier = matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if identifier {
        out.push('.');
        out.push_str(key);
        return;
    }
    out.push_str("[\"");
    for c in key.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push_str("\"]");
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "object".to_owned(), |n| n.to_string())
}

/// Converts a user value: containers may nest `MAX_DEPTH` levels.
pub(crate) fn value_from_py(obj: &Bound<'_, PyAny>) -> Result<Value, ConvError> {
    convert(obj, MAX_DEPTH)
}

/// Converts a record envelope (a TS-shaped dict): the envelope itself may add
/// up to three levels (`{records: [{value: ...}]}`) above the user values;
/// the caller checks the user values' own depth afterwards
/// ([`exceeds_depth`]).
pub(crate) fn envelope_from_py(obj: &Bound<'_, PyAny>) -> Result<Value, ConvError> {
    convert(obj, MAX_DEPTH + 3)
}

/// Whether `v` nests deeper than `MAX_DEPTH` (a bare array is depth 1).
pub(crate) fn exceeds_depth(v: &Value) -> bool {
    fn deeper(v: &Value, left: usize) -> bool {
        match v {
            Value::Array(items) => left == 0 || items.iter().any(|x| deeper(x, left - 1)),
            Value::Map(m) => left == 0 || m.values().any(|x| deeper(x, left - 1)),
            _ => false,
        }
    }
    deeper(v, MAX_DEPTH)
}

fn too_deep() -> ConvError {
    ConvError::new(
        ConvKind::Depth,
        format!("nesting deeper than {MAX_DEPTH} levels"),
    )
}

fn convert(obj: &Bound<'_, PyAny>, depth_left: usize) -> Result<Value, ConvError> {
    // The common exact types first; subclasses are handled below.
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(s) = obj.cast_exact::<PyString>() {
        return str_value(s);
    }
    // bool is a subclass of int: test it first.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        return int_value(i);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let left = depth_left.checked_sub(1).ok_or_else(too_deep)?;
        let mut map = topgun_storage_core::ValueMap::with_capacity(d.len());
        for (k, v) in d.iter() {
            let Ok(k) = k.cast::<PyString>() else {
                return Err(ConvError::new(
                    ConvKind::Type,
                    format!("dict keys must be str, found {}", type_name(&k)),
                ));
            };
            let k = k
                .to_str()
                .map_err(|e| ConvError::new(ConvKind::Python(e), String::new()))?;
            let item = convert(&v, left).map_err(|e| e.in_key(k))?;
            map.insert(k.to_owned(), item);
        }
        return Ok(Value::from(map));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        let left = depth_left.checked_sub(1).ok_or_else(too_deep)?;
        let mut items = Vec::with_capacity(l.len());
        for (i, v) in l.iter().enumerate() {
            items.push(convert(&v, left).map_err(|e| e.in_index(i))?);
        }
        return Ok(Value::Array(items));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let left = depth_left.checked_sub(1).ok_or_else(too_deep)?;
        let mut items = Vec::with_capacity(t.len());
        for (i, v) in t.iter().enumerate() {
            items.push(convert(&v, left).map_err(|e| e.in_index(i))?);
        }
        return Ok(Value::Array(items));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return str_value(s);
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Value::Bytes(b.to_vec()));
    }
    Err(ConvError::new(
        ConvKind::Type,
        format!(
            "unsupported type {}: expected None, bool, int, float, str, bytes, list, tuple or dict",
            type_name(obj)
        ),
    ))
}

fn str_value(s: &Bound<'_, PyString>) -> Result<Value, ConvError> {
    match s.to_str() {
        Ok(s) => Ok(Value::String(s.to_owned())),
        Err(e) => Err(ConvError::new(ConvKind::Python(e), String::new())),
    }
}

fn int_value(i: &Bound<'_, PyInt>) -> Result<Value, ConvError> {
    match i.extract::<i64>() {
        Ok(n) => Ok(Value::Int(n)),
        Err(_) => Err(ConvError::new(
            ConvKind::Range,
            format!(
                "integer {} is outside the signed 64-bit range -2**63 ..= 2**63-1",
                i.repr().map_or_else(|_| "?".to_owned(), |r| r.to_string())
            ),
        )),
    }
}

/// Converts a [`Value`] to the Python object of the table in the module docs.
///
/// # Errors
/// Only on allocation failure inside Python.
pub(crate) fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => PyFloat::new(py, *f).into_any(),
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        Value::Array(items) => {
            let converted = items
                .iter()
                .map(|x| value_to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, converted)?.into_any()
        }
        Value::Map(m) => {
            let d = PyDict::new(py);
            for (k, x) in m.iter() {
                d.set_item(PyString::new(py, k), value_to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// An integer argument in `T`'s range: `TypeError` for a non-int (or a
/// bool), `ValueRangeError` when out of range. `what` names the argument.
///
/// # Errors
/// As above.
pub(crate) fn int_arg<T: TryFrom<i128>>(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    what: &str,
    range: &str,
) -> PyResult<T> {
    if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int, not {}",
            type_name(obj)
        )));
    }
    let out_of_range = || {
        errors::error(
            py,
            ErrorCode::ValueRange,
            format!("{what} must be in {range}"),
            None,
        )
    };
    let wide: i128 = obj.extract().map_err(|_| out_of_range())?;
    T::try_from(wide).map_err(|_| out_of_range())
}

/// A duration in milliseconds from an `int` (ms) or a `datetime.timedelta`,
/// or `None`. Must be at least 1 ms: `InvalidArgumentError` otherwise.
///
/// # Errors
/// `TypeError` for other types, `InvalidArgumentError` for values below 1 ms.
pub(crate) fn millis_arg(
    py: Python<'_>,
    obj: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<u64> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(0);
    };
    let ms: i128 = if let Ok(delta) = obj.cast::<PyDelta>() {
        i128::from(delta.get_days()) * 86_400_000
            + i128::from(delta.get_seconds()) * 1_000
            + i128::from(delta.get_microseconds()) / 1_000
    } else if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        match obj.extract::<i128>() {
            Ok(ms) => ms,
            // Beyond i128: only the sign matters.
            Err(_) if obj.gt(0)? => i128::MAX,
            Err(_) => i128::MIN,
        }
    } else {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int (milliseconds), a datetime.timedelta or None, not {}",
            type_name(obj)
        )));
    };
    if ms < 1 {
        return Err(errors::invalid_argument(
            py,
            format!("{what} must be at least 1 millisecond (None for no limit), got {ms} ms"),
        ));
    }
    Ok(u64::try_from(ms).unwrap_or(u64::MAX))
}
