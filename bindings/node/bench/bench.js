'use strict'

// Node benchmarks N1, N2, N3 of docs/benchmarks.md, with Map.get printed
// for reference. Every contender runs in this process, interleaved (the
// order rotates each round), after a warm-up; each figure is the median of
// ROUNDS rounds, and the ratio is ours / baseline from the same run.
//
//   N1  Storage.get           vs  a raw DashMap behind the same N-API conversions
//   N2  Storage.get           vs  lmdb-js getBinary on the same data (also getMsgpack)
//   N3  Storage.getMany(1000) vs  lru-cache get, per key
//
// Data: 100,000 entries, 16-byte ASCII keys, LWW records of 64 bytes in
// MessagePack. Run: make node-bench (or `node bench/bench.js` here).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { open } = require('lmdb')
const { LRUCache } = require('lru-cache')
const { Storage, encode } = require('..')
const { __BenchRawMap: RawMap } = require('../index.js')

const ENTRIES = Number(process.env.BENCH_ENTRIES || 100_000)
const LOOKUPS = Number(process.env.BENCH_LOOKUPS || 20_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS || 15)
const WARMUP = 3
const BATCH = 1000

// 16-byte keys; values: LWW records of 64 bytes when encoded.
const keys = Array.from({ length: ENTRIES }, (_, i) => `key-${String(i).padStart(12, '0')}`)
const record = (i) => ({
  value: `v${String(i).padStart(5, '0')}`,
  timestamp: { millis: 1_700_000_000_000 + i, counter: i % 7, nodeId: 'node-1' },
})
const encodedSize = encode(record(0)).length

// Lookups in a fixed pseudo-random order (all hits).
let seed = 42
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
const order = Array.from({ length: LOOKUPS }, () => keys[Math.floor(rand() * ENTRIES)])
const batches = []
for (let i = 0; i < LOOKUPS; i += BATCH) batches.push(order.slice(i, i + BATCH))

// The contenders, loaded with the same data.
const storage = new Storage()
const raw = new RawMap()
const lru = new LRUCache({ max: ENTRIES })
const map = new Map()
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topgun-bench-'))
const db = open({ path: dir, compression: false, encoding: 'binary', noSync: true })
db.transactionSync(() => {
  keys.forEach((k, i) => {
    const r = record(i)
    storage.put(k, r)
    raw.put(k, r)
    lru.set(k, r)
    map.set(k, r)
    db.put(k, encode(r))
  })
})

let sink = 0
const consume = (v) => {
  if (v === undefined) throw new Error('benchmark lookup missed')
  sink ^= typeof v === 'object' ? 1 : 0
}

const contenders = {
  'Storage.get': () => {
    for (const k of order) consume(storage.get(k))
  },
  'raw DashMap get (same conversions)': () => {
    for (const k of order) consume(raw.get(k))
  },
  'Storage.getMsgpack': () => {
    for (const k of order) consume(storage.getMsgpack(k))
  },
  'lmdb getBinary': () => {
    for (const k of order) consume(db.getBinary(k))
  },
  'Storage.getMany(1000), per key': () => {
    for (const b of batches) for (const v of storage.getMany(b)) consume(v)
  },
  'lru-cache get': () => {
    for (const k of order) consume(lru.get(k))
  },
  'Map.get': () => {
    for (const k of order) consume(map.get(k))
  },
}

const names = Object.keys(contenders)
const samples = Object.fromEntries(names.map((n) => [n, []]))
for (let round = 0; round < WARMUP + ROUNDS; round++) {
  const rotated = names.map((_, i) => names[(i + round) % names.length])
  for (const name of rotated) {
    const t0 = process.hrtime.bigint()
    contenders[name]()
    const ns = Number(process.hrtime.bigint() - t0) / LOOKUPS
    if (round >= WARMUP) samples[name].push(ns)
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const m = Object.fromEntries(names.map((n) => [n, median(samples[n])]))

console.log(
  `Node ${process.version}, ${ENTRIES} entries, ${LOOKUPS} lookups per round, ` +
    `median of ${ROUNDS} interleaved rounds after ${WARMUP} warm-up; records of ${encodedSize} bytes (MessagePack)`,
)
const rows = [
  ['N1', 'Storage.get', 'raw DashMap get (same conversions)', '<= 1.25x'],
  ['N2', 'Storage.get', 'lmdb getBinary', '<= 0.7x'],
  ['N2b', 'Storage.getMsgpack', 'lmdb getBinary', '(Buffer out, like getBinary)'],
  ['N3', 'Storage.getMany(1000), per key', 'lru-cache get', '<= 1.0x'],
  ['ref', 'Storage.get', 'Map.get', '(floor, informational)'],
]
const pad = (s, n) => String(s).padEnd(n)
console.log(`${pad('id', 4)} ${pad('ours', 32)} ${pad('ns/op', 8)} ${pad('baseline', 36)} ${pad('ns/op', 8)} ${pad('ratio', 7)} target`)
for (const [id, ours, base, target] of rows) {
  console.log(
    `${pad(id, 4)} ${pad(ours, 32)} ${pad(m[ours].toFixed(0), 8)} ${pad(base, 36)} ${pad(m[base].toFixed(1), 8)} ` +
      `${pad((m[ours] / m[base]).toFixed(2) + 'x', 7)} ${target}`,
  )
}

db.close()
fs.rmSync(dir, { recursive: true, force: true })
if (sink === -1) console.log(sink)
