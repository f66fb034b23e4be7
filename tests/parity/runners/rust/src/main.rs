//! The Rust parity runner (see tests/parity/README.md).
//!
//! `parity-rust run OUT_DIR SCENARIO...` replays each scenario against the
//! engine and writes `OUT_DIR/<name>.txt`, one line per step.
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
    CallerProvenance, DefaultRecordStore, ErrorCode, ExpiryPolicy, IterationCursor, ManualClock,
    RecordStore, RecordValue, StorageConfig,
};

#[derive(Deserialize)]
struct Scenario {
    name: String,
    #[serde(default)]
    store: StoreOptions,
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

fn store_for(options: &StoreOptions, clock: &ManualClock) -> Result<DefaultRecordStore, String> {
    let eviction_policy = options
        .eviction
        .as_deref()
        .unwrap_or("none")
        .parse()
        .map_err(|e| format!("scenario: eviction {e}"))?;
    let config = StorageConfig {
        default_ttl_millis: options.ttl,
        default_max_idle_millis: options.max_idle,
        max_entry_count: options.max_entries,
        max_total_cost: options.max_cost,
        eviction_policy,
        eviction_sample_count: options.samples.unwrap_or(15),
    };
    Ok(DefaultRecordStore::standalone(
        config,
        Some(Arc::new(clock.clone())),
    ))
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
        "remove" => {
            let old = topgun_storage_core::block_on(store.remove(&key, CallerProvenance::Client))
                .map_err(|e| code(&e))?;
            format!("removed={}", old.is_some())
        }
        "has" => format!("has={}", store.exists_in_memory(&key)),
        "len" => format!("len={}", store.size()),
        "cost" => format!("cost={}", store.owned_entry_cost()),
        "clear" => {
            store.clear(false);
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

fn run(out: &Path, scenario: &Scenario) -> Result<(), String> {
    let clock = ManualClock::new(scenario.store.clock);
    let store = store_for(&scenario.store, &clock)?;
    let mut transcript = String::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let result = run_step(&store, &clock, step).unwrap_or_else(|e| e);
        if result.starts_with("scenario:") {
            return Err(format!("{} step {}: {result}", scenario.name, i + 1));
        }
        let _ = writeln!(transcript, "{} {} {}", i + 1, step.op, result);
    }
    std::fs::write(out.join(format!("{}.txt", scenario.name)), transcript)
        .map_err(|e| e.to_string())
}

/// One `field=hex` per tab, one step per line (text fields hex-encoded so
/// tabs, newlines and NUL need no escaping); the first line holds the store
/// options.
fn flatten(out: &Path, scenario: &Scenario) -> Result<(), String> {
    let o = &scenario.store;
    let mut text = format!(
        "store\tttl={}\tmax_idle={}\tmax_entries={}\tmax_cost={}\teviction={}\tsamples={}\tclock={}\n",
        o.ttl,
        o.max_idle,
        o.max_entries,
        o.max_cost,
        o.eviction.as_deref().unwrap_or("none"),
        o.samples.unwrap_or(15),
        o.clock
    );
    for step in &scenario.steps {
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
    std::fs::write(out.join(format!("{}.tsv", scenario.name)), text).map_err(|e| e.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: parity-rust run|flatten OUT_DIR SCENARIO.json...");
        std::process::exit(2);
    };
    let out = PathBuf::from(out);
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("{}: {e}", out.display());
        std::process::exit(1);
    }
    for path in &args[2..] {
        let result = load(Path::new(path)).and_then(|s| match mode.as_str() {
            "run" => run(&out, &s),
            "flatten" => flatten(&out, &s),
            other => Err(format!("unknown mode {other}")),
        });
        if let Err(e) = result {
            eprintln!("parity-rust: {e}");
            std::process::exit(1);
        }
    }
}
