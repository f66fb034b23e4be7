//! `unsafe` code in the core lives in `src/datastores/lmdb/env.rs` only (the
//! three heed calls heed marks `unsafe`: opening an environment, setting its
//! sync flags, resizing its map). The crate denies the `unsafe_code` lint;
//! this test keeps every other module free of `unsafe` blocks, functions,
//! impls and traits, and keeps an `allow(unsafe_code)` from spreading.
//! (Outside the library, `benches/backends.rs` opens a raw heed
//! environment as its baseline, with the same `SAFETY` reasoning.)

use std::path::{Path, PathBuf};

const THE_ONE_FILE: &str = "datastores/lmdb/env.rs";

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn unsafe_code_only_in_the_lmdb_env_module() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(
        files.len() > 20,
        "expected the crate's modules in {}",
        src.display()
    );
    assert!(files.contains(&src.join(THE_ONE_FILE)));
    let mut offenders = Vec::new();
    for path in &files {
        if path.ends_with(THE_ONE_FILE) {
            continue;
        }
        let text = std::fs::read_to_string(path).expect("source is UTF-8");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for pattern in [
                "unsafe {",
                "unsafe fn",
                "unsafe impl",
                "unsafe trait",
                "allow(unsafe_code)",
            ] {
                if code.contains(pattern) {
                    offenders.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "unsafe code outside src/{THE_ONE_FILE}:\n{}",
        offenders.join("\n")
    );
}
