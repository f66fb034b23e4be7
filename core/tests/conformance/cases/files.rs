//! File-backed stores: clear errors for directories that cannot hold a
//! store, and never opening a damaged or foreign store as an empty one.

use crate::harness::*;
use std::path::{Path, PathBuf};
use topgun_storage_core::{block_on, DataStoreErrorKind, DataStoreResult, MapDataStore};

/// A directory this process cannot create files in: a read-only temporary
/// directory, or (when running as root, which ignores permissions) sysfs,
/// which refuses new files to everyone.
fn unwritable_dir(scratch: &Path) -> PathBuf {
    let dir = scratch.join("read-only");
    std::fs::create_dir(&dir).unwrap();
    let mut perms = std::fs::metadata(&dir).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&dir, perms).unwrap();
    for candidate in [dir, PathBuf::from("/sys")] {
        let probe = candidate.join("probe");
        match std::fs::File::create(&probe) {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(_) => return candidate,
        }
    }
    panic!("no directory here refuses new files; cannot test an unwritable directory");
}

pub fn an_unwritable_directory_is_an_io_error<H: FileHarness>() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = unwritable_dir(scratch.path());
    let err = H::open_in(&dir).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Io, "{}", describe(&err));
    assert!(
        err.message().contains(&*dir.to_string_lossy()),
        "the error names the path: {err}"
    );
}

pub fn a_directory_that_is_a_file_is_an_io_error<H: FileHarness>() {
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = H::open_in(&file).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Io, "{}", describe(&err));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"x",
        "the file was left alone"
    );
}

/// A closed store holding a few known records.
fn filled_and_closed<H: FileHarness>() -> H::Location {
    let s = Fixture::<H>::new();
    for i in 0..200 {
        put(&*s, "m", Primary, &format!("k{i:03}"), &"v".repeat(i));
    }
    s.into_closed_location()
}

/// What opening a damaged store may do: refuse (`Corrupt`, or `Io` for a
/// file cut short), or open and then give back what was stored or a
/// `Corrupt` error for every damaged read. It may never answer "nothing
/// there" for a key that was stored.
fn assert_refused_or_intact<H: FileHarness>(opened: DataStoreResult<H::Store>, what: &str) {
    let store = match opened {
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    DataStoreErrorKind::Corrupt | DataStoreErrorKind::Io
                ),
                "{what}: refused with {}",
                describe(&e)
            );
            return;
        }
        Ok(store) => store,
    };
    match block_on(store.list_maps()) {
        Ok(maps) => assert_eq!(maps, ["m"], "{what}: opened with other maps"),
        Err(e) => assert_eq!(e.kind(), DataStoreErrorKind::Corrupt, "{what}: {e}"),
    }
    for i in 0..200 {
        match block_on(store.load("m", Primary, &format!("k{i:03}"))) {
            Ok(Some(r)) => assert_eq!(text(&r), "v".repeat(i), "{what}: k{i:03} changed"),
            Ok(None) => panic!("{what}: k{i:03} silently missing"),
            Err(e) => assert_eq!(e.kind(), DataStoreErrorKind::Corrupt, "{what}: {e}"),
        }
    }
}

fn corrupt_then_open<H: FileHarness>(how: Corruption) -> (DataStoreResult<H::Store>, H::Location) {
    let location = filled_and_closed::<H>();
    H::corrupt(&location, how);
    (H::open(&location), location)
}

pub fn a_damaged_header_is_refused_as_corrupt<H: FileHarness>() {
    let (opened, _location) = corrupt_then_open::<H>(Corruption::Header);
    expect_kind(opened, DataStoreErrorKind::Corrupt);
}

pub fn a_truncated_store_is_never_read_as_empty<H: FileHarness>() {
    let (opened, _location) = corrupt_then_open::<H>(Corruption::Truncate);
    assert_refused_or_intact::<H>(opened, "truncated");
}

pub fn a_garbage_file_is_refused_as_corrupt<H: FileHarness>() {
    let (opened, _location) = corrupt_then_open::<H>(Corruption::Garbage);
    expect_kind(opened, DataStoreErrorKind::Corrupt);
}

pub fn an_emptied_file_is_refused_not_recreated<H: FileHarness>() {
    let (opened, location) = corrupt_then_open::<H>(Corruption::Empty);
    expect_kind(opened, DataStoreErrorKind::Corrupt);
    // Still refused the second time: the first attempt did not initialize it.
    expect_kind(H::open(&location), DataStoreErrorKind::Corrupt);
}

pub fn a_foreign_database_is_refused_as_corrupt<H: FileHarness>() {
    let (opened, _location) = corrupt_then_open::<H>(Corruption::Foreign);
    let err = expect_kind(opened, DataStoreErrorKind::Corrupt);
    assert!(
        err.message().contains("marker"),
        "names the missing marker: {err}"
    );
}

pub fn a_refused_open_leaves_the_files_as_they_were<H: FileHarness>() {
    for how in [Corruption::Header, Corruption::Garbage, Corruption::Foreign] {
        let location = filled_and_closed::<H>();
        H::corrupt(&location, how);
        let before: Vec<Vec<u8>> = H::files(&location)
            .iter()
            .map(|f| std::fs::read(f).unwrap())
            .collect();
        assert!(H::open(&location).is_err(), "{how:?} opened");
        let after: Vec<Vec<u8>> = H::files(&location)
            .iter()
            .map(|f| std::fs::read(f).unwrap())
            .collect();
        assert!(before == after, "{how:?}: a refused open changed the files");
    }
}

pub fn an_intact_store_still_opens_after_a_refused_neighbour<H: FileHarness>() {
    let bad = filled_and_closed::<H>();
    H::corrupt(&bad, Corruption::Garbage);
    assert!(H::open(&bad).is_err());
    let good = Fixture::<H>::new();
    put(&*good, "m", Primary, "k", "v");
    let good = good.reopen();
    assert_eq!(get(&*good, "m", Primary, "k").as_deref(), Some("v"));
    let _: &dyn MapDataStore = &*good;
}
