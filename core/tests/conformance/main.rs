//! The `MapDataStore` conformance suite: one body of cases, written once as
//! generic functions over a [`harness::Harness`], instantiated below for
//! every backend. See README.md beside this file for how to add a backend.
//!
//! Cases come in groups; a backend instantiates the groups that apply to it
//! (a test that does not apply is not generated, rather than passing
//! without checking anything):
//!
//! | group | for | cases |
//! |---|---|---|
//! | `core_cases!` | every backend | CRUD, scans, prefix scans, batches, namespaces, `list_maps`, flush/close, concurrency |
//! | `durable_cases!` | backends whose data survive close and reopen | reopen keeps every acknowledged write |
//! | `file_cases!` | backends kept in files ([`harness::FileHarness`]) | unwritable directories, damaged and foreign files |
//! | `locking_cases!` | backends one holder opens at a time | a second open is `Locked` |
//! | `fault_cases!` | backends that can fail their own storage ([`harness::FaultHarness`]) | failed writes lose nothing acknowledged |
//!
//! Test names read `<backend>::<category>::<case>`, so
//! `cargo test --test conformance redb::` runs one backend.

// Cases are test code outside `#[test]` functions: a failed unwrap is a
// failed case.
#![allow(clippy::unwrap_used)]

mod backends;
mod cases;
mod harness;

/// One `#[test]` per case: `cases!(Harness; module: [case, ...], ...)`
/// generates `mod module { #[test] fn case() { cases::module::case::<Harness>() } }`.
macro_rules! cases {
    ($h:ty; $($module:ident: [$($case:ident),* $(,)?]),* $(,)?) => {
        $(
            mod $module {
                $(
                    #[test]
                    fn $case() {
                        crate::cases::$module::$case::<$h>();
                    }
                )*
            }
        )*
    };
}

/// The cases every backend passes.
macro_rules! core_cases {
    ($h:ty) => {
        cases!($h;
            crud: [
                put_then_load_returns_the_record,
                load_of_a_missing_key_is_none,
                overwrite_replaces_the_record,
                remove_deletes_the_key,
                remove_of_a_missing_key_succeeds,
                put_after_remove_is_visible,
                empty_key_round_trips,
                empty_map_name_round_trips,
                unicode_keys_and_map_names_round_trip,
                nul_in_keys_and_map_names_is_kept,
                keys_are_case_sensitive,
                keys_are_not_normalized,
                long_keys_round_trip,
                a_key_past_the_backend_limit_is_rejected_or_kept_whole,
                a_16_mib_value_round_trips,
                empty_and_null_values_round_trip,
                every_value_shape_round_trips,
                expiry_fields_round_trip_exactly,
                expired_records_are_returned_as_stored,
                load_all_returns_stored_keys_in_request_order,
                load_all_of_no_keys_or_an_unknown_map_is_empty,
                the_batch_helpers_add_all_and_remove_all_work,
                ten_thousand_single_puts_are_all_kept,
                a_loaded_record_is_independent_of_later_writes,
                the_store_is_not_null_and_has_nothing_pending,
            ],
            scan: [
                a_scan_of_an_empty_or_unknown_map_is_empty,
                keys_come_in_utf8_byte_order,
                keys_only_pages_carry_no_records_and_entry_pages_do,
                pages_of_one_key_walk_every_key_once,
                every_page_size_gives_the_same_keys,
                a_page_never_exceeds_its_limit_and_resumes_at_its_last_key,
                a_full_last_page_is_followed_by_an_empty_one_or_none,
                resuming_after_a_missing_key_starts_after_it,
                resuming_past_the_last_key_is_empty,
                resuming_after_the_empty_key_skips_only_it,
                a_zero_limit_is_rejected,
                a_huge_limit_returns_everything_once,
                removed_keys_are_not_scanned,
                keys_written_between_pages_appear_only_ahead_of_the_cursor,
                keys_removed_between_pages_are_not_returned,
                ten_thousand_keys_scan_in_pages,
                entry_pages_hold_what_load_returns,
                a_scan_under_concurrent_writes_returns_every_stable_key_once,
                concurrent_overwrites_never_give_a_torn_record,
                a_scan_sees_only_its_namespace,
                a_scan_stays_inside_maps_whose_names_share_a_prefix,
                scanning_does_not_change_the_store,
                scans_from_many_threads_agree,
            ],
            prefix: [
                a_prefix_selects_exactly_the_keys_that_start_with_it,
                a_prefix_with_no_match_is_empty,
                a_prefix_equal_to_a_whole_key_includes_that_key,
                the_empty_prefix_is_every_key,
                prefix_scans_paginate,
                a_multibyte_prefix_matches_bytes_not_letters,
                a_prefix_holding_nul_is_matched_exactly,
                a_prefix_past_every_key_is_empty,
                resuming_before_the_prefix_starts_at_the_prefix,
                resuming_inside_or_past_the_prefix,
                a_prefix_scan_with_records_returns_them,
                a_prefix_scan_stays_in_its_map_and_namespace,
            ],
            batch: [
                an_empty_batch_succeeds_without_effect,
                a_batch_of_one_put,
                a_batch_of_1000_puts_is_all_visible,
                a_batch_of_100_000_puts_is_all_visible,
                duplicate_keys_in_a_batch_keep_the_last_put,
                a_put_then_a_remove_of_a_key_in_a_batch_removes_it,
                a_remove_then_a_put_of_a_key_in_a_batch_keeps_the_put,
                a_mixed_batch_over_existing_data,
                a_batch_of_large_values,
                readers_see_a_batch_whole_or_not_at_all,
                batches_to_different_maps_are_independent,
                remove_all_of_missing_keys_succeeds,
                many_ops_on_one_key_apply_in_order,
                a_batch_with_empty_and_nul_keys_in_an_empty_map,
            ],
            namespaces: [
                primary_and_backup_hold_separate_records,
                removing_from_one_namespace_keeps_the_other,
                the_same_key_in_two_maps_is_two_records,
                maps_whose_names_extend_each_other_are_isolated,
                load_all_reads_only_its_namespace,
                a_batch_touches_only_its_map_and_namespace,
                clearing_a_namespace_keeps_the_map_listed_while_the_other_has_keys,
                many_maps_do_not_mix,
            ],
            list_maps: [
                a_new_store_lists_no_maps,
                maps_are_listed_once_in_byte_order,
                a_map_with_only_backup_keys_is_listed,
                an_emptied_map_is_no_longer_listed,
                empty_and_nul_map_names_are_listed,
                a_thousand_maps_are_listed,
                a_map_emptied_by_one_batch_is_no_longer_listed,
            ],
            lifecycle: [
                flushing_an_empty_store_succeeds,
                flush_is_idempotent_and_keeps_everything,
                flush_runs_alongside_writers,
                every_call_after_close_fails_with_closed,
                closing_twice_succeeds,
                closing_an_unused_store_succeeds,
                close_while_threads_use_the_store_fails_them_cleanly,
            ],
            concurrency: [
                threads_writing_disjoint_keys_all_land,
                threads_writing_one_key_leave_one_of_their_values,
                readers_see_old_or_new_records_while_writers_run,
                concurrent_batches_are_each_atomic,
                threads_writing_many_maps_are_all_listed,
                concurrent_puts_and_removes_of_disjoint_keys_converge,
                loads_by_many_threads_agree_with_what_was_written,
            ],
        );
    };
}

/// Cases for backends whose data survive close and reopen.
#[allow(unused_macros)]
macro_rules! durable_cases {
    ($h:ty) => {
        cases!($h;
            durability: [
                records_survive_close_and_reopen,
                expiry_fields_survive_reopen,
                removes_and_overwrites_survive_reopen,
                a_large_batch_survives_reopen,
                every_map_and_namespace_survives_reopen,
                a_scan_resumes_after_reopen,
                acknowledged_writes_survive_a_drop_without_close,
                flushed_writes_survive_a_drop_without_close,
                reopening_again_and_again_keeps_adding_up,
                a_16_mib_value_survives_reopen,
                a_reopened_empty_store_is_empty_and_writable,
                an_emptied_store_stays_empty_after_reopen,
                a_store_reopened_after_close_accepts_writes_and_keeps_old_ones,
                a_thousand_maps_survive_reopen,
            ],
        );
    };
}

/// Cases for backends kept in files.
#[allow(unused_macros)]
macro_rules! file_cases {
    ($h:ty) => {
        cases!($h;
            files: [
                an_unwritable_directory_is_an_io_error,
                a_directory_that_is_a_file_is_an_io_error,
                a_damaged_header_is_refused_as_corrupt,
                a_truncated_store_is_never_read_as_empty,
                a_garbage_file_is_refused_as_corrupt,
                an_emptied_file_is_refused_not_recreated,
                a_foreign_database_is_refused_as_corrupt,
                a_refused_open_leaves_the_files_as_they_were,
                an_intact_store_still_opens_after_a_refused_neighbour,
            ],
        );
    };
}

/// Cases for backends one holder opens at a time.
#[allow(unused_macros)]
macro_rules! locking_cases {
    ($h:ty) => {
        cases!($h;
            locking: [
                a_second_open_of_a_live_store_is_locked,
                a_refused_second_open_leaves_the_holder_working,
                the_store_opens_again_once_the_holder_closes,
                the_store_opens_again_once_the_holder_is_dropped,
            ],
        );
    };
}

/// Cases for backends that can fail their own storage on command.
#[allow(unused_macros)]
macro_rules! fault_cases {
    ($h:ty) => {
        cases!($h;
            faults: [
                a_failed_write_is_reported_and_nothing_acknowledged_is_lost,
                a_failed_batch_leaves_none_of_its_entries,
                the_store_takes_writes_again_after_a_reopen,
                many_acknowledged_writes_survive_a_failure_in_the_middle,
            ],
        );
    };
}

// ---------------------------------------------------------------------------
// The backends.

mod memory {
    core_cases!(crate::backends::memory::MemoryHarness);
}

mod redb {
    core_cases!(crate::backends::redb::RedbHarness);
    durable_cases!(crate::backends::redb::RedbHarness);
    file_cases!(crate::backends::redb::RedbHarness);
    locking_cases!(crate::backends::redb::RedbHarness);
    fault_cases!(crate::backends::redb::RedbHarness);
}

mod write_behind_memory {
    core_cases!(crate::backends::write_behind::WriteBehindMemoryHarness);
}

mod write_behind_redb {
    core_cases!(crate::backends::write_behind::WriteBehindRedbHarness);
    durable_cases!(crate::backends::write_behind::WriteBehindRedbHarness);
    file_cases!(crate::backends::write_behind::WriteBehindRedbHarness);
    locking_cases!(crate::backends::write_behind::WriteBehindRedbHarness);
}

#[cfg(feature = "lmdb")]
mod lmdb {
    core_cases!(crate::backends::lmdb::LmdbHarness);
    durable_cases!(crate::backends::lmdb::LmdbHarness);
    file_cases!(crate::backends::lmdb::LmdbHarness);
    locking_cases!(crate::backends::lmdb::LmdbHarness);
}

#[cfg(feature = "rocksdb")]
mod rocksdb {
    core_cases!(crate::backends::rocksdb::RocksDbHarness);
    durable_cases!(crate::backends::rocksdb::RocksDbHarness);
    file_cases!(crate::backends::rocksdb::RocksDbHarness);
    locking_cases!(crate::backends::rocksdb::RocksDbHarness);
}

#[cfg(feature = "postgres")]
mod postgres {
    core_cases!(crate::backends::postgres::PostgresHarness);
    durable_cases!(crate::backends::postgres::PostgresHarness);
}
