//! # topgun-storage-ffi
//!
//! The C ABI of topgun-storage: `libtopgun_storage.so` / `libtopgun_storage.a`
//! with the header `include/topgun_storage.h`, generated from this crate by
//! cbindgen (see `build.rs`). The API and its rules are documented in the
//! header and in `docs/c-api.md`.
//!
//! Layout:
//! * [`types`]: the `#[repr(C)]` types and constants the header shows;
//! * `api`: every exported function, each inside the panic boundary, but
//! * `export_file`: storage_export(), storage_import(),
//!   storage_export_verify() (the export file of `topgun_storage_core::export`);
//! * `raw`: the only module with `unsafe` code — where raw pointers become
//!   references, slices and out-parameters, and where callbacks are called;
//! * `error`: statuses from core errors, the thread-local last error, the
//!   panic boundary;
//! * `handle`: the store behind a `storage_t *` and its C observers;
//! * `ops`: reads into caller buffers and the packed page format;
//! * `open`: the data store a durable handle is built over, from the
//!   options (through core's `DataStoreSpec`).
//!
//! The rlib is built only for this crate's Rust tests and benchmark; Rust
//! programs use `topgun-storage-core` directly.

#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

mod api;
mod error;
mod export_file;
mod handle;
mod open;
mod ops;
mod raw;
pub mod types;

pub use api::*;
pub use export_file::*;
pub use handle::storage_t;
pub use types::*;
