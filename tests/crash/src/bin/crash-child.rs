//! The child of the crash harness, and an example of a durable store in a
//! process that may die at any moment.
//!
//! ```text
//! crash-child <backend> <fsync|os> <dir> <seed> <ops> <start>...
//! ```
//!
//! Opens `<backend>` in `<dir>` at the durability level given, prints
//! `ready`, then runs one writer thread per `<start>`: writer `t` applies
//! operations `start, start + THREADS, ...` of the sequence of `<seed>`
//! (`workload::op`), `<ops>` of them, through its own `MapStorage` over the
//! shared store (memory bounded far below the data set), and prints
//! `ack <i>` once operation `i` has returned. When every writer is done it
//! closes the store and prints `done`. A failed operation prints
//! `error <i> <message>` and exits with status 2. The harness kills it with
//! SIGKILL at a random point and checks what a reopen finds.
//!
//! Run by hand, it is the SIGKILL demonstration of a durable store: start
//! it, kill it (`kill -9`), and start it again over the same directory with
//! a `<start>` past the last `ack`; `cargo test -p topgun-storage-crash`
//! checks every acknowledged write after each kill.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use topgun_storage_core::{Durability, ManualClock};
use topgun_storage_crash::backends::backend;
use topgun_storage_crash::workload::{self, T0, THREADS};

struct Args {
    backend: String,
    level: Durability,
    dir: PathBuf,
    seed: u64,
    ops: u64,
    starts: Vec<u64>,
}

fn parse() -> Result<Args, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: crash-child <backend> <fsync|os|none> <dir> <seed> <ops> <start>...";
    let [backend, level, dir, seed, ops, starts @ ..] = args.as_slice() else {
        return Err(usage.to_owned());
    };
    let number = |s: &str, what: &str| {
        s.parse::<u64>()
            .map_err(|e| format!("{what} {s:?}: {e}; {usage}"))
    };
    let starts = starts
        .iter()
        .map(|s| number(s, "start"))
        .collect::<Result<Vec<_>, _>>()?;
    if starts.is_empty() || starts.len() as u64 > THREADS {
        return Err(format!("1 to {THREADS} starts; {usage}"));
    }
    Ok(Args {
        backend: backend.clone(),
        level: level.parse()?,
        dir: PathBuf::from(dir),
        seed: number(seed, "seed")?,
        ops: number(ops, "ops")?,
        starts,
    })
}

/// Prints one line and flushes it at once: what the parent has read is
/// what was acknowledged.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (the parent gone) leaves nothing to tell.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(64);
        }
    };
    let store = match backend(&args.backend).and_then(|b| {
        (b.open)(&args.dir, args.level).map_err(|e| format!("opening {}: {e}", b.name))
    }) {
        Ok(store) => store,
        Err(e) => {
            say(&format!("error open {e}"));
            return ExitCode::from(2);
        }
    };
    say("ready");
    let writers: Vec<_> = args
        .starts
        .iter()
        .map(|&start| {
            let store = Arc::clone(&store);
            let (seed, ops) = (args.seed, args.ops);
            std::thread::spawn(move || {
                let clock = ManualClock::new(T0);
                let storage = workload::storage(store, &clock);
                for i in (0..ops).map(|n| start + n * THREADS) {
                    clock.set(T0 + i as i64);
                    let op = workload::op(seed, i);
                    if let Err(e) = workload::apply(&storage, i, &op) {
                        say(&format!("error {i} {e}"));
                        return false;
                    }
                    say(&format!("ack {i}"));
                }
                true
            })
        })
        .collect();
    let ok = writers.into_iter().all(|w| w.join().unwrap_or(false));
    if !ok {
        return ExitCode::from(2);
    }
    if let Err(e) = topgun_storage_core::block_on(store.close()) {
        say(&format!("error close {e}"));
        return ExitCode::from(2);
    }
    say("done");
    ExitCode::SUCCESS
}
