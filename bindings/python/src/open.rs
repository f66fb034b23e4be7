//! The durable keyword arguments of `Storage(...)` (`path`, `dsn`,
//! `backend`, `durability`, `write_behind`, `options`) turned into the core's
//! [`DataStoreSpec`], which owns every name, check and default
//! (docs/python.md, "Durable stores"). This module only converts Python
//! objects to the text the spec reads, and checks the two things that are
//! about this binding's own keywords: which of `path` / `dsn` a backend
//! takes, and an option given both as a keyword and in `options`.

use crate::errors;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyString};
use std::path::PathBuf;
use topgun_storage_core::{BackendKind, DataStoreSpec};

/// The durable keyword arguments, as `Storage.__new__` received them.
pub(crate) struct DurableArgs<'a, 'py> {
    pub(crate) path: Option<&'a Bound<'py, PyAny>>,
    pub(crate) dsn: Option<&'a str>,
    pub(crate) backend: Option<&'a str>,
    pub(crate) durability: Option<&'a str>,
    pub(crate) write_behind: Option<bool>,
    pub(crate) options: Option<&'a Bound<'py, PyDict>>,
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "object".to_owned(), |n| n.to_string())
}

/// `path` (`str` or `os.PathLike`) as UTF-8 text.
fn path_text(py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<String> {
    let buf: PathBuf = path.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "path must be a str or an os.PathLike, not {}",
            type_name(path)
        ))
    })?;
    match buf.into_os_string().into_string() {
        Ok(text) => Ok(text),
        Err(raw) => Err(errors::invalid_argument(
            py,
            format!("path {raw:?} is not valid UTF-8"),
        )),
    }
}

/// An option's value as the text the spec reads: `bool` as `true` /
/// `false`, `int` in decimal, `str` as it is; anything else a `TypeError`.
fn option_text(name: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(if b.is_true() { "true" } else { "false" }.to_owned());
    }
    if let Ok(i) = value.cast::<PyInt>() {
        return Ok(i.to_string());
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    Err(PyTypeError::new_err(format!(
        "option {name:?} must be a str, an int or a bool, not {}",
        type_name(value)
    )))
}

/// The data store to open, or `None` for a plain in-memory `Storage` (no
/// `path`, `dsn` or `backend`).
///
/// # Errors
/// `RejectedError` with the core's message for an unknown backend or
/// option, a bad value, a backend not built in or a missing location;
/// `InvalidArgumentError` for `path` and `dsn` together, the wrong one of
/// them for the backend, durable options without a backend, or an option
/// given twice; `TypeError` for an option of the wrong type.
pub(crate) fn data_store_spec(
    py: Python<'_>,
    args: &DurableArgs<'_, '_>,
) -> PyResult<Option<DataStoreSpec>> {
    let path = match args.path.filter(|p| !p.is_none()) {
        Some(p) => Some(path_text(py, p)?),
        None => None,
    };
    let backend = match (args.backend, &path, args.dsn) {
        (_, Some(_), Some(_)) => {
            return Err(errors::invalid_argument(
                py,
                "give path= (a file or directory) or dsn= (a PostgreSQL connection string), \
                 not both"
                    .to_owned(),
            ))
        }
        (Some(b), _, _) => b,
        (None, Some(_), None) => BackendKind::Redb.as_str(),
        (None, None, Some(_)) => BackendKind::Postgres.as_str(),
        (None, None, None) => {
            if args.durability.is_some() || args.write_behind.is_some() || args.options.is_some() {
                return Err(errors::invalid_argument(
                    py,
                    "durability, write_behind and options are for a durable store: \
                     give path=, dsn= or backend= too"
                        .to_owned(),
                ));
            }
            return Ok(None);
        }
    };
    let location = path.as_deref().or(args.dsn).unwrap_or_default();
    let mut spec =
        DataStoreSpec::parse(backend, location).map_err(|e| errors::data_store_error(py, &e))?;
    let kind = spec.backend();
    if kind == BackendKind::Postgres && path.is_some() {
        return Err(errors::invalid_argument(
            py,
            "the postgres backend takes dsn= (a connection string), not path=".to_owned(),
        ));
    }
    if kind != BackendKind::Postgres && args.dsn.is_some() {
        return Err(errors::invalid_argument(
            py,
            format!("the {kind} backend takes path=, not dsn= (dsn= is for postgres)"),
        ));
    }
    if let Some(options) = args.options {
        for (name, value) in options.iter() {
            let name = name.cast_into::<PyString>().map_err(|e| {
                PyTypeError::new_err(format!(
                    "option names must be str, not {}",
                    type_name(&e.into_inner())
                ))
            })?;
            let name = name.to_str()?;
            let twice = match name {
                "durability" => args.durability.is_some(),
                "write_behind" => args.write_behind.is_some(),
                _ => false,
            };
            if twice {
                return Err(errors::invalid_argument(
                    py,
                    format!("{name} given twice: as a keyword and in options"),
                ));
            }
            let value = option_text(name, &value)?;
            spec.set(name, &value)
                .map_err(|e| errors::data_store_error(py, &e))?;
        }
    }
    if let Some(durability) = args.durability {
        spec.set("durability", durability)
            .map_err(|e| errors::data_store_error(py, &e))?;
    }
    if let Some(write_behind) = args.write_behind {
        let text = if write_behind { "true" } else { "false" };
        spec.set("write_behind", text)
            .map_err(|e| errors::data_store_error(py, &e))?;
    }
    Ok(Some(spec))
}
