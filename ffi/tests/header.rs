//! The committed header must be exactly what cbindgen generates from the
//! current source (the build script writes it to `$OUT_DIR`). Run with
//! `TOPGUN_BLESS_HEADER=1` (what `make ffi-header` does) to rewrite the
//! committed copy after changing the API.

use std::path::PathBuf;

const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/topgun_storage.h"));

#[test]
fn committed_header_matches_the_generated_one() {
    let committed_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../include/topgun_storage.h");
    if std::env::var_os("TOPGUN_BLESS_HEADER").is_some_and(|v| v == "1") {
        std::fs::write(&committed_path, GENERATED).expect("include/ is writable");
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    if committed != GENERATED {
        let first_difference = committed
            .lines()
            .zip(GENERATED.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "one file is a prefix of the other".to_owned(),
                |i| format!("first difference at line {}", i + 1),
            );
        panic!(
            "include/topgun_storage.h is out of date with ffi/src ({first_difference}); \
             regenerate it with `make ffi-header` and commit it"
        );
    }
}

/// Every function the header declares is called by the C test suite
/// (ffi/tests/*.c).
#[test]
fn every_exported_function_is_called_by_the_c_tests() {
    // Every C test file (test_api.c, test_export.c, ...), read together.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut tests = String::new();
    for entry in std::fs::read_dir(&dir).expect("ffi/tests is readable") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "c") {
            tests += &std::fs::read_to_string(&path).expect("a C test is readable");
        }
    }
    // Declarations start at column 0: `<type> storage_name(`.
    let mut functions = Vec::new();
    for line in GENERATED
        .lines()
        .filter(|l| !l.starts_with([' ', '#', '*', '/']))
    {
        for (at, _) in line.match_indices("storage_") {
            let name: String = line[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if line[at + name.len()..].starts_with('(') {
                functions.push(name);
            }
        }
    }
    assert!(functions.len() >= 30, "found only {functions:?}");
    let missing: Vec<_> = functions
        .iter()
        .filter(|name| !tests.contains(&format!("{name}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "not called by any ffi/tests/*.c: {missing:?}"
    );
}
