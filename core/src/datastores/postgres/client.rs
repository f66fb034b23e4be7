//! The client stack: the store's own Tokio runtime, the connection pool
//! (deadpool-postgres over tokio-postgres), TLS, timeouts, retries, and how
//! PostgreSQL's failures map to [`DataStoreErrorKind`]s.

use super::config::PostgresConfig;
use crate::map_data_store::{DataStoreError, DataStoreErrorKind, DataStoreResult, Durability};
use deadpool_postgres::{
    HookError, Manager, ManagerConfig, Metrics, Object, Pool, PoolError, RecyclingMethod, Runtime,
    TimeoutType,
};
use std::error::Error as _;
use std::future::Future;
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

/// How often a write that lost a deadlock or serialization race (which
/// PostgreSQL rolls back, so nothing changed) is tried again.
const CONFLICT_RETRIES: u32 = 5;

/// The store's own runtime: `threads` workers named `topgun-postgres`, so
/// calls never need (or block) a runtime of the host's.
pub(super) fn runtime(threads: usize) -> DataStoreResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("topgun-postgres")
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| DataStoreError::io("starting the PostgreSQL client runtime", e))
}

/// The connection pool of `config`. Creating it opens no connection.
///
/// Every new connection first sets the session's `statement_timeout` and
/// `synchronous_commit` (see [`PostgresConfig::with_durability`]); a
/// pooled connection that the server closed is dropped when it is next
/// taken, and one idle for longer than `verify_idle_after` is checked with
/// an empty query first.
pub(super) fn pool(config: &PostgresConfig) -> DataStoreResult<Pool> {
    let mut pg = config.pg.clone();
    pg.connect_timeout(config.connect_timeout);
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = manager(pg, config, manager_config)?;
    let setup = session_setup(config);
    let verify_after = config.verify_idle_after;
    let timeout = Some(config.connect_timeout);
    Pool::builder(manager)
        .max_size(config.pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(timeout)
        .create_timeout(timeout)
        .recycle_timeout(timeout)
        .post_create(deadpool_postgres::Hook::async_fn(move |client, _| {
            let setup = setup.clone();
            Box::pin(async move {
                client
                    .batch_execute(&setup)
                    .await
                    .map_err(HookError::Backend)
            })
        }))
        .post_recycle(deadpool_postgres::Hook::async_fn(
            move |client, metrics: &Metrics| {
                let idle = metrics.last_used();
                Box::pin(async move {
                    if idle >= verify_after {
                        client.simple_query("").await.map_err(HookError::Backend)?;
                    }
                    Ok(())
                })
            },
        ))
        .build()
        .map_err(|e| {
            DataStoreError::new(
                DataStoreErrorKind::Other,
                format!("cannot build the PostgreSQL pool: {e}"),
            )
        })
}

fn session_setup(config: &PostgresConfig) -> String {
    let commit = match config.durability {
        // Never weaken a stronger server default (remote_write, remote_apply).
        Durability::Fsync => {
            "SELECT set_config('synchronous_commit', 'on', false) \
                              WHERE current_setting('synchronous_commit') = 'off'"
        }
        Durability::Os | Durability::None => "SET synchronous_commit = off",
    };
    format!(
        "SET statement_timeout = {}; {commit}",
        config.statement_timeout.as_millis()
    )
}

/// TLS exactly when the connection string says `sslmode=require` (with the
/// `postgres-tls` feature); `prefer`, tokio-postgres's default, connects
/// without it, as there is no certificate to verify the server with unless
/// one is configured.
fn manager(
    mut pg: tokio_postgres::Config,
    config: &PostgresConfig,
    manager_config: ManagerConfig,
) -> DataStoreResult<Manager> {
    use tokio_postgres::config::SslMode;
    if pg.get_ssl_mode() != SslMode::Require {
        pg.ssl_mode(SslMode::Disable);
        return Ok(Manager::from_config(
            pg,
            tokio_postgres::NoTls,
            manager_config,
        ));
    }
    #[cfg(feature = "postgres-tls")]
    {
        Ok(Manager::from_config(
            pg,
            tls_connector(config)?,
            manager_config,
        ))
    }
    #[cfg(not(feature = "postgres-tls"))]
    {
        let _ = (config, manager_config);
        Err(DataStoreError::new(
            DataStoreErrorKind::Other,
            "the connection string asks for TLS (sslmode=require), which needs topgun-storage-core \
             built with the postgres-tls feature",
        ))
    }
}

/// A rustls connector that trusts the CAs of `config.tls_root_cert`, else
/// the system's trust store; certificates and host names are always
/// verified.
#[cfg(feature = "postgres-tls")]
fn tls_connector(
    config: &PostgresConfig,
) -> DataStoreResult<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    use std::sync::Arc;

    let tls_error = |what: String| DataStoreError::new(DataStoreErrorKind::Other, what);
    let mut roots = rustls::RootCertStore::empty();
    match &config.tls_root_cert {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                DataStoreError::io(
                    format!("reading the TLS root certificates {}", path.display()),
                    e,
                )
            })?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| {
                    tls_error(format!(
                        "{} is not a PEM certificate file: {e}",
                        path.display()
                    ))
                })?;
                roots.add(cert).map_err(|e| {
                    tls_error(format!(
                        "{} holds an unusable certificate: {e}",
                        path.display()
                    ))
                })?;
            }
            if roots.is_empty() {
                return Err(tls_error(format!(
                    "{} holds no certificate",
                    path.display()
                )));
            }
        }
        None => {
            // Certificates the platform store cannot parse are skipped, as
            // every other client of that store does.
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tls_error(format!("cannot set up TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
}

/// Whether a call reads or writes: a connection lost in the middle of a
/// read changes nothing (the read is retried once on a fresh connection),
/// one lost in the middle of a write leaves its outcome unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Read,
    Write,
}

/// The pool and the per-call rules (timeouts, retries, error mapping).
pub(super) struct Connections {
    pool: Pool,
    /// The longest a statement may take on the client side before its
    /// connection is abandoned: a backstop for a server that stops answering
    /// without closing the connection. `None` without a statement timeout.
    backstop: Option<Duration>,
    connect_timeout: Duration,
}

/// Why one attempt failed.
enum Failure {
    Pg(tokio_postgres::Error),
    NoAnswer(Duration),
}

impl Connections {
    pub fn new(pool: Pool, config: &PostgresConfig) -> Self {
        let backstop = (!config.statement_timeout.is_zero()).then(|| {
            config.statement_timeout * 2 + config.connect_timeout + Duration::from_secs(1)
        });
        Self {
            pool,
            backstop,
            connect_timeout: config.connect_timeout,
        }
    }

    pub fn close(&self) {
        self.pool.close();
    }

    /// A connection from the pool.
    ///
    /// # Errors
    ///
    /// [`Unavailable`](DataStoreErrorKind::Unavailable) when no connection
    /// can be opened or freed in time, [`Closed`](DataStoreErrorKind::Closed)
    /// after `close`, [`Other`](DataStoreErrorKind::Other) for what retrying
    /// will not fix (authentication, a missing database).
    pub async fn checkout(&self) -> DataStoreResult<Object> {
        self.pool.get().await.map_err(|e| self.pool_error(e))
    }

    fn pool_error(&self, e: PoolError) -> DataStoreError {
        let t = self.connect_timeout;
        match e {
            PoolError::Timeout(TimeoutType::Wait) => unavailable(format!(
                "every PostgreSQL connection of the pool ({}) stayed busy for {t:?}",
                self.pool.status().max_size
            )),
            PoolError::Timeout(_) => {
                unavailable(format!("could not connect to PostgreSQL within {t:?}"))
            }
            PoolError::Backend(e) | PoolError::PostCreateHook(HookError::Backend(e)) => {
                connect_error(e)
            }
            PoolError::PostCreateHook(HookError::Message(m)) => {
                DataStoreError::new(DataStoreErrorKind::Other, m.to_string())
            }
            PoolError::Closed => DataStoreError::closed(),
            PoolError::NoRuntimeSpecified => {
                DataStoreError::new(DataStoreErrorKind::Other, "the pool has no runtime")
            }
        }
    }

    /// Runs one read statement and returns its rows; a connection that
    /// breaks during it is dropped and the read tried once more.
    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> DataStoreResult<Vec<Row>> {
        let mut rows = self.query_pipelined(&[(sql, params)]).await?;
        Ok(rows.pop().unwrap_or_default())
    }

    /// Runs read statements on one connection, all sent before the first
    /// answer is awaited (one round trip), and returns the rows of each; a
    /// connection that breaks during them is dropped and the reads tried
    /// once more.
    pub async fn query_pipelined(
        &self,
        statements: &[(&str, &[&(dyn ToSql + Sync)])],
    ) -> DataStoreResult<Vec<Vec<Row>>> {
        let mut retried = false;
        loop {
            let client = self.checkout().await?;
            let attempt =
                futures_util::future::try_join_all(statements.iter().map(|(sql, params)| {
                    let client = &client;
                    async move {
                        let statement = client.prepare_cached(sql).await?;
                        client.query(&statement, params).await
                    }
                }));
            match self.bounded(attempt).await {
                Ok(rows) => return Ok(rows),
                Err(Failure::Pg(e)) if is_connection_loss(&e) && !retried => {
                    let _ = Object::take(client);
                    retried = true;
                }
                Err(failure) => return Err(self.failed(client, failure, Access::Read)),
            }
        }
    }

    /// Runs one write statement (one implicit transaction) and returns the
    /// number of rows it changed; a statement PostgreSQL rolled back for a
    /// deadlock or serialization failure is run again.
    pub async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> DataStoreResult<u64> {
        let mut conflicts = 0;
        loop {
            let client = self.checkout().await?;
            let attempt = async {
                let statement = client.prepare_cached(sql).await?;
                client.execute(&statement, params).await
            };
            match self.bounded(attempt).await {
                Ok(n) => return Ok(n),
                Err(Failure::Pg(e)) if is_conflict(&e) && conflicts < CONFLICT_RETRIES => {
                    conflicts += 1;
                    tokio::time::sleep(Duration::from_millis(1 << conflicts)).await;
                }
                Err(failure) => return Err(self.failed(client, failure, Access::Write)),
            }
        }
    }

    /// Runs `sql` (one or more statements, simple protocol) as a write.
    pub async fn batch_execute(&self, sql: &str) -> DataStoreResult<()> {
        let client = self.checkout().await?;
        match self.bounded(client.batch_execute(sql)).await {
            Ok(()) => Ok(()),
            Err(failure) => Err(self.failed(client, failure, Access::Write)),
        }
    }

    async fn bounded<T>(
        &self,
        attempt: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, Failure> {
        match self.backstop {
            None => attempt.await.map_err(Failure::Pg),
            Some(limit) => match tokio::time::timeout(limit, attempt).await {
                Ok(result) => result.map_err(Failure::Pg),
                Err(_) => Err(Failure::NoAnswer(limit)),
            },
        }
    }

    /// The error of a failed call; a connection that did not answer is
    /// dropped rather than returned to the pool.
    fn failed(&self, client: Object, failure: Failure, access: Access) -> DataStoreError {
        match failure {
            Failure::Pg(e) => statement_error(e, access),
            Failure::NoAnswer(limit) => {
                let _ = Object::take(client);
                match access {
                    Access::Read => {
                        unavailable(format!("PostgreSQL did not answer within {limit:?}"))
                    }
                    Access::Write => DataStoreError::new(
                        DataStoreErrorKind::Io,
                        format!(
                            "PostgreSQL did not answer a write within {limit:?}; the write may \
                             or may not have been applied"
                        ),
                    ),
                }
            }
        }
    }
}

fn unavailable(message: String) -> DataStoreError {
    DataStoreError::new(DataStoreErrorKind::Unavailable, message)
}

/// Whether the connection broke (rather than the server refusing the
/// statement).
fn is_connection_loss(e: &tokio_postgres::Error) -> bool {
    e.is_closed() || e.source().is_some_and(|s| s.is::<std::io::Error>())
}

/// `e` with its causes, e.g. `db error: ERROR: relation "x" does not exist`
/// (tokio-postgres's own `Display` leaves the causes out).
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    if let Some(db) = e.as_db_error() {
        text.push_str(&format!(": {}: {}", db.severity(), db.message()));
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        return text;
    }
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

fn is_conflict(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| matches!(c.code(), "40001" | "40P01"))
}

/// The error of a failure to open a connection: nothing was sent, so
/// nothing changed.
pub(super) fn connect_error(e: tokio_postgres::Error) -> DataStoreError {
    let kind = match e.code().map(|c| c.code()) {
        // Authentication, a missing database or role, no permission:
        // retrying will not help.
        Some(c) if c.starts_with("28") || c.starts_with("3D") || c == "42501" => {
            DataStoreErrorKind::Other
        }
        _ => DataStoreErrorKind::Unavailable,
    };
    DataStoreError::with_source(
        kind,
        format!("cannot connect to PostgreSQL: {}", describe(&e)),
        e,
    )
}

/// The error of a statement that failed, by SQLSTATE (Appendix A of
/// PostgreSQL's manual) when the server answered, by `access` when the
/// connection broke.
pub(super) fn statement_error(e: tokio_postgres::Error, access: Access) -> DataStoreError {
    use DataStoreErrorKind as K;
    let text = describe(&e);
    let Some(code) = e.code().map(|c| c.code().to_owned()) else {
        let (kind, message) = match access {
            _ if !is_connection_loss(&e) => (K::Other, format!("PostgreSQL client error: {text}")),
            Access::Read => (
                K::Unavailable,
                format!("lost the connection to PostgreSQL: {text}"),
            ),
            Access::Write => (
                K::Io,
                format!(
                    "lost the connection to PostgreSQL during a write, which may or may not \
                     have been applied: {text}"
                ),
            ),
        };
        return DataStoreError::with_source(kind, message, e);
    };
    let (kind, context) = match code.as_str() {
        "53100" => (K::DiskFull, "the database server's disk is full"),
        c if c.starts_with("54") || c.starts_with("22") => (
            K::Rejected,
            "PostgreSQL cannot store this key or value (nothing was written)",
        ),
        "57014" => (
            K::Unavailable,
            "the statement was cancelled (statement_timeout); nothing was changed",
        ),
        "57P01" | "57P02" | "57P03" | "53300" | "25006" => (
            K::Unavailable,
            "the server is shutting down, starting or not accepting writes; nothing was changed",
        ),
        "40001" | "40P01" => (
            K::Other,
            "the write kept losing to concurrent writers; nothing was changed",
        ),
        "XX001" | "XX002" => (K::Corrupt, "the server reports damaged data"),
        "42P01" => (
            K::Other,
            "a table of this store is missing (dropped after initialize?)",
        ),
        _ => (K::Other, "PostgreSQL refused the statement"),
    };
    DataStoreError::with_source(kind, format!("{context}: {text}"), e)
}
