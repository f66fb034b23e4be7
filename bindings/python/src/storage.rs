//! `Storage`: a record store (`DefaultRecordStore::standalone`, or
//! `standalone_over` a data store opened from a `DataStoreSpec`: see
//! `open.rs`) behind a Pythonic face. Its clock, iterator, observers and
//! argument checks are in `clock.rs`, `iterator.rs`, `observers.rs` and
//! `args.rs`.
//!
//! GIL policy: in memory, single-key calls (`get`, `put`, `remove`,
//! `contains`, `len`) keep the GIL, since releasing and re-acquiring it
//! costs more than the call; over a data store that keeps data (disk or a
//! server) every call that may reach it (`put`, `remove`, a `get` or
//! `contains`, which may load a miss, `flush`, `close`, opening) releases
//! it. Bulk calls (`get_many`, `put_many`), scans (`fetch_keys`,
//! `fetch_entries`, iteration pages, `random_samples`), `clear` and
//! `maintain` release it while the core works. No core lock is ever held
//! while Python code runs: the core calls observers after releasing its
//! locks, and the binding re-acquires the GIL only inside the observer.

use crate::args::{
    bound_arg, cursor_out, eviction_policy, key_list, page_request, MAX_COUNT, MAX_SAMPLES,
};
use crate::clock::ManualClock;
use crate::convert::{int_in, millis_arg};
use crate::errors;
use crate::iterator::{IterMode, StorageIterator};
use crate::observers::{deliver, raise_interrupt, SharedCallback};
use crate::open::{data_store_spec, DurableArgs};
use crate::values::{
    entry_into_py, metadata_into_py, record_value_from_py, record_value_into_py, MaintenanceReport,
    Stats,
};
use parking_lot::Mutex;
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyType;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use pyo3::PyTraverseError;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use topgun_storage_core::codec;
use topgun_storage_core::{
    block_on, CallerProvenance, Clock, DefaultRecordStore, ErrorCode, EventObserver, ExpiryPolicy,
    MapDataStore, MutationObserver, Record, RecordStore, RecordValue, StorageConfig, StoreError,
    StoreEvent, Subscriptions,
};

/// A record store with TopGun's value shapes, expiry, bounded eviction,
/// observers and resumable cursor scans, in memory or over a durable data
/// store (docs/python.md). Safe to share between threads.
#[pyclass(frozen, module = "topgun_storage", name = "Storage")]
pub(crate) struct Storage {
    store: Arc<DefaultRecordStore>,
    subscriptions: Subscriptions<SharedCallback>,
    /// The backend's name, when a data store keeps the data.
    backend: Option<&'static str>,
    /// Set by `close` (or `__exit__`): every later call raises `ClosedError`.
    closed: AtomicBool,
}

fn closed_error(py: Python<'_>) -> PyErr {
    errors::store_error(py, &StoreError::Closed)
}

/// The live record under `key`: memory, else (over a data store that keeps
/// data) the data store, whose record is then kept in memory. Call it with
/// the GIL released when `durable`.
fn lookup(
    store: &DefaultRecordStore,
    durable: bool,
    key: &str,
) -> Result<Option<Record>, StoreError> {
    if durable {
        return block_on(store.get(key, true));
    }
    let mut out = None;
    store.read_with(key, true, &mut |r| {
        out = Some(r.clone());
        true
    });
    Ok(out)
}

impl Storage {
    /// The store, or `ClosedError` after `close`.
    fn live(&self, py: Python<'_>) -> PyResult<&Arc<DefaultRecordStore>> {
        if self.closed.load(Ordering::Acquire) {
            Err(closed_error(py))
        } else {
            Ok(&self.store)
        }
    }

    /// Whether a data store keeps the data (calls may reach a disk or a
    /// server, and release the GIL).
    fn durable(&self) -> bool {
        self.backend.is_some()
    }

    /// The live value under `key`, loaded from the data store on a miss
    /// (with the GIL released) when there is one.
    fn get_value(&self, py: Python<'_>, key: &str) -> PyResult<Option<RecordValue>> {
        let store = self.live(py)?;
        if !self.durable() {
            return Ok(Self::read_value(store, key));
        }
        // A key memory holds is read in place with the GIL held (as in
        // memory); only a miss releases it and goes to the data store.
        // `exists_in_memory` counts nothing, so a miss is counted once, by
        // `get` (and twice only if the key leaves memory between the calls).
        if store.exists_in_memory(key) {
            if let Some(value) = Self::read_value(store, key) {
                return Ok(Some(value));
            }
        }
        py.detach(|| block_on(store.get(key, true)))
            .map(|r| r.map(|r| r.value))
            .map_err(|e| errors::store_error(py, &e))
    }

    fn expiry(
        py: Python<'_>,
        ttl: Option<&Bound<'_, PyAny>>,
        max_idle: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ExpiryPolicy> {
        Ok(ExpiryPolicy {
            ttl_millis: millis_arg(py, ttl, "ttl")?,
            max_idle_millis: millis_arg(py, max_idle, "max_idle")?,
        })
    }

    fn put_value<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        value: RecordValue,
        expiry: ExpiryPolicy,
    ) -> PyResult<Option<RecordValue>> {
        let store = self.live(py)?;
        let result = if self.durable() {
            // A record only on disk is the replaced value too.
            py.detach(|| {
                block_on(store.put_replacing(key, value, expiry, CallerProvenance::Client))
            })
        } else {
            block_on(store.put(key, value, expiry, CallerProvenance::Client))
        };
        raise_interrupt(result.map_err(|e| errors::store_error(py, &e)))
    }

    /// A copy of the live value under `key`, read as `get(key, true)` reads
    /// it (a hit counts and refreshes the access time; an expired record is
    /// removed), from memory only. For a store in memory (null data store):
    /// memory holds everything, so the core's in-place `read_with` has
    /// exactly `get`'s semantics, without its boxed future or a copy of the metadata. Only
    /// Rust code runs under the core's lock: the Python object is built
    /// afterwards.
    fn read_value(store: &DefaultRecordStore, key: &str) -> Option<RecordValue> {
        let mut out = None;
        store.read_with(key, true, &mut |r| {
            out = Some(r.value.clone());
            true
        });
        out
    }

    /// As [`Storage::get_value`], with the metadata.
    fn read_record(&self, py: Python<'_>, key: &str) -> PyResult<Option<Record>> {
        let store = self.live(py)?;
        let durable = self.durable();
        let found = if durable {
            py.detach(|| lookup(store, durable, key))
        } else {
            lookup(store, durable, key)
        };
        found.map_err(|e| errors::store_error(py, &e))
    }

    fn remove_value(&self, py: Python<'_>, key: &str) -> PyResult<Option<RecordValue>> {
        let store = self.live(py)?;
        let result = if self.durable() {
            // A record only on disk is the removed value too.
            py.detach(|| block_on(store.remove_replacing(key, CallerProvenance::Client)))
        } else {
            block_on(store.remove(key, CallerProvenance::Client))
        };
        raise_interrupt(result.map_err(|e| errors::store_error(py, &e)))
    }

    /// Whether a live record is under `key`: memory, else (over a data
    /// store that keeps data) the data store, read without loading,
    /// counting or touching ([`DefaultRecordStore::contains_live`]).
    fn contains_key(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        let store = self.live(py)?;
        if store.exists_in_memory(key) {
            return Ok(true);
        }
        if !self.durable() {
            return Ok(false);
        }
        py.detach(|| block_on(store.contains_live(key)))
            .map_err(|e| errors::store_error(py, &e))
    }
}

fn opt_value_into_py(py: Python<'_>, v: Option<RecordValue>) -> PyResult<Bound<'_, PyAny>> {
    match v {
        Some(v) => record_value_into_py(py, v),
        None => Ok(py.None().into_bound(py)),
    }
}

#[pymethods]
impl Storage {
    /// In memory by default; over a durable data store with `path=` (redb
    /// unless `backend=` names `lmdb` or `rocksdb`), `dsn=` (PostgreSQL) or
    /// `backend=`. Opening reads nothing from the data store (misses load
    /// on demand; `warm_up()` fills memory) and releases the GIL.
    #[new]
    #[pyo3(signature = (
        *, path = None, dsn = None, backend = None, durability = None, write_behind = None,
        options = None, map_name = "default", ttl = None, max_idle = None, max_entries = None,
        max_cost = None, eviction = "none", samples = None, clock = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: Option<&Bound<'_, PyAny>>,
        dsn: Option<&str>,
        backend: Option<&str>,
        durability: Option<&str>,
        write_behind: Option<bool>,
        options: Option<&Bound<'_, PyDict>>,
        map_name: &str,
        ttl: Option<&Bound<'_, PyAny>>,
        max_idle: Option<&Bound<'_, PyAny>>,
        max_entries: Option<&Bound<'_, PyAny>>,
        max_cost: Option<&Bound<'_, PyAny>>,
        eviction: &str,
        samples: Option<&Bound<'_, PyAny>>,
        clock: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let samples = match samples {
            Some(n) => int_in(
                py,
                n,
                "samples",
                1..=MAX_SAMPLES,
                ErrorCode::InvalidArgument,
            )?,
            None => StorageConfig::default().eviction_sample_count,
        };
        let config = StorageConfig {
            default_ttl_millis: millis_arg(py, ttl, "ttl")?,
            default_max_idle_millis: millis_arg(py, max_idle, "max_idle")?,
            max_entry_count: bound_arg(py, max_entries, "max_entries")?,
            max_total_cost: bound_arg(py, max_cost, "max_cost")?,
            eviction_policy: eviction_policy(py, eviction)?,
            eviction_sample_count: samples,
        };
        let clock: Option<Arc<dyn Clock>> = match clock.filter(|c| !c.is_none()) {
            None => None,
            Some(c) => {
                let manual = c.cast::<ManualClock>().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "clock must be a ManualClock or None, not {}",
                        c.get_type()
                            .name()
                            .map_or_else(|_| "object".to_owned(), |n| n.to_string())
                    ))
                })?;
                Some(Arc::new(manual.get().0.clone()))
            }
        };
        let spec = data_store_spec(
            py,
            &DurableArgs {
                path,
                dsn,
                backend,
                durability,
                write_behind,
                options,
            },
        )?;
        // Every argument is checked before anything is opened.
        let (store, backend) = match spec {
            None => (DefaultRecordStore::standalone(config, clock), None),
            Some(spec) => {
                let data_store: Arc<dyn MapDataStore> = py
                    .detach(|| spec.open())
                    .map_err(|e| errors::data_store_error(py, &e))?;
                let store =
                    DefaultRecordStore::standalone_over(map_name, config, data_store, clock);
                (store, Some(spec.backend().as_str()))
            }
        };
        let store = Arc::new(store);
        Ok(Self {
            subscriptions: Subscriptions::new(Arc::clone(store.observers())),
            store,
            backend,
            closed: AtomicBool::new(false),
        })
    }

    /// The backend's name (`"redb"`, `"lmdb"`, `"rocksdb"`, `"postgres"`,
    /// `"memory"`) when a data store is behind the store, else `None`.
    #[getter]
    fn backend(&self) -> Option<&'static str> {
        self.backend
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Makes every write acknowledged so far durable as with
    /// `durability="fsync"`, whatever the store's level (with write-behind:
    /// stores the queue first). Nothing to do in memory. Releases the GIL.
    ///
    /// Raises `ClosedError` after `close()`, or the data store's error.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let store = self.live(py)?;
        if !self.durable() {
            return Ok(());
        }
        py.detach(|| block_on(store.map_data_store().flush()))
            .map_err(|e| errors::data_store_error(py, &e))
    }

    /// Flushes and closes the data store (releasing its files or
    /// connections; with write-behind, every queued write is stored first)
    /// and drops memory. Every later call raises `ClosedError`; closing
    /// again does nothing. Releases the GIL.
    ///
    /// Raises the data store's error if it could not flush or close; the
    /// store is closed all the same.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let store = &self.store;
        let closed = if self.durable() {
            py.detach(|| block_on(store.map_data_store().close()))
        } else {
            Ok(())
        };
        store.destroy();
        closed.map_err(|e| errors::data_store_error(py, &e))
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().live(slf.py())?;
        Ok(slf)
    }

    /// Closes the store (as `close()`), also when the block raised; never
    /// swallows the block's exception.
    #[pyo3(signature = (_exc_type = None, _exc = None, _tb = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyType>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// Fills memory from the data store (every live record of the map, up to
    /// the memory bounds; warm-up never evicts and keeps what memory already
    /// holds); returns how many records it loaded. Until then `len()`,
    /// iteration, `fetch_keys` and `random_samples` see only what memory
    /// holds. Nothing to do in memory. Releases the GIL. Cost O(records on
    /// disk).
    fn warm_up(&self, py: Python<'_>) -> PyResult<u64> {
        let store = self.live(py)?;
        if !self.durable() {
            return Ok(0);
        }
        py.detach(|| block_on(store.warm_up(&mut |_| ControlFlow::Continue(()))))
            .map(|p| p.loaded)
            .map_err(|e| errors::store_error(py, &e))
    }

    /// Stores `value` under `key`; returns the previous live value or
    /// `None`. `ttl` / `max_idle` (ms or timedelta) override the store's
    /// defaults for this entry.
    #[pyo3(signature = (key, value, *, ttl = None, max_idle = None))]
    fn put<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        value: &Bound<'py, PyAny>,
        ttl: Option<&Bound<'py, PyAny>>,
        max_idle: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let value = record_value_from_py(value)?;
        let expiry = Self::expiry(py, ttl, max_idle)?;
        let old = self.put_value(py, key, value, expiry)?;
        opt_value_into_py(py, old)
    }

    /// The live value under `key` (a hit counts and refreshes its access
    /// time), else `default`.
    #[pyo3(signature = (key, default = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match raise_interrupt(self.get_value(py, key))? {
            Some(value) => record_value_into_py(py, value),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    /// `(value, metadata)` for the live record under `key`, else `None`.
    fn get_record<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        match raise_interrupt(self.read_record(py, key))? {
            Some(record) => {
                let value = record_value_into_py(py, record.value)?;
                let meta = metadata_into_py(py, record.metadata)?;
                Ok(PyTuple::new(py, [value, meta])?.into_any())
            }
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// Removes `key`; returns its live value, or `None` if there was none.
    fn remove<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        let old = self.remove_value(py, key)?;
        opt_value_into_py(py, old)
    }

    /// Whether a live record is under `key` (in memory this does not count
    /// as a read; over a data store a key not in memory is loaded, and
    /// kept, as `get` would).
    fn contains(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        self.contains_key(py, key)
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        match key.cast::<PyString>() {
            Ok(k) => self.contains_key(py, k.to_str()?),
            // Like dict: a key of another type is simply not there.
            Err(_) => Ok(false),
        }
    }

    /// Records in memory (expired ones not yet swept may be counted); over
    /// a data store, only what memory holds (see `warm_up`).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.live(py)?.size())
    }

    fn __getitem__<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        match raise_interrupt(self.get_value(py, key))? {
            Some(value) => record_value_into_py(py, value),
            None => Err(PyKeyError::new_err(key.to_owned())),
        }
    }

    fn __setitem__(&self, py: Python<'_>, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = record_value_from_py(value)?;
        self.put_value(py, key, value, ExpiryPolicy::NONE)?;
        Ok(())
    }

    fn __delitem__(&self, py: Python<'_>, key: &str) -> PyResult<()> {
        match self.remove_value(py, key)? {
            Some(_) => Ok(()),
            None => Err(PyKeyError::new_err(key.to_owned())),
        }
    }

    /// Iterates over the live keys by cursor pages (see `fetch_keys` for the
    /// guarantees under concurrent writes; over a data store, the keys in
    /// memory: see `warm_up`).
    fn __iter__(&self, py: Python<'_>) -> PyResult<StorageIterator> {
        Ok(StorageIterator::new(self.live(py)?, IterMode::Keys))
    }

    /// An iterator over the live keys (as `iter(store)`).
    fn keys(&self, py: Python<'_>) -> PyResult<StorageIterator> {
        Ok(StorageIterator::new(self.live(py)?, IterMode::Keys))
    }

    /// An iterator over the live values.
    fn values(&self, py: Python<'_>) -> PyResult<StorageIterator> {
        Ok(StorageIterator::new(self.live(py)?, IterMode::Values))
    }

    /// An iterator over `(key, value)` pairs.
    fn items(&self, py: Python<'_>) -> PyResult<StorageIterator> {
        Ok(StorageIterator::new(self.live(py)?, IterMode::Items))
    }

    /// Removes every record, from the data store too when there is one;
    /// returns how many there were. Releases the GIL. Over a data store it
    /// removes the keys page by page (1,000 per atomic batch): if it fails,
    /// the pages before the failure are gone.
    fn clear(&self, py: Python<'_>) -> PyResult<u64> {
        let store = self.live(py)?;
        if !self.durable() {
            return raise_interrupt(Ok(u64::from(py.detach(|| store.clear(false)))));
        }
        raise_interrupt(
            py.detach(|| block_on(store.clear_all()))
                .map_err(|e| errors::store_error(py, &e)),
        )
    }

    /// Sum of the entries' costs in bytes (key + MessagePack value) in
    /// memory. O(1).
    fn estimated_cost(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.live(py)?.owned_entry_cost())
    }

    /// `{key: value}` for the keys that hold a live value (each counts as a
    /// read, as `get`). All keys are checked first; then one pass reads
    /// and converts each under the GIL.
    fn get_many<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let store = self.live(py)?;
        let out = PyDict::new(py);
        if self.durable() {
            // Over a data store a miss may reach the disk: the GIL is
            // released for the reads, then the values are converted.
            let key_objs = key_list(keys)?;
            let strs = key_objs
                .iter()
                .map(|k| k.to_str())
                .collect::<PyResult<Vec<&str>>>()?;
            let found: Vec<Option<RecordValue>> = py
                .detach(|| {
                    strs.iter()
                        .map(|k| block_on(store.get(k, true)).map(|r| r.map(|r| r.value)))
                        .collect::<Result<_, _>>()
                })
                .map_err(|e| errors::store_error(py, &e))?;
            raise_interrupt(Ok(()))?;
            for (key, value) in key_objs.iter().zip(found) {
                if let Some(value) = value {
                    out.set_item(key, record_value_into_py(py, value)?)?;
                }
            }
            return Ok(out);
        }
        // In memory, one pass under the GIL: each record is copied out of
        // the store (only Rust runs under its lock) and converted at once;
        // releasing the GIL around ~100 ns reads would cost more than it
        // frees.
        for key in key_list(keys)? {
            if let Some(value) = Self::read_value(store, key.to_str()?) {
                out.set_item(key, record_value_into_py(py, value)?)?;
            }
        }
        raise_interrupt(Ok(out))
    }

    /// Stores every `(key, value)` of a dict or an iterable of pairs, with
    /// the same `ttl` / `max_idle`; returns how many were written. All
    /// values are converted first (a bad one raises before anything is
    /// written); then the GIL is released while storing. A store error
    /// (e.g. `CapacityExceededError`) stops at that item: the ones before
    /// it stay written.
    #[pyo3(signature = (items, *, ttl = None, max_idle = None))]
    fn put_many(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        ttl: Option<&Bound<'_, PyAny>>,
        max_idle: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let expiry = Self::expiry(py, ttl, max_idle)?;
        let pairs_source = match items.cast::<PyDict>() {
            Ok(d) => d.items().into_any(),
            Err(_) => items.clone(),
        };
        let mut batch: Vec<(String, RecordValue)> = Vec::new();
        for (i, pair) in pairs_source.try_iter()?.enumerate() {
            let pair = pair?;
            let (key, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) =
                pair.extract().map_err(|_| {
                    PyTypeError::new_err(format!("item {i} of put_many is not a (key, value) pair"))
                })?;
            let key = key.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!("key of item {i} of put_many must be str"))
            })?;
            batch.push((key.to_str()?.to_owned(), record_value_from_py(&value)?));
        }
        let store = self.live(py)?;
        let (written, failed) = py.detach(|| {
            let mut written = 0usize;
            for (key, value) in batch {
                if let Err(e) = block_on(store.put(&key, value, expiry, CallerProvenance::Client)) {
                    return (written, Some(e));
                }
                written += 1;
            }
            (written, None)
        });
        raise_interrupt(match failed {
            Some(e) => Err(errors::store_error(py, &e)),
            None => Ok(written),
        })
    }

    /// One page of live keys: `(keys, next_cursor)`. Pass `next_cursor` to
    /// the next call; it is `None` when the iteration is finished (and
    /// `cursor=None` or `b""` starts one). At most `size` keys per page.
    /// Keys present for the whole scan are returned at least once, keys
    /// absent for the whole scan never; without concurrent writes every
    /// key exactly once. Releases the GIL.
    #[pyo3(signature = (cursor = None, size = None))]
    fn fetch_keys<'py>(
        &self,
        py: Python<'py>,
        cursor: Option<&Bound<'py, PyAny>>,
        size: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let (cursor, size) = page_request(py, cursor, size)?;
        let store = self.live(py)?;
        let page = raise_interrupt(
            py.detach(|| store.fetch_keys(&cursor, size))
                .map_err(|e| errors::cursor_error(py, &e)),
        )?;
        let keys = PyList::new(py, page.items)?;
        PyTuple::new(py, [keys.into_any(), cursor_out(py, &page.next_cursor)])
    }

    /// One page of live entries: `([(key, value, metadata), ...],
    /// next_cursor)`, with the cursor rules of `fetch_keys`.
    #[pyo3(signature = (cursor = None, size = None))]
    fn fetch_entries<'py>(
        &self,
        py: Python<'py>,
        cursor: Option<&Bound<'py, PyAny>>,
        size: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let (cursor, size) = page_request(py, cursor, size)?;
        let store = self.live(py)?;
        let page = raise_interrupt(
            py.detach(|| store.fetch_entries(&cursor, size))
                .map_err(|e| errors::cursor_error(py, &e)),
        )?;
        let entries = page
            .items
            .into_iter()
            .map(|(k, r)| entry_into_py(py, k, r))
            .collect::<PyResult<Vec<_>>>()?;
        let list = PyList::new(py, entries)?;
        PyTuple::new(py, [list.into_any(), cursor_out(py, &page.next_cursor)])
    }

    /// Up to `k` distinct live entries chosen uniformly at random, as
    /// `(key, value, metadata)`; cost independent of the store's size.
    fn random_samples<'py>(
        &self,
        py: Python<'py>,
        k: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let k: usize = int_in(py, k, "k", 0..=MAX_COUNT, ErrorCode::InvalidArgument)?;
        let store = self.live(py)?;
        let samples = raise_interrupt(Ok(py.detach(|| store.random_samples(k))))?;
        let items = samples
            .into_iter()
            .map(|(key, r)| entry_into_py(py, key, r))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The store's counters now.
    fn stats(&self) -> Stats {
        Stats(self.store.stats())
    }

    /// One bounded maintenance pass: sweeps part of the store for expired
    /// records and evicts back within bounds. Releases the GIL.
    fn maintain(&self, py: Python<'_>) -> PyResult<MaintenanceReport> {
        let store = self.live(py)?;
        raise_interrupt(Ok(MaintenanceReport(py.detach(|| store.maintain()))))
    }

    /// Writes every live record, with its metadata, to the file at `path`
    /// (str or os.PathLike) from a snapshot taken at the start of the call:
    /// the file holds exactly this store's state at that instant, while
    /// other threads go on writing. Written under a temporary name, synced
    /// and renamed, so a failure leaves nothing at `path`. `progress(p)`
    /// (an `ExportProgress`) is called after every ~64 KiB of records; an
    /// exception it raises is raised when the export is done. Releases the
    /// GIL. Raises `StorageIOError` / `DiskFullError` when the file cannot be
    /// written. Format: docs/architecture.md, "Export and import".
    #[pyo3(signature = (path, progress = None))]
    fn export_to(
        &self,
        py: Python<'_>,
        path: std::path::PathBuf,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<crate::export::ExportSummary> {
        crate::export::export_to(py, self.live(py)?, &path, progress.as_ref())
    }

    /// Imports a record-store export file (from any language) into this
    /// store: checks the whole file first, so a truncated, damaged or
    /// foreign file raises `CorruptDataError` and changes nothing; then
    /// writes every record as exported (metadata included), replacing
    /// records of the same keys and leaving other keys alone (`clear()`
    /// first for an exact copy). Observers see each record. Raises
    /// `InvalidArgumentError` for a `MapStorage` export, `StorageIOError`
    /// when the file cannot be read, and the store's own error (e.g.
    /// `CapacityExceededError`) if it refuses a record (the message says how
    /// many went in). `progress` as for `export_to` (`checking` is true
    /// during the first pass). Releases the GIL.
    #[pyo3(signature = (path, progress = None))]
    fn import_from(
        &self,
        py: Python<'_>,
        path: std::path::PathBuf,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<crate::export::ExportSummary> {
        crate::export::import_from(py, self.live(py)?, &path, progress.as_ref())
    }

    /// Calls `callback(event)` (a `StoreEvent`) after every change, on the
    /// thread that made it, with no store lock held (the callback may use
    /// the store). An exception in the callback is reported as an
    /// `ObserverWarning` and does not affect the store. Returns a handle for
    /// `unsubscribe`.
    fn subscribe(&self, callback: &Bound<'_, PyAny>) -> PyResult<u64> {
        if !callback.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "callback must be callable, not {}",
                callback.get_type().name()?
            )));
        }
        let callable: SharedCallback = Arc::new(Mutex::new(Some(callback.clone().unbind())));
        let for_core = Arc::clone(&callable);
        let observer: Arc<dyn MutationObserver> =
            Arc::new(EventObserver::new(move |e: &StoreEvent<'_>| {
                deliver(&for_core, e);
            }));
        Ok(self.subscriptions.subscribe(observer, callable))
    }

    /// Stops the callback registered under `handle`; returns whether it was
    /// registered. No call of the callback starts after this returns; it
    /// never waits (a call already running on another thread finishes), so
    /// callbacks may unsubscribe one another from any threads.
    fn unsubscribe(&self, handle: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(handle) = handle.extract::<u64>() else {
            return Ok(false);
        };
        let Some(shared) = self.subscriptions.unsubscribe(handle) else {
            return Ok(false);
        };
        // Emptied under the GIL: a delivery reads the slot right before it
        // calls. Released outside every lock (its `__del__` may run here).
        let callable = shared.lock().take();
        drop(callable);
        Ok(true)
    }

    /// Stores a value given as MessagePack bytes (TopGun's wire shape);
    /// returns the previous live value's bytes or `None`.
    #[pyo3(signature = (key, data, *, ttl = None, max_idle = None))]
    fn put_msgpack<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        data: &Bound<'py, PyBytes>,
        ttl: Option<&Bound<'py, PyAny>>,
        max_idle: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let value = decode_bytes(py, data.as_bytes())?;
        let expiry = Self::expiry(py, ttl, max_idle)?;
        match self.put_value(py, key, value, expiry)? {
            Some(old) => Ok(encode_into_bytes(py, &old)?.into_any()),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// The live value under `key` as MessagePack bytes, or `None`.
    fn get_msgpack<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        if self.durable() {
            return match self.get_value(py, key)? {
                Some(value) => Ok(encode_into_bytes(py, &value)?.into_any()),
                None => Ok(py.None().into_bound(py)),
            };
        }
        // Encoded in place under the core's lock (no copy of the value),
        // then copied once into the `bytes` object.
        let mut encoded = None;
        self.live(py)?.read_with(key, true, &mut |r| {
            encoded = Some(codec::encode_record_value(&r.value));
            true
        });
        match raise_interrupt(Ok(encoded))? {
            Some(bytes) => Ok(PyBytes::new(py, &bytes).into_any()),
            None => Ok(py.None().into_bound(py)),
        }
    }

    fn __repr__(&self) -> String {
        let c = self.store.config();
        let backend = match self.backend {
            Some(b) => format!("backend='{b}', "),
            None => String::new(),
        };
        let state = if self.closed.load(Ordering::Acquire) {
            "closed, "
        } else {
            ""
        };
        format!(
            "Storage({backend}{state}len={}, ttl={}, max_idle={}, max_entries={}, max_cost={}, eviction='{}', samples={})",
            self.store.size(),
            none_if_zero(c.default_ttl_millis),
            none_if_zero(c.default_max_idle_millis),
            none_if_zero(c.max_entry_count),
            none_if_zero(c.max_total_cost),
            c.eviction_policy.as_str(),
            c.eviction_sample_count
        )
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Never block inside the garbage collector: a list being changed
        // right now is skipped this round.
        let mut result = Ok(());
        self.subscriptions.try_for_each(|callback| {
            if result.is_ok() {
                if let Some(callback) = callback.try_lock() {
                    result = visit.call(&*callback);
                }
            }
        });
        result
    }

    fn __clear__(&self) {
        for callback in self.subscriptions.unsubscribe_all() {
            // Dropped outside every lock: a callable's __del__ may run here.
            let callable = callback.lock().take();
            drop(callable);
        }
    }
}

impl Drop for Storage {
    /// A durable store dropped without `close()` is closed here, so its
    /// files are released and a write-behind queue is stored; an error is
    /// lost then (call `close()`, or use `with`, to see it).
    fn drop(&mut self) {
        if self.durable() && !*self.closed.get_mut() {
            let _closed = block_on(self.store.map_data_store().close());
        }
    }
}

fn none_if_zero(n: u64) -> String {
    if n == 0 {
        "None".to_owned()
    } else {
        n.to_string()
    }
}

/// Values at least this large are encoded and decoded with the GIL released.
const DETACH_BYTES: usize = 64 * 1024;

/// The MessagePack encoding written straight into a new `bytes` object (no
/// intermediate buffer); large values are encoded with the GIL released.
///
/// # Errors
/// Only if the length computed first and the bytes written disagree (a bug).
pub(crate) fn encode_into_bytes<'py>(
    py: Python<'py>,
    v: &RecordValue,
) -> PyResult<Bound<'py, PyBytes>> {
    let len = codec::encoded_len(v);
    PyBytes::new_with(py, len, |buf| {
        let written = if len >= DETACH_BYTES {
            py.detach(|| codec::encode_record_value_to_slice(v, buf))
        } else {
            codec::encode_record_value_to_slice(v, buf)
        };
        written
            .map(|_| ())
            .map_err(|e| PyValueError::new_err(e.to_string()))
    })
}

/// Decodes MessagePack (large inputs with the GIL released).
///
/// # Errors
/// The core's `DecodeError`, mapped to its exception class.
pub(crate) fn decode_bytes(py: Python<'_>, data: &[u8]) -> PyResult<RecordValue> {
    let decoded = if data.len() >= DETACH_BYTES {
        py.detach(|| codec::decode_record_value(data))
    } else {
        codec::decode_record_value(data)
    };
    decoded.map_err(|e| errors::decode_error(py, &e))
}
