//! Error types of the codecs and the path syntax they use.
//!
//! A path names the place in the document where the problem is: `$` is the
//! root, `.field` a map key that is a plain identifier (`[A-Za-z_][A-Za-z0-9_]*`),
//! `["key"]` any other map key (JSON-escaped) and `[3]` an array index, for
//! example `$.records[0].timestamp` or `$.value["user name"][2]`.
//!
//! Paths are built lazily: an error is created with the path `$` relative to
//! the innermost value being read and every enclosing level prefixes its own
//! segment while the error travels outwards, so the happy path never pays for
//! path bookkeeping.

use super::path::{push_index_segment, push_key_segment, write_json_string};
use std::fmt;

/// What went wrong while decoding, in three broad classes that bindings can
/// map to exception types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeErrorKind {
    /// The input is not well-formed MessagePack or JSON: bad syntax, truncated
    /// input, trailing bytes or characters after the value, invalid UTF-8 in a
    /// string, nesting deeper than [`MAX_DEPTH`](super::MAX_DEPTH), a map key
    /// that is not a string, a MessagePack ext type, or a duplicate map key.
    Malformed,
    /// The input is well-formed but does not have the expected shape: a field
    /// of the wrong type, a missing field, an unknown field, an unknown `type`
    /// tag, or bad hex in a JSON `{"$bytes": ...}` object.
    Shape,
    /// A number is outside the range of its target: an integer outside `i64`
    /// for a [`Value`](crate::Value), or a negative, too large, non-finite or
    /// non-whole number for a `u64` / `u32` envelope field.
    Range,
}

impl DecodeErrorKind {
    /// The kind as a lowercase word: `"malformed"`, `"shape"` or `"range"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DecodeErrorKind::Malformed => "malformed",
            DecodeErrorKind::Shape => "shape",
            DecodeErrorKind::Range => "range",
        }
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoding error: its [kind](DecodeErrorKind), the [path](DecodeError::path)
/// of the offending value and a human-readable [message](DecodeError::message).
///
/// Displays as `"{message} at {path}"`, for example
/// ``missing field `nodeId` at $.records[0].timestamp``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at {path}")]
pub struct DecodeError {
    kind: DecodeErrorKind,
    path: String,
    message: String,
}

impl DecodeError {
    /// A [`DecodeErrorKind::Malformed`] error at the current value (`$`);
    /// re-root it with `in_key` / `in_index` (or
    /// [`ValueBuilder::error`](super::ValueBuilder::error)).
    #[cold]
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(DecodeErrorKind::Malformed, message)
    }

    /// A [`DecodeErrorKind::Shape`] error at the current value (`$`).
    #[cold]
    pub fn shape(message: impl Into<String>) -> Self {
        Self::new(DecodeErrorKind::Shape, message)
    }

    /// A [`DecodeErrorKind::Range`] error at the current value (`$`).
    #[cold]
    pub fn range(message: impl Into<String>) -> Self {
        Self::new(DecodeErrorKind::Range, message)
    }
}

/// The constructor, accessors and path re-rooting that [`DecodeError`] and
/// [`EncodeError`] share (both have the fields `kind`, `path` and `message`);
/// the docs of `path` and `message` are given per type.
macro_rules! error_parts {
    ($error:ident, $kind:ident, path: $path_doc:literal, message: $message_doc:literal) => {
        impl $error {
            /// An error of kind `kind` at the current value (`$`).
            #[cold]
            pub(crate) fn new(kind: $kind, message: impl Into<String>) -> Self {
                Self {
                    kind,
                    path: String::from("$"),
                    message: message.into(),
                }
            }

            /// The class of the error.
            #[must_use]
            pub fn kind(&self) -> $kind {
                self.kind
            }

            #[doc = $path_doc]
            #[must_use]
            pub fn path(&self) -> &str {
                &self.path
            }

            #[doc = $message_doc]
            #[must_use]
            pub fn message(&self) -> &str {
                &self.message
            }

            /// Re-roots the error one level down: it happened inside the map
            /// entry `key` of the value the path so far is relative to (so
            /// `$.a` becomes `$.key.a`). For callers that read a value nested
            /// in a larger one.
            #[cold]
            #[must_use]
            pub fn in_key(mut self, key: &str) -> Self {
                self.path = prefixed(&self.path, |p| push_key_segment(p, key));
                self
            }

            /// Re-roots the error one level down: it happened inside array
            /// element `index`.
            #[cold]
            #[must_use]
            pub fn in_index(mut self, index: usize) -> Self {
                self.path = prefixed(&self.path, |p| push_index_segment(p, index));
                self
            }
        }
    };
}

error_parts!(
    DecodeError,
    DecodeErrorKind,
    path: "Where in the document the error is, e.g. `$.records[0].timestamp`
(see [the codec docs](crate::codec#errors) for the syntax).",
    message: "What is wrong, without the path, e.g. ``missing field `nodeId` ``."
);

/// What made a value impossible to write as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncodeErrorKind {
    /// A float is NaN or infinite; JSON numbers cannot hold those.
    NonFiniteFloat,
    /// A map whose only key is `$bytes` with a string value: JSON uses exactly
    /// that form for [`Value::Bytes`](crate::Value::Bytes), so the map would
    /// read back as bytes (or fail) instead of as itself.
    ReservedBytesKey,
}

/// A JSON encoding error (MessagePack encoding cannot fail): its
/// [kind](EncodeErrorKind), the [path](EncodeError::path) of the value that
/// JSON cannot hold and a [message](EncodeError::message).
///
/// Displays as `"{message} at {path}"`, e.g. `NaN cannot be written as JSON at $.value[2]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at {path}")]
pub struct EncodeError {
    kind: EncodeErrorKind,
    path: String,
    message: String,
}

error_parts!(
    EncodeError,
    EncodeErrorKind,
    path: "Where the offending value is, e.g. `$.value.scores[3]`.",
    message: "What is wrong, without the path."
);

/// The slice given to
/// [`encode_record_value_to_slice`](super::encode_record_value_to_slice) is
/// shorter than the encoding; `needed` is the exact length required (the same
/// as [`encoded_len`](super::encoded_len)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("buffer too small: the encoding needs {needed} bytes")]
pub struct BufferTooSmall {
    /// The encoded length in bytes.
    pub needed: usize,
}

/// A key or tag for messages: JSON-quoted, so odd characters are visible.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_json_string(&mut out, s);
    out
}

/// `"$" + segment + rest`, where `path` is `"$" + rest`.
fn prefixed(path: &str, segment: impl FnOnce(&mut String)) -> String {
    let rest = path.strip_prefix('$').unwrap_or(path);
    let mut out = String::with_capacity(path.len() + 16);
    out.push('$');
    segment(&mut out);
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_message_at_path() {
        let e = DecodeError::shape("missing field `nodeId`")
            .in_key("timestamp")
            .in_index(0)
            .in_key("records");
        assert_eq!(e.path(), "$.records[0].timestamp");
        assert_eq!(e.message(), "missing field `nodeId`");
        assert_eq!(e.kind(), DecodeErrorKind::Shape);
        assert_eq!(
            e.to_string(),
            "missing field `nodeId` at $.records[0].timestamp"
        );
    }

    #[test]
    fn non_identifier_keys_are_bracketed_and_escaped() {
        let e = DecodeError::range("x")
            .in_key("a b")
            .in_key("$bytes")
            .in_key("")
            .in_key("q\"\n")
            .in_key("_ok9")
            .in_key("9no")
            .in_key("é");
        assert_eq!(
            e.path(),
            r#"$["é"]["9no"]._ok9["q\"\n"][""]["$bytes"]["a b"]"#
        );
    }

    #[test]
    fn kinds_have_names() {
        assert_eq!(DecodeErrorKind::Malformed.to_string(), "malformed");
        assert_eq!(DecodeErrorKind::Shape.as_str(), "shape");
        assert_eq!(DecodeErrorKind::Range.as_str(), "range");
        assert_eq!(
            DecodeError::malformed("m").kind(),
            DecodeErrorKind::Malformed
        );
    }

    #[test]
    fn encode_error_paths() {
        let e = EncodeError::new(
            EncodeErrorKind::NonFiniteFloat,
            "NaN cannot be written as JSON",
        )
        .in_index(2)
        .in_key("value");
        assert_eq!(e.to_string(), "NaN cannot be written as JSON at $.value[2]");
        assert_eq!(e.kind(), EncodeErrorKind::NonFiniteFloat);
        assert_eq!(e.path(), "$.value[2]");
        assert_eq!(e.message(), "NaN cannot be written as JSON");
    }

    #[test]
    fn buffer_too_small_displays_needed() {
        assert_eq!(
            BufferTooSmall { needed: 12 }.to_string(),
            "buffer too small: the encoding needs 12 bytes"
        );
    }
}
