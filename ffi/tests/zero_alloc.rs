//! A hit through `storage_get` (and `storage_get_with_metadata`) performs
//! no heap allocation: the value is encoded straight from the stored
//! record into the caller's buffer under the engine's lock. Counted with a
//! counting global allocator, which counts every thread: so this file runs
//! without the test harness (`harness = false` in Cargo.toml), on the main
//! thread alone. Under libtest, the harness's own thread sometimes
//! allocated inside the counted region when the machine was busy, and the
//! test failed for allocations that were not ours.

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use topgun_storage::{
    storage_free, storage_get, storage_get_with_metadata, storage_metadata_t, storage_new,
    storage_new_with_options, storage_options_t, storage_put_json, storage_status_t, storage_t,
};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const OK: storage_status_t = storage_status_t::STORAGE_OK;

fn put(handle: *mut storage_t, key: &str, json: &str) {
    let st = storage_put_json(
        handle,
        key.as_ptr().cast(),
        key.len(),
        json.as_ptr().cast(),
        json.len(),
        0,
        0,
    );
    assert_eq!(st, OK);
}

fn hits_allocate_nothing(handle: *mut storage_t) {
    let keys: Vec<String> = (0..100).map(|i| format!("key-{i:04}")).collect();
    for (i, k) in keys.iter().enumerate() {
        put(
            handle,
            k,
            &format!(
                r#"{{"value":{{"name":"user {i}","tags":["a","b"],"score":{i}.5}},"timestamp":{{"millis":{i},"counter":0,"nodeId":"n1"}}}}"#
            ),
        );
    }
    let mut buf = [0u8; 512];
    let mut len = 0usize;
    let mut meta = storage_metadata_t::default();
    // Warm up (first use of anything lazily initialised on this thread).
    for k in &keys {
        let st = storage_get(
            handle,
            k.as_ptr().cast(),
            k.len(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut len,
        );
        assert_eq!(st, OK);
    }
    let region = Region::new(GLOBAL);
    for _ in 0..10 {
        for k in &keys {
            let st = storage_get(
                handle,
                k.as_ptr().cast(),
                k.len(),
                buf.as_mut_ptr(),
                buf.len(),
                &mut len,
            );
            assert_eq!(st, OK);
            let st = storage_get_with_metadata(
                handle,
                k.as_ptr().cast(),
                k.len(),
                buf.as_mut_ptr(),
                buf.len(),
                &mut len,
                &mut meta,
            );
            assert_eq!(st, OK);
        }
    }
    let change = region.change();
    assert_eq!(change.allocations, 0, "{change:?}");
    assert_eq!(change.reallocations, 0, "{change:?}");
}

fn main() {
    // The system clock, no expiry.
    let mut handle = std::ptr::null_mut();
    assert_eq!(storage_new(&mut handle), OK);
    hits_allocate_nothing(handle);
    storage_free(handle);

    // A store whose records can expire (the expiry check runs on each read).
    let options = storage_options_t {
        struct_size: std::mem::size_of::<storage_options_t>() as u32,
        default_ttl_ms: 60_000,
        default_max_idle_ms: 60_000,
        use_manual_clock: 1,
        manual_clock_start_ms: 1_700_000_000_000,
        ..storage_options_t::default()
    };
    let mut handle = std::ptr::null_mut();
    assert_eq!(storage_new_with_options(&options, &mut handle), OK);
    hits_allocate_nothing(handle);
    storage_free(handle);
    println!("zero_alloc: a hit allocates nothing (two stores, 2,000 reads each): ok");
}
