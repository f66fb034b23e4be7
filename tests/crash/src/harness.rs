//! The parent side: rounds of "start the child over the same directory,
//! kill it with SIGKILL at a random point, reopen, check".
//!
//! After each kill the store must hold exactly what the acknowledged
//! operations wrote (values and expiration times, both namespaces, nothing
//! else), plus, for each writer, either all or none of the one operation it
//! may have had in flight (a batch is never half there). Then the same data
//! is read back through `MapStorage` with memory bounded far below the data
//! set (misses load from disk): `load_all_keys`, `load_all` and single
//! `load`s must agree with the model.

use crate::backends::backend;
use crate::workload::{self, read_state, writer_of_slot, Rng, State, MAPS, T0, THREADS};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use topgun_storage_core::{ManualClock, Namespace, PARTITION_COUNT};

/// How many rounds, from which seed, with how many operations per writer
/// at most in a round.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Fixes the operation sequence and the kill points.
    pub seed: u64,
    /// Child processes started (and most of them killed).
    pub rounds: u64,
    /// Operations each writer of a child runs before it stops by itself.
    pub ops_per_writer: u64,
}

impl Settings {
    /// `rounds` rounds from `seed`, unless the environment says otherwise:
    /// `CRASH_SEED` and `CRASH_ROUNDS` (to reproduce a failure, or to run
    /// longer).
    ///
    /// # Panics
    /// When one of them is set but is not a number.
    #[must_use]
    pub fn from_env(seed: u64, rounds: u64) -> Self {
        let read = |name: &str, default: u64| match std::env::var(name) {
            Ok(v) => v
                .parse()
                .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}")),
            Err(_) => default,
        };
        Self {
            seed: read("CRASH_SEED", seed),
            rounds: read("CRASH_ROUNDS", rounds),
            ops_per_writer: 25,
        }
    }
}

/// What a run did (printed by the tests).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Rounds run.
    pub rounds: u64,
    /// Rounds per durability level, in the backend's order.
    pub rounds_per_level: Vec<(String, u64)>,
    /// Children killed (the others finished and closed the store).
    pub kills: u64,
    /// Operations acknowledged over all rounds.
    pub acknowledged: u64,
    /// In-flight operations found applied after the kill.
    pub in_flight_applied: u64,
    /// In-flight operations found absent after the kill.
    pub in_flight_absent: u64,
    /// Records in the store at the end (both maps and namespaces).
    pub records: usize,
    /// The most records the verifying `MapStorage` held in memory at once.
    pub most_resident: usize,
    /// Its bound: `MEMORY_PER_PARTITION` records per partition store, both
    /// maps.
    pub memory_bound: usize,
    /// Records it evicted to stay within that bound while reading.
    pub evictions: u64,
    /// Rounds that read everything back through `MapStorage` (the others
    /// compare the data store with the model only).
    pub deep_checks: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Ends the child with SIGKILL when dropped (a failing check must not leave
/// it running).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // `Child::kill` sends SIGKILL on Unix: no destructor, no flush runs.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How a round ends.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// SIGKILL right after the spawn (during the open or its recovery).
    BeforeReady,
    /// SIGKILL once this many acknowledgements have been read, after a
    /// short spin of this many microseconds.
    AfterAcks(u64, u64),
    /// Let the child finish and close the store.
    Finish,
}

fn spin(micros: u64) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_micros(micros) {
        std::hint::spin_loop();
    }
}

/// Runs `settings.rounds` crash rounds of the backend `name` with the child
/// executable `child`; panics (naming the seed) at the first violation.
///
/// # Panics
/// When an acknowledged write is missing or wrong, an unacknowledged one is
/// half there, the child fails, or the store cannot be reopened.
#[must_use]
pub fn run(child: &Path, name: &str, settings: Settings) -> Report {
    let backend = backend(name).unwrap_or_else(|e| panic!("{e}"));
    let seed = settings.seed;
    let fail = |round: u64, what: String| -> ! {
        panic!(
            "crash harness, backend {name}, seed {seed} (CRASH_SEED={seed} reproduces it), \
             round {round}: {what}"
        )
    };
    let dir = tempfile::Builder::new()
        .prefix(&format!("topgun-crash-{name}-"))
        .tempdir()
        .unwrap_or_else(|e| panic!("a temporary directory: {e}"));
    let started = Instant::now();
    let mut kill_rng = Rng::new(seed, u64::MAX);
    let mut model = State::new();
    let mut next: Vec<u64> = (0..THREADS).collect();
    let mut report = Report {
        rounds_per_level: backend
            .levels
            .iter()
            .map(|l| (l.as_str().to_owned(), 0))
            .collect(),
        ..Report::default()
    };
    for round in 0..settings.rounds {
        let level_index = (round as usize) % backend.levels.len();
        let level = backend.levels[level_index];
        report.rounds_per_level[level_index].1 += 1;
        let total_ops = settings.ops_per_writer * THREADS;
        let plan = match kill_rng.below(100) {
            0..=4 => Plan::BeforeReady,
            5..=89 => Plan::AfterAcks(kill_rng.below(total_ops), kill_rng.below(300)),
            _ => Plan::Finish,
        };
        let mut command = Command::new(child);
        command
            .arg(name)
            .arg(level.as_str())
            .arg(dir.path())
            .arg(seed.to_string())
            .arg(settings.ops_per_writer.to_string())
            .args(next.iter().map(u64::to_string))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut process = Killed(
            command
                .spawn()
                .unwrap_or_else(|e| fail(round, format!("starting {}: {e}", child.display()))),
        );
        let stdout = process.0.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut seen: Vec<String> = Vec::new();
        match plan {
            Plan::BeforeReady => {
                spin(kill_rng.below(2_000));
                let _ = process.0.kill();
                report.kills += 1;
            }
            Plan::AfterAcks(acks, micros) => {
                let mut count = 0;
                for line in lines.by_ref() {
                    let line = line.unwrap_or_else(|e| fail(round, format!("reading: {e}")));
                    let is_ack = line.starts_with("ack ");
                    let ready = line == "ready";
                    seen.push(line);
                    if is_ack {
                        count += 1;
                    }
                    if (ready && acks == 0) || (is_ack && count == acks) {
                        break;
                    }
                }
                spin(micros);
                let _ = process.0.kill();
                report.kills += 1;
            }
            Plan::Finish => {}
        }
        // Whatever the child printed before it died is in the pipe.
        for line in lines {
            seen.push(line.unwrap_or_else(|e| fail(round, format!("reading: {e}"))));
        }
        drop(process);
        if let Some(error) = seen.iter().find(|l| l.starts_with("error")) {
            fail(round, format!("the child failed: {error}"));
        }
        let finished = seen.iter().any(|l| l == "done");
        // Each writer's acknowledgements, in order, must continue its
        // sequence.
        let mut acked = vec![0u64; THREADS as usize];
        for line in &seen {
            let Some(i) = line.strip_prefix("ack ") else {
                continue;
            };
            let i: u64 = i
                .parse()
                .unwrap_or_else(|e| fail(round, format!("bad line {line:?}: {e}")));
            let t = workload::writer_of(i) as usize;
            let want = next[t] + acked[t] * THREADS;
            if i != want {
                fail(
                    round,
                    format!("writer {t} acknowledged {i}, expected {want}"),
                );
            }
            workload::apply_to_model(&mut model, i, &workload::op(seed, i));
            acked[t] += 1;
        }
        report.acknowledged += acked.iter().sum::<u64>();
        for t in 0..THREADS as usize {
            next[t] += acked[t] * THREADS;
        }
        // Reopen and compare, writer by writer: what was acknowledged, and
        // each in-flight operation entirely or not at all.
        let store = (backend.open)(dir.path(), level)
            .unwrap_or_else(|e| fail(round, format!("reopening after the kill: {e}")));
        let actual = read_state(store.as_ref()).unwrap_or_else(|e| fail(round, e));
        if let Some(slot) = actual
            .keys()
            .find(|s| writer_of_slot(s).is_none_or(|w| w >= THREADS))
        {
            fail(round, format!("a record no writer wrote: {slot:?}"));
        }
        for t in 0..THREADS {
            if same_for_writer(&model, &actual, t) {
                if !finished && acked[t as usize] < settings.ops_per_writer {
                    report.in_flight_absent += 1;
                }
                continue;
            }
            let in_flight = next[t as usize];
            let mut after = model.clone();
            workload::apply_to_model(&mut after, in_flight, &workload::op(seed, in_flight));
            if finished || !same_for_writer(&after, &actual, t) {
                fail(
                    round,
                    format!(
                        "writer {t}: the store holds neither the acknowledged state nor that \
                         plus operation {in_flight}: {}",
                        difference(&of_writer(&model, t), &of_writer(&actual, t))
                    ),
                );
            }
            model = after;
            next[t as usize] += THREADS;
            report.in_flight_applied += 1;
        }
        // The same data through MapStorage, memory bounded far below it
        // (every few rounds: it reads the whole data set).
        if round % DEEP_CHECK_EVERY == 0 || round + 1 == settings.rounds {
            let now = T0 + next.iter().copied().max().unwrap_or(0) as i64;
            let (resident, evictions) = check_through_storage(store, &model, now, &mut kill_rng)
                .unwrap_or_else(|e| fail(round, e));
            report.most_resident = report.most_resident.max(resident);
            report.evictions += evictions;
            report.deep_checks += 1;
        } else {
            topgun_storage_core::block_on(store.close())
                .unwrap_or_else(|e| fail(round, format!("closing after the check: {e}")));
        }
        report.rounds += 1;
    }
    report.records = model.len();
    report.memory_bound = memory_bound();
    report.elapsed = started.elapsed();
    report
}

/// Whether `a` and `b` hold the same records of writer `t`.
fn same_for_writer(a: &State, b: &State, t: u64) -> bool {
    let mine = |(slot, _): &(&workload::Slot, &topgun_storage_core::StoredRecord)| {
        writer_of_slot(slot) == Some(t)
    };
    a.iter().filter(mine).eq(b.iter().filter(mine))
}

/// The records of writer `t`.
fn of_writer(state: &State, t: u64) -> State {
    state
        .iter()
        .filter(|(slot, _)| writer_of_slot(slot) == Some(t))
        .map(|(slot, record)| (slot.clone(), record.clone()))
        .collect()
}

/// The first few slots where `found` differs from `want`.
fn difference(want: &State, found: &State) -> String {
    let slots: BTreeSet<_> = want.keys().chain(found.keys()).collect();
    let diffs: Vec<String> = slots
        .into_iter()
        .filter(|s| want.get(*s) != found.get(*s))
        .take(5)
        .map(|s| {
            format!(
                "{s:?}: acknowledged {}, found {}",
                describe(want.get(s)),
                describe(found.get(s))
            )
        })
        .collect();
    diffs.join("; ")
}

/// A record in a few words: the start of its value (which names the
/// operation that wrote it) and its expiration time.
fn describe(record: Option<&topgun_storage_core::StoredRecord>) -> String {
    match record {
        None => "nothing".to_owned(),
        Some(r) => {
            let value = format!("{:?}", r.value);
            let short: String = value.chars().take(60).collect();
            format!("{short}... (expires at {})", r.expiration_time)
        }
    }
}

/// Records the checking `MapStorage` may hold in memory: both maps.
fn memory_bound() -> usize {
    (workload::MEMORY_PER_PARTITION * u64::from(PARTITION_COUNT) * MAPS.len() as u64) as usize
}

/// Random single reads per map in a deep check.
const LOADS: usize = 600;

/// A deep check (through `MapStorage`) every this many rounds, and after
/// the last.
const DEEP_CHECK_EVERY: u64 = 4;

/// Reads `model`'s maps back through `MapStorage` over `store` with memory
/// bounded to `MEMORY_PER_PARTITION` records per partition store; closes
/// the store. Returns the most records memory held and how many it evicted.
fn check_through_storage(
    store: std::sync::Arc<dyn topgun_storage_core::MapDataStore>,
    model: &State,
    now: i64,
    rng: &mut Rng,
) -> Result<(usize, u64), String> {
    let clock = ManualClock::new(now);
    let storage = workload::storage(store, &clock);
    let resident = |s: &topgun_storage_core::MapStorage| -> usize {
        s.factory().all_stores().iter().map(|s| s.size()).sum()
    };
    let bound = memory_bound();
    let mut most = 0;
    for map in MAPS {
        let want: Vec<(String, _)> = model
            .iter()
            .filter(|((m, ns, _), _)| *m == map && *ns == Namespace::Primary)
            .map(|((_, _, k), r)| (k.clone(), r.value.clone()))
            .collect();
        let keys: BTreeSet<String> = storage
            .load_all_keys(map)
            .map_err(|e| format!("load_all_keys({map}): {e}"))?
            .into_iter()
            .collect();
        if keys.len() != want.len() || want.iter().any(|(k, _)| !keys.contains(k)) {
            return Err(format!(
                "load_all_keys({map}) gave {} keys, the model has {}",
                keys.len(),
                want.len()
            ));
        }
        let all: Vec<String> = want.iter().map(|(k, _)| k.clone()).collect();
        let found = storage
            .load_all(map, &all)
            .map_err(|e| format!("load_all({map}): {e}"))?;
        if found != want {
            return Err(format!("load_all({map}) differs from the model"));
        }
        // Single reads of random keys, present or not: misses load from disk
        // and evict others.
        for _ in 0..LOADS {
            let key = format!("t{}-k{:04}", rng.below(THREADS), rng.below(workload::KEYS));
            let expected = model
                .get(&(map, Namespace::Primary, key.clone()))
                .map(|r| r.value.clone());
            let got = storage
                .load(map, &key)
                .map_err(|e| format!("load({map}, {key}): {e}"))?;
            if got != expected {
                return Err(format!(
                    "load({map}, {key}) gave {got:?}, expected {expected:?}"
                ));
            }
            most = most.max(resident(&storage));
        }
    }
    if most > bound {
        return Err(format!("{most} records in memory, bound {bound}"));
    }
    let evictions = storage
        .factory()
        .all_stores()
        .iter()
        .map(|s| s.stats().evictions)
        .sum();
    storage
        .close()
        .map_err(|e| format!("closing after the check: {e}"))?;
    Ok((most, evictions))
}
