//! [`PostgresConfig`]: how to reach the server and which table to use.

use crate::map_data_store::Durability;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The table TopGun's TypeScript `PostgresAdapter` uses when it is given no
/// name.
pub const DEFAULT_TABLE_NAME: &str = "topgun_maps";

/// The longest table name accepted, in bytes: PostgreSQL identifiers hold 63
/// bytes, and the objects this store adds beside the table take their names
/// from it with a suffix of up to 14 bytes (`<table>_tgs_key_order`).
pub const MAX_TABLE_NAME_LEN: usize = 49;

/// A configuration value that can never work: an unknown option, a number
/// that does not parse, a table name the TypeScript adapter would refuse, a
/// connection string `tokio-postgres` cannot read. Maps to
/// [`ErrorCode::InvalidArgument`](crate::ErrorCode::InvalidArgument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfigError {
    message: String,
}

impl PostgresConfigError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// What was wrong.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PostgresConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PostgresConfigError {}

/// How a [`PostgresDataStore`](super::PostgresDataStore) reaches its server
/// and which table it uses; docs/postgres.md describes every setting.
///
/// Built from a connection string (libpq's `key=value` form or a
/// `postgresql://` URL, as `tokio-postgres` reads them) plus a few options,
/// either through the typed `with_*` methods or by name through
/// [`set`](Self::set), which is what the C, Python and Node bindings use:
///
/// | option | default | meaning |
/// |---|---|---|
/// | `table_name` | `topgun_maps` | the TopGun table (`[A-Za-z_][A-Za-z0-9_]*`, at most 49 bytes) |
/// | `pool_size` | 8 | connections at most |
/// | `connect_timeout_ms` | 10000 | to open a connection (also the wait for a free one) |
/// | `statement_timeout_ms` | 30000 | per statement, enforced by the server (0: none) |
/// | `verify_idle_after_ms` | 5000 | a pooled connection idle this long is checked with an empty query before use |
/// | `durability` | `fsync` | `fsync`, `os` or `none` (see [`Durability`]) |
/// | `tls_root_cert` | the system's roots | PEM file of the CAs that may sign the server's certificate |
/// | `runtime_threads` | 1 | threads of the store's own Tokio runtime |
///
/// TLS is used when the connection string says `sslmode=require` (it needs
/// the `postgres-tls` feature), and then the server's certificate and host
/// name are always verified; `disable` and `prefer` (the default) connect
/// without TLS.
///
/// `Debug` never shows the password.
#[derive(Clone)]
pub struct PostgresConfig {
    pub(super) pg: tokio_postgres::Config,
    pub(super) table_name: String,
    pub(super) pool_size: usize,
    pub(super) connect_timeout: Duration,
    pub(super) statement_timeout: Duration,
    pub(super) verify_idle_after: Duration,
    pub(super) durability: Durability,
    pub(super) tls_root_cert: Option<PathBuf>,
    pub(super) runtime_threads: usize,
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // tokio_postgres::Config's Debug redacts the password.
        f.debug_struct("PostgresConfig")
            .field("pg", &self.pg)
            .field("table_name", &self.table_name)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("verify_idle_after", &self.verify_idle_after)
            .field("durability", &self.durability)
            .field("tls_root_cert", &self.tls_root_cert)
            .field("runtime_threads", &self.runtime_threads)
            .finish()
    }
}

impl PostgresConfig {
    /// The configuration for `connection_string` with every option at its
    /// default. The application name defaults to `topgun-storage` (visible
    /// in `pg_stat_activity`).
    ///
    /// # Errors
    ///
    /// [`PostgresConfigError`] with `tokio-postgres`'s reason when the
    /// string cannot be read (an unknown key, a bad `sslmode`, a bad URL).
    pub fn from_connection_string(connection_string: &str) -> Result<Self, PostgresConfigError> {
        let mut pg = tokio_postgres::Config::from_str(connection_string).map_err(|e| {
            PostgresConfigError::new(format!(
                "invalid PostgreSQL connection string: {}",
                super::client::describe(&e)
            ))
        })?;
        if pg.get_application_name().is_none() {
            pg.application_name("topgun-storage");
        }
        let connect_timeout = pg
            .get_connect_timeout()
            .copied()
            .unwrap_or(Duration::from_secs(10));
        Ok(Self {
            pg,
            table_name: DEFAULT_TABLE_NAME.to_owned(),
            pool_size: 8,
            connect_timeout,
            statement_timeout: Duration::from_secs(30),
            verify_idle_after: Duration::from_secs(5),
            durability: Durability::Fsync,
            tls_root_cert: None,
            runtime_threads: 1,
        })
    }

    /// Sets an option by its name (table above) from its text form, as a
    /// binding receives it. Durations are whole milliseconds.
    ///
    /// # Errors
    ///
    /// [`PostgresConfigError`] naming the option for an unknown name or a
    /// value that does not parse or is out of range; the configuration is
    /// unchanged.
    pub fn set(&mut self, option: &str, value: &str) -> Result<(), PostgresConfigError> {
        match option {
            "table_name" => {
                validate_table_name(value)?;
                self.table_name = value.to_owned();
            }
            "pool_size" => self.pool_size = positive(option, value)?,
            "connect_timeout_ms" => {
                self.connect_timeout = Duration::from_millis(positive(option, value)?);
            }
            "statement_timeout_ms" => {
                self.statement_timeout = Duration::from_millis(number(option, value)?);
            }
            "verify_idle_after_ms" => {
                self.verify_idle_after = Duration::from_millis(number(option, value)?);
            }
            "durability" => {
                self.durability = value.parse().map_err(|e: String| {
                    PostgresConfigError::new(format!("invalid durability: {e}"))
                })?;
            }
            "tls_root_cert" => self.tls_root_cert = Some(PathBuf::from(value)),
            "runtime_threads" => self.runtime_threads = positive(option, value)?,
            other => {
                return Err(PostgresConfigError::new(format!(
                    "unknown PostgreSQL option {other:?}: expected table_name, pool_size, \
                     connect_timeout_ms, statement_timeout_ms, verify_idle_after_ms, durability, \
                     tls_root_cert or runtime_threads"
                )))
            }
        }
        Ok(())
    }

    /// This configuration with another table (validated as TopGun's
    /// TypeScript `PostgresAdapter` validates it, see
    /// [`validate_table_name`]).
    ///
    /// # Errors
    ///
    /// [`PostgresConfigError`] for a name the adapter would refuse or one
    /// longer than [`MAX_TABLE_NAME_LEN`].
    pub fn with_table_name(mut self, name: &str) -> Result<Self, PostgresConfigError> {
        validate_table_name(name)?;
        self.table_name = name.to_owned();
        Ok(self)
    }

    /// At most `size` connections (at least 1).
    #[must_use]
    pub fn with_pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// The time allowed to open a connection, and to wait for a free one
    /// when all are busy.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The server's `statement_timeout` for this store's sessions (zero:
    /// none). A statement cancelled by it changes nothing and fails with
    /// [`Unavailable`](crate::DataStoreErrorKind::Unavailable).
    #[must_use]
    pub fn with_statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// A pooled connection unused for longer than this is checked with an
    /// empty query before a call uses it (zero: before every call), so a
    /// call after a server restart finds a fresh connection rather than a
    /// dead one.
    #[must_use]
    pub fn with_verify_idle_after(mut self, idle: Duration) -> Self {
        self.verify_idle_after = idle;
        self
    }

    /// When an acknowledged write is on the server's disk: `Fsync` commits
    /// wait for the server's WAL flush (`synchronous_commit` at least
    /// `on`); `Os` and `None` commit with `synchronous_commit = off`, so an
    /// acknowledged write survives this process dying but may be lost if the
    /// server's machine crashes before its WAL writer flushes (a fraction of
    /// a second).
    #[must_use]
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The PEM file of the certificate authorities that may sign the
    /// server's certificate (default: the system's trust store). Only used
    /// with the `postgres-tls` feature.
    #[must_use]
    pub fn with_tls_root_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_root_cert = Some(path.into());
        self
    }

    /// Threads of the store's own Tokio runtime (at least 1), which runs
    /// every connection.
    #[must_use]
    pub fn with_runtime_threads(mut self, threads: usize) -> Self {
        self.runtime_threads = threads.max(1);
        self
    }

    /// The table name.
    #[must_use]
    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    /// The durability level.
    #[must_use]
    pub fn durability(&self) -> Durability {
        self.durability
    }
}

/// Checks `name` as TopGun's TypeScript `PostgresAdapter` does
/// (`/^[a-zA-Z_][a-zA-Z0-9_]*$/`), and that it has at most
/// [`MAX_TABLE_NAME_LEN`] bytes. Like the adapter, the store writes the
/// name into its SQL unquoted, so PostgreSQL folds it to lower case and both
/// address the same table.
///
/// # Errors
///
/// [`PostgresConfigError`] saying which rule the name breaks.
pub fn validate_table_name(name: &str) -> Result<(), PostgresConfigError> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(PostgresConfigError::new(format!(
            "invalid table name {name:?}: it must start with a letter or underscore and \
             contain only ASCII letters, digits and underscores"
        )));
    }
    if name.len() > MAX_TABLE_NAME_LEN {
        return Err(PostgresConfigError::new(format!(
            "table name {name:?} has {} bytes; at most {MAX_TABLE_NAME_LEN} are allowed, so \
             that the names derived from it fit PostgreSQL's 63-byte identifiers",
            name.len()
        )));
    }
    Ok(())
}

fn number(option: &str, value: &str) -> Result<u64, PostgresConfigError> {
    value.trim().parse::<u64>().map_err(|_| {
        PostgresConfigError::new(format!(
            "invalid {option} {value:?}: expected a whole number"
        ))
    })
}

fn positive<T: TryFrom<u64>>(option: &str, value: &str) -> Result<T, PostgresConfigError> {
    let n = number(option, value)?;
    if n == 0 {
        return Err(PostgresConfigError::new(format!(
            "invalid {option} 0: must be at least 1"
        )));
    }
    T::try_from(n)
        .map_err(|_| PostgresConfigError::new(format!("invalid {option} {value:?}: too large")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_validated_as_the_ts_adapter_does() {
        for ok in ["topgun_maps", "_x", "T1", "a_b_9", &"x".repeat(49)] {
            assert!(validate_table_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "a-b",
            "a.b",
            "a b",
            "maps;drop",
            "\"q\"",
            "é",
            &"x".repeat(50),
        ] {
            assert!(validate_table_name(bad).is_err(), "{bad}");
        }
        let err = validate_table_name("a-b").unwrap_err();
        assert!(err.message().contains("\"a-b\""), "{err}");
    }

    #[test]
    fn options_parse_by_name_and_bad_ones_change_nothing() {
        let mut c = PostgresConfig::from_connection_string("host=localhost user=u").unwrap();
        c.set("table_name", "other").unwrap();
        c.set("pool_size", "3").unwrap();
        c.set("connect_timeout_ms", "250").unwrap();
        c.set("statement_timeout_ms", "0").unwrap();
        c.set("verify_idle_after_ms", "0").unwrap();
        c.set("durability", "os").unwrap();
        c.set("tls_root_cert", "/etc/ca.pem").unwrap();
        c.set("runtime_threads", "2").unwrap();
        assert_eq!(c.table_name(), "other");
        assert_eq!(c.pool_size, 3);
        assert_eq!(c.connect_timeout, Duration::from_millis(250));
        assert_eq!(c.statement_timeout, Duration::ZERO);
        assert_eq!(c.verify_idle_after, Duration::ZERO);
        assert_eq!(c.durability(), Durability::Os);
        assert_eq!(c.tls_root_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(c.runtime_threads, 2);
        for (option, value, says) in [
            ("pool_size", "0", "pool_size 0"),
            ("pool_size", "-1", "invalid pool_size \"-1\""),
            ("pool_size", "lots", "expected a whole number"),
            ("durability", "FSYNC", "unknown durability \"FSYNC\""),
            ("table_name", "bad name", "invalid table name \"bad name\""),
            ("colour", "blue", "unknown PostgreSQL option \"colour\""),
        ] {
            let err = c.set(option, value).unwrap_err();
            assert!(err.message().contains(says), "{option}: {err}");
        }
        assert_eq!((c.pool_size, c.table_name()), (3, "other"));
    }

    #[test]
    fn connection_strings_are_read_by_tokio_postgres_and_debug_hides_the_password() {
        let c = PostgresConfig::from_connection_string(
            "postgresql://me:secret@db.example:5433/app?connect_timeout=3",
        )
        .unwrap();
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
        assert_eq!(c.pg.get_application_name(), Some("topgun-storage"));
        assert!(!format!("{c:?}").contains("secret"));
        let err = PostgresConfig::from_connection_string("host=x sslrootcert=/ca.pem").unwrap_err();
        assert!(err.message().contains("sslrootcert"), "{err}");
    }
}
