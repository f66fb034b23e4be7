//! Background maintenance: a thread that calls [`RecordStore::maintain`]
//! on a schedule, so expired records go away even when nobody reads.

use crate::record_store::RecordStore;
use parking_lot::{Condvar, Mutex};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// A running maintenance thread. Dropping it (or calling [`Self::stop`])
/// stops the thread and waits for it to finish its current pass. The thread
/// holds only a weak reference: it also ends by itself once the store is
/// dropped.
pub struct MaintenanceHandle {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MaintenanceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaintenanceHandle")
            .field("running", &self.thread.is_some())
            .finish()
    }
}

/// Starts a thread that runs `store.maintain()` every `interval` (each pass
/// is bounded: see [`RecordStore::maintain`]). Maintenance reads the store's
/// own clock for expiry; `interval` is real time and only paces the passes.
///
/// # Errors
/// The operating system's error if the thread cannot be spawned.
pub fn spawn_maintenance<S: RecordStore + 'static>(
    store: &Arc<S>,
    interval: Duration,
) -> std::io::Result<MaintenanceHandle> {
    let weak: Weak<S> = Arc::downgrade(store);
    let stop = Arc::new(Stop {
        stopped: Mutex::new(false),
        wake: Condvar::new(),
    });
    let signal = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("topgun-storage-maintenance".into())
        .spawn(move || loop {
            {
                let mut stopped = signal.stopped.lock();
                if !*stopped {
                    signal.wake.wait_for(&mut stopped, interval);
                }
                if *stopped {
                    return;
                }
            }
            match weak.upgrade() {
                Some(store) => {
                    store.maintain();
                }
                None => return,
            }
        })?;
    Ok(MaintenanceHandle {
        stop,
        thread: Some(thread),
    })
}

impl MaintenanceHandle {
    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        *self.stop.stopped.lock() = true;
        self.stop.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // A panic in the thread was already reported by the panic hook.
            let _ = thread.join();
        }
    }
}

impl Drop for MaintenanceHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocking::block_on;
    use crate::clock::ManualClock;
    use crate::default_record_store::DefaultRecordStore;
    use crate::expiry::ExpiryPolicy;
    use crate::observer::{EventKind, EventObserver, StoreEvent};
    use crate::record::{RecordValue, Timestamp};
    use crate::record_store::{CallerProvenance, StorageConfig};
    use std::sync::mpsc;

    #[test]
    fn expired_records_go_without_any_reader() {
        let clock = ManualClock::new(1_000);
        let store = Arc::new(DefaultRecordStore::standalone(
            StorageConfig::default(),
            Some(Arc::new(clock.clone())),
        ));
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        store.add_observer(Arc::new(EventObserver::new(move |e: &StoreEvent<'_>| {
            if e.kind == EventKind::Expire {
                let _ = tx.lock().send(e.key.to_owned());
            }
        })));
        let value = RecordValue::lww(1, Timestamp::new(1, 0, "n"));
        block_on(store.put("k", value, ExpiryPolicy::ttl(10), CallerProvenance::Client)).unwrap();
        let handle = spawn_maintenance(&store, Duration::from_millis(1)).unwrap();
        clock.advance(11); // time passes on the store's clock only
                           // Waits for the event; the bound only keeps a broken build from
                           // hanging the suite.
        let key = rx.recv_timeout(Duration::from_secs(30)).expect("no expiry");
        assert_eq!(key, "k");
        assert_eq!(store.size(), 0);
        handle.stop();
    }

    #[test]
    fn the_thread_ends_by_itself_when_the_store_is_dropped() {
        let store = Arc::new(DefaultRecordStore::standalone(
            StorageConfig::default(),
            None,
        ));
        let handle = spawn_maintenance(&store, Duration::from_millis(1)).unwrap();
        drop(store);
        // Not stopped through the handle: the thread must notice on its own.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let thread = handle.thread.as_ref().unwrap();
        while !thread.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "thread outlived its store"
            );
            std::thread::yield_now();
        }
    }
}
