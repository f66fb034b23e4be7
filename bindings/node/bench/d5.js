'use strict'

// Benchmark D5 of docs/benchmarks.md: the durable TopgunStorageAdapter
// ({ path }, redb) against better-sqlite3 running TopGun's
// BetterSqlite3Adapter schema, pragmas and SQL (bench/baselines/sqlite-adapter.js),
// both in this process, interleaved (the order alternates each round),
// after a warm-up; each figure is the median of ROUNDS rounds and the ratio
// is ours / baseline from the same run.
//
// The baseline runs SQLite in WAL mode with synchronous=NORMAL: a commit
// survives a process crash but not a power loss. Ours runs at the matching
// durability 'os' (the D5 rows); rows marked (info) show durability 'fsync',
// a load that misses memory, and TopGun's fire-and-forget writes.
//
// Run: make node-bench (or `node bench/d5.js` here, after
// `make node-bench-deps`). BENCH_ROUNDS, BENCH_KEYS override the sizes.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const Database = require('./sqlite/node_modules/better-sqlite3')
const { TopgunStorageAdapter } = require('..')
const { SqliteBaseline } = require('./baselines/sqlite-adapter.js')

const ROUNDS = Number(process.env.BENCH_ROUNDS || 7)
const WARMUP = 2
const KEYS = Number(process.env.BENCH_KEYS || 100_000)
const BATCH = 1000
const SINGLES = 500
const LOADS = 2000

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topgun-d5-'))
const record = (i, round = 0) => ({
  value: { title: `task ${i}`, done: i % 2 === 0, owner: `user-${i % 97}`, n: i, round },
  timestamp: { millis: 1_700_000_000_000 + i, counter: round, nodeId: 'node-1' },
})
const keyOf = (i) => `key-${String(i).padStart(8, '0')}`
const batchOf = (start, n, round) => {
  const m = new Map()
  for (let i = start; i < start + n; i++) m.set(keyOf(i), record(i, round))
  return m
}

let sink = 0
const consume = (v) => {
  if (v === undefined) throw new Error('benchmark read missed')
  sink ^= 1
}

async function contenders() {
  const ours = new TopgunStorageAdapter({ path: path.join(dir, 'maps.redb'), durability: 'os' })
  const oursFsync = new TopgunStorageAdapter({ path: path.join(dir, 'fsync.redb'), durability: 'fsync' })
  const base = new SqliteBaseline(Database, path.join(dir, 'maps.sqlite'))
  await ours.initialize()
  await oursFsync.initialize()
  await base.initialize()
  // The 100k-key map of loadAllKeys and the hot keys of load / loadAll.
  for (const a of [ours, base]) {
    for (let i = 0; i < KEYS; i += BATCH) await a.storeAll('big', batchOf(i, Math.min(BATCH, KEYS - i), 0))
    for (let i = 0; i < LOADS; i += BATCH) await a.storeAll('hot', batchOf(i, BATCH, 0))
  }
  return { ours, oursFsync, base }
}

/** The workloads: name -> (adapter, round) -> number of operations timed. */
const loadKeys = Array.from({ length: LOADS }, (_, i) => keyOf((i * 7919) % LOADS))
const loadAllKeys = Array.from({ length: BATCH }, (_, i) => keyOf((i * 31) % LOADS))
const workloads = {
  store: async (a, round) => {
    for (let i = 0; i < SINGLES; i++) await a.store('singles', keyOf(i), record(i, round))
    return SINGLES
  },
  'storeAll(1000)': async (a, round) => {
    for (let b = 0; b < 10; b++) await a.storeAll('batches', batchOf(b * BATCH, BATCH, round))
    return 10
  },
  load: async (a) => {
    for (const k of loadKeys) consume(await a.load('hot', k))
    return LOADS
  },
  'loadAll(1000)': async (a) => {
    for (let b = 0; b < 10; b++) {
      const found = await a.loadAll('hot', loadAllKeys)
      if (found.size !== BATCH) throw new Error('loadAll missed')
    }
    return 10
  },
  [`loadAllKeys(${KEYS / 1000}k)`]: async (a) => {
    for (let b = 0; b < 3; b++) {
      const keys = await a.loadAllKeys('big')
      if (keys.length !== KEYS) throw new Error(`loadAllKeys: ${keys.length}`)
    }
    return 3
  },
  'store x1000 not awaited': async (a, round) => {
    const pending = []
    for (let i = 0; i < BATCH; i++) pending.push(a.store('fire', keyOf(i), record(i, round)))
    await Promise.all(pending)
    return BATCH
  },
}

async function main() {
  const { ours, oursFsync, base } = await contenders()
  const coldLoad = async (a) => {
    // Reopened: nothing in memory, every load reads the data store.
    await a.close()
    await a.initialize()
    return workloads.load(a)
  }
  const rows = [
    ['D5', 'store', ours, base, workloads.store],
    ['D5', 'storeAll(1000)', ours, base, workloads['storeAll(1000)']],
    ['D5', 'load', ours, base, workloads.load],
    ['D5', 'loadAll(1000)', ours, base, workloads['loadAll(1000)']],
    ['D5', `loadAllKeys(${KEYS / 1000}k)`, ours, base, workloads[`loadAllKeys(${KEYS / 1000}k)`]],
    ['info', 'load, cold (after reopen)', ours, base, coldLoad],
    ['info', 'store x1000 not awaited', ours, base, workloads['store x1000 not awaited']],
    ['info', 'store, ours at fsync', oursFsync, base, workloads.store],
    ['info', 'storeAll(1000), ours at fsync', oursFsync, base, workloads['storeAll(1000)']],
  ]
  const samples = rows.map(() => ({ ours: [], base: [] }))
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    for (const [i, [, , a, b, work]] of rows.entries()) {
      const order = round % 2 === 0 ? [['ours', a], ['base', b]] : [['base', b], ['ours', a]]
      for (const [who, adapter] of order) {
        const t0 = process.hrtime.bigint()
        const ops = await work(adapter, round)
        const us = Number(process.hrtime.bigint() - t0) / 1000 / ops
        if (round >= WARMUP) samples[i][who].push(us)
      }
    }
  }
  const median = (xs) => {
    const s = [...xs].sort((x, y) => x - y)
    return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
  }
  console.log(
    `D5: Node ${process.version}, TopgunStorageAdapter({ path }) on redb (durability 'os' unless noted) ` +
      `vs better-sqlite3 (WAL, synchronous=NORMAL, TopGun's schema and SQL); median of ${ROUNDS} interleaved rounds after ${WARMUP} warm-up`,
  )
  const pad = (s, n) => String(s).padEnd(n)
  console.log(`${pad('id', 5)} ${pad('operation', 32)} ${pad('ours µs/op', 11)} ${pad('sqlite µs/op', 13)} ${pad('ratio', 8)} target`)
  for (const [i, [id, name]] of rows.entries()) {
    const o = median(samples[i].ours)
    const b = median(samples[i].base)
    console.log(`${pad(id, 5)} ${pad(name, 32)} ${pad(o.toFixed(1), 11)} ${pad(b.toFixed(1), 13)} ${pad((o / b).toFixed(2) + 'x', 8)} ${id === 'D5' ? '<= 0.5x' : ''}`)
  }
  await ours.close()
  await oursFsync.close()
  await base.close()
  fs.rmSync(dir, { recursive: true, force: true })
  if (sink === -1) console.log(sink)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
