//! A durable store's description: the data-store fields of
//! `storage_options_t` become a core `DataStoreSpec`, which owns every
//! name, default and check (so C opens what Python and Node open for the
//! same words).

use crate::error::Failure;
use crate::raw;
use crate::types::storage_options_t;
use std::sync::Arc;
use topgun_storage_core::{BackendKind, DataStoreSpec, Durability, MapDataStore};

/// The map a durable store keeps its records under when the options name
/// none: the map of `DefaultRecordStore::standalone`, which the Python and
/// Node `Storage` use too.
const DEFAULT_MAP: &str = "default";

/// What a durable handle is built over.
pub(crate) struct Durable {
    /// The map its records live under in the data store.
    pub(crate) map_name: String,
    /// The open data store.
    pub(crate) data_store: Arc<dyn MapDataStore>,
}

fn durability(o: &storage_options_t) -> Result<Option<Durability>, Failure> {
    Ok(match o.durability {
        0 => None,
        1 => Some(Durability::Fsync),
        2 => Some(Durability::Os),
        3 => Some(Durability::None),
        other => {
            return Err(Failure::invalid(format!(
                "options.durability is {other}; use a storage_durability_t value (0-3)"
            )))
        }
    })
}

/// Opens the data store the options describe, or `None` when they
/// describe none (no `backend`, no `location`: a store in memory only).
/// Blocks for the open (a file lock, a log replay, a PostgreSQL connect).
///
/// # Errors
/// `STORAGE_INVALID_ARGUMENT` for the struct's own fields (a number out of
/// range, text that is not UTF-8, data-store fields without a data store),
/// `STORAGE_NULL_POINTER` for a NULL option name or value, and whatever the
/// data store reports: `STORAGE_REJECTED` for a description it refuses
/// (unknown backend or option, a value that does not parse),
/// `STORAGE_LOCKED`, `STORAGE_CORRUPT`, `STORAGE_IO`, `STORAGE_UNAVAILABLE`
/// when it cannot open.
pub(crate) fn data_store_from(o: &storage_options_t) -> Result<Option<Durable>, Failure> {
    let backend = raw::text_opt(o.backend, "options.backend")?;
    let location = raw::text_opt(o.location, "options.location")?;
    let map_name = raw::text_opt(o.map_name, "options.map_name")?;
    let extras = raw::option_list(o.extra_options, o.extra_options_len)?;
    let durability = durability(o)?;
    let write_behind = match o.write_behind {
        0 => false,
        1 => true,
        other => {
            return Err(Failure::invalid(format!(
                "options.write_behind is {other}; use 0 or 1"
            )))
        }
    };
    if backend.is_none() && location.is_none() {
        if durability.is_some() || write_behind || map_name.is_some() || !extras.is_empty() {
            return Err(Failure::invalid(
                "options.durability, write_behind, map_name and extra_options describe a \
                 data store: set options.location (and options.backend) too, or leave them zero",
            ));
        }
        return Ok(None);
    }
    let map_name = map_name.unwrap_or(DEFAULT_MAP);
    if map_name.is_empty() {
        return Err(Failure::invalid(
            "options.map_name is \"\"; name a map or leave it NULL (\"default\")",
        ));
    }
    let location = location.unwrap_or_default();
    let mut spec = match backend {
        Some(name) => DataStoreSpec::parse(name, location)?,
        None => DataStoreSpec::new(BackendKind::default(), location)?,
    };
    if let Some(level) = durability {
        spec = spec.with_durability(level);
    }
    if write_behind {
        spec.set("write_behind", "true")?;
    }
    for (i, option) in extras.iter().enumerate() {
        let name = raw::text(option.name, &format!("options.extra_options[{i}].name"))?;
        let value = raw::text(option.value, &format!("options.extra_options[{i}].value"))?;
        spec.set(name, value)?;
    }
    Ok(Some(Durable {
        map_name: map_name.to_owned(),
        data_store: spec.open()?,
    }))
}
