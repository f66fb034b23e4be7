//! `ManualClock`: the core's manual clock for Python, so tests of expiry and
//! eviction never sleep.

use crate::convert::int_in;
use pyo3::prelude::*;
use topgun_storage_core::{Clock, ErrorCode, ManualClock as CoreManualClock};

/// A clock that moves only when told to, for deterministic tests of expiry
/// and eviction: `ManualClock(start_ms)`, then `set`, `advance`, `now`.
/// Pass it as `Storage(clock=...)`; stores and this object share the time.
#[pyclass(frozen, module = "topgun_storage", name = "ManualClock")]
pub(crate) struct ManualClock(pub(crate) CoreManualClock);

#[pymethods]
impl ManualClock {
    #[new]
    #[pyo3(signature = (start_ms = None))]
    fn new(py: Python<'_>, start_ms: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let start = match start_ms {
            Some(s) => clock_arg(py, s, "start_ms")?,
            None => 0,
        };
        Ok(Self(CoreManualClock::new(start)))
    }

    /// Sets the time (epoch ms).
    fn set(&self, py: Python<'_>, millis: &Bound<'_, PyAny>) -> PyResult<()> {
        self.0.set(clock_arg(py, millis, "millis")?);
        Ok(())
    }

    /// Moves the time by `delta_ms` (may be negative; saturates); returns
    /// the new time.
    fn advance(&self, py: Python<'_>, delta_ms: &Bound<'_, PyAny>) -> PyResult<i64> {
        Ok(self.0.advance(clock_arg(py, delta_ms, "delta_ms")?))
    }

    /// The current time (epoch ms).
    fn now(&self) -> i64 {
        self.0.now_millis()
    }

    fn __repr__(&self) -> String {
        format!("ManualClock({})", self.0.now_millis())
    }
}

/// A time or time step of `ManualClock` (epoch ms): an i64, else
/// `ValueRangeError`.
pub(crate) fn clock_arg(py: Python<'_>, obj: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    int_in(
        py,
        obj,
        what,
        i128::from(i64::MIN)..=i128::from(i64::MAX),
        ErrorCode::ValueRange,
    )
}
