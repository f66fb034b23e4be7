//! The cases, one module per category; each case is a generic function over
//! the backend's harness, instantiated by the macros in `main.rs`.

#![allow(dead_code)] // a backend instantiates only the groups that apply

pub mod batch;
pub mod concurrency;
pub mod crud;
pub mod durability;
pub mod faults;
pub mod files;
pub mod lifecycle;
pub mod list_maps;
pub mod locking;
pub mod namespaces;
pub mod prefix;
pub mod scan;
