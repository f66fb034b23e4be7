//! `ManualClock`: the injectable clock of `Storage` and
//! `TopgunStorageAdapter` (options `clock`), for tests that must not sleep.

use crate::args;
use crate::errors::{run, Outcome};
use napi::bindgen_prelude::Unknown;
use napi::Env;
use napi_derive::napi;

/// A clock for tests: time moves only when told (`set`, `advance`). Pass it
/// as `clock` in the options of a `Storage` or `TopgunStorageAdapter`; the
/// store reads it for expiry and access times. Times are epoch
/// milliseconds.
#[napi]
pub struct ManualClock {
    pub(crate) inner: topgun_storage_core::ManualClock,
}

fn millis_arg(value: Unknown<'_>, what: &str) -> Outcome<i64> {
    args::integer(value, what, i64::MIN)
}

#[napi]
impl ManualClock {
    /// A clock reading `startMillis` (default 0).
    ///
    /// Throws `TypeError` if `startMillis` is not a number,
    /// `StorageError` (`ERR_INVALID_ARGUMENT`) if it is not an integer.
    #[napi(constructor, ts_args_type = "startMillis?: number")]
    pub fn new(env: Env, start_millis: Option<Unknown<'_>>) -> napi::Result<Self> {
        run(&env, || {
            let start = match start_millis {
                Some(v) if !args::is_absent(&v)? => millis_arg(v, "startMillis")?,
                _ => 0,
            };
            Ok(Self {
                inner: topgun_storage_core::ManualClock::new(start),
            })
        })
    }

    /// The current time (epoch milliseconds).
    #[napi]
    pub fn now(&self) -> f64 {
        use topgun_storage_core::Clock;
        #[allow(clippy::cast_precision_loss)]
        let now = self.inner.now_millis() as f64;
        now
    }

    /// Sets the time.
    #[napi(ts_args_type = "millis: number")]
    pub fn set(&self, env: Env, millis: Unknown<'_>) -> napi::Result<()> {
        run(&env, || {
            self.inner.set(millis_arg(millis, "millis")?);
            Ok(())
        })
    }

    /// Moves the time by `deltaMillis` (may be negative) and returns the new
    /// time. Saturates instead of overflowing.
    #[napi(ts_args_type = "deltaMillis: number")]
    pub fn advance(&self, env: Env, delta_millis: Unknown<'_>) -> napi::Result<f64> {
        run(&env, || {
            let next = self.inner.advance(millis_arg(delta_millis, "deltaMillis")?);
            #[allow(clippy::cast_precision_loss)]
            Ok(next as f64)
        })
    }
}
