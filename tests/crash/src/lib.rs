//! The SIGKILL crash harness of topgun-storage (tests/crash/README.md).
//!
//! A child process ([`workload`], `src/bin/crash-child.rs`) writes through
//! `MapStorage` and its record stores over a durable backend, printing each
//! acknowledgement; the parent ([`harness`]) kills it with SIGKILL at random
//! points, reopens the store and checks that every acknowledged write is
//! there with its value and expiry, that nothing unacknowledged is half
//! there, and that the data reads back through a `MapStorage` whose memory
//! holds a fraction of it. [`backends`] lists what it runs against.

pub mod backends;
pub mod harness;
pub mod workload;
