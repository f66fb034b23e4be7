//! Group commit: batches that arrive while a commit is in progress are
//! committed together in the next one.

use crate::map_data_store::{DataStoreError, DataStoreErrorKind, DataStoreResult};
use parking_lot::{Condvar, Mutex, MutexGuard};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One caller's batch, encoded: stored keys with the stored record to put,
/// or `None` to remove, in the caller's order.
pub(super) struct EncodedBatch {
    pub(super) ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// How a group's commit ended, as each follower is told.
type Outcome = Result<(), (DataStoreErrorKind, String)>;

struct Waiter {
    batch: EncodedBatch,
    outcome: Mutex<Option<Outcome>>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Arc<Waiter>>,
    committing: bool,
}

/// The queue of batches waiting for a commit.
///
/// A caller queues its batch; if no commit is in progress it becomes the
/// leader: it takes every queued batch (its own included), commits them in
/// one transaction without holding the queue lock, answers every caller of
/// the group and wakes the waiters, one of which leads the next group.
/// A caller returns only once the transaction holding its batch has
/// committed (or failed).
#[derive(Default)]
pub(super) struct GroupCommit {
    queue: Mutex<Queue>,
    answered: Condvar,
    /// Operations in batches queued and not yet taken into a commit.
    queued_ops: AtomicU64,
}

impl GroupCommit {
    /// Queues `batch` and returns once a commit of a group holding it ended.
    /// `commit` applies a group's batches, in order, atomically.
    pub(super) fn submit(
        &self,
        batch: EncodedBatch,
        commit: impl Fn(&[&EncodedBatch]) -> DataStoreResult<()>,
    ) -> DataStoreResult<()> {
        let me = Arc::new(Waiter {
            batch,
            outcome: Mutex::new(None),
        });
        let ops = me.batch.ops.len() as u64;
        let mut queue = self.queue.lock();
        queue.waiting.push(Arc::clone(&me));
        self.queued_ops.fetch_add(ops, Ordering::Relaxed);
        loop {
            if let Some(outcome) = me.outcome.lock().take() {
                return outcome.map_err(|(kind, message)| DataStoreError::new(kind, message));
            }
            if !queue.committing {
                return self.lead(&mut queue, &me, &commit);
            }
            self.answered.wait(&mut queue);
        }
    }

    /// Operations in batches waiting for a commit to start (not those of the
    /// group being committed).
    pub(super) fn queued_ops(&self) -> u64 {
        self.queued_ops.load(Ordering::Relaxed)
    }

    fn lead(
        &self,
        queue: &mut MutexGuard<'_, Queue>,
        me: &Arc<Waiter>,
        commit: &impl Fn(&[&EncodedBatch]) -> DataStoreResult<()>,
    ) -> DataStoreResult<()> {
        queue.committing = true;
        let group = std::mem::take(&mut queue.waiting);
        let taken: u64 = group.iter().map(|w| w.batch.ops.len() as u64).sum();
        self.queued_ops.fetch_sub(taken, Ordering::Relaxed);
        let result = MutexGuard::unlocked(queue, || {
            let batches: Vec<&EncodedBatch> = group.iter().map(|w| &w.batch).collect();
            panic::catch_unwind(AssertUnwindSafe(|| commit(&batches)))
        });
        let outcome: Outcome = match &result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err((e.kind(), e.message().to_owned())),
            Err(_) => Err((
                DataStoreErrorKind::Other,
                "the thread committing this batch's group panicked; nothing was committed"
                    .to_owned(),
            )),
        };
        for waiter in &group {
            if !Arc::ptr_eq(waiter, me) {
                *waiter.outcome.lock() = Some(outcome.clone());
            }
        }
        queue.committing = false;
        self.answered.notify_all();
        match result {
            Ok(result) => result,
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;

    fn batch(tag: u8) -> EncodedBatch {
        EncodedBatch {
            ops: vec![(vec![tag], None)],
        }
    }

    #[test]
    fn batches_queued_during_a_commit_share_the_next_one() {
        let gc = GroupCommit::default();
        let commits = AtomicUsize::new(0);
        let batches = AtomicUsize::new(0);
        let gate = Barrier::new(9);
        std::thread::scope(|s| {
            // The first caller's commit waits until eight more are queued.
            s.spawn(|| {
                gc.submit(batch(0), |group| {
                    commits.fetch_add(1, Ordering::SeqCst);
                    batches.fetch_add(group.len(), Ordering::SeqCst);
                    gate.wait();
                    while gc.queue.lock().waiting.len() < 8 {
                        std::thread::yield_now();
                    }
                    Ok(())
                })
                .unwrap();
            });
            for i in 1..=8 {
                let (gc, gate, commits, batches) = (&gc, &gate, &commits, &batches);
                s.spawn(move || {
                    gate.wait();
                    gc.submit(batch(i), |group| {
                        commits.fetch_add(1, Ordering::SeqCst);
                        batches.fetch_add(group.len(), Ordering::SeqCst);
                        Ok(())
                    })
                    .unwrap();
                });
            }
        });
        assert_eq!(batches.load(Ordering::SeqCst), 9);
        assert_eq!(
            commits.load(Ordering::SeqCst),
            2,
            "8 batches shared one commit"
        );
    }

    #[test]
    fn a_failed_group_fails_every_caller_in_it() {
        let gc = GroupCommit::default();
        let err = gc
            .submit(batch(1), |_| {
                Err(DataStoreError::new(DataStoreErrorKind::DiskFull, "full"))
            })
            .unwrap_err();
        assert_eq!(err.kind(), DataStoreErrorKind::DiskFull);
        // The queue is usable afterwards.
        gc.submit(batch(2), |group| {
            assert_eq!(group.len(), 1);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_panicking_commit_does_not_wedge_the_queue() {
        let gc = GroupCommit::default();
        let caught =
            panic::catch_unwind(AssertUnwindSafe(|| gc.submit(batch(1), |_| panic!("boom"))));
        assert!(caught.is_err());
        gc.submit(batch(2), |_| Ok(())).unwrap();
    }
}
