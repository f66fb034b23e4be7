//! Same-run A/B measurement on top of criterion.
//!
//! `compare` registers one criterion benchmark whose routine runs the
//! baseline and ours back to back, alternating which goes first, for the same
//! iteration count; criterion does the warm-up and chooses the counts. Each
//! call records both per-operation times, and the medians of those records
//! give the ratio printed in the summary (docs/benchmarks.md: same process,
//! same run, interleaved, warmed up, median of many repetitions).

#![allow(dead_code)]

use criterion::Criterion;
use std::cell::RefCell;
use std::time::Duration;

/// What a row must reach.
#[derive(Clone, Copy)]
pub enum Target {
    /// ours / baseline time per operation must be at most this.
    TimeRatioAtMost(f64),
    /// baseline / ours time per operation (a throughput gain) at least this.
    SpeedupAtLeast(f64),
    /// ours / baseline time per operation, shown for reference: no target.
    Reference,
}

/// One row of the summary.
pub struct Row {
    pub id: String,
    pub what: String,
    pub baseline_name: String,
    pub baseline_ns: f64,
    pub ours_ns: f64,
    pub target: Target,
}

impl Row {
    pub fn value(&self) -> f64 {
        match self.target {
            Target::TimeRatioAtMost(_) | Target::Reference => self.ours_ns / self.baseline_ns,
            Target::SpeedupAtLeast(_) => self.baseline_ns / self.ours_ns,
        }
    }

    pub fn met(&self) -> bool {
        match self.target {
            Target::TimeRatioAtMost(t) => self.value() <= t,
            Target::SpeedupAtLeast(t) => self.value() >= t,
            Target::Reference => true,
        }
    }

    pub fn print(&self) {
        let (label, target) = match self.target {
            Target::TimeRatioAtMost(t) => ("ratio", format!("<= {t:.2}x")),
            Target::SpeedupAtLeast(t) => ("speedup", format!(">= {t:.2}x")),
            Target::Reference => ("ratio", "none: reference".to_owned()),
        };
        println!(
            "{:<9} {:<44} baseline({}) {:>10} | ours {:>10} | {label} {:.3}x (target {target}) {}",
            self.id,
            self.what,
            self.baseline_name,
            fmt_ns(self.baseline_ns),
            fmt_ns(self.ours_ns),
            self.value(),
            match (self.target, self.met()) {
                (Target::Reference, _) => "",
                (_, true) => "MET",
                (_, false) => "MISSED",
            }
        );
    }
}

pub fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Measures `baseline` and `ours` interleaved. Each closure runs the
/// operation `iters` times and returns the elapsed time; `ops_per_iter` turns
/// that into time per operation.
#[allow(clippy::too_many_arguments)]
pub fn compare(
    c: &mut Criterion,
    id: &str,
    what: &str,
    baseline_name: &str,
    target: Target,
    ops_per_iter: (f64, f64),
    mut baseline: impl FnMut(u64) -> Duration,
    mut ours: impl FnMut(u64) -> Duration,
) -> Row {
    let samples: RefCell<Vec<(f64, f64)>> = RefCell::new(Vec::new());
    let mut flip = false;
    c.bench_function(&format!("{id} {what}"), |b| {
        b.iter_custom(|iters| {
            flip = !flip;
            let (tb, to) = if flip {
                let tb = baseline(iters);
                (tb, ours(iters))
            } else {
                let to = ours(iters);
                (baseline(iters), to)
            };
            let n = iters as f64;
            samples.borrow_mut().push((
                tb.as_nanos() as f64 / (n * ops_per_iter.0),
                to.as_nanos() as f64 / (n * ops_per_iter.1),
            ));
            to
        });
    });
    let samples = samples.into_inner();
    // Drop the first fifth: criterion's warm-up calls with tiny counts.
    let skip = samples.len() / 5;
    let kept = &samples[skip..];
    let row = Row {
        id: id.to_owned(),
        what: what.to_owned(),
        baseline_name: baseline_name.to_owned(),
        baseline_ns: median(kept.iter().map(|s| s.0).collect()),
        ours_ns: median(kept.iter().map(|s| s.1).collect()),
        target,
    };
    row.print();
    row
}

/// Measures `f` alone (no baseline): the median time per operation, for
/// tables that compare several implementations side by side. `f` runs the
/// operation `iters` times and returns the elapsed time; `ops_per_iter`
/// turns that into time per operation.
pub fn measure(
    c: &mut Criterion,
    what: &str,
    ops_per_iter: f64,
    mut f: impl FnMut(u64) -> Duration,
) -> f64 {
    let samples: RefCell<Vec<f64>> = RefCell::new(Vec::new());
    c.bench_function(what, |b| {
        b.iter_custom(|iters| {
            let t = f(iters);
            samples
                .borrow_mut()
                .push(t.as_nanos() as f64 / (iters as f64 * ops_per_iter));
            t
        });
    });
    let samples = samples.into_inner();
    // Drop the first fifth: criterion's warm-up calls with tiny counts.
    let skip = samples.len() / 5;
    median(samples[skip..].to_vec())
}

/// A cheap deterministic index sequence (xorshift), the same for both sides.
pub struct Indices(u64);

impl Indices {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    #[inline]
    pub fn next(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}
