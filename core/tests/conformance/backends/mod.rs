//! One harness per backend: how the suite opens, reopens, locks and damages
//! it.

pub mod memory;
pub mod redb;
pub mod write_behind;
