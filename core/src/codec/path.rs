//! [`ValuePath`]: where in a value something is, in the one syntax every
//! error of every language uses.
//!
//! `$` is the root, `.field` a map key that is a plain identifier
//! (`[A-Za-z_][A-Za-z0-9_]*`), `["key"]` any other map key (JSON-escaped,
//! so `"a\u{8}"` is written `["a\b"]`) and `[3]` an array index, for example
//! `$.records[0].timestamp` or `$.value["user name"][2]`.
//!
//! It also holds the JSON string escaper that paths and error messages
//! share, so neither depends on the JSON codec.

use std::fmt;

/// One step into a value: a map key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// The entry of a map under this key.
    Key(String),
    /// The element of an array at this index.
    Index(usize),
}

/// A path from the root of a value (`$`) to one place in it, outermost step
/// first. Displays in the syntax of the [codec docs](crate::codec#errors).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ValuePath {
    segments: Vec<PathSegment>,
}

impl ValuePath {
    /// The root, `$`.
    #[must_use]
    pub fn root() -> Self {
        Self::default()
    }

    /// A path of these steps, outermost first.
    #[must_use]
    pub fn from_segments(segments: Vec<PathSegment>) -> Self {
        Self { segments }
    }

    /// Appends a step into map key `key`.
    pub fn push_key(&mut self, key: impl Into<String>) {
        self.segments.push(PathSegment::Key(key.into()));
    }

    /// Appends a step into array index `index`.
    pub fn push_index(&mut self, index: usize) {
        self.segments.push(PathSegment::Index(index));
    }

    /// The steps, outermost first.
    #[must_use]
    pub fn segments(&self) -> &[PathSegment] {
        &self.segments
    }
}

impl fmt::Display for ValuePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("$");
        for segment in &self.segments {
            match segment {
                PathSegment::Key(key) => push_key_segment(&mut out, key),
                PathSegment::Index(index) => push_index_segment(&mut out, *index),
            }
        }
        f.write_str(&out)
    }
}

/// `true` if `key` can be written as `.key` in a path.
fn is_identifier(key: &str) -> bool {
    let mut bytes = key.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Appends the step into map key `key`: `.key` or `["key"]`.
pub(crate) fn push_key_segment(out: &mut String, key: &str) {
    if is_identifier(key) {
        out.push('.');
        out.push_str(key);
    } else {
        out.push('[');
        write_json_string(out, key);
        out.push(']');
    }
}

/// Appends `s` as a JSON string literal (quotes included), as `serde_json`
/// writes it: `"`, `\` and control characters escaped, everything else as
/// UTF-8.
pub(crate) fn write_json_string(out: &mut String, s: &str) {
    // Serializing a `str` to memory cannot fail.
    if let Ok(text) = serde_json::to_string(s) {
        out.push_str(&text);
    }
}

/// Appends the step into array index `index`: `[index]`.
pub(crate) fn push_index_segment(out: &mut String, index: usize) {
    out.push('[');
    out.push_str(&index.to_string());
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_dotted_and_other_keys_bracketed_and_json_escaped() {
        let mut p = ValuePath::root();
        assert_eq!(p.to_string(), "$");
        p.push_key("value");
        p.push_key("a b");
        p.push_index(3);
        p.push_key("a\u{8}");
        p.push_key("_ok9");
        p.push_key("9no");
        p.push_key("");
        p.push_key("q\"\\\n\u{1f}é");
        assert_eq!(
            p.to_string(),
            r#"$.value["a b"][3]["a\b"]._ok9["9no"][""]["q\"\\\n\u001fé"]"#
        );
        assert_eq!(p.segments().len(), 8);
        assert_eq!(
            ValuePath::from_segments(vec![PathSegment::Index(0)]).to_string(),
            "$[0]"
        );
    }
}
