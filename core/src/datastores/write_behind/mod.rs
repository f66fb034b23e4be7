//! [`WriteBehindDataStore`]: writes return once queued (and logged), and
//! reach the backend later in batches.
//!
//! # What is promised
//!
//! * **Acknowledged.** `write` returns `Ok` once the batch is in the queue
//!   and, with the write-ahead log on (the default), in the log as durable
//!   as the log's [`Durability`] says: with `Fsync` it survives power loss,
//!   with `Os` a crash or SIGKILL of the process. On open, the log is
//!   replayed into the backend before the store serves anything, so every
//!   acknowledged write is there after a restart. Without the log, queued
//!   writes live only in this process: a crash loses what was not stored.
//! * **Reads never go back in time.** `load`, `load_all`, `scan` and
//!   `list_maps` merge the queue over the backend: a queued put is returned
//!   as queued, a queued remove hides the backend's copy. `is_loadable` is
//!   `false` while a key has a queued write.
//! * **Order per key.** The queue keeps one entry per key holding its last
//!   write (a put then a remove ends removed), and the drain never has two
//!   writes of one key in flight, so the backend ends with the last state.
//!   A rewrite keeps the key's first pending time, so frequent updates do
//!   not postpone persistence.
//! * **Batches by size and age.** The drain stores keys whose first pending
//!   time is at least `write_delay_millis` old, in backend writes of at most
//!   `batch_size` keys (one atomic `write` per map and namespace), and stores
//!   a full batch at once, whatever its age, as soon as `batch_size` keys
//!   wait.
//! * **Failures lose nothing.** A failed backend write puts its keys back
//!   at the front of the queue. The background drain retries after an
//!   exponential backoff with jitter (`backoff_base_millis * 2^(n-1)`, capped
//!   at `backoff_cap_millis`, then a uniformly random time between half and
//!   all of it). After `max_retries` retries fail in a row the store is
//!   *stalled*: the drain stops trying, the entries stay queued (readable,
//!   logged, never dropped), [`WriteBehindStats::stalled`] and `last_error`
//!   say so, and the next `soft_flush`, `hard_flush`, `flush` or `close`
//!   returns the error (with its kind) unless its own attempt succeeds;
//!   each flush call also restarts the retries. A write that the backend
//!   refuses for good (`Rejected`) therefore blocks flushes until the key is
//!   written again or removed.
//! * **Back-pressure.** At most `capacity` keys are queued. A write that
//!   would queue more new keys waits up to `backpressure_wait` for the drain
//!   to make room, then fails with
//!   [`Unavailable`](DataStoreErrorKind::Unavailable) and writes nothing.
//!   A batch with more new keys than `capacity` is `Rejected` at once.
//!   Rewrites of queued keys never wait.
//! * **Flushes.** `soft_flush` makes everything queued now due and returns
//!   at once; `hard_flush` stores it in the calling thread; `flush` also
//!   syncs the backend; `close` stops the drain thread, stores everything,
//!   syncs, empties the log and closes the backend.
//!
//! Dropping the store without `close` stops the drain thread. With the log
//! on, queued writes are replayed by the next open; without it, the drop
//! makes one attempt to store them.
//!
//! # Costs
//!
//! A write: one encoding of the batch for the log, one mutex, one `write`
//! syscall (plus a shared fsync with `Fsync`) and a B-tree insert per key.
//! A load: one mutex and a B-tree lookup, then the backend on a miss.

mod queue;

use crate::blocking::block_on;
use crate::clock::{Clock, SystemClock};
use crate::map_data_store::{
    DataStoreError, DataStoreErrorKind, DataStoreResult, Durability, MapDataStore, Namespace,
    ScanEntry, ScanPage, ScanRequest, StoredRecord, WriteOp,
};
use crate::wal::{
    decode_batch, encode_batch, FileLog, FileLogOptions, LogStats, LoggedOp, Recovery, TornTail,
    WriteAheadLog,
};
use async_trait::async_trait;
use parking_lot::{Condvar, Mutex, RwLock};
use queue::{Due, Queue, QueuedOp, Taken};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Whether and where a write-behind store logs its writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogConfig {
    /// A [`FileLog`] with these options (the default when a directory is
    /// given).
    File(FileLogOptions),
    /// No log: queued writes are lost if the process dies.
    Off,
}

/// Settings of a [`WriteBehindDataStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBehindConfig {
    /// How long a write waits in the queue before it is due (ms).
    /// Default 1000.
    pub write_delay_millis: u64,
    /// Most keys per drain round and backend write. Default 1000.
    pub batch_size: usize,
    /// Most keys queued at once. Default 100,000.
    pub capacity: usize,
    /// How long a write waits for room in a full queue. Default 5 s.
    pub backpressure_wait: Duration,
    /// Retries of a failed backend write before the store stalls.
    /// Default 5.
    pub max_retries: u32,
    /// First retry delay (ms). Default 100.
    pub backoff_base_millis: u64,
    /// Longest retry delay (ms). Default 10,000.
    pub backoff_cap_millis: u64,
    /// The write-ahead log.
    pub log: LogConfig,
    /// Run the background drain thread (default). Without it, nothing is
    /// stored until [`WriteBehindDataStore::drain_once`] or a flush is
    /// called: for tests that drive the drain by hand.
    pub background_drain: bool,
    /// Seed of the retry jitter (`None`: from the OS).
    pub jitter_seed: Option<u64>,
}

impl WriteBehindConfig {
    /// The defaults with the write-ahead log in `dir` at `durability`.
    #[must_use]
    pub fn with_log(dir: impl Into<PathBuf>, durability: Durability) -> Self {
        Self {
            write_delay_millis: 1000,
            batch_size: 1000,
            capacity: 100_000,
            backpressure_wait: Duration::from_secs(5),
            max_retries: 5,
            backoff_base_millis: 100,
            backoff_cap_millis: 10_000,
            log: LogConfig::File(FileLogOptions::new(dir, durability)),
            background_drain: true,
            jitter_seed: None,
        }
    }

    /// The defaults without a write-ahead log (queued writes die with the
    /// process).
    #[must_use]
    pub fn without_log() -> Self {
        Self {
            log: LogConfig::Off,
            ..Self::with_log(PathBuf::new(), Durability::Fsync)
        }
    }

    /// The retry delay before retry `attempt` (1-based), before jitter.
    #[must_use]
    pub fn backoff_millis(&self, attempt: u32) -> u64 {
        let shift = attempt.saturating_sub(1).min(63);
        self.backoff_base_millis
            .saturating_mul(1u64 << shift)
            .min(self.backoff_cap_millis)
    }
}

/// Counters and gauges of a [`WriteBehindDataStore`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteBehindStats {
    /// Keys with a write not yet confirmed by the backend (queue depth,
    /// in-flight included).
    pub queued: u64,
    /// Keys being stored now.
    pub in_flight: u64,
    /// `write` calls accepted.
    pub accepted_writes: u64,
    /// Operations in them.
    pub accepted_ops: u64,
    /// Operations that replaced a queued write of the same key.
    pub coalesced: u64,
    /// Backend writes that succeeded.
    pub batches: u64,
    /// Keys they stored.
    pub stored: u64,
    /// Failed backend writes that will be retried.
    pub retries: u64,
    /// Failed backend writes.
    pub failures: u64,
    /// Whether the drain gave up retrying (see the module docs).
    pub stalled: bool,
    /// The last backend failure, if any.
    pub last_error: Option<String>,
    /// Writes that had to wait for room.
    pub backpressure_waits: u64,
    /// Writes refused because no room came in time.
    pub backpressure_rejections: u64,
    /// The log's counters, when there is a log.
    pub log: Option<LogStats>,
}

/// What opening replayed from the log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplayReport {
    /// Frames replayed into the backend.
    pub frames: u64,
    /// Operations they held.
    pub ops: u64,
    /// A torn tail cut off the log (writes that were never acknowledged).
    pub torn_tail: Option<TornTail>,
}

/// What one drain round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DrainReport {
    /// Keys stored.
    pub stored: u64,
    /// Backend writes made.
    pub batches: u64,
}

#[derive(Debug, Clone)]
struct Stall {
    kind: DataStoreErrorKind,
    message: String,
}

#[derive(Debug, Default)]
struct Retry {
    /// Failed attempts in a row.
    attempts: u32,
    /// No background attempt before this time.
    next_attempt_at: i64,
    stalled: Option<Stall>,
}

#[derive(Debug)]
struct State {
    queue: Queue,
    retry: Retry,
    /// Keys ordered below this are due (set by `soft_flush`).
    flush_mark: u64,
    /// The last sequence number handed out (the log's, or our own).
    last_seq: u64,
    /// Bumped by every accepted write, so the drain thread never sleeps
    /// through one.
    epoch: u64,
    closing: bool,
    closed: bool,
    stop: bool,
    rng: SmallRng,
    last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Counters {
    accepted_writes: AtomicU64,
    accepted_ops: AtomicU64,
    coalesced: AtomicU64,
    batches: AtomicU64,
    stored: AtomicU64,
    retries: AtomicU64,
    failures: AtomicU64,
    backpressure_waits: AtomicU64,
    backpressure_rejections: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

struct Shared<D> {
    inner: D,
    config: WriteBehindConfig,
    clock: Arc<dyn Clock>,
    log: Option<Arc<dyn WriteAheadLog>>,
    state: Mutex<State>,
    /// Wakes the drain thread.
    work: Condvar,
    /// Wakes writers waiting for room.
    room: Condvar,
    /// One drainer at a time (the thread or a flushing caller), so two
    /// writes of one key are never in flight together.
    drainer: Mutex<()>,
    /// Held shared by a scan page across its backend read and queue read,
    /// and exclusively while confirmed keys leave the queue: a scan never
    /// misses a key that moved from the queue to the backend under it.
    gate: RwLock<()>,
    counters: Counters,
}

enum Mode {
    /// Due by age, soft flush, or a full batch; honours retry backoff.
    Background,
    /// Everything ordered below the mark, now.
    Flush(u64),
}

enum Round {
    Stored(DrainReport),
    /// Nothing taken; the next time something may be due, if known.
    Idle(Option<i64>),
}

/// A [`MapDataStore`] that queues writes (with a write-ahead log) and
/// stores them into `D` in the background. See the
/// [module docs](self) for its guarantees.
pub struct WriteBehindDataStore<D: MapDataStore + 'static> {
    shared: Arc<Shared<D>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    replay: ReplayReport,
}

impl<D: MapDataStore + 'static> std::fmt::Debug for WriteBehindDataStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBehindDataStore")
            .field("config", &self.shared.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn closed_error() -> DataStoreError {
    DataStoreError::closed()
}

impl<D: MapDataStore + 'static> WriteBehindDataStore<D> {
    /// Opens a write-behind store over `inner` with the system clock: opens
    /// and recovers the log (if configured), replays it into `inner`, syncs
    /// `inner`, starts a fresh log segment and the drain thread.
    ///
    /// # Errors
    ///
    /// The log's errors (`Locked`, `Corrupt` for a log damaged before its
    /// tail, `Io`), and `inner`'s errors while replaying (the log is then
    /// kept as it was, for the next open).
    pub fn open(inner: D, config: WriteBehindConfig) -> DataStoreResult<Self> {
        Self::open_with_clock(inner, config, Arc::new(SystemClock))
    }

    /// [`open`](Self::open) reading `clock` for write delays and retry
    /// times.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn open_with_clock(
        inner: D,
        config: WriteBehindConfig,
        clock: Arc<dyn Clock>,
    ) -> DataStoreResult<Self> {
        match &config.log {
            LogConfig::File(options) => {
                let (log, recovery) = FileLog::open(options)?;
                Self::with_log(inner, config, clock, Arc::new(log), recovery)
            }
            LogConfig::Off => Self::start(inner, config, clock, None, ReplayReport::default()),
        }
    }

    /// A store logging to `log`, whose `recovery` is replayed into `inner`
    /// first (`config.log` is ignored). For an in-memory log
    /// ([`MemoryLog`](crate::wal::MemoryLog)) in tests: take its segments,
    /// drop the store as a crash would, recover the segments and open again.
    ///
    /// # Errors
    ///
    /// `inner`'s errors while replaying, the log's while restarting it.
    pub fn with_log(
        inner: D,
        config: WriteBehindConfig,
        clock: Arc<dyn Clock>,
        log: Arc<dyn WriteAheadLog>,
        recovery: Recovery,
    ) -> DataStoreResult<Self> {
        let report = replay(&inner, &recovery)?;
        if report.frames > 0 {
            block_on(inner.flush())?;
        }
        log.restart()?;
        Self::start(inner, config, clock, Some(log), report)
    }

    fn start(
        inner: D,
        config: WriteBehindConfig,
        clock: Arc<dyn Clock>,
        log: Option<Arc<dyn WriteAheadLog>>,
        replay: ReplayReport,
    ) -> DataStoreResult<Self> {
        let rng = match config.jitter_seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        let last_seq = log.as_ref().map_or(0, |l| l.next_seq().saturating_sub(1));
        let background = config.background_drain;
        let shared = Arc::new(Shared {
            inner,
            config,
            clock,
            log,
            state: Mutex::new(State {
                queue: Queue::default(),
                retry: Retry::default(),
                flush_mark: 0,
                last_seq,
                epoch: 0,
                closing: false,
                closed: false,
                stop: false,
                rng,
                last_error: None,
            }),
            work: Condvar::new(),
            room: Condvar::new(),
            drainer: Mutex::new(()),
            gate: RwLock::new(()),
            counters: Counters::default(),
        });
        let thread = if background {
            let worker = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name("topgun-write-behind".into())
                .spawn(move || worker.run())
                .map_err(|e| DataStoreError::io("starting the write-behind drain thread", e))?;
            Some(handle)
        } else {
            None
        };
        Ok(Self {
            shared,
            thread: Mutex::new(thread),
            replay,
        })
    }

    /// The backend.
    pub fn inner(&self) -> &D {
        &self.shared.inner
    }

    /// What opening replayed from the log (and any torn tail it cut).
    pub fn replay_report(&self) -> &ReplayReport {
        &self.replay
    }

    /// The log's chain hash after its last frame, if there is a log.
    pub fn log_chain_head(&self) -> Option<crate::wal::ChainHash> {
        self.shared.log.as_ref().map(|l| l.chain_head())
    }

    /// Counters and gauges now.
    pub fn stats(&self) -> WriteBehindStats {
        let s = &self.shared;
        let c = &s.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let st = s.state.lock();
        WriteBehindStats {
            queued: st.queue.len() as u64,
            in_flight: st.queue.in_flight() as u64,
            accepted_writes: get(&c.accepted_writes),
            accepted_ops: get(&c.accepted_ops),
            coalesced: get(&c.coalesced),
            batches: get(&c.batches),
            stored: get(&c.stored),
            retries: get(&c.retries),
            failures: get(&c.failures),
            stalled: st.retry.stalled.is_some(),
            last_error: st.last_error.clone(),
            backpressure_waits: get(&c.backpressure_waits),
            backpressure_rejections: get(&c.backpressure_rejections),
            log: s.log.as_ref().map(|l| l.stats()),
        }
    }

    /// Runs one round of the drain in the calling thread, as the background
    /// thread would at the clock's current time: stores up to `batch_size`
    /// due keys, honouring the write delay and the retry backoff. For tests
    /// and for callers without the thread.
    ///
    /// # Errors
    ///
    /// The backend's error when its write failed (the keys stay queued).
    pub fn drain_once(&self) -> DataStoreResult<DrainReport> {
        match self.shared.drain_round(&Mode::Background)? {
            Round::Stored(r) => Ok(r),
            Round::Idle(_) => Ok(DrainReport::default()),
        }
    }

    fn stop_thread(&self) {
        {
            let mut st = self.shared.state.lock();
            st.stop = true;
        }
        self.shared.work.notify_all();
        if let Some(handle) = self.thread.lock().take() {
            // A panic in the drain thread has already been reported by the
            // runtime; the queue is intact and the caller goes on.
            let _ = handle.join();
        }
    }
}

/// Stores in `inner` what a write-behind store left queued in its log at
/// `dir`, and empties the log: what [`WriteBehindDataStore::open`] does
/// first, for a store opened without write-behind (or without its log)
/// over data a write-behind store with a log wrote. Without it those
/// acknowledged writes would stay invisible, and a later write-behind open
/// would replay them over newer writes.
///
/// Cost: opening the log (taking its lock, reading its segments); nothing
/// more for an empty log. On failure the log is kept as it was.
///
/// # Errors
///
/// The log's errors (`Locked` while a write-behind store has it open,
/// `Corrupt` for a log damaged before its tail, `Io`), and `inner`'s
/// while storing the frames.
pub fn drain_leftover_log<D: MapDataStore>(
    inner: &D,
    dir: impl Into<PathBuf>,
    durability: Durability,
) -> DataStoreResult<ReplayReport> {
    let (log, recovery) = FileLog::open(&FileLogOptions::new(dir, durability))?;
    let report = replay(inner, &recovery)?;
    if report.frames > 0 {
        block_on(inner.flush())?;
    }
    if report.frames > 0 || report.torn_tail.is_some() {
        log.restart()?;
    }
    log.close();
    Ok(report)
}

/// Replays recovered frames into `inner`, merging consecutive frames of one
/// map and namespace into one write.
fn replay<D: MapDataStore>(inner: &D, recovery: &Recovery) -> DataStoreResult<ReplayReport> {
    const MAX_OPS: usize = 10_000;
    let mut report = ReplayReport {
        torn_tail: recovery.torn_tail.clone(),
        ..ReplayReport::default()
    };
    let mut pending: Vec<LoggedOp> = Vec::new();
    let mut target: Option<(String, Namespace)> = None;
    let flush = |target: &Option<(String, Namespace)>,
                 pending: &mut Vec<LoggedOp>|
     -> DataStoreResult<()> {
        if let Some((map, ns)) = target {
            let ops: Vec<WriteOp<'_>> = pending.iter().map(LoggedOp::as_write_op).collect();
            block_on(inner.write(map, *ns, &ops))?;
        }
        pending.clear();
        Ok(())
    };
    for frame in &recovery.frames {
        let batch = decode_batch(&frame.payload).map_err(|e| {
            DataStoreError::new(
                DataStoreErrorKind::Corrupt,
                format!("write-ahead log frame {}: {}", frame.seq, e.message()),
            )
        })?;
        let same = target
            .as_ref()
            .is_some_and(|(m, ns)| *m == batch.map && *ns == batch.namespace);
        if !same || pending.len() >= MAX_OPS {
            flush(&target, &mut pending)?;
            target = Some((batch.map.clone(), batch.namespace));
        }
        report.frames += 1;
        report.ops += batch.ops.len() as u64;
        pending.extend(batch.ops);
    }
    flush(&target, &mut pending)?;
    Ok(report)
}

impl<D: MapDataStore + 'static> Shared<D> {
    fn check_open(&self, st: &State) -> DataStoreResult<()> {
        if st.closed {
            Err(closed_error())
        } else {
            Ok(())
        }
    }

    /// Accepts one batch: waits for room, logs it, queues it, waits until
    /// the log holds it durably.
    fn accept(&self, map: &str, namespace: Namespace, ops: &[WriteOp<'_>]) -> DataStoreResult<()> {
        let mut payload = Vec::new();
        if self.log.is_some() && !ops.is_empty() {
            encode_batch(&mut payload, map, namespace, ops)?;
        }
        let capacity = self.config.capacity;
        let mut st = self.state.lock();
        if st.closed || st.closing {
            return Err(closed_error());
        }
        if ops.is_empty() {
            return Ok(());
        }
        let mut deadline: Option<Instant> = None;
        loop {
            let new = st
                .queue
                .count_new(map, namespace, ops.iter().map(WriteOp::key));
            if new == 0 || st.queue.len() + new <= capacity {
                break;
            }
            if new > capacity {
                return Err(DataStoreError::new(
                    DataStoreErrorKind::Rejected,
                    format!(
                        "a batch of {new} new keys is larger than the write-behind queue's capacity of {capacity}; nothing was written"
                    ),
                ));
            }
            let until = *deadline.get_or_insert_with(|| {
                bump(&self.counters.backpressure_waits, 1);
                Instant::now() + self.config.backpressure_wait
            });
            self.work.notify_one();
            if Instant::now() >= until || self.room.wait_until(&mut st, until).timed_out() {
                let new = st
                    .queue
                    .count_new(map, namespace, ops.iter().map(WriteOp::key));
                if new == 0 || st.queue.len() + new <= capacity {
                    break;
                }
                bump(&self.counters.backpressure_rejections, 1);
                return Err(DataStoreError::new(
                    DataStoreErrorKind::Unavailable,
                    format!(
                        "the write-behind queue is full ({} of {capacity} keys) and did not drain within {} ms; nothing was written",
                        st.queue.len(),
                        self.config.backpressure_wait.as_millis()
                    ),
                ));
            }
            if st.closed || st.closing {
                return Err(closed_error());
            }
        }
        let seq = match &self.log {
            Some(log) => log.append(&payload)?,
            None => st.last_seq + 1,
        };
        st.last_seq = seq;
        let now = self.clock.now_millis();
        let waiting_before = st.queue.waiting();
        let coalesced = st.queue.push(map, namespace, ops, seq, now);
        // Wake the drain only when it may be asleep without a deadline (the
        // queue was empty) or a full batch just formed: later keys are due
        // after the front one, whose due time it already sleeps towards.
        // A futex wake per write would cost more than the write.
        let batch = self.config.batch_size.max(1);
        let wake = waiting_before == 0 || (waiting_before < batch && st.queue.waiting() >= batch);
        if wake {
            st.epoch += 1;
        }
        drop(st);
        if wake {
            self.work.notify_one();
        }
        bump(&self.counters.accepted_writes, 1);
        bump(&self.counters.accepted_ops, ops.len() as u64);
        bump(&self.counters.coalesced, coalesced);
        if let Some(log) = &self.log {
            log.wait_durable(seq)?;
        }
        Ok(())
    }

    /// One drain round (see [`Mode`]).
    fn drain_round(&self, mode: &Mode) -> DataStoreResult<Round> {
        let _drainer = self.drainer.lock();
        let taken = {
            let mut st = self.state.lock();
            let now = self.clock.now_millis();
            if let Mode::Background = mode {
                if st.retry.stalled.is_some() {
                    return Ok(Round::Idle(None));
                }
                if now < st.retry.next_attempt_at {
                    return Ok(Round::Idle(Some(st.retry.next_attempt_at)));
                }
            }
            let delay = i64::try_from(self.config.write_delay_millis).unwrap_or(i64::MAX);
            let durable = self.log.as_ref().map_or(u64::MAX, |l| l.durable_seq());
            let due = match mode {
                Mode::Background => Due {
                    pending_before: now.saturating_sub(delay),
                    order_below: st.flush_mark,
                    force: st.queue.waiting() >= self.config.batch_size,
                    durable_through: durable,
                    limit: self.config.batch_size.max(1),
                },
                Mode::Flush(mark) => Due {
                    pending_before: i64::MIN,
                    order_below: *mark,
                    force: false,
                    durable_through: durable,
                    limit: self.config.batch_size.max(1),
                },
            };
            let taken = st.queue.take(due);
            if taken.is_empty() {
                let next = st.queue.front_since().map(|s| {
                    let at = s.saturating_add(delay);
                    // Due but not yet durable in the log: look again soon.
                    if at <= now {
                        now + 1
                    } else {
                        at
                    }
                });
                return Ok(Round::Idle(next));
            }
            taken
        };
        let mut report = DrainReport::default();
        let groups = group(taken);
        for (i, batch) in groups.iter().enumerate() {
            let ops: Vec<WriteOp<'_>> = batch
                .iter()
                .map(|t| match &t.op {
                    QueuedOp::Put(record) => WriteOp::Put {
                        key: &t.slot.key,
                        record,
                    },
                    QueuedOp::Remove => WriteOp::Remove { key: &t.slot.key },
                })
                .collect();
            let first = &batch[0].slot;
            match block_on(self.inner.write(&first.map, first.namespace, &ops)) {
                Ok(()) => {
                    let _gate = self.gate.write();
                    self.state.lock().queue.confirm(batch);
                    report.batches += 1;
                    report.stored += batch.len() as u64;
                    bump(&self.counters.batches, 1);
                    bump(&self.counters.stored, batch.len() as u64);
                    self.room.notify_all();
                }
                Err(e) => {
                    let mut st = self.state.lock();
                    for rest in &groups[i..] {
                        st.queue.give_back(rest);
                    }
                    self.record_failure(&mut st, &e);
                    return Err(e);
                }
            }
        }
        {
            let mut st = self.state.lock();
            st.retry.attempts = 0;
            st.retry.next_attempt_at = i64::MIN;
        }
        self.release_log()?;
        Ok(Round::Stored(report))
    }

    fn record_failure(&self, st: &mut State, e: &DataStoreError) {
        bump(&self.counters.failures, 1);
        st.last_error = Some(format!("{} ({})", e.message(), e.kind().as_str()));
        st.retry.attempts = st.retry.attempts.saturating_add(1);
        if st.retry.attempts > self.config.max_retries {
            st.retry.stalled = Some(Stall {
                kind: e.kind(),
                message: e.message().to_owned(),
            });
        } else {
            bump(&self.counters.retries, 1);
            let full = self.config.backoff_millis(st.retry.attempts);
            let jittered = full / 2 + st.rng.random_range(0..=full - full / 2);
            let wait = i64::try_from(jittered).unwrap_or(i64::MAX);
            st.retry.next_attempt_at = self.clock.now_millis().saturating_add(wait);
        }
    }

    /// Deletes log segments whose frames the backend holds: everything
    /// below the lowest sequence number still queued, after syncing the
    /// backend.
    fn release_log(&self) -> DataStoreResult<()> {
        let Some(log) = &self.log else {
            return Ok(());
        };
        let Some(oldest) = log.oldest_completed_through() else {
            return Ok(());
        };
        let watermark = {
            let st = self.state.lock();
            st.queue
                .min_seq()
                .map_or(st.last_seq, |s| s.saturating_sub(1))
        };
        if watermark < oldest {
            return Ok(());
        }
        block_on(self.inner.flush())?;
        log.release_through(watermark)?;
        Ok(())
    }

    /// The drain thread: runs rounds while something is due, sleeps until
    /// the next due time or a new write otherwise.
    fn run(&self) {
        loop {
            let epoch = {
                let st = self.state.lock();
                if st.stop {
                    return;
                }
                st.epoch
            };
            let next = match self.drain_round(&Mode::Background) {
                Ok(Round::Stored(_)) => continue,
                Ok(Round::Idle(next)) => next,
                Err(_) => {
                    // Recorded in the stats; the backoff decides when to
                    // try again.
                    let st = self.state.lock();
                    st.retry
                        .stalled
                        .is_none()
                        .then_some(st.retry.next_attempt_at)
                }
            };
            let mut st = self.state.lock();
            if st.stop {
                return;
            }
            if st.epoch != epoch {
                continue;
            }
            let wait = next.map_or(Duration::from_secs(1), |at| {
                let ms = at.saturating_sub(self.clock.now_millis()).clamp(0, 1000);
                Duration::from_millis(u64::try_from(ms).unwrap_or(0))
            });
            if !wait.is_zero() {
                self.work.wait_for(&mut st, wait);
            }
        }
    }

    /// Stores everything queued before the call, in the calling thread.
    fn hard_flush(&self) -> DataStoreResult<()> {
        let (mark, last) = {
            let mut st = self.state.lock();
            self.check_open(&st)?;
            st.retry = Retry::default();
            (st.queue.next_order(), st.last_seq)
        };
        if let Some(log) = &self.log {
            log.wait_durable(last)?;
        }
        loop {
            match self.drain_round(&Mode::Flush(mark)) {
                Ok(Round::Stored(_)) => {}
                Ok(Round::Idle(_)) => return Ok(()),
                Err(e) => {
                    let queued = self.state.lock().queue.len();
                    return Err(DataStoreError::new(
                        e.kind(),
                        format!(
                            "write-behind: storing queued writes failed; {queued} keys stay queued (nothing is dropped): {}",
                            e.message()
                        ),
                    ));
                }
            }
        }
    }

    fn merged_scan(&self, request: &ScanRequest<'_>) -> DataStoreResult<ScanPage> {
        request.check()?;
        let limit = request.limit;
        let mut out: Vec<ScanEntry> = Vec::new();
        let mut cursor: Option<String> = request.after.map(str::to_owned);
        loop {
            let _gate = self.gate.read();
            let page = block_on(self.inner.scan(&ScanRequest {
                after: cursor.as_deref(),
                ..*request
            }))?;
            let backend_done = page.resume_after.is_none();
            let upto = if backend_done {
                None
            } else {
                page.entries.last().map(|e| e.key.clone())
            };
            let (queued, cut) = {
                let st = self.state.lock();
                self.check_open(&st)?;
                st.queue.range(
                    request.map,
                    request.namespace,
                    request.prefix,
                    cursor.as_deref(),
                    upto.as_deref(),
                    limit,
                )
            };
            drop(_gate);
            // Where the merged view is exact: up to the last queued key seen
            // when the queue range was cut short.
            let exact_upto = if cut {
                queued.last().map(|q| q.0.clone())
            } else {
                None
            };
            let mut backend = page.entries.into_iter().peekable();
            let mut queued = queued.into_iter().peekable();
            loop {
                let take_queued = match (backend.peek(), queued.peek()) {
                    (None, None) => break,
                    (Some(_), None) => false,
                    (None, Some(_)) => true,
                    (Some(b), Some(q)) => q.0.as_bytes() <= b.key.as_bytes(),
                };
                if take_queued {
                    let Some((key, record)) = queued.next() else {
                        break;
                    };
                    if backend.peek().is_some_and(|b| b.key == key) {
                        backend.next();
                    }
                    if let Some(record) = record {
                        out.push(ScanEntry {
                            key,
                            record: request.with_records.then_some(record),
                        });
                    }
                } else if let Some(b) = backend.next() {
                    if exact_upto
                        .as_ref()
                        .is_some_and(|e| b.key.as_bytes() > e.as_bytes())
                    {
                        break;
                    }
                    out.push(b);
                }
            }
            if out.len() >= limit || cut {
                out.truncate(limit);
                let resume = out.last().map(|e| e.key.clone());
                return Ok(ScanPage {
                    entries: out,
                    resume_after: resume,
                });
            }
            if backend_done {
                return Ok(ScanPage {
                    entries: out,
                    resume_after: None,
                });
            }
            cursor = upto;
        }
    }

    /// `list_maps` over the queue and the backend.
    fn list_maps(&self) -> DataStoreResult<Vec<String>> {
        let _gate = self.gate.read();
        let backend = block_on(self.inner.list_maps())?;
        let (with_puts, with_removes) = {
            let st = self.state.lock();
            self.check_open(&st)?;
            st.queue.maps_touched()
        };
        let mut names = Vec::with_capacity(backend.len() + with_puts.len());
        for name in backend {
            if with_removes.contains(&name) && !self.backend_keeps_a_key(&name)? {
                continue;
            }
            names.push(name);
        }
        names.extend(with_puts);
        names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        names.dedup();
        Ok(names)
    }

    /// Whether the backend still holds a key of `map` that the queue does
    /// not remove.
    fn backend_keeps_a_key(&self, map: &str) -> DataStoreResult<bool> {
        for namespace in Namespace::ALL {
            let mut after: Option<String> = None;
            loop {
                let page =
                    block_on(self.inner.scan(
                        &ScanRequest::keys(map, namespace, 256).resume_after(after.as_deref()),
                    ))?;
                {
                    let st = self.state.lock();
                    if page
                        .entries
                        .iter()
                        .any(|e| !st.queue.is_removed(map, namespace, &e.key))
                    {
                        return Ok(true);
                    }
                }
                match page.resume_after {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        Ok(false)
    }
}

/// Splits taken keys into one batch per map and namespace, keeping their
/// order within each.
fn group(taken: Vec<Taken>) -> Vec<Vec<Taken>> {
    let mut groups: Vec<Vec<Taken>> = Vec::new();
    for t in taken {
        let found = groups.iter_mut().find(|g| {
            let s = &g[0].slot;
            s.namespace == t.slot.namespace && s.map == t.slot.map
        });
        match found {
            Some(g) => g.push(t),
            None => groups.push(vec![t]),
        }
    }
    groups
}

#[async_trait]
impl<D: MapDataStore + 'static> MapDataStore for WriteBehindDataStore<D> {
    async fn write(
        &self,
        map: &str,
        namespace: Namespace,
        ops: &[WriteOp<'_>],
    ) -> DataStoreResult<()> {
        self.shared.accept(map, namespace, ops)
    }

    async fn load(
        &self,
        map: &str,
        namespace: Namespace,
        key: &str,
    ) -> DataStoreResult<Option<StoredRecord>> {
        {
            let st = self.shared.state.lock();
            self.shared.check_open(&st)?;
            if let Some(queued) = st.queue.get(map, namespace, key) {
                return Ok(queued.cloned());
            }
        }
        self.shared.inner.load(map, namespace, key).await
    }

    async fn load_all(
        &self,
        map: &str,
        namespace: Namespace,
        keys: &[String],
    ) -> DataStoreResult<Vec<(String, StoredRecord)>> {
        // Per key: Some(state) from the queue, None to ask the backend.
        let queued: Vec<Option<Option<StoredRecord>>> = {
            let st = self.shared.state.lock();
            self.shared.check_open(&st)?;
            keys.iter()
                .map(|k| st.queue.get(map, namespace, k).map(|r| r.cloned()))
                .collect()
        };
        let misses: Vec<String> = keys
            .iter()
            .zip(&queued)
            .filter(|(_, q)| q.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        let mut loaded = if misses.is_empty() {
            Vec::new()
        } else {
            self.shared.inner.load_all(map, namespace, &misses).await?
        }
        .into_iter()
        .peekable();
        let mut out = Vec::with_capacity(keys.len());
        for (key, q) in keys.iter().zip(queued) {
            match q {
                Some(Some(record)) => out.push((key.clone(), record)),
                Some(None) => {}
                None => {
                    // The backend answers misses in request order, leaving
                    // out the keys it does not hold.
                    if loaded.peek().is_some_and(|(k, _)| k == key) {
                        if let Some(entry) = loaded.next() {
                            out.push(entry);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    async fn scan(&self, request: &ScanRequest<'_>) -> DataStoreResult<ScanPage> {
        self.shared.merged_scan(request)
    }

    async fn list_maps(&self) -> DataStoreResult<Vec<String>> {
        self.shared.list_maps()
    }

    fn is_loadable(&self, map: &str, namespace: Namespace, key: &str) -> bool {
        self.shared
            .state
            .lock()
            .queue
            .get(map, namespace, key)
            .is_none()
    }

    fn pending_operation_count(&self) -> u64 {
        self.shared.state.lock().queue.len() as u64
    }

    async fn soft_flush(&self) -> DataStoreResult<u64> {
        let (waiting, stall) = {
            let mut st = self.shared.state.lock();
            self.shared.check_open(&st)?;
            st.flush_mark = st.queue.next_order();
            let stall = st.retry.stalled.take();
            st.retry = Retry::default();
            st.epoch += 1;
            (st.queue.waiting() as u64, stall)
        };
        self.shared.work.notify_one();
        match stall {
            Some(s) => Err(DataStoreError::new(
                s.kind,
                format!(
                    "write-behind stalled after {} failed attempts, {waiting} keys stay queued (retrying now): {}",
                    self.shared.config.max_retries + 1,
                    s.message
                ),
            )),
            None => Ok(waiting),
        }
    }

    async fn hard_flush(&self) -> DataStoreResult<()> {
        self.shared.hard_flush()
    }

    async fn flush(&self) -> DataStoreResult<()> {
        self.shared.hard_flush()?;
        self.shared.inner.flush().await?;
        self.shared.release_log()
    }

    async fn close(&self) -> DataStoreResult<()> {
        {
            let mut st = self.shared.state.lock();
            if st.closed {
                return Ok(());
            }
            st.closing = true;
        }
        self.shared.room.notify_all();
        self.stop_thread();
        let result = async {
            self.shared.hard_flush()?;
            self.shared.inner.flush().await?;
            if let Some(log) = &self.shared.log {
                // Closing: no writer can append any more, and the backend
                // holds and has synced every frame.
                log.restart()?;
                log.close();
            }
            self.shared.inner.close().await
        }
        .await;
        let mut st = self.shared.state.lock();
        match result {
            Ok(()) => {
                st.closed = true;
                Ok(())
            }
            Err(e) => {
                // Still closing: writes stay refused, reads still work, and
                // close can be called again.
                st.last_error = Some(e.message().to_owned());
                Err(e)
            }
        }
    }

    fn reset(&self) {
        let mut st = self.shared.state.lock();
        st.queue.clear();
        st.retry = Retry::default();
        if let Some(log) = &self.shared.log {
            // Under the state lock: no append can slip in between.
            if let Err(e) = log.restart() {
                st.last_error = Some(format!("resetting the write-ahead log: {}", e.message()));
            }
        }
        drop(st);
        self.shared.room.notify_all();
        self.shared.inner.reset();
    }
}

impl<D: MapDataStore + 'static> Drop for WriteBehindDataStore<D> {
    fn drop(&mut self) {
        self.stop_thread();
        let closed = self.shared.state.lock().closed;
        if !closed && self.shared.log.is_none() {
            // Without a log nothing else would keep the queue: one attempt.
            let _ = self.shared.hard_flush();
        }
    }
}
