'use strict'

// The baseline of D5 (bench/d5.js) and N5 (bench/adapter.js): an IServerStorage over better-sqlite3
// that does what TopGun's BetterSqlite3Adapter does (the project's notes on
// TopGun, "BetterSqlite3Adapter"), written for this benchmark:
//
// * pragmas journal_mode=WAL, synchronous=NORMAL, cache_size=-64000;
// * TopGun's table: map_name, key, value TEXT (JSON), ts_millis, ts_counter,
//   ts_node_id, is_deleted INTEGER, created_at, updated_at, primary key
//   (map_name, key), indexes on map_name and updated_at;
// * statements prepared once; store is an upsert; storeAll one transaction;
//   loadAll / deleteAll pass the keys as a JSON array through json_each;
// * the row mapping of TopGun's adapters: LWW records as columns, OR values
//   and OR tombstones as the whole JSON object under node id '__ORMAP__'.
//
// Every method is `async` over synchronous better-sqlite3 calls, as in
// TopGun's adapter.

const ORMAP_MARKER = '__ORMAP__'

class SqliteBaseline {
  #db
  #stmts
  #open

  constructor(Database, filename, table = 'topgun_maps') {
    this.#open = () => this.#connect(new Database(filename), table)
    this.#open()
  }

  #connect(db, table) {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.pragma('cache_size = -64000')
    db.exec(`CREATE TABLE IF NOT EXISTS ${table} (
      map_name TEXT NOT NULL, key TEXT NOT NULL, value TEXT,
      ts_millis INTEGER NOT NULL, ts_counter INTEGER NOT NULL, ts_node_id TEXT NOT NULL,
      is_deleted INTEGER DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
      PRIMARY KEY (map_name, key))`)
    db.exec(`CREATE INDEX IF NOT EXISTS idx_${table}_map ON ${table}(map_name)`)
    db.exec(`CREATE INDEX IF NOT EXISTS idx_${table}_updated ON ${table}(updated_at)`)
    this.#db = db
    this.#stmts = {
      upsert: db.prepare(`INSERT INTO ${table}
        (map_name, key, value, ts_millis, ts_counter, ts_node_id, is_deleted, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (map_name, key) DO UPDATE SET value = excluded.value, ts_millis = excluded.ts_millis,
          ts_counter = excluded.ts_counter, ts_node_id = excluded.ts_node_id,
          is_deleted = excluded.is_deleted, updated_at = excluded.updated_at`),
      load: db.prepare(`SELECT value, ts_millis, ts_counter, ts_node_id, is_deleted FROM ${table}
        WHERE map_name = ? AND key = ?`),
      loadAll: db.prepare(`SELECT key, value, ts_millis, ts_counter, ts_node_id, is_deleted FROM ${table}
        WHERE map_name = ? AND key IN (SELECT value FROM json_each(?))`),
      keys: db.prepare(`SELECT key FROM ${table} WHERE map_name = ?`),
      delete: db.prepare(`DELETE FROM ${table} WHERE map_name = ? AND key = ?`),
      deleteAll: db.prepare(`DELETE FROM ${table} WHERE map_name = ? AND key IN (SELECT value FROM json_each(?))`),
    }
    this.storeMany = db.transaction((mapName, records) => {
      for (const [key, record] of records) this.#write(mapName, key, record)
    })
  }

  #write(mapName, key, record) {
    const now = Date.now()
    if (record.type === 'OR' || record.type === 'OR_TOMBSTONES') {
      this.#stmts.upsert.run(mapName, key, JSON.stringify(record), 0, 0, ORMAP_MARKER, 0, now, now)
    } else {
      const t = record.timestamp
      this.#stmts.upsert.run(mapName, key, JSON.stringify(record.value), t.millis, t.counter, t.nodeId, record.value === null ? 1 : 0, now, now)
    }
  }

  static #row(row) {
    if (row.ts_node_id === ORMAP_MARKER) return JSON.parse(row.value)
    return {
      value: row.is_deleted ? null : JSON.parse(row.value),
      timestamp: { millis: Number(row.ts_millis), counter: row.ts_counter, nodeId: row.ts_node_id },
    }
  }

  /** Opens the database again after `close()` (a new connection: an empty page cache). */
  async initialize() {
    if (!this.#db.open) this.#open()
  }

  async close() {
    this.#db.close()
  }

  async load(mapName, key) {
    const row = this.#stmts.load.get(mapName, key)
    return row === undefined ? undefined : SqliteBaseline.#row(row)
  }

  async loadAll(mapName, keys) {
    const out = new Map()
    if (keys.length === 0) return out
    for (const row of this.#stmts.loadAll.all(mapName, JSON.stringify(keys))) out.set(row.key, SqliteBaseline.#row(row))
    return out
  }

  async loadAllKeys(mapName) {
    return this.#stmts.keys.pluck().all(mapName)
  }

  async store(mapName, key, record) {
    this.#write(mapName, key, record)
  }

  async storeAll(mapName, records) {
    this.storeMany(mapName, records)
  }

  async delete(mapName, key) {
    this.#stmts.delete.run(mapName, key)
  }

  async deleteAll(mapName, keys) {
    if (keys.length > 0) this.#stmts.deleteAll.run(mapName, JSON.stringify(keys))
  }
}

module.exports = { SqliteBaseline }
