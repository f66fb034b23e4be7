//! The PostgreSQL data store against a real server (the throwaway cluster
//! `tests/postgres/cluster.sh` starts for `make rust-test`): its schema next
//! to TopGun's TS adapter, exact round trips, rejections, the client stack
//! (timeouts, TLS, a server restart) and concurrent writers. The
//! conformance suite every backend passes runs separately.

// Helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod client;
mod compat;
mod concurrency;
mod exact;
mod node;
mod node_adapter;
mod schema;
mod support;
