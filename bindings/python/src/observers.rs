//! Observers: how a core event reaches a Python callback, and how an
//! exception a callback raises comes back (an `Exception` as an
//! `ObserverWarning`; `KeyboardInterrupt`, `SystemExit` and the like raised
//! by the `Storage` call that made the change).

use crate::errors;
use crate::values::PyStoreEvent;
use parking_lot::Mutex;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use std::cell::RefCell;
use std::sync::Arc;
use topgun_storage_core::StoreEvent;

/// The Python callable of one observer. The single strong reference lives
/// here, shared by the core's observer and the `Subscription`, so the garbage
/// collector sees exactly the references it can account for, and `__clear__`
/// can drop it even while the core still holds the observer.
pub(crate) type SharedCallback = Arc<Mutex<Option<Py<PyAny>>>>;

thread_local! {
    /// An exception that is not an `Exception` (`KeyboardInterrupt`,
    /// `SystemExit`, ...) an observer raised on this thread, waiting to be
    /// raised by the `Storage` call whose change started the delivery.
    /// While one waits, observers are not called on this thread.
    static INTERRUPT: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

/// Whether an observer's interrupt waits to be raised on this thread.
pub(crate) fn interrupt_pending() -> bool {
    INTERRUPT.with(|i| i.borrow().is_some())
}

/// `result`, unless an observer raised `KeyboardInterrupt`, `SystemExit` or
/// another exception that is not an `Exception` during this call: then that
/// exception (the change the call made stays made). Every `Storage` call
/// that can notify observers returns through this.
pub(crate) fn raise_interrupt<T>(result: PyResult<T>) -> PyResult<T> {
    match INTERRUPT.with(|i| i.borrow_mut().take()) {
        Some(interrupt) => Err(interrupt),
        None => result,
    }
}

/// Calls the Python `callback` for a core event. An `Exception` is reported
/// as an `ObserverWarning` (or, if warnings are errors, handed to
/// `sys.unraisablehook`) and never reaches the store; any other exception
/// (`KeyboardInterrupt`, `SystemExit`) is raised by the call that made the
/// change, and the callbacks still due in that call are skipped.
pub(crate) fn deliver(shared: &SharedCallback, event: &StoreEvent<'_>) {
    Python::attach(|py| {
        if interrupt_pending() {
            return;
        }
        let event = PyStoreEvent::from_core(event);
        let (kind, key) = (event.kind_str(), event.key_str().to_owned());
        let event = Bound::new(py, event);
        // Read last, right before the call, with the GIL held from here to
        // the call: a call never starts after `unsubscribe` returned.
        let Some(callback) = shared.lock().as_ref().map(|c| c.clone_ref(py)) else {
            return; // unsubscribed, or cleared by the garbage collector
        };
        let callback = callback.bind(py);
        if let Err(err) = event.and_then(|e| callback.call1((e,))) {
            if err.is_instance_of::<PyException>(py) {
                report_observer_error(py, callback, err, kind, &key);
            } else {
                INTERRUPT.with(|i| *i.borrow_mut() = Some(err));
            }
        }
    });
}

#[cold]
fn report_observer_error(
    py: Python<'_>,
    callback: &Bound<'_, PyAny>,
    err: PyErr,
    kind: &str,
    key: &str,
) {
    let warned = (|| -> PyResult<()> {
        let exc = errors::exceptions(py)?;
        let what = err.value(py).repr()?.to_string();
        let message = format!(
            "observer {} raised {what} on the {kind} of key {:?}; the store carried on",
            callback.repr()?,
            key
        );
        let warning = exc.observer_warning.bind(py).call1((message,))?;
        warning.setattr("exception", err.value(py))?;
        let warnings = py.import("warnings")?;
        warnings.call_method1("warn", (warning, py.None(), 1))?;
        Ok(())
    })();
    if let Err(e) = warned {
        // Warnings turned into errors: the raised `ObserverWarning` (which
        // carries the observer's exception) goes to sys.unraisablehook. If
        // building or issuing the warning failed otherwise, the observer's
        // own exception goes there, so it is never lost.
        let is_warning = errors::exceptions(py)
            .is_ok_and(|x| e.is_instance(py, x.observer_warning.bind(py).as_any()));
        if is_warning { e } else { err }.write_unraisable(py, Some(callback));
    }
}
