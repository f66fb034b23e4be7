//! One stable category for every failure, shared by the bindings.
//!
//! Each language maps an [`ErrorCode`] to its own form (a C status, a Python
//! exception class, a Node error `code`), so the same bad input gives the
//! same category everywhere. This enum and its names ([`ErrorCode::as_str`])
//! are the one table: the C statuses are checked against it
//! (`STORAGE_<NAME>`), the Python classes are found by their `code`
//! attribute (`<name>`) and the Node codes are made from it (`ERR_<NAME>`).

use crate::codec::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
use crate::cursor::CursorError;
use crate::map_data_store::{DataStoreError, DataStoreErrorKind};
use crate::record_store::StoreError;

/// Declares [`ErrorCode`] from one list of `Variant => "name"`: the enum,
/// [`ErrorCode::ALL`] and [`ErrorCode::as_str`] cannot disagree.
macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )*) => {
        /// The category of a failure. Names (`as_str`) are stable.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every category, in declaration order: `ALL[code as usize] == code`.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// Stable snake_case name, e.g. `"malformed_value"`.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }
        }
    };
}

error_codes! {
    /// Bytes or text that are not valid MessagePack / JSON.
    MalformedValue => "malformed_value",
    /// Valid data of the wrong shape (missing field, wrong type, unknown tag).
    ValueShape => "value_shape",
    /// A number outside what the target type can hold exactly.
    ValueRange => "value_range",
    /// A cursor that is malformed or belongs to another store.
    InvalidCursor => "invalid_cursor",
    /// An argument that can never be valid (page size 0, bad option).
    InvalidArgument => "invalid_argument",
    /// A bounded store with eviction off is full.
    CapacityExceeded => "capacity_exceeded",
    /// One entry is larger than the store's total cost bound.
    EntryTooLarge => "entry_too_large",
    /// The data store failed in a way no other code describes.
    DataStore => "data_store",
    /// The storage was closed.
    Closed => "closed",
    /// Reading or writing the data store's files (or connection) failed.
    Io => "io",
    /// Stored data cannot be read back as written (checksum mismatch, torn
    /// or damaged file, unknown format version).
    Corrupt => "corrupt",
    /// Another process holds the data store.
    Locked => "locked",
    /// The database server cannot be reached or did not answer in time.
    Unavailable => "unavailable",
    /// The disk (or the database's storage) is full.
    DiskFull => "disk_full",
    /// The data store cannot hold this key or value.
    Rejected => "rejected",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an [`ErrorCode`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error category {0:?}")]
pub struct UnknownErrorCode(pub String);

impl std::str::FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    /// The category named `name` exactly (see [`ErrorCode::as_str`]).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| UnknownErrorCode(name.to_owned()))
    }
}

impl From<&DecodeError> for ErrorCode {
    fn from(e: &DecodeError) -> Self {
        match e.kind() {
            DecodeErrorKind::Malformed => ErrorCode::MalformedValue,
            DecodeErrorKind::Shape => ErrorCode::ValueShape,
            DecodeErrorKind::Range => ErrorCode::ValueRange,
        }
    }
}

impl From<&EncodeError> for ErrorCode {
    /// JSON cannot hold NaN or infinities (a range problem), nor a map that
    /// looks like the JSON form of bytes (a shape problem).
    fn from(e: &EncodeError) -> Self {
        match e.kind() {
            EncodeErrorKind::NonFiniteFloat => ErrorCode::ValueRange,
            EncodeErrorKind::ReservedBytesKey => ErrorCode::ValueShape,
        }
    }
}

impl From<&CursorError> for ErrorCode {
    fn from(e: &CursorError) -> Self {
        match e {
            CursorError::Malformed { .. } | CursorError::ForeignCursor => ErrorCode::InvalidCursor,
            CursorError::ZeroPageSize => ErrorCode::InvalidArgument,
        }
    }
}

impl From<&DataStoreError> for ErrorCode {
    fn from(e: &DataStoreError) -> Self {
        match e.kind() {
            DataStoreErrorKind::Io => ErrorCode::Io,
            DataStoreErrorKind::Corrupt => ErrorCode::Corrupt,
            DataStoreErrorKind::Locked => ErrorCode::Locked,
            DataStoreErrorKind::Unavailable => ErrorCode::Unavailable,
            DataStoreErrorKind::DiskFull => ErrorCode::DiskFull,
            DataStoreErrorKind::Rejected => ErrorCode::Rejected,
            DataStoreErrorKind::Closed => ErrorCode::Closed,
            DataStoreErrorKind::Other => ErrorCode::DataStore,
        }
    }
}

impl From<&StoreError> for ErrorCode {
    fn from(e: &StoreError) -> Self {
        match e {
            StoreError::DataStore(e) => ErrorCode::from(e),
            StoreError::CapacityExceeded { .. } => ErrorCode::CapacityExceeded,
            StoreError::EntryTooLarge { .. } => ErrorCode::EntryTooLarge,
            StoreError::Closed => ErrorCode::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_record_value;

    #[test]
    fn all_lists_every_category_once_and_names_round_trip() {
        for (i, &code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(code as usize, i);
            assert_eq!(code.as_str().parse(), Ok(code));
            assert_eq!(code.to_string(), code.as_str());
        }
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "names are distinct");
        assert!("Closed".parse::<ErrorCode>().is_err());
    }

    #[test]
    fn decode_errors_map_by_kind() {
        let malformed = decode_record_value(&[0xc1]).unwrap_err();
        assert_eq!(ErrorCode::from(&malformed), ErrorCode::MalformedValue);
        // A map without `value`/`timestamp`: wrong shape.
        let shape = decode_record_value(&[0x80]).unwrap_err();
        assert_eq!(ErrorCode::from(&shape), ErrorCode::ValueShape);
    }

    #[test]
    fn encode_errors_map() {
        let nan = crate::codec::value_to_json(&crate::Value::Float(f64::NAN)).unwrap_err();
        assert_eq!(ErrorCode::from(&nan), ErrorCode::ValueRange);
    }

    #[test]
    fn cursor_and_store_errors_map() {
        assert_eq!(
            ErrorCode::from(&CursorError::ZeroPageSize),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            ErrorCode::from(&CursorError::Malformed { reason: "x" }),
            ErrorCode::InvalidCursor
        );
        assert_eq!(ErrorCode::from(&StoreError::Closed).as_str(), "closed");
        let full = StoreError::CapacityExceeded {
            bound: "entry count",
            limit: 1,
        };
        assert_eq!(ErrorCode::from(&full).as_str(), "capacity_exceeded");
    }

    #[test]
    fn data_store_errors_map_by_kind() {
        let cases = [
            (DataStoreErrorKind::Io, "io"),
            (DataStoreErrorKind::Corrupt, "corrupt"),
            (DataStoreErrorKind::Locked, "locked"),
            (DataStoreErrorKind::Unavailable, "unavailable"),
            (DataStoreErrorKind::DiskFull, "disk_full"),
            (DataStoreErrorKind::Rejected, "rejected"),
            (DataStoreErrorKind::Closed, "closed"),
            (DataStoreErrorKind::Other, "data_store"),
        ];
        for (kind, name) in cases {
            let err = StoreError::DataStore(DataStoreError::new(kind, "x"));
            assert_eq!(ErrorCode::from(&err).as_str(), name, "{kind:?}");
        }
    }
}
