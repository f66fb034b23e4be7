//! Building and walking [`Value`] trees without recursion, for the language
//! bindings (and the core's own depth check).
//!
//! A host value (a JavaScript object, a Python dict) nests as deeply as its
//! author likes, and a converter that recurses once per level can exhaust
//! the native stack, most easily in a debug build or on a thread with a
//! small stack (Node's main thread lends V8 only part of its stack). The
//! bindings therefore walk host values with a loop and an explicit stack,
//! feeding a [`ValueBuilder`], and write values back by [`walk`]ing them:
//! neither ever recurses, and both count depth the same way, from the user
//! value (a bare array is depth 1), with the one limit [`MAX_DEPTH`].

use super::error::DecodeError;
use super::path::ValuePath;
use super::MAX_DEPTH;
use crate::value::{Value, ValueMap};

/// The error for a container that would nest deeper than `max` levels.
#[cold]
fn too_deep(max: usize) -> DecodeError {
    DecodeError::malformed(format!("nesting deeper than {max} levels"))
}

/// A container being filled.
enum Frame {
    Array(Vec<Value>),
    /// The map, and the key of the value that comes next.
    Map(ValueMap, Option<String>),
}

/// Builds a [`Value`] from a host language's data, one item at a time, with
/// no recursion: open a container with [`begin_array`](Self::begin_array)
/// or [`begin_map`](Self::begin_map), give each map entry's key with
/// [`key`](Self::key) before its value, add scalars with
/// [`value`](Self::value), close with [`end`](Self::end). The call that
/// completes the root returns it.
///
/// It counts depth from the root value and refuses, with a
/// [`Malformed`](super::DecodeErrorKind::Malformed) error at the place of the
/// offending container, to open more than `max_depth` nested containers
/// (which also ends a walk of a cyclic host value). [`path`](Self::path)
/// says where the next item goes, for the binding's own errors.
///
/// Cost: O(1) per item (amortised); memory O(depth) beyond the value.
pub struct ValueBuilder {
    frames: Vec<Frame>,
    max_depth: usize,
    /// The limit errors name (see [`ValueBuilder::for_record`]).
    reported_depth: usize,
}

impl std::fmt::Debug for ValueBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueBuilder")
            .field("path", &self.path().to_string())
            .field("max_depth", &self.max_depth)
            .finish()
    }
}

impl Default for ValueBuilder {
    /// A builder for a user value: [`MAX_DEPTH`] levels.
    fn default() -> Self {
        Self::new(MAX_DEPTH)
    }
}

impl ValueBuilder {
    /// A builder that allows `max_depth` nested containers.
    #[must_use]
    pub fn new(max_depth: usize) -> Self {
        Self {
            frames: Vec::new(),
            max_depth,
            reported_depth: max_depth,
        }
    }

    /// A builder for a whole record envelope (TopGun's `StorageValue` as a
    /// host object), which [`record_value_from_value`](super::record_value_from_value)
    /// then reads: it allows [`MAX_RECORD_DEPTH`](super::MAX_RECORD_DEPTH)
    /// (the user values' [`MAX_DEPTH`] plus the envelope's levels, which the
    /// core then checks per user value) and names [`MAX_DEPTH`] in its error.
    #[must_use]
    pub fn for_record() -> Self {
        Self {
            frames: Vec::new(),
            max_depth: super::MAX_RECORD_DEPTH,
            reported_depth: MAX_DEPTH,
        }
    }

    fn open(&mut self, frame: Frame) -> Result<(), DecodeError> {
        if self.frames.len() >= self.max_depth {
            return Err(self.error(too_deep(self.reported_depth)));
        }
        self.frames.push(frame);
        Ok(())
    }

    /// Opens an array (pre-allocating up to `capacity` elements).
    ///
    /// # Errors
    /// `Malformed` when it would nest deeper than the builder allows.
    pub fn begin_array(&mut self, capacity: usize) -> Result<(), DecodeError> {
        self.open(Frame::Array(Vec::with_capacity(capacity.min(4096))))
    }

    /// Opens a map (pre-allocating up to `capacity` entries).
    ///
    /// # Errors
    /// `Malformed` when it would nest deeper than the builder allows.
    pub fn begin_map(&mut self, capacity: usize) -> Result<(), DecodeError> {
        self.open(Frame::Map(
            ValueMap::with_capacity(capacity.min(4096)),
            None,
        ))
    }

    /// Sets the key of the next value of the innermost map (ignored when
    /// the innermost container is an array). A key given twice in one map
    /// keeps the last value, in the first key's position.
    pub fn key(&mut self, key: String) {
        if let Some(Frame::Map(_, next)) = self.frames.last_mut() {
            *next = Some(key);
        }
    }

    /// Adds a finished value (a scalar, or a subtree built elsewhere) to the
    /// innermost container; returns it back as the root when no container
    /// is open.
    pub fn value(&mut self, value: Value) -> Option<Value> {
        match self.frames.last_mut() {
            None => Some(value),
            Some(Frame::Array(items)) => {
                items.push(value);
                None
            }
            Some(Frame::Map(map, next)) => {
                map.insert(next.take().unwrap_or_default(), value);
                None
            }
        }
    }

    /// Closes the innermost container; returns the root when that was it.
    /// With no container open it returns `None` and does nothing.
    pub fn end(&mut self) -> Option<Value> {
        let value = match self.frames.pop()? {
            Frame::Array(items) => Value::Array(items),
            Frame::Map(map, _) => Value::from(map),
        };
        self.value(value)
    }

    /// Nested containers open now.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.frames.len()
    }

    /// Where the next item goes: the open containers' keys and indices.
    /// O(depth); meant for errors.
    #[must_use]
    pub fn path(&self) -> ValuePath {
        let mut path = ValuePath::root();
        for frame in &self.frames {
            match frame {
                Frame::Array(items) => path.push_index(items.len()),
                Frame::Map(_, Some(key)) => path.push_key(key.clone()),
                Frame::Map(_, None) => {}
            }
        }
        path
    }

    /// `error` (rooted at the item being added) re-rooted at the root of
    /// the value being built.
    #[must_use]
    pub fn error(&self, error: DecodeError) -> DecodeError {
        let mut error = error;
        for frame in self.frames.iter().rev() {
            error = match frame {
                Frame::Array(items) => error.in_index(items.len()),
                Frame::Map(_, Some(key)) => error.in_key(key),
                Frame::Map(_, None) => error,
            };
        }
        error
    }
}

/// One step of a [`walk`]: values in document order, containers bracketed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Visit<'a> {
    /// A value that is not a container.
    Scalar(&'a Value),
    /// An array starts; its elements follow, then [`Visit::End`].
    BeginArray(&'a [Value]),
    /// A map starts; each entry follows as [`Visit::Key`] and its value,
    /// then [`Visit::End`].
    BeginMap(&'a ValueMap),
    /// The key of the map entry whose value comes next.
    Key(&'a str),
    /// The innermost open container ends.
    End,
}

/// A container being walked.
enum Cursor<'a> {
    Array(std::slice::Iter<'a, Value>),
    Map(indexmap::map::Iter<'a, String, Value>),
}

/// Calls `visit` for every part of `value` in document order (see
/// [`Visit`]), with an explicit stack instead of recursion, so any depth is
/// safe. Stops at the first error `visit` returns and returns it.
///
/// # Errors
/// Whatever `visit` returns.
pub fn walk<'a, E>(
    value: &'a Value,
    mut visit: impl FnMut(Visit<'a>) -> Result<(), E>,
) -> Result<(), E> {
    let mut stack: Vec<Cursor<'a>> = Vec::new();
    let mut next = Some(value);
    loop {
        if let Some(v) = next.take() {
            match v {
                Value::Array(items) => {
                    visit(Visit::BeginArray(items))?;
                    stack.push(Cursor::Array(items.iter()));
                }
                Value::Map(map) => {
                    visit(Visit::BeginMap(map))?;
                    stack.push(Cursor::Map(map.iter()));
                }
                scalar => visit(Visit::Scalar(scalar))?,
            }
        }
        let Some(top) = stack.last_mut() else {
            return Ok(());
        };
        match top {
            Cursor::Array(items) => next = items.next(),
            Cursor::Map(entries) => {
                if let Some((key, v)) = entries.next() {
                    visit(Visit::Key(key))?;
                    next = Some(v);
                }
            }
        }
        if next.is_none() {
            stack.pop();
            visit(Visit::End)?;
        }
    }
}

/// Fails when `value` nests deeper than `max_depth` containers, with a
/// `Malformed` error at the first container too deep. No recursion; O(size).
///
/// # Errors
/// As above.
pub(crate) fn check_depth(value: &Value, max_depth: usize) -> Result<(), DecodeError> {
    let mut path: Vec<super::path::PathSegment> = Vec::new();
    // Per open container: the index of the next element (arrays) or None.
    let mut open: Vec<Option<usize>> = Vec::new();
    let mut pending_key: Option<&str> = None;
    walk(value, |step| {
        // The place of this item in its parent.
        let enter = |path: &mut Vec<_>, open: &mut Vec<Option<usize>>, key: Option<&str>| match (
            open.last_mut(),
            key,
        ) {
            (Some(Some(i)), _) => {
                path.push(super::path::PathSegment::Index(*i));
                *i += 1;
            }
            (Some(None), Some(k)) => path.push(super::path::PathSegment::Key(k.to_owned())),
            _ => {}
        };
        match step {
            Visit::Key(k) => pending_key = Some(k),
            Visit::Scalar(_) => {
                if let Some(Some(i)) = open.last_mut() {
                    *i += 1;
                }
            }
            Visit::BeginArray(_) | Visit::BeginMap(_) => {
                enter(&mut path, &mut open, pending_key.take());
                if open.len() >= max_depth {
                    let at = super::path::ValuePath::from_segments(std::mem::take(&mut path));
                    return Err(rooted(too_deep(max_depth), &at));
                }
                open.push(matches!(step, Visit::BeginArray(_)).then_some(0));
            }
            Visit::End => {
                open.pop();
                if !open.is_empty() {
                    path.pop();
                }
            }
        }
        Ok(())
    })
}

/// `error` (rooted at `$`) re-rooted under `path`.
fn rooted(error: DecodeError, path: &ValuePath) -> DecodeError {
    let mut error = error;
    for segment in path.segments().iter().rev() {
        error = match segment {
            super::path::PathSegment::Key(k) => error.in_key(k),
            super::path::PathSegment::Index(i) => error.in_index(*i),
        };
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::DecodeErrorKind;

    fn nested(depth: usize) -> Value {
        let mut v = Value::Null;
        for _ in 0..depth {
            v = Value::Array(vec![v]);
        }
        v
    }

    /// Rebuilds `v` through the builder, driven by `walk`.
    fn rebuild(v: &Value, max_depth: usize) -> Result<Value, DecodeError> {
        let mut b = ValueBuilder::new(max_depth);
        let mut out = None;
        walk(v, |step| {
            match step {
                Visit::Scalar(s) => out = b.value(s.clone()),
                Visit::BeginArray(items) => b.begin_array(items.len())?,
                Visit::BeginMap(map) => b.begin_map(map.len())?,
                Visit::Key(k) => b.key(k.to_owned()),
                Visit::End => out = b.end(),
            }
            Ok::<(), DecodeError>(())
        })?;
        Ok(out.unwrap_or(Value::Null))
    }

    #[test]
    fn walk_and_build_round_trip_any_shape_in_order() {
        let v = crate::codec::value_from_json(
            r#"{"z":[1,{"b":[],"a":{}},[[2.5]]],"a":"x","m":{"k":null}}"#,
        )
        .unwrap();
        assert_eq!(rebuild(&v, MAX_DEPTH).unwrap(), v);
        let mut steps = Vec::new();
        walk(&v, |s| {
            steps.push(match s {
                Visit::Scalar(_) => "s".to_owned(),
                Visit::BeginArray(_) => "[".to_owned(),
                Visit::BeginMap(_) => "{".to_owned(),
                Visit::Key(k) => k.to_owned(),
                Visit::End => "e".to_owned(),
            });
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(
            steps.join(" "),
            "{ z [ s { b [ e a { e e [ [ s e e e a s m { k s e e"
        );
        assert_eq!(rebuild(&Value::Int(3), 0).unwrap(), Value::Int(3));
    }

    #[test]
    fn depth_is_counted_from_the_value_and_errors_point_at_the_container() {
        assert!(rebuild(&nested(MAX_DEPTH), MAX_DEPTH).is_ok());
        let e = rebuild(&nested(MAX_DEPTH + 1), MAX_DEPTH).unwrap_err();
        assert_eq!(e.kind(), DecodeErrorKind::Malformed);
        assert_eq!(e.message(), "nesting deeper than 256 levels");
        assert_eq!(e.path(), "$".to_owned() + &"[0]".repeat(MAX_DEPTH));
        assert!(check_depth(&nested(MAX_DEPTH), MAX_DEPTH).is_ok());
        let e = check_depth(&nested(MAX_DEPTH + 1), MAX_DEPTH).unwrap_err();
        assert_eq!(e.path(), "$".to_owned() + &"[0]".repeat(MAX_DEPTH));
        // Paths through maps and later elements.
        let v = Value::Array(vec![
            Value::Null,
            [("a\u{8}", nested(2))].into_iter().collect(),
        ]);
        let e = check_depth(&v, 3).unwrap_err();
        assert_eq!(e.path(), r#"$[1]["a\b"][0]"#);
        let e = rebuild(&v, 3).unwrap_err();
        assert_eq!(e.path(), r#"$[1]["a\b"][0]"#);
    }

    #[test]
    fn deep_values_walk_without_recursion() {
        // Far deeper than a native stack could recurse through in a debug
        // build.
        let deep = nested(1_000_000);
        let mut depth = 0usize;
        let mut max = 0usize;
        walk(&deep, |s| {
            match s {
                Visit::BeginArray(_) => depth += 1,
                Visit::End => depth -= 1,
                _ => {}
            }
            max = max.max(depth);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(max, 1_000_000);
        assert!(check_depth(&deep, MAX_DEPTH).is_err());
        // Value's own drop recurses: take the test value apart by hand.
        let mut v = deep;
        while let Value::Array(mut items) = v {
            v = items.pop().unwrap_or_default();
        }
    }

    #[test]
    fn the_builder_path_names_the_next_slot() {
        let mut b = ValueBuilder::default();
        b.begin_map(1).unwrap();
        b.key("items".into());
        b.begin_array(2).unwrap();
        assert!(b.value(Value::Int(1)).is_none());
        assert_eq!(b.path().to_string(), "$.items[1]");
        assert_eq!(b.depth(), 2);
        let e = b.error(DecodeError::range("too big"));
        assert_eq!(e.to_string(), "too big at $.items[1]");
        assert!(b.end().is_none());
        assert_eq!(
            b.end(),
            Some(
                [("items", Value::Array(vec![Value::Int(1)]))]
                    .into_iter()
                    .collect()
            )
        );
        assert_eq!(b.end(), None);
    }
}
