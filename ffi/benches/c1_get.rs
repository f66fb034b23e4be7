//! C1 (docs/benchmarks.md): a read through the C API, `storage_get` into a
//! caller buffer, against what a Rust program does for the same bytes:
//! `RecordStore::get(key, touch = true)` (a copy of the record) and
//! writing its value into a buffer. Target: at most 1.1x, and no heap
//! allocation on a hit (counted with a counting global allocator).
//!
//! C1b (for information): the same read against the zero-copy path in Rust
//! (`StorageEngine::update` + `encode_record_value_to_slice`, what
//! `storage_get` does inside), i.e. the cost of the C boundary itself:
//! pointer checks, UTF-8 check of the key, the panic boundary.
//!
//! Both sides read the same 100k keys (16-byte keys, 64-byte string
//! values) in the same random order, in interleaved rounds (the side that
//! goes first alternates), after warm-up rounds; the figures are medians
//! of the per-round times. `storage_get` is called through a function
//! pointer, as a C caller calls a shared library.
//!
//! Run with `make ffi-bench` or
//! `cargo bench -p topgun-storage-ffi --bench c1_get`.

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::ffi::c_char;
use std::hint::black_box;
use std::time::Instant;
use topgun_storage::{
    storage_free, storage_get, storage_new, storage_put, storage_status_t, storage_t,
};
use topgun_storage_core::codec::{encode_record_value, encode_record_value_to_slice};
use topgun_storage_core::{
    CallerProvenance, DefaultRecordStore, ExpiryPolicy, RecordStore, RecordValue, StorageConfig,
    Timestamp, Value,
};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const KEYS: usize = 100_000;
const OPS_PER_ROUND: usize = 20_000;
const WARMUP_ROUNDS: usize = 10;
const ROUNDS: usize = 101;
const TARGET: f64 = 1.1;

type GetFn = extern "C" fn(
    *mut storage_t,
    *const c_char,
    usize,
    *mut u8,
    usize,
    *mut usize,
) -> storage_status_t;

fn value(i: usize) -> RecordValue {
    let mut s = format!("value-{i:010}-");
    while s.len() < 64 {
        s.push('x');
    }
    RecordValue::lww(
        Value::String(s),
        Timestamp::new(1_700_000_000_000 + i as u64, 0, "node-1"),
    )
}

/// A deterministic index sequence, the same for every side.
struct Indices(u64);

impl Indices {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % KEYS as u64) as usize
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn fmt_ns(ns: f64) -> String {
    format!("{ns:.1} ns")
}

struct Setup {
    keys: Vec<String>,
    rust: DefaultRecordStore,
    handle: *mut storage_t,
}

fn setup() -> Setup {
    let keys: Vec<String> = (0..KEYS).map(|i| format!("key-{i:012}")).collect();
    let rust = DefaultRecordStore::standalone(StorageConfig::default(), None);
    let mut handle = std::ptr::null_mut();
    assert_eq!(storage_new(&mut handle), storage_status_t::STORAGE_OK);
    for (i, k) in keys.iter().enumerate() {
        let v = value(i);
        let bytes = encode_record_value(&v);
        let st = storage_put(
            handle,
            k.as_ptr().cast(),
            k.len(),
            bytes.as_ptr(),
            bytes.len(),
            0,
            0,
        );
        assert_eq!(st, storage_status_t::STORAGE_OK);
        topgun_storage_core::block_on(rust.put(k, v, ExpiryPolicy::NONE, CallerProvenance::Client))
            .expect("an unbounded store accepts every put");
    }
    Setup { keys, rust, handle }
}

/// Runs `OPS_PER_ROUND` reads with `read`; returns ns per read.
fn round(seed: u64, keys: &[String], read: &mut dyn FnMut(&str) -> usize) -> f64 {
    let mut ix = Indices(seed | 1);
    let start = Instant::now();
    let mut total = 0usize;
    for _ in 0..OPS_PER_ROUND {
        total = total.wrapping_add(read(&keys[ix.next()]));
    }
    black_box(total);
    start.elapsed().as_nanos() as f64 / OPS_PER_ROUND as f64
}

/// Interleaved rounds of two sides; returns (baseline ns, ours ns).
fn compare(
    keys: &[String],
    baseline: &mut dyn FnMut(&str) -> usize,
    ours: &mut dyn FnMut(&str) -> usize,
) -> (f64, f64) {
    let mut b = Vec::with_capacity(ROUNDS);
    let mut o = Vec::with_capacity(ROUNDS);
    for r in 0..WARMUP_ROUNDS + ROUNDS {
        let seed = 0x9e37_79b9_7f4a_7c15 ^ r as u64;
        let (tb, to) = if r % 2 == 0 {
            let tb = round(seed, keys, baseline);
            (tb, round(seed, keys, ours))
        } else {
            let to = round(seed, keys, ours);
            (round(seed, keys, baseline), to)
        };
        if r >= WARMUP_ROUNDS {
            b.push(tb);
            o.push(to);
        }
    }
    (median(b), median(o))
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too
    // (with fewer rounds it would still be a benchmark, so just check that
    // the setup works then).
    let quick = !std::env::args().any(|a| a == "--bench");
    let s = setup();
    let get: GetFn = black_box(storage_get);
    let handle = s.handle;
    let mut buf = vec![0u8; 256];
    let mut rust_buf = vec![0u8; 256];

    let mut ours = |key: &str| -> usize {
        let mut len = 0usize;
        let st = get(
            handle,
            key.as_ptr().cast(),
            key.len(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut len,
        );
        debug_assert_eq!(st, storage_status_t::STORAGE_OK);
        black_box(&buf);
        len
    };
    let mut rust_get = |key: &str| -> usize {
        let record = topgun_storage_core::block_on(s.rust.get(key, true))
            .expect("no data store")
            .expect("every key is present");
        let n = encode_record_value_to_slice(&record.value, &mut rust_buf)
            .expect("the buffer holds every value");
        black_box(&rust_buf);
        n
    };

    // Allocation counts on hits (after one warm-up read of each kind).
    ours(&s.keys[0]);
    rust_get(&s.keys[0]);
    let hits = 10_000usize;
    let region = Region::new(GLOBAL);
    for k in s.keys.iter().take(hits) {
        black_box(ours(k));
    }
    let ours_allocs = region.change().allocations;
    let region = Region::new(GLOBAL);
    for k in s.keys.iter().take(hits) {
        black_box(rust_get(k));
    }
    let rust_allocs = region.change().allocations;

    if quick {
        assert_eq!(ours_allocs, 0, "storage_get allocated on a hit");
        println!("c1_get: setup and allocation check ok (run with `cargo bench` to measure)");
        storage_free(handle);
        return;
    }

    let (baseline, ours_ns) = compare(&s.keys, &mut rust_get, &mut ours);
    let ratio = ours_ns / baseline;
    println!(
        "C1   storage_get into caller buffer, 100k keys   baseline(RecordStore::get(touch) + encode into buffer) {:>9} | ours {:>9} | ratio {:.3}x (target <= {TARGET:.2}x) {}",
        fmt_ns(baseline),
        fmt_ns(ours_ns),
        ratio,
        if ratio <= TARGET { "MET" } else { "MISSED" }
    );
    println!(
        "C1   allocations per hit: ours {} ({} over {hits} hits, target 0) {} | baseline {:.1} per get",
        ours_allocs as f64 / hits as f64,
        ours_allocs,
        if ours_allocs == 0 { "MET" } else { "MISSED" },
        rust_allocs as f64 / hits as f64
    );

    // C1b: the boundary's own cost against the same zero-copy read in Rust.
    let engine = s.rust.storage();
    let mut direct_buf = vec![0u8; 256];
    let mut direct = |key: &str| -> usize {
        let now = s.rust.now();
        let mut n = 0;
        engine.update(key, &mut |record| {
            if let Ok(len) = encode_record_value_to_slice(&record.value, &mut direct_buf) {
                record.metadata.on_access(now);
                n = len;
            }
        });
        black_box(&direct_buf);
        n
    };
    let (direct_ns, ours_ns) = compare(&s.keys, &mut direct, &mut ours);
    println!(
        "C1b  storage_get vs the same zero-copy read in Rust  baseline(StorageEngine::update + encode_record_value_to_slice) {:>9} | ours {:>9} | ratio {:.3}x (information: the C boundary's cost)",
        fmt_ns(direct_ns),
        fmt_ns(ours_ns),
        ours_ns / direct_ns
    );
    storage_free(handle);
}
