//! One stable category for every failure, shared by the bindings.
//!
//! Each language maps an [`ErrorCode`] to its own form (a C status, a Python
//! exception class, a Node error `code`), so the same bad input gives the
//! same category everywhere.

use crate::codec::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
use crate::cursor::CursorError;
use crate::map_data_store::{DataStoreError, DataStoreErrorKind};
use crate::record_store::StoreError;

/// The category of a failure. Names (`as_str`) are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Bytes or text that are not valid MessagePack / JSON.
    MalformedValue,
    /// Valid data of the wrong shape (missing field, wrong type, unknown tag).
    ValueShape,
    /// A number outside what the target type can hold exactly.
    ValueRange,
    /// A cursor that is malformed or belongs to another store.
    InvalidCursor,
    /// An argument that can never be valid (page size 0, bad option).
    InvalidArgument,
    /// A bounded store with eviction off is full.
    CapacityExceeded,
    /// One entry is larger than the store's total cost bound.
    EntryTooLarge,
    /// The data store failed in a way no other code describes.
    DataStore,
    /// The storage was closed.
    Closed,
    /// Reading or writing the data store's files (or connection) failed.
    Io,
    /// Stored data cannot be read back as written (checksum mismatch, torn
    /// or damaged file, unknown format version).
    Corrupt,
    /// Another process holds the data store.
    Locked,
    /// The database server cannot be reached or did not answer in time.
    Unavailable,
    /// The disk (or the database's storage) is full.
    DiskFull,
    /// The data store cannot hold this key or value.
    Rejected,
}

impl ErrorCode {
    /// Stable snake_case name, e.g. `"malformed_value"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedValue => "malformed_value",
            ErrorCode::ValueShape => "value_shape",
            ErrorCode::ValueRange => "value_range",
            ErrorCode::InvalidCursor => "invalid_cursor",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::CapacityExceeded => "capacity_exceeded",
            ErrorCode::EntryTooLarge => "entry_too_large",
            ErrorCode::DataStore => "data_store",
            ErrorCode::Closed => "closed",
            ErrorCode::Io => "io",
            ErrorCode::Corrupt => "corrupt",
            ErrorCode::Locked => "locked",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::DiskFull => "disk_full",
            ErrorCode::Rejected => "rejected",
        }
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
            CursorError::Malformed { .. } | CursorError::ForeignCursor { .. } => {
                ErrorCode::InvalidCursor
            }
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
