'use strict'

// Node benchmarks N1, N2, N3 and N3-obj of docs/benchmarks.md, with Map.get
// printed for reference; each of ours also through the addon's object path
// (values built field by field through N-API: what these calls did before
// the byte path), in the same run. Timing and rounds: bench/support.js.
//
//   N1      Storage.get            vs  a raw DashMap behind the same N-API conversions
//   N2      Storage.get            vs  lmdb-js getBinary on the same data (also getMsgpack)
//   N3      Storage.getMany(1000)  vs  lru-cache get, per key
//   N3-obj  the same with records holding a small nested object
//
// Data: 100,000 entries, 16-byte ASCII keys, LWW records of 64 bytes in
// MessagePack (N3-obj: 109 bytes). Run: make node-bench (or
// `node bench/bench.js` here).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { open } = require('lmdb')
const { LRUCache } = require('lru-cache')
const { Storage, encode } = require('..')
const { objectPath } = require('../lib/packed.js')
const { __BenchRawMap: RawMap } = require('../index.js')
const { ROUNDS, WARMUP, run, report, key, stringRecord, objectRecord, order } = require('./support.js')

const ENTRIES = Number(process.env.BENCH_ENTRIES || 100_000)
const LOOKUPS = Number(process.env.BENCH_LOOKUPS || 20_000)
const BATCH = 1000

const keys = Array.from({ length: ENTRIES }, (_, i) => key(i))
const lookups = order(LOOKUPS, ENTRIES).map((i) => keys[i])
const batches = []
for (let i = 0; i < LOOKUPS; i += BATCH) batches.push(lookups.slice(i, i + BATCH))

// The contenders, loaded with the same data.
const storage = new Storage()
const objects = new Storage()
const raw = new RawMap()
const lru = new LRUCache({ max: ENTRIES })
const lruObjects = new LRUCache({ max: ENTRIES })
const map = new Map()
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topgun-bench-'))
const db = open({ path: dir, compression: false, encoding: 'binary', noSync: true })
db.transactionSync(() => {
  keys.forEach((k, i) => {
    const r = stringRecord(i)
    storage.put(k, r)
    raw.put(k, r)
    lru.set(k, r)
    map.set(k, r)
    db.put(k, encode(r))
    const o = objectRecord(i)
    objects.put(k, o)
    lruObjects.set(k, o)
  })
})

let sink = 0
const consume = (v) => {
  if (v === undefined) throw new Error('benchmark lookup missed')
  sink ^= typeof v === 'object' ? 1 : 0
}
const each = (get) => [() => {
  for (const k of lookups) consume(get(k))
}, LOOKUPS]
const many = (store, getMany) => [() => {
  for (const b of batches) for (const v of getMany.call(store, b)) consume(v)
}, LOOKUPS]

const contenders = {
  'Storage.get': each((k) => storage.get(k)),
  'Storage.get (object path)': each((k) => objectPath.Storage.get.call(storage, k)),
  'raw DashMap get (object path)': each((k) => raw.get(k)),
  'Storage.getMsgpack': each((k) => storage.getMsgpack(k)),
  'lmdb getBinary': each((k) => db.getBinary(k)),
  'Storage.getMany(1000), per key': many(storage, storage.getMany),
  'getMany(1000) (object path)': many(storage, objectPath.Storage.getMany),
  'lru-cache get': each((k) => lru.get(k)),
  'Map.get': each((k) => map.get(k)),
  'obj: Storage.getMany(1000), per key': many(objects, objects.getMany),
  'obj: getMany(1000) (object path)': many(objects, objectPath.Storage.getMany),
  'obj: lru-cache get': each((k) => lruObjects.get(k)),
}

run(contenders).then((m) => {
  console.log(
    `Node ${process.version}, ${ENTRIES} entries, ${LOOKUPS} lookups per round, median of ${ROUNDS} ` +
      `interleaved rounds after ${WARMUP} warm-up, CPU time; records of ${encode(stringRecord(0)).length} bytes ` +
      `(obj: ${encode(objectRecord(0)).length}) as MessagePack`,
  )
  report(m, [
    ['N1', 'Storage.get', 'raw DashMap get (object path)', '<= 1.25x'],
    ['N1 (obj)', 'Storage.get (object path)', 'raw DashMap get (object path)', '(object path: same conversions)'],
    ['N2', 'Storage.get', 'lmdb getBinary', '<= 0.7x'],
    ['N2 (obj)', 'Storage.get (object path)', 'lmdb getBinary', '(object path)'],
    ['N2b', 'Storage.getMsgpack', 'lmdb getBinary', '(Buffer out, like getBinary)'],
    ['N3', 'Storage.getMany(1000), per key', 'lru-cache get', '<= 1.0x'],
    ['N3 (obj)', 'getMany(1000) (object path)', 'lru-cache get', '(object path)'],
    ['N3-obj', 'obj: Storage.getMany(1000), per key', 'obj: lru-cache get', '<= 1.0x'],
    ['(obj)', 'obj: getMany(1000) (object path)', 'obj: lru-cache get', '(object path)'],
    ['ref', 'Storage.get', 'Map.get', '(floor, informational)'],
  ])
  db.close()
  fs.rmSync(dir, { recursive: true, force: true })
  if (sink === -1) console.log(sink)
})
