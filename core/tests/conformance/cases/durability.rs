//! Durable backends: everything acknowledged is there after close and
//! reopen (and after a drop without close), with its expiry; a scan resumes
//! across a reopen.

use crate::harness::*;
use topgun_storage_core::{block_on, ScanRequest, StoredRecord, WriteOp};

pub fn records_survive_close_and_reopen<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "b", "c"]);
    let s = s.reopen();
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["a", "b", "c"]);
    assert_eq!(get(&*s, "m", Primary, "b").as_deref(), Some("b"));
}

pub fn expiry_fields_survive_reopen<H: Harness>() {
    let s = Fixture::<H>::new();
    let r = StoredRecord {
        expiration_time: 1_700_000_060_000,
        max_idle_millis: 30_000,
        write_time: 1_700_000_000_000,
        ..rec("ttl")
    };
    block_on(s.add("m", Primary, "k", &r)).unwrap();
    let s = s.reopen();
    assert_eq!(block_on(s.load("m", Primary, "k")).unwrap(), Some(r));
}

pub fn removes_and_overwrites_survive_reopen<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "b", "c"]);
    block_on(s.remove("m", Primary, "b")).unwrap();
    put(&*s, "m", Primary, "c", "changed");
    let s = s.reopen();
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["a", "c"]);
    assert_eq!(get(&*s, "m", Primary, "c").as_deref(), Some("changed"));
}

pub fn a_large_batch_survives_reopen<H: Harness>() {
    let s = Fixture::<H>::new();
    let keys = numbered(20_000);
    let r = rec("batched");
    let ops: Vec<WriteOp<'_>> = keys
        .iter()
        .map(|key| WriteOp::Put { key, record: &r })
        .collect();
    write(&*s, "m", Primary, &ops);
    let s = s.reopen();
    assert_eq!(scan_all(&*s, "m", Primary, "", 5_000), keys);
}

pub fn every_map_and_namespace_survives_reopen<H: Harness>() {
    let s = Fixture::<H>::new();
    for map in ["", "\0", "a", "é😀", "a\0b"] {
        put(&*s, map, Primary, "p", map);
        put(&*s, map, Backup, "b\0", map);
    }
    let s = s.reopen();
    assert_eq!(
        block_on(s.list_maps()).unwrap(),
        ["", "\0", "a", "a\0b", "é😀"]
    );
    for map in ["", "\0", "a", "é😀", "a\0b"] {
        assert_eq!(get(&*s, map, Primary, "p").as_deref(), Some(map));
        assert_eq!(get(&*s, map, Backup, "b\0").as_deref(), Some(map));
        assert_eq!(get(&*s, map, Backup, "p"), None);
    }
}

pub fn a_scan_resumes_after_reopen<H: Harness>() {
    let s = Fixture::<H>::new();
    let keys = numbered(30);
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    put_many(&*s, "m", Primary, &refs);
    let first = scan(&*s, &ScanRequest::keys("m", Primary, 10));
    let cursor = first.resume_after.clone().expect("more pages");
    let s = s.reopen();
    let mut got = keys_of(&first);
    let mut after = Some(cursor);
    while let Some(a) = after {
        let page = scan(
            &*s,
            &ScanRequest::keys("m", Primary, 10).resume_after(Some(&a)),
        );
        got.extend(keys_of(&page));
        after = page.resume_after;
    }
    assert_eq!(got, keys);
}

pub fn acknowledged_writes_survive_a_drop_without_close<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "b"]);
    let s = s.drop_and_reopen();
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["a", "b"]);
}

pub fn flushed_writes_survive_a_drop_without_close<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a"]);
    block_on(s.flush()).unwrap();
    put_many(&*s, "m", Primary, &["b"]);
    block_on(s.flush()).unwrap();
    let s = s.drop_and_reopen();
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["a", "b"]);
}

pub fn reopening_again_and_again_keeps_adding_up<H: Harness>() {
    let mut s = Fixture::<H>::new();
    for round in 0..5 {
        put(&*s, "m", Primary, &format!("r{round}"), "v");
        s = s.reopen();
        assert_eq!(scan_all(&*s, "m", Primary, "", 10).len(), round + 1);
    }
}

pub fn a_16_mib_value_survives_reopen<H: Harness>() {
    let s = Fixture::<H>::new();
    let big: Vec<u8> = (0..16 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    let r = rec_value(big);
    block_on(s.add("m", Primary, "big", &r)).unwrap();
    let s = s.reopen();
    assert_eq!(block_on(s.load("m", Primary, "big")).unwrap(), Some(r));
}

pub fn a_reopened_empty_store_is_empty_and_writable<H: Harness>() {
    let s = Fixture::<H>::new();
    let s = s.reopen();
    assert!(block_on(s.list_maps()).unwrap().is_empty());
    put(&*s, "m", Primary, "k", "v");
    let s = s.reopen();
    assert_eq!(get(&*s, "m", Primary, "k").as_deref(), Some("v"));
}

pub fn an_emptied_store_stays_empty_after_reopen<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "b"]);
    let keys = vec!["a".to_owned(), "b".to_owned()];
    block_on(s.remove_all("m", Primary, &keys)).unwrap();
    let s = s.reopen();
    assert!(block_on(s.list_maps()).unwrap().is_empty());
    assert!(scan_all(&*s, "m", Primary, "", 10).is_empty());
}

pub fn a_store_reopened_after_close_accepts_writes_and_keeps_old_ones<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "old", "1");
    let s = s.reopen();
    put(&*s, "m", Primary, "new", "2");
    put(&*s, "m", Primary, "old", "3");
    let s = s.reopen();
    assert_eq!(get(&*s, "m", Primary, "old").as_deref(), Some("3"));
    assert_eq!(get(&*s, "m", Primary, "new").as_deref(), Some("2"));
}

pub fn a_thousand_maps_survive_reopen<H: Harness>() {
    let s = Fixture::<H>::new();
    let names: Vec<String> = (0..1000).map(|i| format!("m{i:04}")).collect();
    for name in &names {
        put(&*s, name, Primary, "k", name);
    }
    let s = s.reopen();
    assert_eq!(block_on(s.list_maps()).unwrap(), names);
}
