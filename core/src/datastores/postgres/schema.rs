//! The tables, the trigger and the index, the SQL of every read, and
//! `initialize` (docs/postgres.md, "What is stored where").
//!
//! Objects, for a table `t` (the name is validated and written unquoted, as
//! TopGun's TS adapter writes it, so PostgreSQL folds it to lower case):
//!
//! * `t`: TopGun's table, created with the TS adapter's own DDL when it is
//!   missing. This store adds two nullable columns: `tgs_record`, the exact
//!   copy (the whole record in the record format of
//!   [`format`](crate::datastores::format)), and `tgs_stamp`.
//! * `t_tgs_guard()` and its triggers `tgs_guard_insert` and
//!   `tgs_guard_update` on `t`: a row written without a new `tgs_stamp` (the
//!   TS adapter's INSERT and UPSERT, or any other SQL) loses its exact copy,
//!   so it is read as that writer wrote it. This store's writes set
//!   `tgs_stamp` to a new value every time.
//! * `t_tgs_key_order`: an index on `(map_name, key COLLATE "C")` for
//!   keyset scans in UTF-8 byte order (the primary key sorts by the
//!   database's collation).
//! * `t_tgs_extra`: the rows TopGun's table has no room for, keyed by bytes:
//!   the backup namespace (the TS table's primary key is `(map_name, key)`)
//!   and primary rows whose map name or key holds U+0000 (which `text`
//!   cannot hold, so no TS server can have written them).

use super::rows::{EXTRA_RECORD_COLUMNS, TS_RECORD_COLUMNS};
use crate::map_data_store::{DataStoreError, DataStoreErrorKind};
use tokio_postgres::GenericClient;

/// The version of the objects this store adds, kept as the comment of the
/// trigger function. A store refuses a table whose objects are newer.
pub(super) const SCHEMA_VERSION: u32 = 1;
const SCHEMA_COMMENT_PREFIX: &str = "topgun-storage schema ";

/// The columns of TopGun's TS table and their types, as `format_type` names
/// them.
const TS_COLUMNS: [(&str, &str); 7] = [
    ("map_name", "text"),
    ("key", "text"),
    ("value", "jsonb"),
    ("ts_millis", "bigint"),
    ("ts_counter", "integer"),
    ("ts_node_id", "text"),
    ("is_deleted", "boolean"),
];

/// The columns this store adds to it.
const ADDED_COLUMNS: [(&str, &str); 2] = [("tgs_record", "bytea"), ("tgs_stamp", "bigint")];

/// The columns of the extra table.
const EXTRA_COLUMNS: [(&str, &str); 4] = [
    ("is_backup", "boolean"),
    ("map_name", "bytea"),
    ("key", "bytea"),
    ("record", "bytea"),
];

/// Which table a statement reads: TopGun's (text keys) or the extra table
/// (bytea keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Table {
    /// TopGun's table.
    Ts,
    /// The extra table.
    Extra,
}

/// Every read's SQL text for one table, built once per store. Writes are
/// composed per batch (`batch.rs`).
#[derive(Debug)]
pub(super) struct Statements {
    pub table: String,
    pub extra_table: String,
    guard_function: String,
    key_order_index: String,
    /// `$1` map, `$2` key (text).
    pub load_ts: String,
    /// `$1` is_backup, `$2` map, `$3` key (bytea).
    pub load_extra: String,
    /// `$1` map, `$2` keys (text).
    pub load_all_ts: String,
    /// `$1` is_backup, `$2` map, `$3` keys (bytea).
    pub load_all_extra: String,
    /// Indexed by [`scan_index`].
    scan: Vec<String>,
    pub list_maps: String,
}

fn scan_index(table: Table, exclusive: bool, bounded: bool, with_records: bool) -> usize {
    usize::from(table == Table::Extra) * 8
        + usize::from(exclusive) * 4
        + usize::from(bounded) * 2
        + usize::from(with_records)
}

impl Statements {
    /// The statements for `table` (already validated).
    pub fn new(table: &str) -> Self {
        let t = table.to_owned();
        let x = format!("{table}_tgs_extra");
        let load_ts =
            format!("SELECT {TS_RECORD_COLUMNS} FROM {t} WHERE map_name = $1 AND key = $2");
        let load_extra = format!(
            "SELECT {EXTRA_RECORD_COLUMNS} FROM {x} \
             WHERE is_backup = $1 AND map_name = $2 AND key = $3"
        );
        let load_all_ts = format!(
            "SELECT key, {TS_RECORD_COLUMNS} FROM {t} \
             WHERE map_name = $1 AND key = ANY($2::text[])"
        );
        let load_all_extra = format!(
            "SELECT key, {EXTRA_RECORD_COLUMNS} FROM {x} \
             WHERE is_backup = $1 AND map_name = $2 AND key = ANY($3::bytea[])"
        );
        let mut scan = vec![String::new(); 16];
        for which in [Table::Ts, Table::Extra] {
            for exclusive in [false, true] {
                for bounded in [false, true] {
                    for with_records in [false, true] {
                        scan[scan_index(which, exclusive, bounded, with_records)] =
                            scan_sql(&t, &x, which, exclusive, bounded, with_records);
                    }
                }
            }
        }
        // Loose index scans: one index probe per map, not one row per key.
        let list_maps = format!(
            "WITH RECURSIVE \
             m0(name) AS ((SELECT map_name FROM {t} ORDER BY map_name LIMIT 1) UNION ALL \
               SELECT (SELECT map_name FROM {t} WHERE map_name > m0.name ORDER BY map_name LIMIT 1) \
               FROM m0 WHERE m0.name IS NOT NULL), \
             m1(b, name) AS ((SELECT is_backup, map_name FROM {x} ORDER BY is_backup, map_name LIMIT 1) \
               UNION ALL SELECT n.is_backup, n.map_name FROM m1, LATERAL ( \
                 SELECT is_backup, map_name FROM {x} WHERE (is_backup, map_name) > (m1.b, m1.name) \
                 ORDER BY is_backup, map_name LIMIT 1) n) \
             SELECT convert_to(name, 'UTF8') FROM m0 WHERE name IS NOT NULL \
             UNION ALL SELECT name FROM m1"
        );
        Self {
            guard_function: format!("{table}_tgs_guard"),
            key_order_index: format!("{table}_tgs_key_order"),
            table: t,
            extra_table: x,
            load_ts,
            load_extra,
            load_all_ts,
            load_all_extra,
            scan,
            list_maps,
        }
    }

    /// A scan page of one table: see [`scan_sql`] for the parameters.
    pub fn scan(&self, table: Table, exclusive: bool, bounded: bool, with_records: bool) -> &str {
        &self.scan[scan_index(table, exclusive, bounded, with_records)]
    }

    /// Creates whatever of the table, the added columns, the trigger, the
    /// index and the backup table is missing, in one transaction, under an
    /// advisory lock so that stores starting together do not race. When
    /// everything is there it changes nothing and takes no table lock, so it
    /// is cheap to run at every start next to a live TopGun TS server.
    ///
    /// # Errors
    ///
    /// [`Other`](DataStoreErrorKind::Other) when the server is older than
    /// PostgreSQL 11 or its encoding is not UTF8, when a table of that name
    /// exists without TopGun's TS columns (TopGun's Rust server, for one,
    /// uses the same default name with another layout), when the objects
    /// were made by a newer version of this store, or when the user may not
    /// alter the table (it must own it); plus the errors of any statement.
    pub async fn initialize(&self, client: &mut tokio_postgres::Client) -> Result<(), InitError> {
        let tx = client.transaction().await?;
        let row = tx
            .query_one(
                "SELECT current_setting('server_version_num')::int, \
                 current_setting('server_encoding')",
                &[],
            )
            .await?;
        let version: i32 = row.try_get(0)?;
        let encoding: String = row.try_get(1)?;
        if version < 110_000 {
            return Err(InitError::refused(format!(
                "the PostgreSQL data store needs PostgreSQL 11 or later; the server is version {version}"
            )));
        }
        if encoding != "UTF8" {
            return Err(InitError::refused(format!(
                "the PostgreSQL data store needs a database with the UTF8 encoding; this one uses {encoding}"
            )));
        }
        tx.execute(
            "SELECT pg_advisory_xact_lock(1952935795, hashtext(lower($1)))",
            &[&self.table],
        )
        .await?;

        let main = columns_of(&tx, &self.table).await?;
        if main.is_empty() {
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {} (\
                 map_name TEXT NOT NULL, key TEXT NOT NULL, value JSONB, \
                 ts_millis BIGINT NOT NULL, ts_counter INTEGER NOT NULL, ts_node_id TEXT NOT NULL, \
                 is_deleted BOOLEAN DEFAULT FALSE, PRIMARY KEY (map_name, key))",
                self.table
            ))
            .await?;
        } else {
            check_columns(&main, &TS_COLUMNS, &self.table, "TopGun's TS table", true)?;
            check_columns(&main, &ADDED_COLUMNS, &self.table, "usable", false)?;
            check_unique_key(&tx, &self.table).await?;
        }
        let missing: Vec<String> = ADDED_COLUMNS
            .iter()
            .filter(|(name, _)| !main.iter().any(|(n, _)| n == name))
            .map(|(name, ty)| format!("ADD COLUMN IF NOT EXISTS {name} {ty}"))
            .collect();
        if !missing.is_empty() {
            tx.batch_execute(&format!(
                "ALTER TABLE {} {}",
                self.table,
                missing.join(", ")
            ))
            .await?;
        }

        let comment: Option<String> = tx
            .query_one(
                "SELECT obj_description(to_regprocedure($1 || '()'), 'pg_proc')",
                &[&self.guard_function],
            )
            .await?
            .try_get(0)?;
        let installed = comment
            .as_deref()
            .and_then(|c| c.strip_prefix(SCHEMA_COMMENT_PREFIX))
            .and_then(|rest| rest.split(':').next())
            .and_then(|v| v.parse::<u32>().ok());
        if let Some(v) = installed.filter(|v| *v > SCHEMA_VERSION) {
            return Err(InitError::refused(format!(
                "table {} was prepared by a newer topgun-storage (schema {v}); this one knows schema {SCHEMA_VERSION}",
                self.table
            )));
        }
        if installed != Some(SCHEMA_VERSION) {
            tx.batch_execute(&self.guard_function_sql()).await?;
        }
        let triggers: Vec<String> = tx
            .query(
                "SELECT tgname::text FROM pg_trigger WHERE tgrelid = to_regclass($1) \
                 AND tgname IN ('tgs_guard_insert', 'tgs_guard_update') AND tgenabled <> 'D'",
                &[&self.table],
            )
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        // Missing, disabled or made for another version: recreate them.
        if triggers.len() != 2 || installed != Some(SCHEMA_VERSION) {
            tx.batch_execute(&self.guard_triggers_sql()).await?;
        }
        if !exists(&tx, &self.key_order_index).await? {
            tx.batch_execute(&format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} (map_name, key COLLATE \"C\")",
                self.key_order_index, self.table
            ))
            .await?;
        }
        let extra = columns_of(&tx, &self.extra_table).await?;
        if extra.is_empty() {
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {} (\
                 is_backup BOOLEAN NOT NULL, map_name BYTEA NOT NULL, key BYTEA NOT NULL, \
                 record BYTEA NOT NULL, PRIMARY KEY (is_backup, map_name, key))",
                self.extra_table
            ))
            .await?;
        } else {
            check_columns(
                &extra,
                &EXTRA_COLUMNS,
                &self.extra_table,
                "this store's extra table",
                true,
            )?;
        }
        tx.commit().await?;
        Ok(())
    }

    fn guard_function_sql(&self) -> String {
        format!(
            "CREATE OR REPLACE FUNCTION {f}() RETURNS trigger LANGUAGE plpgsql AS $tgs$ \
             BEGIN NEW.tgs_record := NULL; NEW.tgs_stamp := NULL; RETURN NEW; END $tgs$; \
             COMMENT ON FUNCTION {f}() IS '{SCHEMA_COMMENT_PREFIX}{SCHEMA_VERSION}: clears the \
             exact copy (tgs_record) of a row written without a new tgs_stamp, e.g. by TopGun''s \
             TS PostgresAdapter'",
            f = self.guard_function
        )
    }

    /// The two triggers that run the guard. Their `WHEN` conditions are
    /// checked without calling the function, so only a write that would
    /// leave a stale exact copy pays for it: a row inserted with an exact
    /// copy but no stamp, or updated with an exact copy and the stamp it had
    /// (the TS adapter's upsert of a row this store wrote). This store's
    /// writes (a new stamp) and the TS adapter's writes of its own rows (no
    /// exact copy) never call it.
    fn guard_triggers_sql(&self) -> String {
        format!(
            "DROP TRIGGER IF EXISTS tgs_guard_insert ON {t}; \
             DROP TRIGGER IF EXISTS tgs_guard_update ON {t}; \
             CREATE TRIGGER tgs_guard_insert BEFORE INSERT ON {t} FOR EACH ROW \
             WHEN (NEW.tgs_record IS NOT NULL AND NEW.tgs_stamp IS NULL) \
             EXECUTE PROCEDURE {f}(); \
             CREATE TRIGGER tgs_guard_update BEFORE UPDATE ON {t} FOR EACH ROW \
             WHEN (NEW.tgs_record IS NOT NULL AND NEW.tgs_stamp IS NOT DISTINCT FROM OLD.tgs_stamp) \
             EXECUTE PROCEDURE {f}()",
            t = self.table,
            f = self.guard_function
        )
    }
}

/// The SQL of one scan page of one table, keys in UTF-8 byte order: at
/// most `limit` keys of one map after a lower bound, in key order, served
/// by an index (`t_tgs_key_order` with `COLLATE "C"` for TopGun's table,
/// the primary key of bytes for the extra table).
///
/// [`Table::Ts`]: `$1` map, `$2` lower bound, [`$3` upper bound], limit
/// (text bounds). [`Table::Extra`]: `$1` is_backup, `$2` map, `$3` lower
/// bound, [`$4` upper bound], limit (bytea).
///
/// The lower bound is exclusive (`>`) when `exclusive` (resuming after a
/// key), else inclusive (`>=`, the prefix); the upper bound, when
/// `bounded`, is exclusive (the first string past the prefix). Keys only,
/// or keys with the record columns when `with_records`.
fn scan_sql(
    t: &str,
    x: &str,
    table: Table,
    exclusive: bool,
    bounded: bool,
    with_records: bool,
) -> String {
    let op = if exclusive { ">" } else { ">=" };
    let (from, filter, key, columns, first) = match table {
        Table::Ts => (
            t,
            "map_name = $1",
            "key COLLATE \"C\"",
            TS_RECORD_COLUMNS,
            2,
        ),
        Table::Extra => (
            x,
            "is_backup = $1 AND map_name = $2",
            "key",
            EXTRA_RECORD_COLUMNS,
            3,
        ),
    };
    let what = if with_records {
        format!("key, {columns}")
    } else {
        "key".to_owned()
    };
    let (upper, limit) = if bounded {
        (format!("AND {key} < ${} ", first + 1), first + 2)
    } else {
        (String::new(), first + 1)
    };
    format!(
        "SELECT {what} FROM {from} WHERE {filter} AND {key} {op} ${first} {upper}\
         ORDER BY {key} LIMIT ${limit}"
    )
}

/// Why `initialize` failed: a statement failed, or the database is not one
/// this store can use.
#[derive(Debug)]
pub(super) enum InitError {
    Sql(tokio_postgres::Error),
    Refused(DataStoreError),
}

impl InitError {
    fn refused(message: String) -> Self {
        InitError::Refused(DataStoreError::new(DataStoreErrorKind::Other, message))
    }
}

impl From<tokio_postgres::Error> for InitError {
    fn from(e: tokio_postgres::Error) -> Self {
        InitError::Sql(e)
    }
}

async fn columns_of(
    client: &impl GenericClient,
    table: &str,
) -> Result<Vec<(String, String)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
            &[&table],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

async fn exists(
    client: &impl GenericClient,
    relation: &str,
) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&relation])
        .await?;
    row.try_get(0)
}

/// Checks that the columns of `want` that `table` has (all of them when
/// `required`) have the expected types.
fn check_columns(
    have: &[(String, String)],
    want: &[(&str, &str)],
    table: &str,
    what: &str,
    required: bool,
) -> Result<(), InitError> {
    for (name, ty) in want {
        let problem = match have.iter().find(|(n, _)| n == name) {
            Some((_, t)) if t == ty => continue,
            Some((_, t)) => format!("column {name} is {t}, expected {ty}"),
            None if required => format!("it has no column {name}"),
            None => continue,
        };
        return Err(InitError::refused(format!(
            "table {table} exists but is not {what}: {problem} (a table of TopGun's Rust \
             server, or of another program? choose another table name)"
        )));
    }
    Ok(())
}

async fn check_unique_key(client: &impl GenericClient, table: &str) -> Result<(), InitError> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass($1) \
             AND i.indisunique AND i.indnkeyatts = 2 AND ( \
             SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a \
             WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[])) \
             = ARRAY['key', 'map_name'])",
            &[&table],
        )
        .await?;
    if row.try_get(0)? {
        Ok(())
    } else {
        Err(InitError::refused(format!(
            "table {table} has TopGun's columns but no primary key or unique index on \
             (map_name, key), which its upserts need"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_statements_pick_the_table_the_bounds_and_the_columns() {
        let s = Statements::new("maps");
        assert_eq!(
            s.scan(Table::Extra, true, true, false),
            "SELECT key FROM maps_tgs_extra WHERE is_backup = $1 AND map_name = $2 AND key > $3 \
             AND key < $4 ORDER BY key LIMIT $5"
        );
        assert_eq!(
            s.scan(Table::Ts, true, true, false),
            "SELECT key FROM maps WHERE map_name = $1 AND key COLLATE \"C\" > $2 \
             AND key COLLATE \"C\" < $3 ORDER BY key COLLATE \"C\" LIMIT $4"
        );
        let q = s.scan(Table::Ts, false, false, true);
        assert!(q.starts_with("SELECT key, tgs_record, CASE"), "{q}");
        assert!(
            q.ends_with("key COLLATE \"C\" >= $2 ORDER BY key COLLATE \"C\" LIMIT $3"),
            "{q}"
        );
        let q = s.scan(Table::Extra, false, false, true);
        assert!(
            q.contains("NULL::bool") && q.ends_with(">= $3 ORDER BY key LIMIT $4"),
            "{q}"
        );
        let all: std::collections::HashSet<&String> = s.scan.iter().collect();
        assert_eq!(all.len(), 16, "every variant is distinct");
    }
}
