//! The tables, the trigger and the index, the SQL of every call, and
//! `initialize` (docs/postgres.md, "What is stored where").
//!
//! Objects, for a table `t` (the name is validated and written unquoted, as
//! TopGun's TS adapter writes it, so PostgreSQL folds it to lower case):
//!
//! * `t`: TopGun's table, created with the TS adapter's own DDL when it is
//!   missing; this store adds the nullable columns `tgs_record` (the record
//!   as canonical MessagePack), `tgs_expiration_time`,
//!   `tgs_max_idle_millis`, `tgs_write_time` and `tgs_stamp`.
//! * `t_tgs_guard()` and its trigger `tgs_guard` on `t`: a row written
//!   without a new `tgs_stamp` (the TS adapter's INSERT and UPSERT, or any
//!   other SQL) loses its exact copy, so it is read as that writer wrote it.
//!   This store's writes set `tgs_stamp` to a new value every time.
//! * `t_tgs_key_order`: an index on `(map_name, key COLLATE "C")` for
//!   keyset scans in UTF-8 byte order (the primary key sorts by the
//!   database's collation).
//! * `t_tgs_backup`: the backup namespace, which TopGun's table has no room
//!   for (its primary key is `(map_name, key)`); exact copies only.

use super::rows::{BACKUP_RECORD_COLUMNS, PRIMARY_RECORD_COLUMNS};
use crate::map_data_store::{DataStoreError, DataStoreErrorKind, Namespace};
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
const EXACT_COLUMNS: [(&str, &str); 5] = [
    ("tgs_record", "bytea"),
    ("tgs_expiration_time", "bigint"),
    ("tgs_max_idle_millis", "bigint"),
    ("tgs_write_time", "bigint"),
    ("tgs_stamp", "bigint"),
];

/// The columns of the backup table.
const BACKUP_COLUMNS: [(&str, &str); 6] = [
    ("map_name", "text"),
    ("key", "text"),
    ("record", "bytea"),
    ("expiration_time", "bigint"),
    ("max_idle_millis", "bigint"),
    ("write_time", "bigint"),
];

/// Every SQL text of one table, built once per store.
#[derive(Debug)]
pub(super) struct Statements {
    pub table: String,
    pub backup_table: String,
    guard_function: String,
    key_order_index: String,
    load: [String; 2],
    load_all: [String; 2],
    put: [String; 2],
    remove: [String; 2],
    put_and_remove: [String; 2],
    /// Indexed by [`scan_index`].
    scan: Vec<String>,
    pub list_maps: String,
}

fn ns(namespace: Namespace) -> usize {
    match namespace {
        Namespace::Primary => 0,
        Namespace::Backup => 1,
    }
}

fn scan_index(namespace: Namespace, exclusive: bool, bounded: bool, with_records: bool) -> usize {
    ns(namespace) * 8
        + usize::from(exclusive) * 4
        + usize::from(bounded) * 2
        + usize::from(with_records)
}

impl Statements {
    /// The statements for `table` (already validated).
    pub fn new(table: &str) -> Self {
        let t = table.to_owned();
        let b = format!("{table}_tgs_backup");
        let tables = [t.as_str(), b.as_str()];
        let columns = [PRIMARY_RECORD_COLUMNS, BACKUP_RECORD_COLUMNS];
        let load = [0, 1].map(|i| {
            format!(
                "SELECT {} FROM {} WHERE map_name = $1 AND key = $2",
                columns[i], tables[i]
            )
        });
        let load_all = [0, 1].map(|i| {
            format!(
                "SELECT key, {} FROM {} WHERE map_name = $1 AND key = ANY($2::text[])",
                columns[i], tables[i]
            )
        });
        // Keys arrive sorted, so concurrent batches lock rows in one order.
        let put_primary = format!(
            "INSERT INTO {t} AS cur (map_name, key, value, ts_millis, ts_counter, ts_node_id, \
             is_deleted, tgs_record, tgs_expiration_time, tgs_max_idle_millis, tgs_write_time, \
             tgs_stamp) \
             SELECT $1, u.key, u.value::jsonb, u.ts_millis, u.ts_counter, u.ts_node_id, \
             u.is_deleted, u.record, u.expiration_time, u.max_idle_millis, u.write_time, 0 \
             FROM UNNEST($2::text[], $3::bytea[], $4::int8[], $5::int8[], $6::int8[], \
             $7::text[], $8::int8[], $9::int4[], $10::text[], $11::bool[]) \
             AS u(key, record, expiration_time, max_idle_millis, write_time, value, ts_millis, \
             ts_counter, ts_node_id, is_deleted) \
             ON CONFLICT (map_name, key) DO UPDATE SET value = EXCLUDED.value, \
             ts_millis = EXCLUDED.ts_millis, ts_counter = EXCLUDED.ts_counter, \
             ts_node_id = EXCLUDED.ts_node_id, is_deleted = EXCLUDED.is_deleted, \
             tgs_record = EXCLUDED.tgs_record, tgs_expiration_time = EXCLUDED.tgs_expiration_time, \
             tgs_max_idle_millis = EXCLUDED.tgs_max_idle_millis, \
             tgs_write_time = EXCLUDED.tgs_write_time, tgs_stamp = COALESCE(cur.tgs_stamp, 0) + 1"
        );
        let put_backup = format!(
            "INSERT INTO {b} AS cur (map_name, key, record, expiration_time, max_idle_millis, \
             write_time) \
             SELECT $1, u.key, u.record, u.expiration_time, u.max_idle_millis, u.write_time \
             FROM UNNEST($2::text[], $3::bytea[], $4::int8[], $5::int8[], $6::int8[]) \
             AS u(key, record, expiration_time, max_idle_millis, write_time) \
             ON CONFLICT (map_name, key) DO UPDATE SET record = EXCLUDED.record, \
             expiration_time = EXCLUDED.expiration_time, \
             max_idle_millis = EXCLUDED.max_idle_millis, write_time = EXCLUDED.write_time"
        );
        let put = [put_primary, put_backup];
        // The removed keys are the last parameter of the combined statement.
        let remove = [0, 1].map(|i| {
            format!(
                "DELETE FROM {} WHERE map_name = $1 AND key = ANY($2::text[])",
                tables[i]
            )
        });
        let put_and_remove = [0, 1].map(|i| {
            let last = if i == 0 { 12 } else { 7 };
            format!(
                "WITH removed AS (DELETE FROM {} WHERE map_name = $1 AND key = ANY(${last}::text[])) {}",
                tables[i], put[i]
            )
        });
        let mut scan = vec![String::new(); 16];
        for namespace in Namespace::ALL {
            for exclusive in [false, true] {
                for bounded in [false, true] {
                    for with_records in [false, true] {
                        let i = ns(namespace);
                        let what = if with_records {
                            format!("key, {}", columns[i])
                        } else {
                            "key".to_owned()
                        };
                        let lower = if exclusive { ">" } else { ">=" };
                        let upper = if bounded {
                            "AND key COLLATE \"C\" < $3 "
                        } else {
                            ""
                        };
                        let limit = if bounded { "$4" } else { "$3" };
                        scan[scan_index(namespace, exclusive, bounded, with_records)] = format!(
                            "SELECT {what} FROM {} WHERE map_name = $1 AND key COLLATE \"C\" {lower} $2 \
                             {upper}ORDER BY key COLLATE \"C\" LIMIT {limit}",
                            tables[i]
                        );
                    }
                }
            }
        }
        // A loose index scan: one index probe per map, not one row per key.
        let distinct = |table: &str| {
            format!(
                "(SELECT map_name FROM {table} ORDER BY map_name LIMIT 1) UNION ALL \
                 SELECT (SELECT map_name FROM {table} WHERE map_name > m.name ORDER BY map_name LIMIT 1) \
                 FROM m_{table} m WHERE m.name IS NOT NULL"
            )
        };
        let list_maps = format!(
            "WITH RECURSIVE m_{t}(name) AS ({}), m_{b}(name) AS ({}) \
             SELECT name FROM m_{t} WHERE name IS NOT NULL UNION \
             SELECT name FROM m_{b} WHERE name IS NOT NULL",
            distinct(&t),
            distinct(&b)
        );
        Self {
            guard_function: format!("{table}_tgs_guard"),
            key_order_index: format!("{table}_tgs_key_order"),
            table: t,
            backup_table: b,
            load,
            load_all,
            put,
            remove,
            put_and_remove,
            scan,
            list_maps,
        }
    }

    pub fn table_of(&self, namespace: Namespace) -> &str {
        match namespace {
            Namespace::Primary => &self.table,
            Namespace::Backup => &self.backup_table,
        }
    }

    pub fn load(&self, namespace: Namespace) -> &str {
        &self.load[ns(namespace)]
    }

    pub fn load_all(&self, namespace: Namespace) -> &str {
        &self.load_all[ns(namespace)]
    }

    pub fn put(&self, namespace: Namespace) -> &str {
        &self.put[ns(namespace)]
    }

    pub fn remove(&self, namespace: Namespace) -> &str {
        &self.remove[ns(namespace)]
    }

    pub fn put_and_remove(&self, namespace: Namespace) -> &str {
        &self.put_and_remove[ns(namespace)]
    }

    /// The scan of one namespace: keys `> $2` (`exclusive`) or `>= $2`,
    /// below `$3` when `bounded`, at most the last parameter of them.
    pub fn scan(
        &self,
        namespace: Namespace,
        exclusive: bool,
        bounded: bool,
        with_records: bool,
    ) -> &str {
        &self.scan[scan_index(namespace, exclusive, bounded, with_records)]
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
            check_columns(&main, &EXACT_COLUMNS, &self.table, "usable", false)?;
            check_unique_key(&tx, &self.table).await?;
        }
        let missing: Vec<String> = EXACT_COLUMNS
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
        let trigger: Option<String> = tx
            .query_opt(
                "SELECT tgenabled::text FROM pg_trigger \
                 WHERE tgrelid = to_regclass($1) AND tgname = 'tgs_guard'",
                &[&self.table],
            )
            .await?
            .map(|row| row.try_get(0))
            .transpose()?;
        // Missing, disabled ('D') or made for another version: recreate it.
        if trigger.is_none_or(|enabled| enabled == "D") || installed != Some(SCHEMA_VERSION) {
            tx.batch_execute(&format!(
                "DROP TRIGGER IF EXISTS tgs_guard ON {t}; \
                 CREATE TRIGGER tgs_guard BEFORE INSERT OR UPDATE ON {t} \
                 FOR EACH ROW EXECUTE PROCEDURE {f}()",
                t = self.table,
                f = self.guard_function
            ))
            .await?;
        }
        if !exists(&tx, &self.key_order_index).await? {
            tx.batch_execute(&format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} (map_name, key COLLATE \"C\")",
                self.key_order_index, self.table
            ))
            .await?;
        }
        let backup = columns_of(&tx, &self.backup_table).await?;
        if backup.is_empty() {
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {} (\
                 map_name TEXT COLLATE \"C\" NOT NULL, key TEXT COLLATE \"C\" NOT NULL, \
                 record BYTEA NOT NULL, expiration_time BIGINT NOT NULL, \
                 max_idle_millis BIGINT NOT NULL, write_time BIGINT NOT NULL, \
                 PRIMARY KEY (map_name, key))",
                self.backup_table
            ))
            .await?;
        } else {
            check_columns(
                &backup,
                &BACKUP_COLUMNS,
                &self.backup_table,
                "this store's backup table",
                true,
            )?;
        }
        tx.commit().await?;
        Ok(())
    }

    fn guard_function_sql(&self) -> String {
        format!(
            "CREATE OR REPLACE FUNCTION {f}() RETURNS trigger LANGUAGE plpgsql AS $tgs$ \
             BEGIN \
               IF TG_OP = 'INSERT' THEN \
                 IF NEW.tgs_stamp IS NULL THEN \
                   NEW.tgs_record := NULL; NEW.tgs_expiration_time := NULL; \
                   NEW.tgs_max_idle_millis := NULL; NEW.tgs_write_time := NULL; \
                 END IF; \
               ELSIF NEW.tgs_stamp IS NOT DISTINCT FROM OLD.tgs_stamp THEN \
                 NEW.tgs_record := NULL; NEW.tgs_expiration_time := NULL; \
                 NEW.tgs_max_idle_millis := NULL; NEW.tgs_write_time := NULL; \
                 NEW.tgs_stamp := NULL; \
               END IF; \
               RETURN NEW; \
             END $tgs$; \
             COMMENT ON FUNCTION {f}() IS '{SCHEMA_COMMENT_PREFIX}{SCHEMA_VERSION}: clears the \
             exact copy (tgs_*) of a row written without a new tgs_stamp, e.g. by TopGun''s TS \
             PostgresAdapter'",
            f = self.guard_function
        )
    }
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
    fn scan_statements_pick_the_bound_and_the_columns() {
        let s = Statements::new("maps");
        let q = s.scan(Namespace::Primary, true, true, false);
        assert_eq!(
            q,
            "SELECT key FROM maps WHERE map_name = $1 AND key COLLATE \"C\" > $2 \
             AND key COLLATE \"C\" < $3 ORDER BY key COLLATE \"C\" LIMIT $4"
        );
        let q = s.scan(Namespace::Backup, false, false, true);
        assert!(q.starts_with("SELECT key, record, NULL::text"), "{q}");
        assert!(q.contains("FROM maps_tgs_backup WHERE"), "{q}");
        assert!(
            q.contains(">= $2 ORDER BY") && q.ends_with("LIMIT $3"),
            "{q}"
        );
        let all: std::collections::HashSet<&String> = s.scan.iter().collect();
        assert_eq!(all.len(), 16, "every variant is distinct");
    }

    #[test]
    fn the_combined_statement_binds_the_removed_keys_last() {
        let s = Statements::new("maps");
        assert!(s
            .put_and_remove(Namespace::Primary)
            .contains("ANY($12::text[])"));
        assert!(s.put(Namespace::Primary).contains("$11::bool[]"));
        assert!(s
            .put_and_remove(Namespace::Backup)
            .contains("ANY($7::text[])"));
        assert!(s.put(Namespace::Backup).contains("$6::int8[]"));
    }
}
