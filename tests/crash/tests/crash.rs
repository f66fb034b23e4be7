//! SIGKILL crash rounds, one test per durable backend of this build
//! (tests/crash/README.md). `CRASH_SEED` and `CRASH_ROUNDS` override the
//! seed and the number of rounds; a failure names the seed.

use std::path::Path;
use topgun_storage_crash::harness::{run, Settings};

/// Rounds per backend when `CRASH_ROUNDS` is not set.
const ROUNDS: u64 = 32;

fn crash(backend: &str, seed: u64) {
    let settings = Settings::from_env(seed, ROUNDS);
    println!(
        "crash harness: backend {backend}, seed {}, {} rounds",
        settings.seed, settings.rounds
    );
    let report = run(
        Path::new(env!("CARGO_BIN_EXE_crash-child")),
        backend,
        settings,
    );
    println!("{report:#?}");
    assert_eq!(report.rounds, settings.rounds);
    assert!(report.acknowledged > 0 && report.kills > 0, "{report:?}");
}

#[test]
fn redb() {
    crash("redb", 0x5EED_0001);
}

#[cfg(feature = "lmdb")]
#[test]
fn lmdb() {
    crash("lmdb", 0x5EED_0002);
}

#[cfg(feature = "rocksdb")]
#[test]
fn rocksdb() {
    crash("rocksdb", 0x5EED_0003);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres() {
    crash("postgres", 0x5EED_0004);
}
