//! Opening a data store from a description: the one place where the C ABI,
//! the Python wheel and the Node addon turn "backend, path, durability,
//! write-behind" into a [`MapDataStore`].
//!
//! A binding reads its own options (a C struct, keyword arguments, a JS
//! object), fills a [`DataStoreSpec`] with [`DataStoreSpec::new`] and
//! [`DataStoreSpec::set`] (every option by name, as text), and calls
//! [`DataStoreSpec::open`]. Every check and every default lives here, so the
//! languages agree on what a name means and on each error message.

use super::{
    drain_leftover_log, MemoryDataStore, RedbDataStore, RedbOptions, WriteBehindConfig,
    WriteBehindDataStore,
};
use crate::map_data_store::{DataStoreError, DataStoreErrorKind, DataStoreResult, Durability};
use crate::MapDataStore;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

/// The backends a [`DataStoreSpec`] can name. The default is
/// [`BackendKind::Redb`], the backend a binding opens when it is given a
/// path and no backend name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BackendKind {
    /// [`MemoryDataStore`]: in memory, gone with the process (tests, and
    /// the write-behind machinery without a disk).
    Memory,
    /// [`RedbDataStore`]: one file, the default on disk.
    #[default]
    Redb,
    /// `LmdbDataStore` (cargo feature `lmdb`): a directory, memory-mapped.
    Lmdb,
    /// `RocksDbDataStore` (cargo feature `rocksdb`): a directory, an LSM tree.
    RocksDb,
    /// `PostgresDataStore` (cargo feature `postgres`): a table on a server.
    Postgres,
}

impl BackendKind {
    /// Every backend, in the order the docs list them.
    pub const ALL: [BackendKind; 5] = [
        BackendKind::Memory,
        BackendKind::Redb,
        BackendKind::Lmdb,
        BackendKind::RocksDb,
        BackendKind::Postgres,
    ];

    /// The name the options use: `memory`, `redb`, `lmdb`, `rocksdb`,
    /// `postgres`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Memory => "memory",
            BackendKind::Redb => "redb",
            BackendKind::Lmdb => "lmdb",
            BackendKind::RocksDb => "rocksdb",
            BackendKind::Postgres => "postgres",
        }
    }

    /// Whether this build of the library has the backend (the optional
    /// ones are cargo features).
    #[must_use]
    pub fn is_available(self) -> bool {
        match self {
            BackendKind::Memory | BackendKind::Redb => true,
            BackendKind::Lmdb => cfg!(feature = "lmdb"),
            BackendKind::RocksDb => cfg!(feature = "rocksdb"),
            BackendKind::Postgres => cfg!(feature = "postgres"),
        }
    }

    /// The backends this build has, by name.
    #[must_use]
    pub fn available() -> Vec<&'static str> {
        Self::ALL
            .iter()
            .filter(|b| b.is_available())
            .map(|b| b.as_str())
            .collect()
    }

    /// Whether [`DataStoreSpec::location`] is a path on this machine (as
    /// opposed to nothing, or a connection string).
    fn uses_path(self) -> bool {
        matches!(
            self,
            BackendKind::Redb | BackendKind::Lmdb | BackendKind::RocksDb
        )
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = String;

    /// Parses a backend name exactly (the error lists the accepted names).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown backend {s:?}: expected \"memory\", \"redb\", \"lmdb\", \
                     \"rocksdb\" or \"postgres\""
                )
            })
    }
}

/// What to open: a backend, where its data lives, how durable an
/// acknowledged write is, and whether writes go through a write-behind
/// queue (docs/architecture.md, "Layer 3", has the guarantees of each).
///
/// Options by name ([`Self::set`]; values as text, durations in whole
/// milliseconds):
///
/// | option | meaning | default |
/// |---|---|---|
/// | `durability` | `fsync`, `os` or `none` | `fsync` |
/// | `write_behind` | `true` / `false`: queue writes, store them in the background | `false` |
/// | `write_delay_ms` | how long a queued write waits before it is stored | 1000 |
/// | `write_batch_size` | most keys per background write | 1000 |
/// | `write_queue_capacity` | most keys queued (then writers wait, then fail `Unavailable`) | 100000 |
/// | `wal` | `true` / `false`: log queued writes before acknowledging them | `true` |
/// | `wal_dir` | where the log lives | beside the data (below) |
/// | `cache_size` | redb's page cache, bytes | redb's default |
/// | `max_map_size` | LMDB's largest map, bytes | LMDB backend default |
/// | any PostgreSQL option | `table_name`, `pool_size`, ... (docs/postgres.md) | |
///
/// With `write_behind` and `wal` on, the log's directory defaults to
/// `<path>.wal` beside the redb file or the LMDB / RocksDB directory; a
/// PostgreSQL store must name `wal_dir`, and the memory backend runs
/// without a log (nothing of it survives the process anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataStoreSpec {
    backend: BackendKind,
    location: String,
    durability: Durability,
    write_behind: bool,
    wal: bool,
    wal_dir: Option<PathBuf>,
    write_delay_ms: Option<u64>,
    write_batch_size: Option<usize>,
    write_queue_capacity: Option<usize>,
    cache_size: Option<usize>,
    max_map_size: Option<usize>,
    /// PostgreSQL options, checked when the store opens (by the
    /// PostgreSQL configuration, which owns their names).
    backend_options: Vec<(String, String)>,
}

fn rejected(message: impl Into<String>) -> DataStoreError {
    DataStoreError::new(DataStoreErrorKind::Rejected, message)
}

fn parse_bool(option: &str, value: &str) -> DataStoreResult<bool> {
    match value {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(rejected(format!(
            "option {option}: expected true or false, got {value:?}"
        ))),
    }
}

fn parse_count<T: FromStr>(option: &str, value: &str, min: u64) -> DataStoreResult<T> {
    let number: u64 = value.parse().map_err(|_| {
        rejected(format!(
            "option {option}: expected a whole number >= {min}, got {value:?}"
        ))
    })?;
    if number < min {
        return Err(rejected(format!(
            "option {option}: expected a whole number >= {min}, got {value:?}"
        )));
    }
    value.parse().map_err(|_| {
        rejected(format!(
            "option {option}: {value} is too large for this machine"
        ))
    })
}

impl DataStoreSpec {
    /// A description of `backend` at `location` (a file for redb, a
    /// directory for LMDB and RocksDB, a connection string for PostgreSQL,
    /// empty for memory), with every option at its default.
    ///
    /// # Errors
    /// [`DataStoreErrorKind::Rejected`] when the backend is not in this
    /// build (the message names the cargo feature and the backends there
    /// are), when a backend that needs a location has none, or when the
    /// memory backend is given one.
    pub fn new(backend: BackendKind, location: impl Into<String>) -> DataStoreResult<Self> {
        let location = location.into();
        if !backend.is_available() {
            return Err(rejected(format!(
                "backend {backend:?} is not built into this library (cargo feature \
                 {backend}); this build has {:?}",
                BackendKind::available()
            )));
        }
        match backend {
            BackendKind::Memory if !location.is_empty() => {
                return Err(rejected(
                    "the memory backend keeps nothing on disk: give it no path",
                ))
            }
            BackendKind::Postgres if location.is_empty() => {
                return Err(rejected(
                    "the postgres backend needs a connection string \
                     (e.g. postgres://user@host/db)",
                ))
            }
            b if b.uses_path() && location.is_empty() => {
                return Err(rejected(format!("the {b} backend needs a path")))
            }
            _ => {}
        }
        Ok(Self {
            backend,
            location,
            durability: Durability::Fsync,
            write_behind: false,
            wal: true,
            wal_dir: None,
            write_delay_ms: None,
            write_batch_size: None,
            write_queue_capacity: None,
            cache_size: None,
            max_map_size: None,
            backend_options: Vec::new(),
        })
    }

    /// [`Self::new`] from a backend name.
    ///
    /// # Errors
    /// As [`Self::new`], and `Rejected` for an unknown name.
    pub fn parse(backend: &str, location: impl Into<String>) -> DataStoreResult<Self> {
        Self::new(backend.parse().map_err(rejected)?, location)
    }

    /// The backend.
    #[must_use]
    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    /// The path or connection string given to [`Self::new`].
    #[must_use]
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The durability level.
    #[must_use]
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Whether writes go through a write-behind queue.
    #[must_use]
    pub fn is_write_behind(&self) -> bool {
        self.write_behind
    }

    /// Sets `durability` (also settable by name).
    #[must_use]
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets one option by name from its text form (table on the type).
    ///
    /// # Errors
    /// [`DataStoreErrorKind::Rejected`] naming the option for an unknown
    /// name, a value that does not parse, or an option the backend does not
    /// have; the spec is unchanged then.
    pub fn set(&mut self, option: &str, value: &str) -> DataStoreResult<()> {
        let only = |backend: BackendKind| -> DataStoreResult<()> {
            if self.backend == backend {
                Ok(())
            } else {
                Err(rejected(format!(
                    "option {option} is for the {backend} backend, not {}",
                    self.backend
                )))
            }
        };
        match option {
            "durability" => {
                self.durability = value
                    .parse()
                    .map_err(|e: String| rejected(format!("option durability: {e}")))?;
            }
            "write_behind" => self.write_behind = parse_bool(option, value)?,
            "wal" => self.wal = parse_bool(option, value)?,
            "wal_dir" => {
                if value.is_empty() {
                    return Err(rejected("option wal_dir: expected a directory, got \"\""));
                }
                self.wal_dir = Some(PathBuf::from(value));
            }
            "write_delay_ms" => self.write_delay_ms = Some(parse_count(option, value, 0)?),
            "write_batch_size" => self.write_batch_size = Some(parse_count(option, value, 1)?),
            "write_queue_capacity" => {
                self.write_queue_capacity = Some(parse_count(option, value, 1)?);
            }
            "cache_size" => {
                only(BackendKind::Redb)?;
                self.cache_size = Some(parse_count(option, value, 0)?);
            }
            "max_map_size" => {
                only(BackendKind::Lmdb)?;
                self.max_map_size = Some(parse_count(option, value, 1)?);
            }
            other if self.backend == BackendKind::Postgres => {
                self.check_postgres_option(other, value)?;
                self.backend_options
                    .push((other.to_owned(), value.to_owned()));
            }
            other => {
                return Err(rejected(format!(
                    "unknown option {other:?} for the {} backend: expected durability, \
                     write_behind, wal, wal_dir, write_delay_ms, write_batch_size, \
                     write_queue_capacity{}",
                    self.backend,
                    match self.backend {
                        BackendKind::Redb => ", cache_size",
                        BackendKind::Lmdb => ", max_map_size",
                        _ => "",
                    }
                )))
            }
        }
        Ok(())
    }

    #[cfg(feature = "postgres")]
    fn check_postgres_option(&self, option: &str, value: &str) -> DataStoreResult<()> {
        let mut probe = super::PostgresConfig::from_connection_string(&self.location)
            .map_err(|e| rejected(e.message().to_owned()))?;
        probe
            .set(option, value)
            .map_err(|e| rejected(e.message().to_owned()))
    }

    #[cfg(not(feature = "postgres"))]
    fn check_postgres_option(&self, _option: &str, _value: &str) -> DataStoreResult<()> {
        // `new` refuses the postgres backend in a build without it.
        Err(rejected(
            "the postgres backend is not built into this library",
        ))
    }

    /// The write-ahead log's directory when [`Self::open`] uses one.
    ///
    /// # Errors
    /// `Rejected` for a PostgreSQL store with write-behind and the log on
    /// but no `wal_dir`.
    pub fn wal_dir(&self) -> DataStoreResult<Option<PathBuf>> {
        if !self.write_behind || !self.wal || self.backend == BackendKind::Memory {
            return Ok(None);
        }
        if let Some(dir) = &self.wal_dir {
            return Ok(Some(dir.clone()));
        }
        if self.backend.uses_path() {
            return Ok(Some(PathBuf::from(format!("{}.wal", self.location))));
        }
        Err(rejected(
            "a postgres store with write_behind and the log on needs wal_dir \
             (a directory on this machine), or wal=false",
        ))
    }

    /// A write-ahead log that an earlier write-behind open left where this
    /// open will not look for one (opened now without write-behind or
    /// without its log): its directory when it exists. `open` stores what
    /// it holds in the backend first (a write-behind store killed before
    /// its queue drained acknowledged those writes).
    fn leftover_log_dir(&self, wal_dir: Option<&PathBuf>) -> Option<PathBuf> {
        if wal_dir.is_some() || self.backend == BackendKind::Memory {
            return None;
        }
        let dir = match &self.wal_dir {
            Some(dir) => dir.clone(),
            None if self.backend.uses_path() => PathBuf::from(format!("{}.wal", self.location)),
            None => return None,
        };
        dir.is_dir().then_some(dir)
    }

    /// Opens the data store: the backend at its location, wrapped in a
    /// [`WriteBehindDataStore`] when `write_behind` is on (which first
    /// replays its log into the backend). Opened without write-behind (or
    /// without its log) over a location whose log an earlier write-behind
    /// open left with writes in it, it stores those writes in the backend
    /// and empties the log first, so no acknowledged write is hidden and
    /// none is replayed later over newer ones.
    ///
    /// Blocks for the open (and a PostgreSQL connect); a binding calls it
    /// off its event loop or with the GIL released.
    ///
    /// # Errors
    /// The backend's open errors ([`DataStoreErrorKind::Locked`] when
    /// another process holds the files, `Corrupt` for a damaged file, `Io`,
    /// `Unavailable` for an unreachable server, ...), and `Rejected` for
    /// options [`Self::set`] could not check on its own.
    pub fn open(&self) -> DataStoreResult<Arc<dyn MapDataStore>> {
        let wal_dir = self.wal_dir()?;
        let leftover = self.leftover_log_dir(wal_dir.as_ref());
        macro_rules! wrap {
            ($inner:expr) => {{
                let inner = $inner;
                if let Some(dir) = &leftover {
                    drain_leftover_log(&inner, dir, self.durability)?;
                }
                if self.write_behind {
                    let store: Arc<dyn MapDataStore> = Arc::new(WriteBehindDataStore::open(
                        inner,
                        self.write_behind_config(wal_dir),
                    )?);
                    store
                } else {
                    let store: Arc<dyn MapDataStore> = Arc::new(inner);
                    store
                }
            }};
        }
        Ok(match self.backend {
            BackendKind::Memory => wrap!(MemoryDataStore::new()),
            BackendKind::Redb => {
                let mut options = RedbOptions::with_durability(self.durability);
                if let Some(size) = self.cache_size {
                    options.cache_size = size;
                }
                wrap!(RedbDataStore::open(&self.location, options)?)
            }
            #[cfg(feature = "lmdb")]
            BackendKind::Lmdb => {
                let mut options = super::LmdbOptions::with_durability(self.durability);
                if let Some(size) = self.max_map_size {
                    options.max_map_size = size;
                    options.initial_map_size = options.initial_map_size.min(size);
                }
                wrap!(super::LmdbDataStore::open(&self.location, options)?)
            }
            #[cfg(feature = "rocksdb")]
            BackendKind::RocksDb => wrap!(super::RocksDbDataStore::open(
                &self.location,
                super::RocksDbOptions::with_durability(self.durability)
            )?),
            #[cfg(feature = "postgres")]
            BackendKind::Postgres => {
                let mut config = super::PostgresConfig::from_connection_string(&self.location)
                    .map_err(|e| rejected(e.message().to_owned()))?;
                config
                    .set("durability", self.durability.as_str())
                    .map_err(|e| rejected(e.message().to_owned()))?;
                for (option, value) in &self.backend_options {
                    config
                        .set(option, value)
                        .map_err(|e| rejected(e.message().to_owned()))?;
                }
                wrap!(crate::block_on(super::PostgresDataStore::connect(config))?)
            }
            #[allow(unreachable_patterns)] // every backend is built in
            other => {
                return Err(rejected(format!(
                    "backend {other:?} is not built into this library"
                )))
            }
        })
    }

    fn write_behind_config(&self, wal_dir: Option<PathBuf>) -> WriteBehindConfig {
        let mut config = match wal_dir {
            Some(dir) => WriteBehindConfig::with_log(dir, self.durability),
            None => WriteBehindConfig::without_log(),
        };
        if let Some(delay) = self.write_delay_ms {
            config.write_delay_millis = delay;
        }
        if let Some(size) = self.write_batch_size {
            config.batch_size = size;
        }
        if let Some(capacity) = self.write_queue_capacity {
            config.capacity = capacity;
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map_data_store::{Namespace, StoredRecord};
    use crate::RecordValue;

    fn kind(err: DataStoreError) -> (DataStoreErrorKind, String) {
        (err.kind(), err.message().to_owned())
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for b in BackendKind::ALL {
            assert_eq!(b.as_str().parse::<BackendKind>(), Ok(b));
        }
        let err = "sqlite".parse::<BackendKind>().unwrap_err();
        assert!(
            err.contains("\"sqlite\"") && err.contains("\"redb\""),
            "{err}"
        );
        let (k, m) = kind(DataStoreSpec::parse("Redb", "x").unwrap_err());
        assert_eq!(k, DataStoreErrorKind::Rejected);
        assert!(m.contains("unknown backend"), "{m}");
    }

    #[test]
    fn the_default_backend_is_redb() {
        assert_eq!(BackendKind::default(), BackendKind::Redb);
        assert!(BackendKind::default().is_available());
    }

    #[test]
    fn locations_are_checked_per_backend() {
        let (k, m) = kind(DataStoreSpec::parse("redb", "").unwrap_err());
        assert_eq!(k, DataStoreErrorKind::Rejected);
        assert!(m.contains("needs a path"), "{m}");
        let (_, m) = kind(DataStoreSpec::parse("memory", "/tmp/x").unwrap_err());
        assert!(m.contains("no path"), "{m}");
        assert!(DataStoreSpec::parse("memory", "").is_ok());
    }

    #[test]
    fn options_are_checked_and_a_refused_option_changes_nothing() {
        let mut spec = DataStoreSpec::parse("redb", "/tmp/a.redb").unwrap();
        let before = spec.clone();
        for (option, value, needle) in [
            ("durability", "always", "durability"),
            ("write_behind", "maybe", "true or false"),
            ("write_batch_size", "0", ">= 1"),
            ("write_delay_ms", "-1", "whole number"),
            ("max_map_size", "10", "lmdb backend"),
            ("table_name", "t", "unknown option"),
            ("wal_dir", "", "directory"),
        ] {
            let (k, m) = kind(spec.set(option, value).unwrap_err());
            assert_eq!(k, DataStoreErrorKind::Rejected, "{option}");
            assert!(m.contains(needle), "{option}: {m}");
            assert_eq!(spec, before, "{option} changed the spec");
        }
        spec.set("durability", "os").unwrap();
        spec.set("write_behind", "true").unwrap();
        assert_eq!(spec.durability(), Durability::Os);
        assert!(spec.is_write_behind());
        assert_eq!(
            spec.wal_dir().unwrap(),
            Some(PathBuf::from("/tmp/a.redb.wal"))
        );
        spec.set("wal", "false").unwrap();
        assert_eq!(spec.wal_dir().unwrap(), None);
    }

    fn round_trip(spec: &DataStoreSpec) {
        let record = StoredRecord::new(RecordValue::lww("v", crate::Timestamp::new(1, 0, "n")), 7);
        let store = spec.open().unwrap();
        crate::block_on(store.add("m", Namespace::Primary, "k", &record)).unwrap();
        crate::block_on(store.close()).unwrap();
        let store = spec.open().unwrap();
        let loaded = crate::block_on(store.load("m", Namespace::Primary, "k")).unwrap();
        assert_eq!(loaded, Some(record));
        crate::block_on(store.close()).unwrap();
    }

    #[test]
    fn redb_opens_and_keeps_what_it_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("maps.redb");
        let spec = DataStoreSpec::parse("redb", path.to_string_lossy()).unwrap();
        round_trip(&spec);
    }

    #[test]
    fn write_behind_with_its_log_keeps_what_it_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("maps.redb");
        let mut spec = DataStoreSpec::parse("redb", path.to_string_lossy()).unwrap();
        spec.set("write_behind", "true").unwrap();
        spec.set("write_delay_ms", "0").unwrap();
        round_trip(&spec);
        assert!(dir.path().join("maps.redb.wal").is_dir());
    }

    #[test]
    fn a_plain_open_stores_what_a_write_behind_log_kept_and_empties_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("maps.redb");
        let mut behind = DataStoreSpec::parse("redb", path.to_string_lossy()).unwrap();
        behind.set("write_behind", "true").unwrap();
        // Nothing drains on its own: the write stays queued and in the log.
        behind.set("write_delay_ms", "3600000").unwrap();
        let v =
            |s: &str| StoredRecord::new(RecordValue::lww(s, crate::Timestamp::new(1, 0, "n")), 0);
        let store = behind.open().unwrap();
        crate::block_on(store.add("m", Namespace::Primary, "k", &v("logged"))).unwrap();
        drop(store); // as a kill would: the queue is not drained
        let plain = DataStoreSpec::parse("redb", path.to_string_lossy()).unwrap();
        let store = plain.open().unwrap();
        let load = |store: &Arc<dyn MapDataStore>| {
            crate::block_on(store.load("m", Namespace::Primary, "k")).unwrap()
        };
        assert_eq!(
            load(&store),
            Some(v("logged")),
            "the logged write is hidden"
        );
        crate::block_on(store.add("m", Namespace::Primary, "k", &v("newer"))).unwrap();
        crate::block_on(store.close()).unwrap();
        // The log was emptied: a write-behind open replays nothing old.
        let store = behind.open().unwrap();
        assert_eq!(load(&store), Some(v("newer")), "an old write was replayed");
        crate::block_on(store.close()).unwrap();
        // wal=false is a plain open too.
        let mut no_log = behind.clone();
        no_log.set("wal", "false").unwrap();
        let store = no_log.open().unwrap();
        assert_eq!(load(&store), Some(v("newer")));
        crate::block_on(store.close()).unwrap();
    }

    #[test]
    fn a_second_open_of_the_same_file_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("maps.redb");
        let spec = DataStoreSpec::parse("redb", path.to_string_lossy()).unwrap();
        let first = spec.open().unwrap();
        let err = spec.open().err().map(kind);
        assert_eq!(err.map(|e| e.0), Some(DataStoreErrorKind::Locked));
        crate::block_on(first.close()).unwrap();
    }

    #[test]
    fn memory_runs_write_behind_without_a_log() {
        let mut spec = DataStoreSpec::parse("memory", "").unwrap();
        spec.set("write_behind", "true").unwrap();
        assert_eq!(spec.wal_dir().unwrap(), None);
        let store = spec.open().unwrap();
        assert!(!store.is_null());
        crate::block_on(store.close()).unwrap();
    }
}
