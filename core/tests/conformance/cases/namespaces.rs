//! Primary and backup namespaces, and maps, never see each other's keys.

use crate::harness::*;
use topgun_storage_core::{block_on, WriteOp};

pub fn primary_and_backup_hold_separate_records<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "k", "primary");
    assert_eq!(get(&*s, "m", Backup, "k"), None);
    put(&*s, "m", Backup, "k", "backup");
    assert_eq!(get(&*s, "m", Primary, "k").as_deref(), Some("primary"));
    assert_eq!(get(&*s, "m", Backup, "k").as_deref(), Some("backup"));
}

pub fn removing_from_one_namespace_keeps_the_other<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "k", "p");
    put(&*s, "m", Backup, "k", "b");
    block_on(s.remove("m", Backup, "k")).unwrap();
    assert_eq!(get(&*s, "m", Primary, "k").as_deref(), Some("p"));
    assert_eq!(get(&*s, "m", Backup, "k"), None);
    put(&*s, "m", Backup, "k", "b");
    block_on(s.remove("m", Primary, "k")).unwrap();
    assert_eq!(get(&*s, "m", Backup, "k").as_deref(), Some("b"));
}

pub fn the_same_key_in_two_maps_is_two_records<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "users", Primary, "1", "alice");
    put(&*s, "orders", Primary, "1", "order");
    assert_eq!(get(&*s, "users", Primary, "1").as_deref(), Some("alice"));
    assert_eq!(get(&*s, "orders", Primary, "1").as_deref(), Some("order"));
    block_on(s.remove("users", Primary, "1")).unwrap();
    assert_eq!(get(&*s, "orders", Primary, "1").as_deref(), Some("order"));
}

pub fn maps_whose_names_extend_each_other_are_isolated<H: Harness>() {
    let s = Fixture::<H>::new();
    // Map "a" with key "\0b" must not meet map "a\0" with key "b", etc.
    let cases = [
        ("a", "\0b"),
        ("a\0", "b"),
        ("a\0b", ""),
        ("", "a\0b"),
        ("ab", ""),
        ("a", "b"),
    ];
    for (i, (map, key)) in cases.iter().enumerate() {
        put(&*s, map, Primary, key, &i.to_string());
    }
    for (i, (map, key)) in cases.iter().enumerate() {
        assert_eq!(
            get(&*s, map, Primary, key),
            Some(i.to_string()),
            "{map:?}/{key:?}"
        );
        assert_eq!(
            scan_all(&*s, map, Primary, "", 10).len(),
            if *map == "a" { 2 } else { 1 }
        );
    }
}

pub fn load_all_reads_only_its_namespace<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "a", "pa");
    put(&*s, "m", Backup, "b", "bb");
    let keys = vec!["a".to_owned(), "b".to_owned()];
    let p = block_on(s.load_all("m", Primary, &keys)).unwrap();
    let b = block_on(s.load_all("m", Backup, &keys)).unwrap();
    assert_eq!(p.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["a"]);
    assert_eq!(b.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["b"]);
}

pub fn a_batch_touches_only_its_map_and_namespace<H: Harness>() {
    let s = Fixture::<H>::new();
    for ns in [Primary, Backup] {
        for map in ["m", "n"] {
            put(&*s, map, ns, "k", "keep");
        }
    }
    let r = rec("changed");
    write(
        &*s,
        "m",
        Backup,
        &[
            WriteOp::Put {
                key: "k",
                record: &r,
            },
            WriteOp::Put {
                key: "new",
                record: &r,
            },
        ],
    );
    assert_eq!(get(&*s, "m", Backup, "k").as_deref(), Some("changed"));
    assert_eq!(get(&*s, "m", Primary, "k").as_deref(), Some("keep"));
    assert_eq!(get(&*s, "n", Backup, "k").as_deref(), Some("keep"));
    assert_eq!(get(&*s, "m", Primary, "new"), None);
    assert_eq!(get(&*s, "n", Backup, "new"), None);
}

pub fn clearing_a_namespace_keeps_the_map_listed_while_the_other_has_keys<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "k", "p");
    put(&*s, "m", Backup, "k", "b");
    block_on(s.remove("m", Primary, "k")).unwrap();
    assert_eq!(block_on(s.list_maps()).unwrap(), ["m"]);
    block_on(s.remove("m", Backup, "k")).unwrap();
    assert!(block_on(s.list_maps()).unwrap().is_empty());
}

pub fn many_maps_do_not_mix<H: Harness>() {
    let s = Fixture::<H>::new();
    for m in 0..50 {
        let map = format!("map{m}");
        for k in 0..10 {
            put(&*s, &map, Primary, &format!("k{k}"), &format!("{m}/{k}"));
        }
    }
    for m in 0..50 {
        let map = format!("map{m}");
        assert_eq!(scan_all(&*s, &map, Primary, "", 4).len(), 10);
        assert_eq!(get(&*s, &map, Primary, "k7"), Some(format!("{m}/7")));
    }
}
