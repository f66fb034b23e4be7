//! Failures, the thread-local last-error message and the panic boundary
//! every export runs inside.

use crate::types::storage_status_t::{self, *};
use std::any::Any;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use topgun_storage_core::codec::{DecodeError, EncodeError, EncodeErrorKind};
use topgun_storage_core::{CursorError, DataStoreError, ErrorCode, StoreError};

/// Why a call failed: the status it returns and the message stored for
/// `storage_last_error_message`. Built only on failure paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) status: storage_status_t,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: storage_status_t, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn null(what: &str) -> Self {
        Self::new(STORAGE_NULL_POINTER, format!("`{what}` is NULL"))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(STORAGE_INVALID_ARGUMENT, message)
    }

    pub(crate) fn misuse(message: impl Into<String>) -> Self {
        Self::new(STORAGE_MISUSE, message)
    }

    pub(crate) fn too_small(what: &str, needed: usize, capacity: usize) -> Self {
        Self::new(
            STORAGE_BUFFER_TOO_SMALL,
            format!("`{what}` holds {capacity} bytes, {needed} are needed"),
        )
    }
}

/// The C status of a core error category.
pub(crate) fn status_of(code: ErrorCode) -> storage_status_t {
    match code {
        ErrorCode::MalformedValue => STORAGE_MALFORMED_VALUE,
        ErrorCode::ValueShape => STORAGE_VALUE_SHAPE,
        ErrorCode::ValueRange => STORAGE_VALUE_RANGE,
        ErrorCode::InvalidCursor => STORAGE_INVALID_CURSOR,
        ErrorCode::InvalidArgument => STORAGE_INVALID_ARGUMENT,
        ErrorCode::CapacityExceeded => STORAGE_CAPACITY_EXCEEDED,
        ErrorCode::EntryTooLarge => STORAGE_ENTRY_TOO_LARGE,
        ErrorCode::DataStore => STORAGE_DATA_STORE,
        ErrorCode::Closed => STORAGE_CLOSED,
        ErrorCode::Io => STORAGE_IO,
        ErrorCode::Corrupt => STORAGE_CORRUPT,
        ErrorCode::Locked => STORAGE_LOCKED,
        ErrorCode::Unavailable => STORAGE_UNAVAILABLE,
        ErrorCode::DiskFull => STORAGE_DISK_FULL,
        ErrorCode::Rejected => STORAGE_REJECTED,
    }
}

impl From<DecodeError> for Failure {
    fn from(e: DecodeError) -> Self {
        Self::new(
            status_of(ErrorCode::from(&e)),
            format!("invalid value: {e}"),
        )
    }
}

impl From<CursorError> for Failure {
    fn from(e: CursorError) -> Self {
        Self::new(status_of(ErrorCode::from(&e)), e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::new(status_of(ErrorCode::from(&e)), e.to_string())
    }
}

impl From<DataStoreError> for Failure {
    fn from(e: DataStoreError) -> Self {
        Self::new(status_of(ErrorCode::from(&e)), e.to_string())
    }
}

/// JSON output can fail where MessagePack cannot (core has no `ErrorCode`
/// for it): a NaN or infinite float is out of JSON's range, a user map that
/// would read back as bytes has the wrong shape.
impl From<EncodeError> for Failure {
    fn from(e: EncodeError) -> Self {
        let status = match e.kind() {
            EncodeErrorKind::NonFiniteFloat => STORAGE_VALUE_RANGE,
            EncodeErrorKind::ReservedBytesKey => STORAGE_VALUE_SHAPE,
        };
        Self::new(status, format!("value cannot be written as JSON: {e}"))
    }
}

/// What an export body returns: the status to hand back, or a failure
/// whose message becomes the thread's last error.
pub(crate) type Outcome = Result<storage_status_t, Failure>;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Stores `message` as this thread's last error (reusing the buffer).
pub(crate) fn set_last_error(message: &str) {
    LAST_ERROR.with(|m| {
        let mut m = m.borrow_mut();
        m.clear();
        m.push_str(message);
    });
}

/// Calls `f` with this thread's last error message.
pub(crate) fn with_last_error<R>(f: impl FnOnce(&str) -> R) -> R {
    LAST_ERROR.with(|m| f(&m.borrow()))
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    let detail = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    format!("internal error (panic caught at the C boundary): {detail}")
}

/// The panic boundary of every status-returning export: runs `body`,
/// turns a failure into its status (storing the message as the thread's
/// last error) and a panic into `STORAGE_PANIC`. Nothing unwinds past it.
pub(crate) fn boundary(body: impl FnOnce() -> Outcome) -> storage_status_t {
    let result = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        Err(Failure::new(STORAGE_PANIC, panic_message(payload.as_ref())))
    });
    match result {
        Ok(status) => status,
        Err(failure) => {
            // Setting the message cannot panic in practice; if it did, the
            // status still goes back.
            let _ = catch_unwind(|| set_last_error(&failure.message));
            failure.status
        }
    }
}

/// The panic boundary of exports that return a plain value: `fallback` if
/// `body` panics.
pub(crate) fn boundary_or<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_panic_status_with_a_message() {
        let status = boundary(|| panic!("boom (expected by the test)"));
        assert_eq!(status, STORAGE_PANIC);
        with_last_error(|m| {
            assert!(m.contains("boom (expected by the test)"), "{m}");
        });
    }

    #[test]
    fn a_failure_sets_the_last_error_and_success_keeps_it() {
        let status = boundary(|| Err(Failure::null("key")));
        assert_eq!(status, STORAGE_NULL_POINTER);
        assert_eq!(boundary(|| Ok(STORAGE_OK)), STORAGE_OK);
        with_last_error(|m| assert_eq!(m, "`key` is NULL"));
    }

    /// The C statuses of the core's categories are named after them
    /// (`STORAGE_` and the category's name in capitals), so the C table is
    /// checked against the core's one.
    #[test]
    fn every_core_category_has_the_status_of_its_name() {
        for &code in ErrorCode::ALL {
            let status = status_of(code);
            let expected = format!("STORAGE_{}", code.as_str().to_ascii_uppercase());
            assert_eq!(format!("{status:?}"), expected, "{code}");
        }
    }

    #[test]
    fn boundary_or_returns_the_fallback_on_panic() {
        assert_eq!(boundary_or(7, || panic!("expected by the test")), 7);
        assert_eq!(boundary_or(7, || 3), 3);
    }
}
