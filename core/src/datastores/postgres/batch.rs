//! A write batch: validated and encoded on the caller's thread, then one
//! SQL statement (so one transaction) of up to four parts, each a multi-row
//! statement over arrays expanded with `UNNEST`.

use super::rows::{exact_copy, TsColumns};
use super::schema::Statements;
use crate::map_data_store::{
    DataStoreError, DataStoreErrorKind, DataStoreResult, Namespace, WriteOp,
};
use tokio_postgres::types::ToSql;

/// The longest map name a write accepts, in bytes.
pub const MAX_MAP_NAME_LEN: usize = 512;

/// The longest key a write accepts, in bytes. With a map name of at most
/// [`MAX_MAP_NAME_LEN`] bytes, every index entry then fits PostgreSQL's
/// btree limit (2704 bytes) whatever the text, so a write is refused or
/// stored by this rule alone, never by how well the key compresses.
pub const MAX_KEY_LEN: usize = 2048;

/// One batch of puts and removes of one map and namespace, owned so it can
/// move to the store's runtime.
pub(super) struct Batch {
    map: String,
    map_bytes: Vec<u8>,
    is_backup: bool,
    /// TopGun's table: puts (keys, exact copies, TS columns) and removes.
    ts_keys: Vec<String>,
    ts_records: Vec<Vec<u8>>,
    ts: TsColumns,
    ts_removes: Vec<String>,
    /// The extra table: puts and removes.
    extra_keys: Vec<Vec<u8>>,
    extra_records: Vec<Vec<u8>>,
    extra_removes: Vec<Vec<u8>>,
}

fn rejected(message: String) -> DataStoreError {
    DataStoreError::new(
        DataStoreErrorKind::Rejected,
        format!("{message}; nothing was written"),
    )
}

/// Whether TopGun's table can hold `map`'s rows of `namespace`: primary
/// rows of a map whose name has no U+0000.
pub(super) fn ts_table_holds(map: &str, namespace: Namespace) -> bool {
    namespace == Namespace::Primary && !map.contains('\0')
}

impl Batch {
    /// The batch that leaves each key as the last of its ops leaves it
    /// (ops apply in order), in key order, so that concurrent batches lock
    /// rows in one order.
    ///
    /// # Errors
    ///
    /// [`Rejected`](DataStoreErrorKind::Rejected), before anything is sent,
    /// for a map name over [`MAX_MAP_NAME_LEN`] bytes, a key over
    /// [`MAX_KEY_LEN`] bytes, or a value over 4 GiB.
    pub fn new(map: &str, namespace: Namespace, ops: &[WriteOp<'_>]) -> DataStoreResult<Self> {
        if map.len() > MAX_MAP_NAME_LEN {
            return Err(rejected(format!(
                "the map name has {} bytes; PostgreSQL's index holds at most {MAX_MAP_NAME_LEN}",
                map.len()
            )));
        }
        let mut order: Vec<usize> = (0..ops.len()).collect();
        order.sort_by(|&a, &b| ops[a].key().cmp(ops[b].key()).then(a.cmp(&b)));
        let mut last: Vec<&WriteOp<'_>> = Vec::with_capacity(ops.len());
        for &i in &order {
            match last.last_mut() {
                Some(prev) if prev.key() == ops[i].key() => *prev = &ops[i],
                _ => last.push(&ops[i]),
            }
        }
        let in_ts = ts_table_holds(map, namespace);
        let mut batch = Batch {
            map: map.to_owned(),
            map_bytes: map.as_bytes().to_vec(),
            is_backup: namespace == Namespace::Backup,
            ts_keys: Vec::new(),
            ts_records: Vec::new(),
            ts: TsColumns::default(),
            ts_removes: Vec::new(),
            extra_keys: Vec::new(),
            extra_records: Vec::new(),
            extra_removes: Vec::new(),
        };
        for op in last {
            let key = op.key();
            if key.len() > MAX_KEY_LEN {
                return Err(rejected(format!(
                    "a key has {} bytes; PostgreSQL's index holds at most {MAX_KEY_LEN}",
                    key.len()
                )));
            }
            let ts_row = in_ts && !key.contains('\0');
            match (op, ts_row) {
                (WriteOp::Put { record, .. }, true) => {
                    batch.ts.push(&record.value);
                    batch.ts_keys.push(key.to_owned());
                    batch.ts_records.push(exact_copy(record)?);
                }
                (WriteOp::Put { record, .. }, false) => {
                    batch.extra_keys.push(key.as_bytes().to_vec());
                    batch.extra_records.push(exact_copy(record)?);
                }
                (WriteOp::Remove { .. }, true) => batch.ts_removes.push(key.to_owned()),
                (WriteOp::Remove { .. }, false) => {
                    batch.extra_removes.push(key.as_bytes().to_vec())
                }
            }
        }
        Ok(batch)
    }

    /// The one statement that applies the batch, with its parameters: each
    /// part that has rows, the last as the main statement and the others as
    /// data-modifying `WITH` clauses (keys are distinct across parts, so
    /// their order does not matter). A part of one row binds scalars and a
    /// part of several binds arrays expanded with `UNNEST` (or `= ANY`).
    pub fn statement<'a>(&'a self, sql: &Statements) -> (String, Vec<&'a (dyn ToSql + Sync)>) {
        let (t, x) = (&sql.table, &sql.extra_table);
        let mut binder = Binder::default();
        let uses_ts = !self.ts_keys.is_empty() || !self.ts_removes.is_empty();
        let uses_extra = !self.extra_keys.is_empty() || !self.extra_removes.is_empty();
        let map = if uses_ts {
            binder.bind(&self.map, "text")
        } else {
            String::new()
        };
        let (is_backup, map_bytes) = if uses_extra {
            (
                binder.bind(&self.is_backup, "bool"),
                binder.bind(&self.map_bytes, "bytea"),
            )
        } else {
            (String::new(), String::new())
        };
        let mut parts: Vec<String> = Vec::with_capacity(4);
        if !self.ts_removes.is_empty() {
            let keys = binder.keys(&self.ts_removes, "text");
            parts.push(format!(
                "DELETE FROM {t} WHERE map_name = {map} AND key {keys}"
            ));
        }
        if !self.extra_removes.is_empty() {
            let keys = binder.keys(&self.extra_removes, "bytea");
            parts.push(format!(
                "DELETE FROM {x} WHERE is_backup = {is_backup} AND map_name = {map_bytes} \
                 AND key {keys}"
            ));
        }
        if !self.extra_keys.is_empty() {
            let rows = binder.rows(
                self.extra_keys.len(),
                &[
                    (&self.extra_keys, &self.extra_keys[0], "bytea"),
                    (&self.extra_records, &self.extra_records[0], "bytea"),
                ],
            );
            let source = match rows {
                Rows::One(c) => format!("VALUES ({is_backup}, {map_bytes}, {}, {})", c[0], c[1]),
                Rows::Many(c) => format!(
                    "SELECT {is_backup}, {map_bytes}, u.key, u.record \
                     FROM UNNEST({}) AS u(key, record)",
                    c.join(", ")
                ),
            };
            parts.push(format!(
                "INSERT INTO {x} AS cur (is_backup, map_name, key, record) {source} \
                 ON CONFLICT (is_backup, map_name, key) DO UPDATE SET record = EXCLUDED.record"
            ));
        }
        if !self.ts_keys.is_empty() {
            let ts = &self.ts;
            let rows = binder.rows(
                self.ts_keys.len(),
                &[
                    (&self.ts_keys, &self.ts_keys[0], "text"),
                    (&self.ts_records, &self.ts_records[0], "bytea"),
                    (&ts.values, &ts.values[0], "text"),
                    (&ts.ts_millis, &ts.ts_millis[0], "int8"),
                    (&ts.ts_counters, &ts.ts_counters[0], "int4"),
                    (&ts.ts_node_ids, &ts.ts_node_ids[0], "text"),
                    (&ts.is_deleted, &ts.is_deleted[0], "bool"),
                ],
            );
            let source = match rows {
                Rows::One(c) => format!(
                    "VALUES ({map}, {}, {}::jsonb, {}, {}, {}, {}, {}, 0)",
                    c[0], c[2], c[3], c[4], c[5], c[6], c[1]
                ),
                Rows::Many(c) => format!(
                    "SELECT {map}, u.key, u.value::jsonb, u.ts_millis, u.ts_counter, \
                     u.ts_node_id, u.is_deleted, u.record, 0 FROM UNNEST({}) \
                     AS u(key, record, value, ts_millis, ts_counter, ts_node_id, is_deleted)",
                    c.join(", ")
                ),
            };
            // The columns the TS adapter writes, as it writes them, plus the
            // exact copy and a new stamp (which keeps the trigger from
            // clearing the copy).
            parts.push(format!(
                "INSERT INTO {t} AS cur (map_name, key, value, ts_millis, ts_counter, ts_node_id, \
                 is_deleted, tgs_record, tgs_stamp) {source} \
                 ON CONFLICT (map_name, key) DO UPDATE SET value = EXCLUDED.value, \
                 ts_millis = EXCLUDED.ts_millis, ts_counter = EXCLUDED.ts_counter, \
                 ts_node_id = EXCLUDED.ts_node_id, is_deleted = EXCLUDED.is_deleted, \
                 tgs_record = EXCLUDED.tgs_record, tgs_stamp = COALESCE(cur.tgs_stamp, 0) + 1"
            ));
        }
        let main = parts.pop().unwrap_or_default();
        let text = if parts.is_empty() {
            main
        } else {
            let with: Vec<String> = parts
                .iter()
                .enumerate()
                .map(|(i, part)| format!("p{i} AS ({part})"))
                .collect();
            format!("WITH {} {main}", with.join(", "))
        };
        (text, binder.params)
    }
}

/// The parameters of a statement being written, numbered as they are bound.
#[derive(Default)]
struct Binder<'a> {
    params: Vec<&'a (dyn ToSql + Sync)>,
}

/// The placeholders of a part's columns: one row of scalars, or arrays.
enum Rows {
    One(Vec<String>),
    Many(Vec<String>),
}

/// One column of a part: all its values, its first value, its SQL type.
type Column<'a> = (&'a (dyn ToSql + Sync), &'a (dyn ToSql + Sync), &'static str);

impl<'a> Binder<'a> {
    /// Binds `value` and returns its placeholder with a cast, e.g. `$3::text`.
    fn bind(&mut self, value: &'a (dyn ToSql + Sync), ty: &str) -> String {
        self.params.push(value);
        format!("${}::{ty}", self.params.len())
    }

    /// The key condition of a delete: `= $n` for one key, `= ANY($n)` for
    /// several.
    fn keys<T: ToSql + Sync>(&mut self, keys: &'a Vec<T>, ty: &str) -> String {
        match keys.as_slice() {
            [one] => format!("= {}", self.bind(one, ty)),
            _ => format!("= ANY({})", self.bind(keys, &format!("{ty}[]"))),
        }
    }

    /// Binds the columns of a part of `n` rows: their first values when
    /// there is one row, else the whole arrays.
    fn rows(&mut self, n: usize, columns: &[Column<'a>]) -> Rows {
        if n == 1 {
            Rows::One(
                columns
                    .iter()
                    .map(|&(_, first, ty)| self.bind(first, ty))
                    .collect(),
            )
        } else {
            Rows::Many(
                columns
                    .iter()
                    .map(|&(all, _, ty)| self.bind(all, &format!("{ty}[]")))
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map_data_store::StoredRecord;
    use crate::record::{RecordValue, Timestamp};

    fn r(v: &str) -> StoredRecord {
        StoredRecord::new(RecordValue::lww(v, Timestamp::new(1, 0, "n")), 1)
    }

    #[test]
    fn a_batch_keeps_the_last_op_of_each_key_in_key_order() {
        let (a, b) = (r("a"), r("b"));
        let ops = [
            WriteOp::Put {
                key: "z",
                record: &a,
            },
            WriteOp::Put {
                key: "k",
                record: &a,
            },
            WriteOp::Remove { key: "k" },
            WriteOp::Remove { key: "z" },
            WriteOp::Put {
                key: "z",
                record: &b,
            },
            WriteOp::Remove { key: "m" },
            WriteOp::Put {
                key: "n\0",
                record: &a,
            },
        ];
        let batch = Batch::new("map", Namespace::Primary, &ops).unwrap();
        assert_eq!(batch.ts_keys, ["z"]);
        assert_eq!(batch.ts.values, ["\"b\""]);
        assert_eq!(batch.ts_removes, ["k", "m"]);
        assert_eq!(batch.extra_keys, [b"n\0".to_vec()]);
        let backup = Batch::new("map", Namespace::Backup, &ops).unwrap();
        assert!(backup.ts_keys.is_empty() && backup.ts.values.is_empty());
        assert_eq!(backup.extra_keys, [b"n\0".to_vec(), b"z".to_vec()]);
        assert_eq!(backup.extra_removes, [b"k".to_vec(), b"m".to_vec()]);
        let nul_map = Batch::new("m\0", Namespace::Primary, &ops).unwrap();
        assert!(nul_map.ts_keys.is_empty() && nul_map.ts_removes.is_empty());
        assert_eq!(nul_map.extra_keys.len(), 2);
    }

    #[test]
    fn the_statement_has_one_part_per_kind_of_row_and_binds_what_it_uses() {
        let sql = Statements::new("t");
        let a = r("a");
        let only_put = Batch::new(
            "m",
            Namespace::Primary,
            &[WriteOp::Put {
                key: "k",
                record: &a,
            }],
        )
        .unwrap();
        let (text, params) = only_put.statement(&sql);
        assert!(text.starts_with("INSERT INTO t AS cur"), "{text}");
        assert!(
            text.contains("VALUES ($1::text, $2::text, $4::text::jsonb, $5::int8"),
            "{text}"
        );
        assert_eq!(params.len(), 8, "map and seven columns");
        let mixed = [
            WriteOp::Put {
                key: "k",
                record: &a,
            },
            WriteOp::Remove { key: "j" },
            WriteOp::Put {
                key: "k\0",
                record: &a,
            },
            WriteOp::Remove { key: "j\0" },
        ];
        let batch = Batch::new("m", Namespace::Primary, &mixed).unwrap();
        let (text, params) = batch.statement(&sql);
        assert!(text.starts_with("WITH p0 AS (DELETE FROM t WHERE map_name = $1::text AND key = $4::text), p1 AS (DELETE FROM t_tgs_extra"), "{text}");
        assert!(text.contains(") INSERT INTO t AS cur"), "{text}");
        assert!(
            text.contains("VALUES ($1::text, $8::text, $10::text::jsonb"),
            "{text}"
        );
        assert_eq!(params.len(), 3 + 1 + 1 + 2 + 7);
        let two = [
            WriteOp::Put {
                key: "a",
                record: &a,
            },
            WriteOp::Put {
                key: "b",
                record: &a,
            },
        ];
        let batch = Batch::new("m", Namespace::Primary, &two).unwrap();
        let (text, params) = batch.statement(&sql);
        assert!(
            text.contains("FROM UNNEST($2::text[], $3::bytea[], $4::text[]"),
            "{text}"
        );
        assert_eq!(params.len(), 8);
        let batch = Batch::new("m", Namespace::Backup, &[WriteOp::Remove { key: "j" }]).unwrap();
        let (text, params) = batch.statement(&sql);
        assert_eq!(
            text,
            "DELETE FROM t_tgs_extra WHERE is_backup = $1::bool AND map_name = $2::bytea AND key = $3::bytea"
        );
        assert_eq!(params.len(), 3);
    }

    #[test]
    fn too_long_names_and_keys_are_rejected_before_anything_is_sent() {
        let a = r("a");
        let long_key = "k".repeat(MAX_KEY_LEN + 1);
        let ops = [
            WriteOp::Put {
                key: "ok",
                record: &a,
            },
            WriteOp::Put {
                key: &long_key,
                record: &a,
            },
        ];
        let err = Batch::new("m", Namespace::Primary, &ops).err().unwrap();
        assert_eq!(err.kind(), DataStoreErrorKind::Rejected);
        assert!(err.message().contains("2049 bytes"), "{err}");
        let fits = "k".repeat(MAX_KEY_LEN);
        assert!(Batch::new("m", Namespace::Primary, &[WriteOp::Remove { key: &fits }]).is_ok());
        let long_map = "m".repeat(MAX_MAP_NAME_LEN + 1);
        let err = Batch::new(&long_map, Namespace::Backup, &ops[..1])
            .err()
            .unwrap();
        assert_eq!(err.kind(), DataStoreErrorKind::Rejected);
    }
}
