//! Helpers shared by the codec unit tests.

use super::{DecodeError, DecodeErrorKind};
use crate::value::Value;
use std::fmt::Debug;

/// Builds a map value from pairs, in order.
pub(super) fn obj<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::Map(Box::new(
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    ))
}

/// The value decoding `input` gave, or a panic with the error.
#[track_caller]
pub(super) fn decoded<T>(input: &dyn Debug, result: Result<T, DecodeError>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{e} for {input:?}"),
    }
}

/// Asserts that decoding `input` gave `result`, an error with exactly this
/// kind, path and message.
#[track_caller]
pub(super) fn assert_fails<T: Debug>(
    input: &dyn Debug,
    result: Result<T, DecodeError>,
    kind: DecodeErrorKind,
    path: &str,
    message: &str,
) {
    match result {
        Ok(v) => panic!("accepted {input:?} as {v:?}"),
        Err(e) => assert_eq!(
            (e.kind(), e.path(), e.message()),
            (kind, path, message),
            "for {input:?}"
        ),
    }
}
