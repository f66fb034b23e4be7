//! The client stack: timeouts, an unreachable or refusing server, a busy
//! pool, TLS, and a server restart (a call during the outage fails with
//! `Unavailable` and changes nothing; calls after it succeed).

use crate::support::*;
use pollster::block_on;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use topgun_storage_core::datastores::{PostgresConfig, PostgresDataStore};
use topgun_storage_core::{DataStoreErrorKind, MapDataStore, Namespace, ScanRequest};

fn config_for(url: &str, table: &str) -> PostgresConfig {
    PostgresConfig::from_connection_string(url)
        .unwrap()
        .with_table_name(table)
        .unwrap()
}

#[test]
fn a_statement_past_the_timeout_is_cancelled_and_changes_nothing() {
    let t = table("stmt_timeout");
    let s = connect(config(&t).with_statement_timeout(Duration::from_millis(300)));
    put(&s, "m", "k", &rec(lww("old")));
    // Another session holds the row.
    let mut holder = raw();
    let mut tx = holder.transaction().unwrap();
    tx.execute(
        &format!("SELECT 1 FROM {t} WHERE key = 'k' FOR UPDATE"),
        &[],
    )
    .unwrap();
    let err = block_on(s.add("m", Namespace::Primary, "k", &rec(lww("new")))).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Unavailable, "{err}");
    assert!(err.message().contains("statement_timeout"), "{err}");
    tx.rollback().unwrap();
    assert_eq!(get(&s, "m", "k").unwrap().value, lww("old"));
    put(&s, "m", "k", &rec(lww("new")));
    assert_eq!(get(&s, "m", "k").unwrap().value, lww("new"));
}

#[test]
fn a_server_that_never_answers_times_out_the_connect() {
    // Accepts the connection and then says nothing.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = format!("postgresql://topgun@127.0.0.1:{port}/postgres");
    let started = Instant::now();
    let err = block_on(PostgresDataStore::connect(
        config_for(&url, "t").with_connect_timeout(Duration::from_millis(300)),
    ))
    .unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Unavailable, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}

#[test]
fn a_closed_port_is_unavailable_and_bad_credentials_are_not() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("postgresql://topgun@127.0.0.1:{port}/postgres");
    let err = block_on(PostgresDataStore::connect(config_for(&url, "t"))).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Unavailable, "{err}");
    // A database that does not exist: retrying will not help.
    let mut cfg = config(&table("nodb"));
    cfg = PostgresConfig::from_connection_string(&format!("{} dbname=no_such_db", keyword_form()))
        .unwrap()
        .with_table_name(cfg.table_name())
        .unwrap();
    let err = block_on(PostgresDataStore::connect(cfg)).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Other, "{err}");
    assert!(err.message().contains("no_such_db"), "{err}");
}

/// The test server's URL in libpq's key=value form, without the database.
fn keyword_form() -> String {
    let url = url();
    let rest = url.trim_start_matches("postgresql://");
    let (user, rest) = rest.split_once('@').unwrap();
    let (hostport, _) = rest.split_once('/').unwrap();
    let (host, port) = hostport.split_once(':').unwrap();
    format!("host={host} port={port} user={user}")
}

#[test]
fn a_pool_whose_connections_stay_busy_refuses_after_the_wait() {
    let t = table("busy_pool");
    let s = connect(
        config(&t)
            .with_pool_size(1)
            .with_connect_timeout(Duration::from_millis(300))
            .with_statement_timeout(Duration::from_secs(20)),
    );
    put(&s, "m", "k", &rec(lww("v")));
    let mut holder = raw();
    let mut tx = holder.transaction().unwrap();
    tx.execute(
        &format!("SELECT 1 FROM {t} WHERE key = 'k' FOR UPDATE"),
        &[],
    )
    .unwrap();
    std::thread::scope(|scope| {
        // Takes the only connection and waits for the row lock.
        let blocked = scope.spawn(|| block_on(s.add("m", Namespace::Primary, "k", &rec(lww("w")))));
        let mut watcher = raw();
        let mut waiting = || -> bool {
            watcher
                .query_one(
                    "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                     AND application_name = 'topgun-storage' AND query LIKE $1",
                    &[&format!("%INSERT INTO {t} %")],
                )
                .unwrap()
                .get(0)
        };
        while !waiting() {
            std::thread::yield_now();
        }
        let err = block_on(s.load("m", Namespace::Primary, "k")).unwrap_err();
        assert_eq!(err.kind(), DataStoreErrorKind::Unavailable, "{err}");
        assert!(err.message().contains("stayed busy"), "{err}");
        tx.rollback().unwrap();
        blocked.join().unwrap().unwrap();
    });
    assert_eq!(get(&s, "m", "k").unwrap().value, lww("w"));
}

#[cfg(feature = "postgres-tls")]
#[test]
fn tls_is_used_when_required_and_the_server_certificate_is_verified() {
    let ca = std::env::var("TOPGUN_TEST_POSTGRES_CA").expect("TOPGUN_TEST_POSTGRES_CA");
    let t = table("tls");
    let url = format!(
        "{} dbname=postgres sslmode=require application_name={t}",
        keyword_form()
    );
    let s = block_on(PostgresDataStore::connect(
        config_for(&url, &t).with_tls_root_cert(&ca),
    ))
    .unwrap();
    put(&s, "m", "k", &rec(lww("over tls")));
    let ssl: bool = raw()
        .query_one(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1",
            &[&t],
        )
        .unwrap()
        .get(0);
    assert!(ssl, "the store's connections use TLS");
    // Without the test CA (the system's roots only) the certificate fails.
    let err = block_on(PostgresDataStore::connect(config_for(&url, &t))).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Unavailable, "{err}");
    assert!(err.message().contains("certificate"), "{err}");
    // A file that is not a certificate is a clear error.
    let err = block_on(PostgresDataStore::connect(
        config_for(&url, &t).with_tls_root_cert("/dev/null"),
    ))
    .unwrap_err();
    assert!(err.message().contains("holds no certificate"), "{err}");
}

#[cfg(not(feature = "postgres-tls"))]
#[test]
fn tls_without_the_feature_is_a_clear_error() {
    let url = format!("{} dbname=postgres sslmode=require", keyword_form());
    let err = block_on(PostgresDataStore::connect(config_for(&url, "t"))).unwrap_err();
    assert!(err.message().contains("postgres-tls"), "{err}");
}

/// A cluster of this test's own (the shared one must keep running), through
/// the script the Makefile uses.
struct OwnCluster {
    script: PathBuf,
    dir: tempfile::TempDir,
}

impl OwnCluster {
    fn start() -> (Self, String) {
        let script = PathBuf::from(
            std::env::var("TOPGUN_TEST_POSTGRES_CLUSTER").expect("TOPGUN_TEST_POSTGRES_CLUSTER"),
        );
        let dir = tempfile::tempdir().unwrap();
        let cluster = Self { script, dir };
        let url = cluster.run("start");
        (cluster, url)
    }

    fn run(&self, what: &str) -> String {
        let out = Command::new(&self.script)
            .arg(what)
            .arg(self.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cluster.sh {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .arg("stop")
            .arg(self.path())
            .status();
        // The cluster may live in /tmp behind a link (when run as root).
        if let Ok(target) = std::fs::read_link(self.path().join("cluster")) {
            let _ = std::fs::remove_dir_all(target);
        }
    }
}

#[test]
fn calls_during_a_server_restart_are_unavailable_and_change_nothing_then_work_again() {
    let (cluster, url) = OwnCluster::start();
    let t = "restart";
    // Checks every pooled connection before use, so an outage is always
    // seen before anything is sent.
    let checking = block_on(PostgresDataStore::connect(
        config_for(&url, t).with_verify_idle_after(Duration::ZERO),
    ))
    .unwrap();
    // The defaults: pooled connections the server closed are dropped when taken.
    let plain = block_on(PostgresDataStore::connect(config_for(&url, t))).unwrap();
    put(&checking, "m", "k", &rec(lww("before")));
    assert_eq!(get(&plain, "m", "k").unwrap().value, lww("before"));

    cluster.run("stop");
    let unavailable = |r: Result<(), topgun_storage_core::DataStoreError>| {
        let err = r.unwrap_err();
        assert_eq!(err.kind(), DataStoreErrorKind::Unavailable, "{err}");
    };
    unavailable(block_on(checking.add(
        "m",
        Namespace::Primary,
        "k",
        &rec(lww("during")),
    )));
    unavailable(block_on(checking.add(
        "m",
        Namespace::Primary,
        "new",
        &rec(lww("during")),
    )));
    unavailable(block_on(checking.remove("m", Namespace::Primary, "k")));
    unavailable(block_on(checking.load("m", Namespace::Primary, "k")).map(|_| ()));
    unavailable(
        block_on(checking.scan(&ScanRequest::keys("m", Namespace::Primary, 10))).map(|_| ()),
    );
    unavailable(block_on(checking.list_maps()).map(|_| ()));
    unavailable(block_on(plain.load("m", Namespace::Primary, "k")).map(|_| ()));

    assert_eq!(cluster.run("start"), url, "same port after the restart");
    // Nothing written during the outage, and both stores work again
    // without being told.
    assert_eq!(get(&plain, "m", "k").unwrap().value, lww("before"));
    assert_eq!(get(&checking, "m", "new"), None);
    put(&plain, "m", "after", &rec(lww("after")));
    put(&checking, "m", "k", &rec(lww("after")));
    assert_eq!(get(&checking, "m", "after").unwrap().value, lww("after"));
    assert_eq!(get(&plain, "m", "k").unwrap().value, lww("after"));
    block_on(plain.close()).unwrap();
    block_on(checking.close()).unwrap();
}

#[test]
fn the_store_works_from_inside_a_hosts_tokio_runtime() {
    let (s, _) = store("host_runtime");
    let s = std::sync::Arc::new(s);
    let host = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rec(lww("from a task"));
    host.block_on(async {
        s.add("m", Namespace::Primary, "k", &r).await.unwrap();
        assert_eq!(
            s.load("m", Namespace::Primary, "k").await.unwrap(),
            Some(r.clone())
        );
    });
    // Dropping the store inside the host's runtime does not panic.
    host.block_on(async move { drop(s) });
}

#[test]
fn close_makes_every_later_call_fail_with_closed() {
    let (s, _) = store("closed");
    put(&s, "m", "k", &rec(lww("v")));
    block_on(s.close()).unwrap();
    block_on(s.close()).unwrap();
    let err = block_on(s.load("m", Namespace::Primary, "k")).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Closed);
    let err = block_on(s.initialize()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Closed);
}
