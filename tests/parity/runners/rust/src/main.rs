//! The Rust parity runner (see tests/parity/README.md).
//!
//! `parity-rust run [--backend B --at LOCATION] OUT_DIR SCENARIO...` replays
//! each scenario against the engine (in memory, or over data store `B`) and
//! writes `OUT_DIR/<name>.txt`, one line per step.
//! `parity-rust write --backend B --at LOCATION OUT_DIR SCENARIO...` runs the
//! `write` steps of the cross-language scenarios whose writer is `rust`.
//! `parity-rust flatten OUT_DIR SCENARIO...` writes `OUT_DIR/<name>.tsv`: the
//! same scenario as tab-separated `field=hex` lines, for the C runner, which
//! has no JSON parser.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use topgun_storage_core::codec::{
    decode_record_value, encode_record_value, record_value_from_json,
};
use topgun_storage_core::{
    CallerProvenance, Clock, DataStoreSpec, DefaultRecordStore, ErrorCode, ExpiryPolicy,
    IterationCursor, ManualClock, MapDataStore, Namespace, RecordStore, RecordValue, StorageConfig,
};

/// The languages of the suite, in the order cross-language stores are
/// written for them.
const LANGS: [&str; 4] = ["rust", "c", "python", "node"];

#[derive(Deserialize)]
struct Scenario {
    name: String,
    #[serde(default)]
    store: StoreOptions,
    /// Needs a store that outlives its handle (reopen, cross-language).
    #[serde(default)]
    durable: bool,
    /// Cross-language: the language that runs `write` for every reader.
    writer: Option<String>,
    #[serde(default)]
    write: Vec<Step>,
    steps: Vec<Step>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct StoreOptions {
    ttl: u64,
    max_idle: u64,
    max_entries: u64,
    max_cost: u64,
    eviction: Option<String>,
    samples: Option<usize>,
    clock: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Step {
    op: String,
    key: Option<String>,
    key_repeat: Option<(String, usize)>,
    value: Option<Box<RawValue>>,
    msgpack: Option<String>,
    #[serde(default)]
    ttl: u64,
    #[serde(default)]
    max_idle: u64,
    ms: Option<i64>,
    page: Option<usize>,
    k: Option<usize>,
    cursor: Option<String>,
}

impl Step {
    fn key(&self) -> String {
        match (&self.key, &self.key_repeat) {
            (Some(k), _) => k.clone(),
            (None, Some((text, times))) => text.repeat(*times),
            (None, None) => String::new(),
        }
    }
}

type Failure = String;

fn code(e: impl Into<ErrorCode>) -> Failure {
    format!("error={}", e.into().as_str())
}

fn hex_value(v: Option<&RecordValue>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| hex::encode(encode_record_value(v)))
}

fn value_of(step: &Step) -> Result<RecordValue, Failure> {
    let with_path = step.op == "putPath";
    let failure = |e: topgun_storage_core::codec::DecodeError| {
        if with_path {
            format!("{} path={}", code(&e), e.path())
        } else {
            code(&e)
        }
    };
    if let Some(raw) = &step.value {
        return record_value_from_json(raw.get()).map_err(failure);
    }
    let Some(h) = &step.msgpack else {
        return Err("error=invalid_argument".into());
    };
    let bytes = hex::decode(h).map_err(|_| "scenario: bad hex".to_owned())?;
    decode_record_value(&bytes).map_err(failure)
}

fn config_for(options: &StoreOptions) -> Result<StorageConfig, String> {
    let eviction_policy = options
        .eviction
        .as_deref()
        .unwrap_or("none")
        .parse()
        .map_err(|e| format!("scenario: eviction {e}"))?;
    Ok(StorageConfig {
        default_ttl_millis: options.ttl,
        default_max_idle_millis: options.max_idle,
        max_entry_count: options.max_entries,
        max_total_cost: options.max_cost,
        eviction_policy,
        eviction_sample_count: options.samples.unwrap_or(15),
    })
}

/// Where the stores of a run live: no backend (memory), or a backend and a
/// base location (README, "Backends").
struct Target {
    backend: Option<String>,
    at: String,
    durability: String,
}

impl Target {
    /// The data store of store `name` (`<lang>.<scenario>`, or
    /// `cross.<scenario>.<reader>`): a file or directory under the base
    /// directory, or a table of the PostgreSQL database.
    fn data_store(&self, backend: &str, name: &str) -> Result<Arc<dyn MapDataStore>, String> {
        let failed = |e: topgun_storage_core::DataStoreError| code(&e);
        let spec = if backend == "postgres" {
            let mut spec = DataStoreSpec::parse(backend, &self.at).map_err(failed)?;
            let table: String = name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            spec.set("table_name", &format!("p_{table}"))
                .map_err(failed)?;
            spec
        } else {
            let path = Path::new(&self.at).join(format!("{name}.{backend}"));
            DataStoreSpec::parse(backend, path.to_string_lossy()).map_err(failed)?
        };
        let mut spec = spec;
        spec.set("durability", &self.durability).map_err(failed)?;
        spec.open().map_err(failed)
    }
}

/// One scenario's store, and what a reopen needs.
struct Open {
    store: DefaultRecordStore,
    data_store: Option<Arc<dyn MapDataStore>>,
}

fn open(
    target: &Target,
    name: &str,
    options: &StoreOptions,
    clock: &ManualClock,
) -> Result<Open, String> {
    let config = config_for(options)?;
    let clock: Option<Arc<dyn topgun_storage_core::Clock>> = Some(Arc::new(clock.clone()));
    Ok(match &target.backend {
        None => Open {
            store: DefaultRecordStore::standalone(config, clock),
            data_store: None,
        },
        Some(backend) => {
            let ds = target.data_store(backend, name)?;
            Open {
                store: DefaultRecordStore::standalone_over("default", config, ds.clone(), clock),
                data_store: Some(ds),
            }
        }
    })
}

/// Flushes and closes the data store (what every binding's close does).
fn close(open: Open) -> Result<(), String> {
    drop(open.store);
    if let Some(ds) = open.data_store {
        topgun_storage_core::block_on(ds.close()).map_err(|e| code(&e))?;
    }
    Ok(())
}

/// Whether a live record is under `key`: in memory, or (over a data store)
/// on disk, looked up without loading it or counting an access.
fn contains(
    store: &DefaultRecordStore,
    data_store: Option<&dyn MapDataStore>,
    clock: &ManualClock,
    key: &str,
) -> Result<bool, Failure> {
    if store.exists_in_memory(key) {
        return Ok(true);
    }
    let Some(ds) = data_store else {
        return Ok(false);
    };
    let stored = topgun_storage_core::block_on(ds.load(store.name(), Namespace::Primary, key))
        .map_err(|e| code(&e))?;
    Ok(stored.is_some_and(|r| !r.is_ttl_expired(clock.now_millis())))
}

/// Every live entry, by a full scan.
fn scan_all(
    store: &DefaultRecordStore,
    page: usize,
) -> Result<Vec<(String, RecordValue)>, Failure> {
    let mut out = Vec::new();
    let mut cursor = IterationCursor::start();
    while !cursor.is_finished() {
        let p = store.fetch_entries(&cursor, page).map_err(|e| code(&e))?;
        out.extend(p.items.into_iter().map(|(k, r)| (k, r.value)));
        cursor = p.next_cursor;
    }
    Ok(out)
}

fn run_step(
    store: &DefaultRecordStore,
    data_store: Option<&dyn MapDataStore>,
    clock: &ManualClock,
    step: &Step,
) -> Result<String, Failure> {
    let key = step.key();
    Ok(match step.op.as_str() {
        "put" | "putPath" => {
            let value = value_of(step)?;
            let expiry = ExpiryPolicy {
                ttl_millis: step.ttl,
                max_idle_millis: step.max_idle,
            };
            topgun_storage_core::block_on(store.put(&key, value, expiry, CallerProvenance::Client))
                .map_err(|e| code(&e))?;
            "ok".to_owned()
        }
        "get" => {
            let r = topgun_storage_core::block_on(store.get(&key, true)).map_err(|e| code(&e))?;
            format!("value={}", hex_value(r.as_ref().map(|r| &r.value)))
        }
        "getBytes" => {
            let r = topgun_storage_core::block_on(store.get(&key, true)).map_err(|e| code(&e))?;
            format!("value={}", hex_value(r.as_ref().map(|r| &r.value)))
        }
        "record" => {
            match topgun_storage_core::block_on(store.get(&key, true)).map_err(|e| code(&e))? {
                None => "value=-".to_owned(),
                Some(r) => {
                    let m = r.metadata;
                    format!(
                        "value={} version={} hits={} created={} updated={} accessed={}",
                        hex_value(Some(&r.value)),
                        m.version,
                        m.hits,
                        m.creation_time,
                        m.last_update_time,
                        m.last_access_time
                    )
                }
            }
        }
        // A live record only on disk counts as removed too.
        "remove" => {
            let on_disk_only =
                !store.exists_in_memory(&key) && contains(store, data_store, clock, &key)?;
            let old = topgun_storage_core::block_on(store.remove(&key, CallerProvenance::Client))
                .map_err(|e| code(&e))?;
            format!("removed={}", old.is_some() || on_disk_only)
        }
        "has" => format!("has={}", contains(store, data_store, clock, &key)?),
        "len" => format!("len={}", store.size()),
        "cost" => format!("cost={}", store.owned_entry_cost()),
        // Over a data store, clear empties the disk too.
        "clear" => {
            if data_store.is_some() {
                topgun_storage_core::block_on(store.clear_all()).map_err(|e| code(&e))?;
            } else {
                store.clear(false);
            }
            format!("len={}", store.size())
        }
        "advance" => format!("now={}", clock.advance(step.ms.unwrap_or(0))),
        "maintain" => {
            let r = store.maintain();
            format!("expired={} evicted={}", r.expired, r.evicted)
        }
        "scan" => {
            let mut keys = Vec::new();
            let mut cursor = IterationCursor::start();
            while !cursor.is_finished() {
                let p = store
                    .fetch_keys(&cursor, step.page.unwrap_or(100))
                    .map_err(|e| code(&e))?;
                keys.extend(p.items.iter().map(hex::encode));
                cursor = p.next_cursor;
            }
            keys.sort();
            format!("keys={}", keys.join(","))
        }
        "scanEntries" => {
            let mut entries: Vec<String> = scan_all(store, step.page.unwrap_or(100))?
                .iter()
                .map(|(k, v)| format!("{}:{}", hex::encode(k), hex_value(Some(v))))
                .collect();
            entries.sort();
            format!("entries={}", entries.join(","))
        }
        "samples" => {
            let sample = store.random_samples(step.k.unwrap_or(0));
            let all: BTreeSet<(String, String)> = scan_all(store, 1000)?
                .iter()
                .map(|(k, v)| (k.clone(), hex_value(Some(v))))
                .collect();
            let keys: BTreeSet<&String> = sample.iter().map(|(k, _)| k).collect();
            let members = sample
                .iter()
                .all(|(k, r)| all.contains(&(k.clone(), hex_value(Some(&r.value)))));
            format!(
                "count={} distinct={} members={}",
                sample.len(),
                keys.len() == sample.len(),
                members
            )
        }
        "stats" => {
            let s = store.stats();
            format!(
                "hits={} misses={} puts={} updates={} removes={} evictions={} expirations={} entries={} cost={}",
                s.hits, s.misses, s.puts, s.updates, s.removes, s.evictions, s.expirations, s.entry_count, s.total_cost
            )
        }
        "encode" => format!("hex={}", hex_value(Some(&value_of(step)?))),
        "badCursor" => {
            let bytes = hex::decode(step.cursor.as_deref().unwrap_or(""))
                .map_err(|_| "scenario: bad hex".to_owned())?;
            let cursor = IterationCursor::from_bytes(&bytes).map_err(|e| code(&e))?;
            store
                .fetch_keys(&cursor, step.page.unwrap_or(10))
                .map_err(|e| code(&e))?;
            "ok".to_owned()
        }
        other => return Err(format!("scenario: unknown op {other}")),
    })
}

fn load(path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Replays `steps` over the store `name` of `target` and writes the
/// transcript to `file`. A `reopen` step closes the store and opens it
/// again (same location, options and clock); the store is closed at the end.
fn replay(
    target: &Target,
    name: &str,
    scenario: &Scenario,
    steps: &[Step],
    file: &Path,
) -> Result<(), String> {
    let clock = ManualClock::new(scenario.store.clock);
    let mut transcript = String::new();
    let mut store = Some(open(target, name, &scenario.store, &clock)?);
    for (i, step) in steps.iter().enumerate() {
        let result = match (&step.op[..], store.take()) {
            ("reopen", Some(current)) => close(current)
                .and_then(|()| open(target, name, &scenario.store, &clock))
                .map(|reopened| {
                    store = Some(reopened);
                    "ok".to_owned()
                })
                .unwrap_or_else(|e| e),
            (_, Some(current)) => {
                let result = run_step(&current.store, current.data_store.as_deref(), &clock, step)
                    .unwrap_or_else(|e| e);
                store = Some(current);
                result
            }
            // A reopen failed: every later step reports the store closed.
            (_, None) => "error=closed".to_owned(),
        };
        if result.starts_with("scenario:") {
            return Err(format!("{} step {}: {result}", scenario.name, i + 1));
        }
        let _ = writeln!(transcript, "{} {} {}", i + 1, step.op, result);
    }
    if let Some(store) = store {
        close(store).map_err(|e| format!("{}: close: {e}", scenario.name))?;
    }
    std::fs::write(file, transcript).map_err(|e| e.to_string())
}

/// `run`: the scenario's steps, into `OUT_DIR/<name>.txt`. A durable
/// scenario is not run in memory (compare.py reports it as not applicable);
/// a cross-language one reads the store its writer left for this language.
fn run(out: &Path, target: &Target, scenario: &Scenario) -> Result<(), String> {
    if scenario.durable && target.backend.is_none() {
        return Ok(());
    }
    let name = match &scenario.writer {
        Some(_) => format!("cross.{}.rust", scenario.name),
        None => format!("rust.{}", scenario.name),
    };
    let file = out.join(format!("{}.txt", scenario.name));
    replay(target, &name, scenario, &scenario.steps, &file)
}

/// `write`: for a cross-language scenario written by Rust, the `write`
/// steps over a new store for each reader, the transcript (the same for
/// each) into `OUT_DIR/<name>.write.txt`.
fn write_cross(out: &Path, target: &Target, scenario: &Scenario) -> Result<(), String> {
    if scenario.writer.as_deref() != Some("rust") || target.backend.is_none() {
        return Ok(());
    }
    let file = out.join(format!("{}.write.txt", scenario.name));
    for reader in LANGS {
        let name = format!("cross.{}.{reader}", scenario.name);
        replay(target, &name, scenario, &scenario.write, &file)?;
    }
    Ok(())
}

/// One `field=hex` per tab, one step per line (text fields hex-encoded so
/// tabs, newlines and NUL need no escaping); the first line holds the store
/// options and what kind of scenario it is (`durable`, `writer`). The
/// `write` steps of a cross-language scenario go to `<name>.write.tsv`.
fn flatten(out: &Path, scenario: &Scenario) -> Result<(), String> {
    let o = &scenario.store;
    let head = format!(
        "store\tttl={}\tmax_idle={}\tmax_entries={}\tmax_cost={}\teviction={}\tsamples={}\tclock={}\tdurable={}\twriter={}\n",
        o.ttl,
        o.max_idle,
        o.max_entries,
        o.max_cost,
        o.eviction.as_deref().unwrap_or("none"),
        o.samples.unwrap_or(15),
        o.clock,
        u8::from(scenario.durable),
        scenario.writer.as_deref().unwrap_or("-"),
    );
    let file = |suffix: &str, steps: &[Step]| {
        let mut text = head.clone();
        for step in steps {
            flatten_step(&mut text, step);
        }
        std::fs::write(out.join(format!("{}{suffix}", scenario.name)), text)
            .map_err(|e| e.to_string())
    };
    file(".tsv", &scenario.steps)?;
    if scenario.writer.is_some() {
        file(".write.tsv", &scenario.write)?;
    }
    Ok(())
}

fn flatten_step(text: &mut String, step: &Step) {
    let _ = write!(text, "{}\tkey={}", step.op, hex::encode(step.key()));
    if let Some(raw) = &step.value {
        let _ = write!(text, "\tjson={}", hex::encode(raw.get()));
    }
    if let Some(m) = &step.msgpack {
        let _ = write!(text, "\tmsgpack={m}");
    }
    let _ = write!(text, "\tttl={}\tmax_idle={}", step.ttl, step.max_idle);
    let _ = write!(
        text,
        "\tms={}\tpage={}\tk={}",
        step.ms.unwrap_or(0),
        step.page.unwrap_or(100),
        step.k.unwrap_or(0)
    );
    if let Some(c) = &step.cursor {
        let _ = write!(text, "\tcursor={c}");
    }
    text.push('\n');
}

const USAGE: &str = "usage: parity-rust run|write|flatten [--backend B --at LOCATION \
     [--durability D]] OUT_DIR SCENARIO.json...";

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(mode) = args.next() else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let mut target = Target {
        backend: None,
        at: String::new(),
        durability: "fsync".to_owned(),
    };
    let mut rest = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--backend" => target.backend = args.next(),
            "--at" => target.at = args.next().unwrap_or_default(),
            "--durability" => target.durability = args.next().unwrap_or_default(),
            _ => rest.push(arg),
        }
    }
    let Some((out, scenarios)) = rest.split_first() else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    if target.backend.as_deref() == Some("memory") {
        target.backend = None;
    }
    let out = PathBuf::from(out);
    for dir in [&out, &PathBuf::from(&target.at)] {
        if dir.as_os_str().is_empty()
            || target.backend.as_deref() == Some("postgres") && *dir != out
        {
            continue;
        }
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("{}: {e}", dir.display());
            std::process::exit(1);
        }
    }
    for path in scenarios {
        let result = load(Path::new(path)).and_then(|s| match mode.as_str() {
            "run" => run(&out, &target, &s),
            "write" => write_cross(&out, &target, &s),
            "flatten" => flatten(&out, &s),
            other => Err(format!("unknown mode {other}")),
        });
        if let Err(e) = result {
            eprintln!("parity-rust: {e}");
            std::process::exit(1);
        }
    }
}
