//! `unsafe` code lives in `src/raw.rs` only. The crate denies the
//! `unsafe_code` lint everywhere else except `src/api.rs` and
//! `src/export_file.rs`, which must allow it for `#[no_mangle]`; this test
//! keeps them (and every other module)
//! free of `unsafe` blocks, functions, impls and traits.

use std::path::PathBuf;

#[test]
fn unsafe_code_only_in_raw_rs() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(&src).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.file_name().is_some_and(|n| n == "raw.rs") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).expect("source is UTF-8");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for pattern in ["unsafe {", "unsafe fn", "unsafe impl", "unsafe trait"] {
                if code.contains(pattern) {
                    offenders.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        seen >= 5,
        "expected the crate's modules in {}",
        src.display()
    );
    assert!(
        offenders.is_empty(),
        "unsafe code outside src/raw.rs:\n{}",
        offenders.join("\n")
    );
}
