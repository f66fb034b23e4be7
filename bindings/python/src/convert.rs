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
//! (`$.value.tags[2]`, in the core's path syntax). Nesting deeper than the
//! core's `MAX_DEPTH` (256 levels counted from the user value, as the
//! decoders count) is a `MalformedValueError`; this also stops
//! self-referencing lists. Both directions run as loops over an explicit
//! stack (the core's `ValueBuilder` and `walk`), never recursing, so no
//! nesting can exhaust the native stack.
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
use std::ops::RangeInclusive;
use topgun_storage_core::codec::{walk, DecodeError, ValueBuilder, Visit};
use topgun_storage_core::{ErrorCode, Value, MAX_EXPIRY_MILLIS};

/// Why a Python object could not become a [`Value`]; `path` is relative to
/// the object converted (`$` is the object itself), in the core's syntax.
pub(crate) struct ConvError {
    kind: ConvKind,
    message: String,
    path: String,
}

enum ConvKind {
    /// Not a supported type: `TypeError`.
    Type,
    /// A core category (an int outside i64: `ValueRangeError`; too deep:
    /// `MalformedValueError`).
    Core(ErrorCode),
    /// Python raised while reading (e.g. a `str` with lone surrogates).
    Python(PyErr),
}

impl ConvError {
    /// An error about the item the builder expects next.
    #[cold]
    fn at(builder: &ValueBuilder, kind: ConvKind, message: String) -> Self {
        Self {
            kind,
            message,
            path: builder.path().to_string(),
        }
    }

    /// An error of the core's builder (it knows its own path).
    #[cold]
    fn core(e: &DecodeError) -> Self {
        Self {
            kind: ConvKind::Core(ErrorCode::from(e)),
            message: e.message().to_owned(),
            path: e.path().to_owned(),
        }
    }

    /// The Python exception, with `root` (e.g. `"$"` or `"$.value"`) before
    /// the relative path.
    #[cold]
    pub(crate) fn into_pyerr(self, py: Python<'_>, root: &str) -> PyErr {
        let path = format!(
            "{root}{}",
            self.path.strip_prefix('$').unwrap_or(&self.path)
        );
        let text = format!("{} at {path}", self.message);
        match self.kind {
            ConvKind::Type => PyTypeError::new_err(text),
            ConvKind::Core(code) => errors::error(py, code, text, Some(path)),
            ConvKind::Python(e) => e,
        }
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "object".to_owned(), |n| n.to_string())
}

/// Converts a user value: containers may nest `MAX_DEPTH` levels.
pub(crate) fn value_from_py(obj: &Bound<'_, PyAny>) -> Result<Value, ConvError> {
    convert(obj, ValueBuilder::default())
}

/// Converts a record envelope (a TS-shaped dict): the envelope may add up to
/// `ENVELOPE_DEPTH` levels above the user values, whose own depth the core
/// checks when it reads the envelope (`record_value_from_value`).
pub(crate) fn envelope_from_py(obj: &Bound<'_, PyAny>) -> Result<Value, ConvError> {
    convert(obj, ValueBuilder::for_record())
}

/// A container being read.
enum Frame<'py> {
    Dict(pyo3::types::iter::BoundDictIterator<'py>),
    List(pyo3::types::iter::BoundListIterator<'py>),
    Tuple(pyo3::types::iter::BoundTupleIterator<'py>),
}

/// What one Python object is, for the walk.
enum Item<'py> {
    Scalar(Value),
    Dict(Bound<'py, PyDict>),
    /// Walked in place: no copy of the items.
    List(Bound<'py, PyList>),
    Tuple(Bound<'py, PyTuple>),
}

/// Converts `root` with a loop and an explicit stack (no recursion, so no
/// depth of Python data can exhaust the native stack), feeding the core's
/// [`ValueBuilder`], which counts depth and knows the path of every item.
fn convert(root: &Bound<'_, PyAny>, mut builder: ValueBuilder) -> Result<Value, ConvError> {
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut next = Some(root.clone());
    loop {
        if let Some(obj) = next.take() {
            match classify(&obj)
                .map_err(|(kind, message)| ConvError::at(&builder, kind, message))?
            {
                Item::Scalar(v) => {
                    if let Some(done) = builder.value(v) {
                        return Ok(done);
                    }
                }
                Item::Dict(d) => {
                    builder
                        .begin_map(d.len())
                        .map_err(|e| ConvError::core(&e))?;
                    stack.push(Frame::Dict(d.iter()));
                }
                Item::List(list) => {
                    builder
                        .begin_array(list.len())
                        .map_err(|e| ConvError::core(&e))?;
                    stack.push(Frame::List(list.iter()));
                }
                Item::Tuple(tuple) => {
                    builder
                        .begin_array(tuple.len())
                        .map_err(|e| ConvError::core(&e))?;
                    stack.push(Frame::Tuple(tuple.iter()));
                }
            }
        }
        let Some(top) = stack.last_mut() else {
            // Only a scalar root leaves nothing open, and it returned above.
            return Ok(Value::Null);
        };
        match top {
            Frame::Dict(entries) => {
                if let Some((k, v)) = entries.next() {
                    let Ok(k) = k.cast::<PyString>() else {
                        return Err(ConvError::at(
                            &builder,
                            ConvKind::Type,
                            format!("dict keys must be str, found {}", type_name(&k)),
                        ));
                    };
                    let k = k
                        .to_str()
                        .map_err(|e| ConvError::at(&builder, ConvKind::Python(e), String::new()))?;
                    builder.key(k.to_owned());
                    next = Some(v);
                }
            }
            Frame::List(items) => next = items.next(),
            Frame::Tuple(items) => next = items.next(),
        }
        if next.is_none() {
            stack.pop();
            if let Some(done) = builder.end() {
                return Ok(done);
            }
        }
    }
}

/// What `obj` is: a scalar (converted), or a container to walk into.
fn classify<'py>(obj: &Bound<'py, PyAny>) -> Result<Item<'py>, (ConvKind, String)> {
    // The common exact types first; subclasses are handled below.
    if obj.is_none() {
        return Ok(Item::Scalar(Value::Null));
    }
    if let Ok(s) = obj.cast_exact::<PyString>() {
        return str_value(s).map(Item::Scalar);
    }
    // bool is a subclass of int: test it first.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Item::Scalar(Value::Bool(b.is_true())));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        return int_value(i).map(Item::Scalar);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Item::Scalar(Value::Float(f.value())));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return Ok(Item::Dict(d.clone()));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return Ok(Item::List(l.clone()));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return Ok(Item::Tuple(t.clone()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return str_value(s).map(Item::Scalar);
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Item::Scalar(Value::Bytes(b.as_bytes().to_vec())));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Item::Scalar(Value::Bytes(b.to_vec())));
    }
    Err((
        ConvKind::Type,
        format!(
            "unsupported type {}: expected None, bool, int, float, str, bytes, list, tuple or dict",
            type_name(obj)
        ),
    ))
}

fn str_value(s: &Bound<'_, PyString>) -> Result<Value, (ConvKind, String)> {
    match s.to_str() {
        Ok(s) => Ok(Value::String(s.to_owned())),
        Err(e) => Err((ConvKind::Python(e), String::new())),
    }
}

fn int_value(i: &Bound<'_, PyInt>) -> Result<Value, (ConvKind, String)> {
    match i.extract::<i64>() {
        Ok(n) => Ok(Value::Int(n)),
        Err(_) => Err((
            ConvKind::Core(ErrorCode::ValueRange),
            format!(
                "integer {} is outside the signed 64-bit range -2**63 ..= 2**63-1",
                i.repr().map_or_else(|_| "?".to_owned(), |r| r.to_string())
            ),
        )),
    }
}

/// A Python container being filled by [`value_to_py`].
enum Out<'py> {
    List(Vec<Bound<'py, PyAny>>),
    Dict(Bound<'py, PyDict>, Option<Bound<'py, PyString>>),
}

/// Converts a [`Value`] to the Python object of the table in the module
/// docs, with a loop over the core's [`walk`] (no recursion).
///
/// # Errors
/// Only on allocation failure inside Python.
pub(crate) fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    let mut stack: Vec<Out<'py>> = Vec::new();
    let mut root = None;
    let mut add = |stack: &mut Vec<Out<'py>>, obj: Bound<'py, PyAny>| -> PyResult<()> {
        match stack.last_mut() {
            None => root = Some(obj),
            Some(Out::List(items)) => items.push(obj),
            Some(Out::Dict(d, key)) => {
                if let Some(k) = key.take() {
                    d.set_item(k, obj)?;
                }
            }
        }
        Ok(())
    };
    walk(v, |step| match step {
        Visit::Scalar(s) => add(&mut stack, scalar_to_py(py, s)?),
        Visit::BeginArray(items) => {
            stack.push(Out::List(Vec::with_capacity(items.len())));
            Ok(())
        }
        Visit::BeginMap(_) => {
            stack.push(Out::Dict(PyDict::new(py), None));
            Ok(())
        }
        Visit::Key(k) => {
            if let Some(Out::Dict(_, key)) = stack.last_mut() {
                *key = Some(PyString::new(py, k));
            }
            Ok(())
        }
        Visit::End => {
            let done = match stack.pop() {
                Some(Out::List(items)) => PyList::new(py, items)?.into_any(),
                Some(Out::Dict(d, _)) => d.into_any(),
                None => return Ok(()),
            };
            add(&mut stack, done)
        }
    })?;
    Ok(root.unwrap_or_else(|| py.None().into_bound(py)))
}

fn scalar_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => PyFloat::new(py, *f).into_any(),
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        // Containers come through the walk; Null and anything else is None.
        _ => py.None().into_bound(py),
    })
}

/// An integer bound as messages show it: `2**63-1`, `-2**63`, `2**64`, or
/// the number itself when it is not near a power of two.
pub(crate) fn bound_text(n: i128) -> String {
    let m = n.unsigned_abs();
    let sign = if n < 0 { "-" } else { "" };
    if m >= 1 << 16 {
        if m.is_power_of_two() {
            return format!("{sign}2**{}", m.trailing_zeros());
        }
        if (m + 1).is_power_of_two() && n > 0 {
            return format!("2**{}-1", (m + 1).trailing_zeros());
        }
    }
    n.to_string()
}

/// What an int that failed a range check is shown as: its value, or its
/// size when it does not fit 128 bits (printing it whole could itself fail
/// on Python's limit of digits).
fn int_text(n: Option<i128>) -> String {
    n.map_or_else(|| "an int of more than 128 bits".to_owned(), bound_text)
}

/// An integer argument in `range`, as `T`: `TypeError` for a non-int (or a
/// bool); outside `range` (or beyond 128 bits) the error of `code`
/// (`InvalidArgumentError` for options and page sizes, `ValueRangeError` for
/// fields of values), whose message states `range` as checked:
/// `samples must be an int in 1 ..= 2**32-1, got 2**64`. `range` must lie
/// within `T`. `what` names the argument.
///
/// # Errors
/// As above.
pub(crate) fn int_in<T: TryFrom<i128>>(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    what: &str,
    range: RangeInclusive<i128>,
    code: ErrorCode,
) -> PyResult<T> {
    if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int, not {}",
            type_name(obj)
        )));
    }
    let wide: Option<i128> = obj.extract().ok();
    match wide
        .filter(|n| range.contains(n))
        .and_then(|n| T::try_from(n).ok())
    {
        Some(n) => Ok(n),
        None => Err(errors::error(
            py,
            code,
            format!(
                "{what} must be an int in {} ..= {}, got {}",
                bound_text(*range.start()),
                bound_text(*range.end()),
                int_text(wide)
            ),
            None,
        )),
    }
}

/// The range of `millis_arg`: at least 1 ms, at most the core's
/// `MAX_EXPIRY_MILLIS` (2**63-1, a record's `ttlMs` range).
const MILLIS_ARG: RangeInclusive<i128> = 1..=MAX_EXPIRY_MILLIS as i128;

/// A duration in milliseconds from an `int` (ms) or a `datetime.timedelta`
/// (whole milliseconds, exact), or `None` (0: no limit). In
/// `1 ..= 2**63-1` ms, else `InvalidArgumentError` with a message that says
/// so (nothing is saturated or rounded up).
///
/// # Errors
/// `TypeError` for other types, `InvalidArgumentError` outside the range.
pub(crate) fn millis_arg(
    py: Python<'_>,
    obj: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<u64> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(0);
    };
    let ms: Option<i128> = if let Ok(delta) = obj.cast::<PyDelta>() {
        Some(
            i128::from(delta.get_days()) * 86_400_000
                + i128::from(delta.get_seconds()) * 1_000
                + i128::from(delta.get_microseconds()) / 1_000,
        )
    } else if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        obj.extract::<i128>().ok()
    } else {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int (milliseconds), a datetime.timedelta or None, not {}",
            type_name(obj)
        )));
    };
    match ms.filter(|ms| MILLIS_ARG.contains(ms)).map(u64::try_from) {
        Some(Ok(ms)) => Ok(ms),
        _ => Err(errors::invalid_argument(
            py,
            format!(
                "{what} must be in {} ..= {} milliseconds (None for no limit), got {}",
                bound_text(*MILLIS_ARG.start()),
                bound_text(*MILLIS_ARG.end()),
                ms.map_or_else(|| int_text(None), |ms| format!("{} ms", bound_text(ms)))
            ),
        )),
    }
}
