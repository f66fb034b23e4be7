// TopGun's TS `PostgresAdapter` as its server runs it: the same SQL, the
// same row mapping, through the `pg` package (this project's own code,
// written from the adapter's documented behaviour; docs/postgres.md).
//
// Used by the PostgreSQL data store's compatibility tests
// (core/tests/postgres/node.rs) and by the D6 benchmark
// (core/benches/postgres.rs) as the baseline. It reads one JSON command a
// line on stdin and answers one JSON line on stdout:
//
//   {"op": "store", "map": m, "key": k, "record": StorageValue}   -> {"ok": true}
//   {"op": "load", "map": m, "key": k}                             -> {"result": StorageValue | null}
//   {"op": "loadAll", "map": m, "keys": [k...]}                    -> {"result": [[k, StorageValue]...]}
//   {"op": "loadAllKeys", "map": m}                                -> {"result": [k...]} (sorted)
//   {"op": "storeAll", "map": m, "records": [[k, StorageValue]...]} -> {"ok": true}
//   {"op": "delete" | "deleteAll", ...}, {"op": "initialize"}     -> {"ok": true}
//   {"op": "timeStoreAll", "map": m, "records": [...]}             -> {"ns": elapsed}
//   {"op": "timeLoad", "map": m, "key": k, "times": n}             -> {"ns": [elapsed per load]}
//
// Errors answer {"error": message}. Arguments: the connection string and
// the table name.

import pg from 'pg';
import { createInterface } from 'node:readline';

const ORMAP_MARKER = '__ORMAP__';

class TsPostgresAdapter {
  constructor(connectionString, tableName) {
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(tableName)) {
      throw new Error(`Invalid table name "${tableName}"`);
    }
    this.pool = new pg.Pool({ connectionString });
    this.t = tableName;
  }

  async initialize() {
    const client = await this.pool.connect();
    try {
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.t} (
          map_name TEXT NOT NULL,
          key TEXT NOT NULL,
          value JSONB,
          ts_millis BIGINT NOT NULL,
          ts_counter INTEGER NOT NULL,
          ts_node_id TEXT NOT NULL,
          is_deleted BOOLEAN DEFAULT FALSE,
          PRIMARY KEY (map_name, key)
        );`);
    } finally {
      client.release();
    }
  }

  async close() {
    await this.pool.end();
  }

  static isOr(record) {
    return record && (record.type === 'OR' || record.type === 'OR_TOMBSTONES');
  }

  mapRowToRecord(row) {
    if (row.ts_node_id === ORMAP_MARKER) {
      return row.value;
    }
    return {
      value: row.is_deleted ? null : row.value,
      timestamp: { millis: Number(row.ts_millis), counter: row.ts_counter, nodeId: row.ts_node_id },
    };
  }

  async load(mapName, key) {
    const res = await this.pool.query(
      `SELECT value, ts_millis, ts_counter, ts_node_id, is_deleted FROM ${this.t} WHERE map_name = $1 AND key = $2`,
      [mapName, key],
    );
    return res.rows.length === 0 ? undefined : this.mapRowToRecord(res.rows[0]);
  }

  async loadAll(mapName, keys) {
    const result = new Map();
    if (keys.length === 0) return result;
    const res = await this.pool.query(
      `SELECT key, value, ts_millis, ts_counter, ts_node_id, is_deleted FROM ${this.t} WHERE map_name = $1 AND key = ANY($2)`,
      [mapName, keys],
    );
    for (const row of res.rows) result.set(row.key, this.mapRowToRecord(row));
    return result;
  }

  async loadAllKeys(mapName) {
    const res = await this.pool.query(`SELECT key FROM ${this.t} WHERE map_name = $1`, [mapName]);
    return res.rows.map((row) => row.key);
  }

  async store(mapName, key, record) {
    let value, tsMillis, tsCounter, tsNodeId, isDeleted;
    if (TsPostgresAdapter.isOr(record)) {
      value = JSON.stringify(record);
      tsMillis = 0;
      tsCounter = 0;
      tsNodeId = ORMAP_MARKER;
      isDeleted = false;
    } else {
      value = JSON.stringify(record.value);
      tsMillis = record.timestamp.millis;
      tsCounter = record.timestamp.counter;
      tsNodeId = record.timestamp.nodeId;
      isDeleted = record.value === null;
    }
    await this.pool.query(
      `INSERT INTO ${this.t} (map_name, key, value, ts_millis, ts_counter, ts_node_id, is_deleted)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (map_name, key) DO UPDATE SET
         value = EXCLUDED.value,
         ts_millis = EXCLUDED.ts_millis,
         ts_counter = EXCLUDED.ts_counter,
         ts_node_id = EXCLUDED.ts_node_id,
         is_deleted = EXCLUDED.is_deleted`,
      [mapName, key, value, tsMillis, tsCounter, tsNodeId, isDeleted],
    );
  }

  // As the TS adapter does it: BEGIN on one client, then a loop of store()
  // calls, which run on other pool connections (outside the transaction).
  async storeAll(mapName, records) {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      for (const [key, record] of records) {
        await this.store(mapName, key, record);
      }
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK');
      throw e;
    } finally {
      client.release();
    }
  }

  async delete(mapName, key) {
    await this.pool.query(`DELETE FROM ${this.t} WHERE map_name = $1 AND key = $2`, [mapName, key]);
  }

  async deleteAll(mapName, keys) {
    if (keys.length === 0) return;
    await this.pool.query(`DELETE FROM ${this.t} WHERE map_name = $1 AND key = ANY($2)`, [mapName, keys]);
  }
}

const [connectionString, tableName] = process.argv.slice(2);
const adapter = new TsPostgresAdapter(connectionString, tableName);

async function handle(cmd) {
  switch (cmd.op) {
    case 'initialize':
      await adapter.initialize();
      return { ok: true };
    case 'store':
      await adapter.store(cmd.map, cmd.key, cmd.record);
      return { ok: true };
    case 'storeAll':
      await adapter.storeAll(cmd.map, new Map(cmd.records));
      return { ok: true };
    case 'load':
      return { result: (await adapter.load(cmd.map, cmd.key)) ?? null };
    case 'loadAll':
      return { result: [...(await adapter.loadAll(cmd.map, cmd.keys))] };
    case 'loadAllKeys':
      return { result: (await adapter.loadAllKeys(cmd.map)).sort() };
    case 'delete':
      await adapter.delete(cmd.map, cmd.key);
      return { ok: true };
    case 'deleteAll':
      await adapter.deleteAll(cmd.map, cmd.keys);
      return { ok: true };
    case 'timeStoreAll': {
      const records = new Map(cmd.records);
      const start = process.hrtime.bigint();
      await adapter.storeAll(cmd.map, records);
      return { ns: Number(process.hrtime.bigint() - start) };
    }
    case 'timeLoad': {
      const ns = [];
      for (let i = 0; i < cmd.times; i++) {
        const start = process.hrtime.bigint();
        const r = await adapter.load(cmd.map, cmd.key);
        ns.push(Number(process.hrtime.bigint() - start));
        if (r === undefined) throw new Error(`key ${cmd.key} not found`);
      }
      return { ns };
    }
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() === '') continue;
  let answer;
  try {
    answer = await handle(JSON.parse(line));
  } catch (e) {
    answer = { error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}
await adapter.close();
