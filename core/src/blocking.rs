//! [`block_on`]: running one of the crate's async calls to completion from
//! synchronous code (the C, Python and Node bindings, and [`crate::MapStorage`]).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Runs `future` to completion on the calling thread.
///
/// The record store's futures are async only so that a data store may do
/// I/O; over memory (the null data store) they are ready on their first
/// poll. So `future` is polled once with a no-op waker, which allocates
/// nothing and needs no executor or thread handle. A future that is not
/// ready then (a data store waiting on I/O) is handed to `pollster`, which
/// parks the thread until the future wakes it.
///
/// Cost: one poll when the future is ready at once. Must not be called from
/// inside an async runtime's worker thread when the future may wait (it
/// blocks that thread).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => pollster::block_on(future),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Pending on its first `pending` polls; wakes itself from another
    /// thread each time, so only a real executor finishes it.
    struct Later {
        pending: usize,
        polls: Arc<AtomicUsize>,
    }

    impl Future for Later {
        type Output = usize;
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            let n = self.polls.fetch_add(1, Ordering::SeqCst) + 1;
            if self.pending == 0 {
                return Poll::Ready(n);
            }
            self.pending -= 1;
            let waker = cx.waker().clone();
            std::thread::spawn(move || waker.wake());
            Poll::Pending
        }
    }

    #[test]
    fn a_ready_future_is_polled_once() {
        let polls = Arc::new(AtomicUsize::new(0));
        let out = block_on(Later {
            pending: 0,
            polls: polls.clone(),
        });
        assert_eq!((out, polls.load(Ordering::SeqCst)), (1, 1));
    }

    #[test]
    fn a_pending_future_is_driven_until_it_completes() {
        let polls = Arc::new(AtomicUsize::new(0));
        let out = block_on(Later {
            pending: 3,
            polls: polls.clone(),
        });
        assert_eq!(out, 4, "three pending polls, then ready");
    }
}
