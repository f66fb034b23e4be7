//! Generates the C header from this crate's source with cbindgen, into
//! `$OUT_DIR/topgun_storage.h`. The committed copy is
//! `include/topgun_storage.h`; `tests/header.rs` fails when the two differ
//! (and rewrites the committed copy when run with TOPGUN_BLESS_HEADER=1).
//!
//! On Linux it also gives the shared library the SONAME
//! `libtopgun_storage.so.<ABI version>`, so programs linked against one ABI
//! never load a library of another (`make ffi-install` creates the links).

use std::path::PathBuf;

/// The ABI version, read from its one definition: the line
/// `pub const STORAGE_ABI_VERSION: u32 = N;` of src/types.rs (which the
/// header and `ffi.mk` also take it from).
fn abi_version(types_rs: &str) -> u32 {
    types_rs
        .lines()
        .find_map(|line| {
            line.strip_prefix("pub const STORAGE_ABI_VERSION: u32 = ")?
                .strip_suffix(';')?
                .parse()
                .ok()
        })
        .expect("src/types.rs defines `pub const STORAGE_ABI_VERSION: u32 = <number>;`")
}

fn main() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let types_rs = std::fs::read_to_string(crate_dir.join("src/types.rs"))
        .expect("ffi/src/types.rs is readable");
    let soname = format!("libtopgun_storage.so.{}", abi_version(&types_rs));
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    println!("cargo:rustc-env=TOPGUN_STORAGE_SONAME={soname}");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("ffi/cbindgen.toml is valid");
    let header = out_dir.join("topgun_storage.h");
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen can read ffi/src")
        .write_to_file(&header);
}
