//! `list_maps`: every map with a key in either namespace, sorted by UTF-8
//! bytes, without duplicates.

use crate::harness::*;
use topgun_storage_core::{block_on, WriteOp};

fn maps<H: Harness>(s: &Fixture<H>) -> Vec<String> {
    block_on(s.list_maps()).unwrap()
}

pub fn a_new_store_lists_no_maps<H: Harness>() {
    let s = Fixture::<H>::new();
    assert!(maps(&s).is_empty());
}

pub fn maps_are_listed_once_in_byte_order<H: Harness>() {
    let s = Fixture::<H>::new();
    let names = ["b", "a", "😀", "\u{ffff}", "B", "é", "aa"];
    for name in names {
        put(&*s, name, Primary, "k1", "v");
        put(&*s, name, Primary, "k2", "v");
        put(&*s, name, Backup, "k1", "v");
    }
    let mut want: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    want.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(maps(&s), want);
}

pub fn a_map_with_only_backup_keys_is_listed<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "backup-only", Backup, "k", "v");
    assert_eq!(maps(&s), ["backup-only"]);
}

pub fn an_emptied_map_is_no_longer_listed<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "gone", Primary, &["a", "b"]);
    put(&*s, "kept", Primary, "a", "v");
    block_on(s.remove("gone", Primary, "a")).unwrap();
    assert_eq!(maps(&s), ["gone", "kept"]);
    block_on(s.remove("gone", Primary, "b")).unwrap();
    assert_eq!(maps(&s), ["kept"]);
}

pub fn empty_and_nul_map_names_are_listed<H: Harness>() {
    let s = Fixture::<H>::new();
    for name in ["", "\0", "a\0", "a", "a\0\0"] {
        put(&*s, name, Primary, "k", "v");
    }
    assert_eq!(maps(&s), ["", "\0", "a", "a\0", "a\0\0"]);
}

pub fn a_thousand_maps_are_listed<H: Harness>() {
    let s = Fixture::<H>::new();
    let names: Vec<String> = (0..1000).map(|i| format!("map-{i:04}")).collect();
    for (i, name) in names.iter().enumerate() {
        let ns = if i % 3 == 0 { Backup } else { Primary };
        put(&*s, name, ns, &format!("k{i}"), "v");
    }
    assert_eq!(maps(&s), names);
}

pub fn a_map_emptied_by_one_batch_is_no_longer_listed<H: Harness>() {
    let s = Fixture::<H>::new();
    put_many(&*s, "m", Primary, &["a", "b", "c"]);
    write(
        &*s,
        "m",
        Primary,
        &[
            WriteOp::Remove { key: "a" },
            WriteOp::Remove { key: "b" },
            WriteOp::Remove { key: "c" },
        ],
    );
    assert!(maps(&s).is_empty());
}
