'use strict'

// Node benchmarks N4 and N5 of docs/benchmarks.md. Timing and rounds:
// bench/support.js (CPU time, interleaved, medians).
//
//   N4  Storage.put / Storage.get of a record holding a small nested object
//       vs JSON.stringify / JSON.parse of the same record          target <= 2x
//   N5  TopgunStorageAdapter (in memory): store, storeAll(1000), load,
//       loadAll(1000), loadAllKeys(100k) vs the same calls on TopGun's
//       BetterSqlite3Adapter (schema, pragmas and SQL; bench/baselines/
//       sqlite-adapter.js, the same baseline as D5's, on a file in the
//       temporary directory)                                         target <= 0.25x
//       and, for reference, on a Map-based adapter written like TopGun's
//       MemoryServerAdapter (bench/baselines/memory-adapter.js)
//
// Each of ours also through the addon's object path (values built field by
// field through N-API: what these calls did before the byte path).
// Data: 100,000 records holding a small object (two strings, an integer, a
// two-element array) under 16-byte keys in one map.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Storage, TopgunStorageAdapter, encode } = require('..')
const { objectPath } = require('../lib/packed.js')
const { MapMemoryAdapter } = require('./baselines/memory-adapter.js')
const Database = require('./sqlite/node_modules/better-sqlite3')
const { SqliteBaseline } = require('./baselines/sqlite-adapter.js')
const { ROUNDS, WARMUP, run, report, key, objectRecord, order } = require('./support.js')

const ENTRIES = Number(process.env.BENCH_ENTRIES || 100_000)
const OPS = 5000
const BATCH = 1000
const MAP = 'bench'

const keys = Array.from({ length: ENTRIES }, (_, i) => key(i))
const records = keys.map((_, i) => objectRecord(i))
const picks = order(OPS, ENTRIES)
const batches = []
for (let i = 0; i < OPS; i += BATCH) batches.push(picks.slice(i, i + BATCH))
const keyBatches = batches.map((b) => b.map((i) => keys[i]))
const recordBatches = batches.map((b) => b.map((i) => [keys[i], records[i]]))
const texts = records.map((r) => JSON.stringify(r))

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topgun-bench-'))
  const ours = new TopgunStorageAdapter()
  const memory = new MapMemoryAdapter()
  const sqlite = new SqliteBaseline(Database, path.join(dir, 'topgun.db'))
  const adapters = { ours, 'Map adapter': memory, 'sqlite adapter': sqlite }
  for (const a of Object.values(adapters)) {
    await a.initialize()
    for (let i = 0; i < ENTRIES; i += BATCH) await a.storeAll(MAP, keys.slice(i, i + BATCH).map((k, j) => [k, records[i + j]]))
  }
  const storage = new Storage()
  keys.forEach((k, i) => storage.put(k, records[i]))
  const raw = ours.storage
  const obj = objectPath.MapStorage

  let sink = 0
  const contenders = {
    // N4
    'Storage.put': [() => { for (const i of picks) sink ^= storage.put(keys[i], records[i]) ? 1 : 0 }, OPS],
    'Storage.put (object path)': [() => { for (const i of picks) sink ^= objectPath.Storage.put.call(storage, keys[i], records[i]) ? 1 : 0 }, OPS],
    'JSON.stringify': [() => { for (const i of picks) sink ^= JSON.stringify(records[i]).length }, OPS],
    'Storage.get': [() => { for (const i of picks) sink ^= storage.get(keys[i]) ? 1 : 0 }, OPS],
    'Storage.get (object path)': [() => { for (const i of picks) sink ^= objectPath.Storage.get.call(storage, keys[i]) ? 1 : 0 }, OPS],
    'JSON.parse': [() => { for (const i of picks) sink ^= JSON.parse(texts[i]) ? 1 : 0 }, OPS],
    // N5 (object path: MapStorage's own methods, synchronously, no Promise)
    'store (object path)': [() => { for (const i of picks) obj.store.call(raw, MAP, keys[i], records[i]) }, OPS],
    'storeAll (object path)': [() => { for (const b of recordBatches) obj.storeAll.call(raw, MAP, b) }, OPS],
    'load (object path)': [() => { for (const i of picks) sink ^= obj.load.call(raw, MAP, keys[i]) ? 1 : 0 }, OPS],
    'loadAll (object path)': [() => { for (const b of keyBatches) sink ^= new Map(obj.loadAll.call(raw, MAP, b)).size }, OPS],
  }
  for (const [name, a] of Object.entries(adapters)) {
    contenders[`${name}: store`] = [async () => { for (const i of picks) await a.store(MAP, keys[i], records[i]) }, OPS]
    contenders[`${name}: storeAll(1000)`] = [async () => { for (const b of recordBatches) await a.storeAll(MAP, b) }, OPS]
    contenders[`${name}: load`] = [async () => { for (const i of picks) sink ^= (await a.load(MAP, keys[i])) ? 1 : 0 }, OPS]
    contenders[`${name}: loadAll(1000)`] = [async () => { for (const b of keyBatches) sink ^= (await a.loadAll(MAP, b)).size }, OPS]
    contenders[`${name}: loadAllKeys`] = [async () => { sink ^= (await a.loadAllKeys(MAP)).length }, 1]
  }

  const m = await run(contenders)
  console.log(
    `Node ${process.version}, ${ENTRIES} records of ${encode(records[0]).length} bytes as MessagePack ` +
      `(${texts[0].length} as JSON) in one map, ${OPS} operations per round (batches of ${BATCH}), ` +
      `median of ${ROUNDS} interleaved rounds after ${WARMUP} warm-up, CPU time; ns per record ` +
      '(loadAllKeys: per call)',
  )
  const rows = [
    ['N4', 'Storage.put', 'JSON.stringify', '<= 2x'],
    ['N4 (obj)', 'Storage.put (object path)', 'JSON.stringify', '(object path)'],
    ['N4', 'Storage.get', 'JSON.parse', '<= 2x'],
    ['N4 (obj)', 'Storage.get (object path)', 'JSON.parse', '(object path)'],
  ]
  for (const op of ['store', 'storeAll(1000)', 'load', 'loadAll(1000)', 'loadAllKeys']) {
    rows.push(['N5', `ours: ${op}`, `sqlite adapter: ${op}`, '<= 0.25x'])
    rows.push(['ref', `ours: ${op}`, `Map adapter: ${op}`, '(informational)'])
  }
  for (const op of ['store', 'storeAll', 'load', 'loadAll']) {
    rows.push(['N5 (obj)', `${op} (object path)`, `sqlite adapter: ${op === 'store' || op === 'load' ? op : op + '(1000)'}`, '(object path, sync)'])
  }
  report(m, rows)
  await sqlite.close()
  fs.rmSync(dir, { recursive: true, force: true })
  if (sink === -1) console.log(sink)
}

main()
