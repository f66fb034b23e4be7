//! How failures reach JavaScript.
//!
//! Every failure inside the addon is a [`Failure`]: a wrong argument type
//! (thrown as a `TypeError` with `code: 'ERR_INVALID_ARG_TYPE'`), a storage
//! failure with a core [`ErrorCode`] (thrown as a `StorageError` with
//! `code: 'ERR_<CATEGORY>'`), or an N-API failure passed through as it is.
//!
//! `StorageError` is a JavaScript class (`lib/errors.js`); the package entry
//! registers it with the other helpers once per JavaScript environment (main
//! thread and each worker, see [`crate::helpers`]). Loaded without the
//! package entry, the addon throws plain `Error`s that carry the same
//! `name`, `code`, `message` and `path`.

use napi::bindgen_prelude::{FromNapiValue, Function, JsObjectValue, Object, ToNapiValue, Unknown};
use napi::JsValue;
use napi::{Env, Status};
use topgun_storage_core::codec::DecodeError;
use topgun_storage_core::{CursorError, DataStoreError, ErrorCode, StoreError};

/// The `code` of every `TypeError` the addon throws (Node's own code for a
/// wrong argument type).
pub const TYPE_ERROR_CODE: &str = "ERR_INVALID_ARG_TYPE";

/// The JavaScript `code` of a core error category: `ERR_` and the core's
/// name in capitals (`ErrorCode::ValueShape` -> `"ERR_VALUE_SHAPE"`), so the
/// core's table is the only one. Stable.
#[must_use]
pub fn code_name(code: ErrorCode) -> String {
    format!("ERR_{}", code.as_str().to_ascii_uppercase())
}

/// A failure on its way to JavaScript.
#[derive(Debug)]
pub enum Failure {
    /// An argument of the wrong JavaScript type: a `TypeError`.
    Type(String),
    /// A storage failure: a `StorageError` with this category, message and,
    /// for value errors, the path of the offending value (`$.value.a[2]`).
    Storage {
        /// The category (decides the `code`).
        code: ErrorCode,
        /// What went wrong.
        message: String,
        /// Where in the value, for value errors.
        path: Option<String>,
    },
    /// An N-API call failed (or an exception is already pending).
    Napi(napi::Error),
}

/// What the binding's functions return before the JavaScript boundary.
pub type Outcome<T> = std::result::Result<T, Failure>;

impl Failure {
    /// A `TypeError` with `message`.
    pub fn type_error(message: impl Into<String>) -> Self {
        Failure::Type(message.into())
    }

    /// A `StorageError` of category `code` with `message` and no path.
    pub fn storage(code: ErrorCode, message: impl Into<String>) -> Self {
        Failure::Storage {
            code,
            message: message.into(),
            path: None,
        }
    }

    /// A `StorageError` with code `ERR_INVALID_ARGUMENT`.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Failure::storage(ErrorCode::InvalidArgument, message)
    }

    /// Turns the failure into the JavaScript error object it stands for
    /// and wraps it so that napi-rs throws (or rejects with) exactly that
    /// object. Never fails: if building the object fails, the N-API error
    /// is returned instead.
    pub fn into_napi(self, env: &Env) -> napi::Error {
        match self {
            Failure::Napi(e) => e,
            Failure::Type(message) => {
                match build_type_error(env, &message) {
                    Ok(e) => e,
                    // Fall back to a thrown TypeError; napi-rs leaves a
                    // pending exception in place.
                    Err(_) => match env.throw_type_error(&message, Some(TYPE_ERROR_CODE)) {
                        Ok(()) => napi::Error::from_status(Status::PendingException),
                        Err(e) => e,
                    },
                }
            }
            Failure::Storage {
                code,
                message,
                path,
            } => match build_storage_error(env, code, &message, path.as_deref()) {
                Ok(e) => e,
                Err(e) => e,
            },
        }
    }
}

impl From<napi::Error> for Failure {
    fn from(e: napi::Error) -> Self {
        Failure::Napi(e)
    }
}

impl From<DecodeError> for Failure {
    fn from(e: DecodeError) -> Self {
        Failure::Storage {
            code: ErrorCode::from(&e),
            message: e.to_string(),
            path: Some(e.path().to_owned()),
        }
    }
}

impl From<CursorError> for Failure {
    fn from(e: CursorError) -> Self {
        Failure::storage(ErrorCode::from(&e), e.to_string())
    }
}

impl From<DataStoreError> for Failure {
    fn from(e: DataStoreError) -> Self {
        Failure::storage(ErrorCode::from(&e), e.message().to_owned())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::storage(ErrorCode::from(&e), e.to_string())
    }
}

/// Runs `f` and converts its failure for JavaScript (see
/// [`Failure::into_napi`]). Every exported method goes through this.
pub fn run<T>(env: &Env, f: impl FnOnce() -> Outcome<T>) -> napi::Result<T> {
    f().map_err(|failure| failure.into_napi(env))
}

fn build_storage_error(
    env: &Env,
    code: ErrorCode,
    message: &str,
    path: Option<&str>,
) -> napi::Result<napi::Error> {
    Ok(napi::Error::from(storage_error_object(
        env, code, message, path,
    )?))
}

/// The `StorageError` object of a failure, not thrown: what a batch of
/// queued calls on a durable store hands back for each call that failed
/// (see [`crate::lane`]).
///
/// # Errors
/// N-API failures only.
pub fn storage_error_value<'e>(
    env: &'e Env,
    code: ErrorCode,
    message: &str,
) -> napi::Result<Unknown<'e>> {
    storage_error_object(env, code, message, None)
}

fn storage_error_object<'e>(
    env: &'e Env,
    code: ErrorCode,
    message: &str,
    path: Option<&str>,
) -> napi::Result<Unknown<'e>> {
    let code = code_name(code);
    let mut error = match crate::helpers::get(env) {
        Ok(helpers) => {
            let path = match path {
                Some(p) => p.into_unknown(env)?,
                None => ().into_unknown(env)?,
            };
            let args = vec![
                message.into_unknown(env)?.raw(),
                code.as_str().into_unknown(env)?.raw(),
                path.raw(),
            ];
            return crate::helpers::construct(env, &helpers.storage_error, args);
        }
        // Loaded without the package entry: a plain Error with the same
        // name, code and path.
        Err(_) => env.create_error(napi::Error::new(Status::GenericFailure, message))?,
    };
    error.set_named_property("name", "StorageError")?;
    error.set_named_property("code", code.as_str())?;
    if let Some(path) = path {
        error.set_named_property("path", path)?;
    }
    Ok(error.to_unknown())
}

fn build_type_error(env: &Env, message: &str) -> napi::Result<napi::Error> {
    let global = env.get_global()?;
    let ctor: Function<String, Unknown<'static>> = global.get_named_property("TypeError")?;
    let error = ctor.new_instance(message.to_owned())?;
    let mut object = Object::from_unknown(error)?;
    object.set_named_property("code", TYPE_ERROR_CODE)?;
    Ok(napi::Error::from(error))
}

/// A short description of a JavaScript value's type for error messages:
/// `"undefined"`, `"null"`, `"number"`, `"array"`, `"object"`, ...
#[must_use]
pub fn describe(value: &Unknown<'_>) -> &'static str {
    use napi::ValueType;
    match value.get_type() {
        Ok(ValueType::Undefined) => "undefined",
        Ok(ValueType::Null) => "null",
        Ok(ValueType::Boolean) => "boolean",
        Ok(ValueType::Number) => "number",
        Ok(ValueType::String) => "string",
        Ok(ValueType::Symbol) => "symbol",
        Ok(ValueType::Function) => "function",
        Ok(ValueType::BigInt) => "bigint",
        Ok(ValueType::Object) => {
            use napi::JsValue;
            if value.is_array().unwrap_or(false) {
                "array"
            } else if value.is_typedarray().unwrap_or(false) {
                "typed array"
            } else {
                "object"
            }
        }
        Ok(_) | Err(_) => "unknown value",
    }
}
