//! Key-ordered keyset scans: order, pagination, resume keys, and the
//! guarantee under concurrent writes (every key present for the whole scan
//! exactly once, in order).

use crate::harness::*;
use std::sync::atomic::{AtomicBool, Ordering};
use topgun_storage_core::{block_on, DataStoreErrorKind, MapDataStore, ScanRequest};

pub fn a_scan_of_an_empty_or_unknown_map_is_empty<H: Harness>() {
    let s = Fixture::<H>::new();
    let page = scan(&*s, &ScanRequest::keys("m", Primary, 10));
    assert!(page.entries.is_empty());
    assert_eq!(page.resume_after, None);
    put(&*s, "other", Primary, "k", "v");
    let page = scan(&*s, &ScanRequest::entries("m", Primary, 10));
    assert!(page.entries.is_empty());
    assert_eq!(page.resume_after, None);
}

pub fn keys_come_in_utf8_byte_order<H: Harness>() {
    let s = Fixture::<H>::new();
    // UTF-16 order would put the emoji (a surrogate pair) before U+FFFF;
    // UTF-8 byte order (code point order) puts it after.
    let keys = [
        "\u{10ffff}",
        "😀",
        "\u{ffff}",
        "é",
        "z",
        "a",
        "B",
        "\0",
        "",
        "aa",
        "a\0",
        "\u{7f}",
        "\u{80}",
    ];
    for k in keys {
        put(&*s, "m", Primary, k, k);
    }
    let mut want: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    want.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(scan_all(&*s, "m", Primary, "", 100), want);
    assert_eq!(scan_all(&*s, "m", Primary, "", 1), want);
}

pub fn keys_only_pages_carry_no_records_and_entry_pages_do<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "b"]);
    let page = scan(&*s, &ScanRequest::keys("m", Primary, 10));
    assert!(page.entries.iter().all(|e| e.record.is_none()));
    let page = scan(&*s, &ScanRequest::entries("m", Primary, 10));
    let texts: Vec<String> = page
        .entries
        .iter()
        .map(|e| text(e.record.as_ref().expect("entries carry records")))
        .collect();
    assert_eq!(texts, ["a", "b"]);
}

pub fn pages_of_one_key_walk_every_key_once<H: Harness>() {
    let s = Fixture::<H>::new();
    let keys = numbered(25);
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    put_many(&*s, "m", Primary, &refs);
    assert_eq!(scan_all(&*s, "m", Primary, "", 1), keys);
}

pub fn every_page_size_gives_the_same_keys<H: Harness>() {
    let s = Fixture::<H>::new();
    let keys = numbered(103);
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    put_many(&*s, "m", Primary, &refs);
    for page in [1, 2, 3, 7, 10, 50, 102, 103, 104, 1000] {
        assert_eq!(scan_all(&*s, "m", Primary, "", page), keys, "page {page}");
    }
}

pub fn a_page_never_exceeds_its_limit_and_resumes_at_its_last_key<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "b", "c", "d", "e"]);
    let page = scan(&*s, &ScanRequest::keys("m", Primary, 2));
    assert_eq!(keys_of(&page), ["a", "b"]);
    assert_eq!(page.resume_after.as_deref(), Some("b"));
    let page = scan(
        &*s,
        &ScanRequest::keys("m", Primary, 2).resume_after(Some("b")),
    );
    assert_eq!(keys_of(&page), ["c", "d"]);
    let page = scan(
        &*s,
        &ScanRequest::keys("m", Primary, 2).resume_after(Some("d")),
    );
    assert_eq!(keys_of(&page), ["e"]);
    assert_eq!(page.resume_after, None);
}

pub fn a_full_last_page_is_followed_by_an_empty_one_or_none<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "b"]);
    let page = scan(&*s, &ScanRequest::keys("m", Primary, 2));
    assert_eq!(keys_of(&page), ["a", "b"]);
    if let Some(after) = page.resume_after {
        assert_eq!(after, "b");
        let next = scan(
            &*s,
            &ScanRequest::keys("m", Primary, 2).resume_after(Some(&after)),
        );
        assert!(next.entries.is_empty());
        assert_eq!(next.resume_after, None);
    }
}

pub fn resuming_after_a_missing_key_starts_after_it<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "c", "e"]);
    let page = scan(
        &*s,
        &ScanRequest::keys("m", Primary, 10).resume_after(Some("b")),
    );
    assert_eq!(keys_of(&page), ["c", "e"]);
    let page = scan(
        &*s,
        &ScanRequest::keys("m", Primary, 10).resume_after(Some("c\0")),
    );
    assert_eq!(keys_of(&page), ["e"]);
}

pub fn resuming_past_the_last_key_is_empty<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "b"]);
    for after in ["b", "c", "\u{10ffff}"] {
        let page = scan(
            &*s,
            &ScanRequest::keys("m", Primary, 10).resume_after(Some(after)),
        );
        assert!(page.entries.is_empty(), "after {after:?}");
        assert_eq!(page.resume_after, None);
    }
}

pub fn resuming_after_the_empty_key_skips_only_it<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["", "\0", "a"]);
    let page = scan(
        &*s,
        &ScanRequest::keys("m", Primary, 10).resume_after(Some("")),
    );
    assert_eq!(keys_of(&page), ["\0", "a"]);
}

pub fn a_zero_limit_is_rejected<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "k", "v");
    assert_kind(
        block_on(s.scan(&ScanRequest::keys("m", Primary, 0))),
        DataStoreErrorKind::Rejected,
    );
    assert_kind(
        block_on(s.scan(&ScanRequest::entries("empty", Primary, 0))),
        DataStoreErrorKind::Rejected,
    );
}

pub fn a_huge_limit_returns_everything_once<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "b", "c"]);
    let page = scan(&*s, &ScanRequest::keys("m", Primary, usize::MAX));
    assert_eq!(keys_of(&page), ["a", "b", "c"]);
    assert_eq!(page.resume_after, None);
}

pub fn removed_keys_are_not_scanned<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "b", "c"]);
    block_on(s.remove("m", Primary, "b")).unwrap();
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["a", "c"]);
    block_on(s.remove("m", Primary, "a")).unwrap();
    block_on(s.remove("m", Primary, "c")).unwrap();
    assert!(scan_all(&*s, "m", Primary, "", 10).is_empty());
}

pub fn keys_written_between_pages_appear_only_ahead_of_the_cursor<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["b", "d", "f"]);
    let first = scan(&*s, &ScanRequest::keys("m", Primary, 2));
    assert_eq!(keys_of(&first), ["b", "d"]);
    put_many(&*s, "m", Primary, &["a", "c", "e", "g"]);
    let rest = scan(
        &*s,
        &ScanRequest::keys("m", Primary, 10).resume_after(first.resume_after.as_deref()),
    );
    assert_eq!(keys_of(&rest), ["e", "f", "g"]);
}

pub fn keys_removed_between_pages_are_not_returned<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "b", "c", "d"]);
    let first = scan(&*s, &ScanRequest::keys("m", Primary, 1));
    assert_eq!(keys_of(&first), ["a"]);
    block_on(s.remove("m", Primary, "c")).unwrap();
    let rest = scan(
        &*s,
        &ScanRequest::keys("m", Primary, 10).resume_after(first.resume_after.as_deref()),
    );
    assert_eq!(keys_of(&rest), ["b", "d"]);
}

pub fn ten_thousand_keys_scan_in_pages<H: Harness>() {
    let s = Fixture::<H>::new();
    let keys = numbered(10_000);
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    put_many(&*s, "m", Primary, &refs);
    assert_eq!(scan_all(&*s, "m", Primary, "", 999), keys);
}

pub fn entry_pages_hold_what_load_returns<H: Harness>() {
    let s = Fixture::<H>::new();
    for (i, k) in numbered(30).iter().enumerate() {
        let r = topgun_storage_core::StoredRecord {
            expiration_time: i as i64 * 10,
            max_idle_millis: i as u64,
            ..rec(k)
        };
        block_on(s.add("m", Primary, k, &r)).unwrap();
    }
    let mut after: Option<String> = None;
    let mut seen = 0;
    loop {
        let req = ScanRequest::entries("m", Primary, 7).resume_after(after.as_deref());
        let page = scan(&*s, &req);
        for e in &page.entries {
            let loaded = block_on(s.load("m", Primary, &e.key)).unwrap();
            assert_eq!(e.record, loaded, "key {}", e.key);
            seen += 1;
        }
        match page.resume_after {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    assert_eq!(seen, 30);
}

pub fn a_scan_under_concurrent_writes_returns_every_stable_key_once<H: Harness>() {
    let s = Fixture::<H>::new();
    // Stable keys are present for the whole scan; churn keys come and go
    // between them.
    let stable: Vec<String> = (0..400).map(|i| format!("s{i:04}")).collect();
    let refs: Vec<&str> = stable.iter().map(String::as_str).collect();
    put_many(&*s, "m", Primary, &refs);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for t in 0..2 {
            let s = &*s;
            let done = &done;
            scope.spawn(move || {
                let mut i = 0u32;
                while !done.load(Ordering::Relaxed) {
                    // Keys that sort between, before and after the stable ones.
                    let k = match i % 3 {
                        0 => format!("s{:04}x{t}", i % 400),
                        1 => format!("a{t}{i}"),
                        _ => format!("z{t}{i}"),
                    };
                    put(s, "m", Primary, &k, "churn");
                    if i.is_multiple_of(2) {
                        block_on(s.remove("m", Primary, &k)).unwrap();
                    }
                    i += 1;
                }
            });
        }
        for round in 0..5 {
            let got = scan_all(&*s, "m", Primary, "", 7 + round * 13);
            let stable_seen: Vec<&String> = got.iter().filter(|k| is_stable(k)).collect();
            assert_eq!(stable_seen.len(), stable.len(), "round {round}");
            assert!(stable_seen.iter().zip(&stable).all(|(a, b)| *a == b));
        }
        done.store(true, Ordering::Relaxed);
    });
}

fn is_stable(k: &str) -> bool {
    k.len() == 5 && k.starts_with('s')
}

pub fn concurrent_overwrites_never_give_a_torn_record<H: Harness>() {
    let s = Fixture::<H>::new();
    let keys = numbered(50);
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    put_many(&*s, "m", Primary, &refs);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let writer_store = &*s;
        let done_flag = &done;
        scope.spawn(move || {
            let mut v = 0u64;
            while !done_flag.load(Ordering::Relaxed) {
                let payload = format!("{v}:{}", "x".repeat((v % 5) as usize * 100));
                put(
                    writer_store,
                    "m",
                    Primary,
                    &format!("k{:05}", v % 50),
                    &payload,
                );
                v += 1;
            }
        });
        for _ in 0..20 {
            let page = scan(&*s, &ScanRequest::entries("m", Primary, 100));
            assert_eq!(page.entries.len(), 50);
            for e in &page.entries {
                let t = text(e.record.as_ref().unwrap());
                // Either the original value (the key itself) or a whole
                // overwrite "<n>:" followed by (n % 5) * 100 x's.
                if t != e.key {
                    let (n, xs) = t.split_once(':').expect("a written payload");
                    let n: u64 = n.parse().unwrap();
                    assert_eq!(xs.len() as u64, (n % 5) * 100, "torn record {t:?}");
                }
            }
        }
        done.store(true, Ordering::Relaxed);
    });
}

pub fn a_scan_sees_only_its_namespace<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["p1", "p2"]);
    put_many(&*s, "m", Backup, &["b1", "p1"]);
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["p1", "p2"]);
    assert_eq!(scan_all(&*s, "m", Backup, "", 10), ["b1", "p1"]);
}

pub fn a_scan_stays_inside_maps_whose_names_share_a_prefix<H: Harness>() {
    let s = Fixture::<H>::new();
    for map in ["", "m", "m\0", "m\0x", "m\u{1}", "ma", "l", "n"] {
        put_many(&*s, map, Primary, &["", "k", "\0"]);
        put(&*s, map, Primary, &format!("only-in-{map}"), "v");
    }
    for map in ["", "m", "m\0", "m\0x", "m\u{1}", "ma", "l", "n"] {
        let mut want = vec!["".to_owned(), "\0".to_owned(), "k".to_owned()];
        want.push(format!("only-in-{map}"));
        want.sort();
        assert_eq!(scan_all(&*s, map, Primary, "", 2), want, "map {map:?}");
    }
}

pub fn scanning_does_not_change_the_store<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "b"]);
    for _ in 0..3 {
        let _ = scan(&*s, &ScanRequest::entries("m", Primary, 1));
    }
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["a", "b"]);
    assert_eq!(block_on(s.list_maps()).unwrap(), ["m"]);
}

pub fn scans_from_many_threads_agree<H: Harness>() {
    let s = Fixture::<H>::new();
    let keys = numbered(500);
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    put_many(&*s, "m", Primary, &refs);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let s = &*s;
                scope.spawn(move || scan_all(s, "m", Primary, "", 3 + t * 40))
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), keys);
        }
    });
    let _: &dyn MapDataStore = &*s;
}
