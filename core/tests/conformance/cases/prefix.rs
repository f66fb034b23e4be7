//! Prefix scans: exactly the keys that start with the prefix (as UTF-8
//! bytes), in order, paginated like full scans.

use crate::harness::*;
use topgun_storage_core::ScanRequest;

const KEYS: [&str; 12] = [
    "",
    "a",
    "ab",
    "abc",
    "abd",
    "ac",
    "b",
    "ba",
    "é",
    "éa",
    "e\u{301}",
    "\u{10ffff}z",
];

fn filled<H: Harness>() -> Fixture<H> {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &KEYS);
    put_many(&*s, "n", Primary, &KEYS);
    s
}

fn expect(prefix: &str) -> Vec<String> {
    let mut want: Vec<String> = KEYS
        .iter()
        .filter(|k| k.starts_with(prefix))
        .map(|k| (*k).to_owned())
        .collect();
    want.sort();
    want
}

pub fn a_prefix_selects_exactly_the_keys_that_start_with_it<H: Harness>() {
    let s = filled::<H>();
    for prefix in ["a", "ab", "b", "é", "e"] {
        assert_eq!(
            scan_all(&*s, "m", Primary, prefix, 100),
            expect(prefix),
            "{prefix:?}"
        );
    }
}

pub fn a_prefix_with_no_match_is_empty<H: Harness>() {
    let s = filled::<H>();
    for prefix in ["x", "abz", "aa", "\0"] {
        assert!(
            scan_all(&*s, "m", Primary, prefix, 10).is_empty(),
            "{prefix:?}"
        );
    }
}

pub fn a_prefix_equal_to_a_whole_key_includes_that_key<H: Harness>() {
    let s = filled::<H>();
    assert_eq!(scan_all(&*s, "m", Primary, "abc", 10), ["abc"]);
    assert_eq!(scan_all(&*s, "m", Primary, "ab", 10), ["ab", "abc", "abd"]);
}

pub fn the_empty_prefix_is_every_key<H: Harness>() {
    let s = filled::<H>();
    assert_eq!(scan_all(&*s, "m", Primary, "", 5), expect(""));
}

pub fn prefix_scans_paginate<H: Harness>() {
    let s = Fixture::<H>::new();
    let keys: Vec<String> = (0..60).map(|i| format!("p{i:03}")).collect();
    let mut all: Vec<&str> = keys.iter().map(String::as_str).collect();
    all.extend(["o", "q", "p", "pz"]);
    put_many(&*s, "m", Primary, &all);
    let mut want = keys.clone();
    want.push("p".to_owned());
    want.push("pz".to_owned());
    want.sort();
    for page in [1, 4, 61, 62, 63] {
        assert_eq!(scan_all(&*s, "m", Primary, "p", page), want, "page {page}");
    }
    let page = scan(&*s, &ScanRequest::keys("m", Primary, 62).with_prefix("p"));
    assert_eq!(page.entries.len(), 62);
}

pub fn a_multibyte_prefix_matches_bytes_not_letters<H: Harness>() {
    let s = filled::<H>();
    // "é" (U+00E9) is not a prefix of "e" + combining accent, and "e" is.
    assert_eq!(scan_all(&*s, "m", Primary, "é", 10), ["é", "éa"]);
    assert_eq!(scan_all(&*s, "m", Primary, "e", 10), ["e\u{301}"]);
    assert_eq!(
        scan_all(&*s, "m", Primary, "\u{10ffff}", 10),
        ["\u{10ffff}z"]
    );
}

pub fn a_prefix_holding_nul_is_matched_exactly<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(
        &*s,
        "m",
        Primary,
        &["a", "a\0", "a\0b", "a\u{1}", "\0", "\0a"],
    );
    assert_eq!(scan_all(&*s, "m", Primary, "a\0", 10), ["a\0", "a\0b"]);
    assert_eq!(scan_all(&*s, "m", Primary, "\0", 10), ["\0", "\0a"]);
    assert_eq!(
        scan_all(&*s, "m", Primary, "a", 10),
        ["a", "a\0", "a\0b", "a\u{1}"]
    );
}

pub fn a_prefix_past_every_key_is_empty<H: Harness>() {
    let s = filled::<H>();
    assert!(scan_all(&*s, "m", Primary, "\u{10ffff}\u{10ffff}", 10).is_empty());
    assert!(scan_all(&*s, "m", Primary, "zzzz", 10).is_empty());
}

pub fn resuming_before_the_prefix_starts_at_the_prefix<H: Harness>() {
    let s = filled::<H>();
    let page = scan(
        &*s,
        &ScanRequest::keys("m", Primary, 10)
            .with_prefix("b")
            .resume_after(Some("a")),
    );
    assert_eq!(keys_of(&page), ["b", "ba"]);
    let page = scan(
        &*s,
        &ScanRequest::keys("m", Primary, 10)
            .with_prefix("ab")
            .resume_after(Some("")),
    );
    assert_eq!(keys_of(&page), ["ab", "abc", "abd"]);
}

pub fn resuming_inside_or_past_the_prefix<H: Harness>() {
    let s = filled::<H>();
    let req = ScanRequest::keys("m", Primary, 10).with_prefix("ab");
    assert_eq!(keys_of(&scan(&*s, &req.resume_after(Some("abc")))), ["abd"]);
    assert_eq!(
        keys_of(&scan(&*s, &req.resume_after(Some("ab")))),
        ["abc", "abd"]
    );
    let past = scan(&*s, &req.resume_after(Some("abd")));
    assert!(past.entries.is_empty());
    assert_eq!(past.resume_after, None);
    assert!(scan(&*s, &req.resume_after(Some("b"))).entries.is_empty());
}

pub fn a_prefix_scan_with_records_returns_them<H: Harness>() {
    let s = filled::<H>();
    let page = scan(
        &*s,
        &ScanRequest::entries("m", Primary, 10).with_prefix("a"),
    );
    let got: Vec<(String, String)> = page
        .entries
        .iter()
        .map(|e| (e.key.clone(), text(e.record.as_ref().unwrap())))
        .collect();
    let want: Vec<(String, String)> = expect("a").into_iter().map(|k| (k.clone(), k)).collect();
    assert_eq!(got, want);
}

pub fn a_prefix_scan_stays_in_its_map_and_namespace<H: Harness>() {
    let s = filled::<H>();
    put_many(&*s, "m", Backup, &["a-backup"]);
    put_many(&*s, "m\0", Primary, &["a-other-map"]);
    assert_eq!(scan_all(&*s, "m", Primary, "a", 3), expect("a"));
    assert_eq!(scan_all(&*s, "m", Backup, "a", 3), ["a-backup"]);
    assert_eq!(scan_all(&*s, "m\0", Primary, "a", 3), ["a-other-map"]);
}
