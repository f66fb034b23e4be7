'use strict'

// TopgunStorageAdapter: the IServerStorage contract of TopGun's
// MemoryServerAdapter (docs/node.md).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { TopgunStorageAdapter, MapStorage, StorageError, ManualClock } = require('..')
const { ASYNC_THRESHOLD } = require('../lib/adapter.js')
const { ts, lww } = require('./support/fixtures.js')

const fresh = async (options) => {
  const adapter = new TopgunStorageAdapter(options)
  await adapter.initialize()
  return adapter
}

test('every method returns a Promise', async () => {
  const a = await fresh()
  const calls = [
    a.initialize(),
    a.load('m', 'k'),
    a.loadAll('m', []),
    a.loadAllKeys('m'),
    a.store('m', 'k', lww(1)),
    a.storeAll('m', new Map()),
    a.delete('m', 'k'),
    a.deleteAll('m', []),
    a.close(),
  ]
  for (const p of calls) assert.ok(p instanceof Promise)
  await Promise.all(calls)
})

test('missing key -> undefined', async () => {
  const a = await fresh()
  assert.equal(await a.load('m', 'nope'), undefined)
  await a.store('m', 'k', lww(1))
  assert.equal(await a.load('m', 'other'), undefined)
  assert.equal(await a.load('other-map', 'k'), undefined)
})

test('loadAll -> a Map with only the keys found, in request order', async () => {
  const a = await fresh()
  await a.store('m', 'a', lww(1))
  await a.store('m', 'b', lww(2))
  const found = await a.loadAll('m', ['b', 'missing', 'a'])
  assert.ok(found instanceof Map)
  assert.deepStrictEqual([...found.keys()], ['b', 'a'])
  assert.deepStrictEqual(found.get('a'), lww(1))
  assert.deepStrictEqual(await a.loadAll('m', []), new Map())
  assert.deepStrictEqual(await a.loadAll('empty', ['x']), new Map())
})

test('loadAllKeys is complete for 10,000 keys (spread over partitions)', async () => {
  const a = await fresh()
  const records = new Map()
  for (let i = 0; i < 10_000; i++) records.set(`key-${i}`, lww(i))
  await a.storeAll('m', records)
  const keys = await a.loadAllKeys('m')
  assert.equal(keys.length, 10_000)
  assert.deepStrictEqual(new Set(keys), new Set(records.keys()))
  assert.ok(a.storage.mapSize('m') === 10_000)
  // The same over the thread pool (loadAll of a large key list too).
  assert.ok(keys.length >= ASYNC_THRESHOLD)
  const all = await a.loadAll('m', keys)
  assert.equal(all.size, 10_000)
  assert.deepStrictEqual(all.get('key-9999'), lww(9999))
  assert.deepStrictEqual(await a.loadAllKeys('none'), [])
})

test('store upserts', async () => {
  const a = await fresh()
  await a.store('m', 'k', lww('first'))
  await a.store('m', 'k', lww('second'))
  assert.deepStrictEqual(await a.load('m', 'k'), lww('second'))
  assert.deepStrictEqual(await a.loadAllKeys('m'), ['k'])
})

test('storeAll of 100 records', async () => {
  const a = await fresh()
  const records = new Map()
  for (let i = 0; i < 100; i++) records.set(`r${i}`, lww({ i, name: `record ${i}` }))
  await a.storeAll('m', records)
  const back = await a.loadAll('m', [...records.keys()])
  assert.equal(back.size, 100)
  for (const [k, v] of records) assert.deepStrictEqual(back.get(k), v)
})

test('delete and deleteAll are idempotent', async () => {
  const a = await fresh()
  await a.store('m', 'a', lww(1))
  await a.store('m', 'b', lww(2))
  await a.store('m', 'c', lww(3))
  await a.delete('m', 'a')
  await a.delete('m', 'a')
  await a.delete('m', 'never-existed')
  assert.equal(await a.load('m', 'a'), undefined)
  await a.deleteAll('m', ['b', 'c', 'ghost'])
  await a.deleteAll('m', ['b', 'c'])
  await a.deleteAll('m', [])
  assert.deepStrictEqual(await a.loadAllKeys('m'), [])
})

test('maps are isolated from each other', async () => {
  const a = await fresh()
  await a.store('users', 'k', lww('user'))
  await a.store('posts', 'k', lww('post'))
  assert.deepStrictEqual(await a.load('users', 'k'), lww('user'))
  assert.deepStrictEqual(await a.load('posts', 'k'), lww('post'))
  await a.delete('users', 'k')
  assert.deepStrictEqual(await a.load('posts', 'k'), lww('post'))
  assert.deepStrictEqual(await a.loadAllKeys('users'), [])
  assert.deepStrictEqual(await a.loadAllKeys('posts'), ['k'])
})

test('LWW with a primitive, an object and a null (tombstone) value', async () => {
  const a = await fresh()
  const values = { prim: lww(42), str: lww('s'), obj: lww({ name: 'Ada', tags: ['x'], nested: { ok: true } }), tomb: lww(null) }
  for (const [k, v] of Object.entries(values)) await a.store('m', k, v)
  for (const [k, v] of Object.entries(values)) assert.deepStrictEqual(await a.load('m', k), v)
})

test('OR values and OR_TOMBSTONES under the __tombstones__ key', async () => {
  const a = await fresh()
  const or = {
    type: 'OR',
    records: [
      { value: { title: 'a' }, timestamp: ts(1, 0, 'n1'), tag: 'n1:1' },
      { value: 'b', timestamp: ts(2, 1, 'n2'), tag: 'n2:1', ttlMs: 60_000 },
    ],
  }
  const tombstones = { type: 'OR_TOMBSTONES', tags: ['n1:0', 'n2:0'] }
  await a.store('todos', 'list', or)
  await a.store('todos', '__tombstones__', tombstones)
  assert.deepStrictEqual(await a.load('todos', 'list'), or)
  assert.deepStrictEqual(await a.load('todos', '__tombstones__'), tombstones)
  const keys = await a.loadAllKeys('todos')
  assert.ok(keys.includes('__tombstones__'), 'TopGun detects OR maps by this key')
})

test('ttlMs is preserved', async () => {
  const a = await fresh()
  await a.store('m', 'k', lww('v', { ttlMs: 86_400_000 }))
  assert.deepStrictEqual(await a.load('m', 'k'), lww('v', { ttlMs: 86_400_000 }))
})

test('mixed LWW and OR values in one loadAll', async () => {
  const a = await fresh()
  const or = { type: 'OR', records: [{ value: 1, timestamp: ts(), tag: 't' }] }
  await a.store('m', 'lww', lww('x'))
  await a.store('m', 'or', or)
  await a.store('m', '__tombstones__', { type: 'OR_TOMBSTONES', tags: [] })
  const all = await a.loadAll('m', ['lww', 'or', '__tombstones__'])
  assert.deepStrictEqual(all, new Map([
    ['lww', lww('x')],
    ['or', or],
    ['__tombstones__', { type: 'OR_TOMBSTONES', tags: [] }],
  ]))
})

test('initialize twice is harmless', async () => {
  const a = await fresh()
  await a.store('m', 'k', lww(1))
  await a.initialize()
  await a.initialize()
  assert.deepStrictEqual(await a.load('m', 'k'), lww(1))
})

test('close drops the data and every later call rejects with ERR_CLOSED', async () => {
  const a = await fresh()
  await a.store('m', 'k', lww(1))
  await a.close()
  await a.close()
  const calls = {
    load: () => a.load('m', 'k'),
    loadAll: () => a.loadAll('m', ['k']),
    loadAllBig: () => a.loadAll('m', Array.from({ length: ASYNC_THRESHOLD }, (_, i) => `k${i}`)),
    loadAllKeys: () => a.loadAllKeys('m'),
    store: () => a.store('m', 'k', lww(1)),
    storeAll: () => a.storeAll('m', new Map([['k', lww(1)]])),
    delete: () => a.delete('m', 'k'),
    deleteAll: () => a.deleteAll('m', ['k']),
  }
  for (const [name, call] of Object.entries(calls)) {
    const p = call()
    assert.ok(p instanceof Promise, name)
    await assert.rejects(p, (e) => e instanceof StorageError && e.code === 'ERR_CLOSED' && /closed/.test(e.message), name)
  }
})

test('initialize after close opens the adapter again, as MemoryServerAdapter stays usable', async () => {
  const a = await fresh()
  await a.store('m', 'k', lww(1))
  await a.close()
  await a.initialize()
  assert.equal(await a.load('m', 'k'), undefined, 'close dropped the data')
  await a.store('m', 'k', lww(2))
  assert.deepStrictEqual(await a.load('m', 'k'), lww(2))
  assert.deepStrictEqual(await a.loadAllKeys('m'), ['k'])
  assert.equal(a.storage.closed, false)
})

test('storeAll and putMany take a Map or any iterable of pairs from any realm', async () => {
  const vm = require('node:vm')
  const { Storage } = require('..')
  const rec = (n) => lww(n)
  // Made in another context, as Jest's test environment makes them: not an
  // instanceof this realm's Map or Array.
  const foreign = vm.runInNewContext('new Map([["a", rec(1)], ["b", rec(2)]])', { rec })
  assert.ok(!(foreign instanceof Map))
  const foreignPairs = vm.runInNewContext('[["c", rec(3)]]', { rec })
  const foreignSet = vm.runInNewContext('new Set([["d", rec(4)]])', { rec })
  function* generated() {
    yield ['e', rec(5)]
  }
  const iterable = { *[Symbol.iterator]() { yield ['f', rec(6)] } }
  const a = await fresh()
  for (const records of [foreign, foreignPairs, foreignSet, generated(), iterable, new Map([['g', rec(7)]])]) {
    await a.storeAll('m', records)
  }
  assert.deepStrictEqual((await a.loadAllKeys('m')).sort(), ['a', 'b', 'c', 'd', 'e', 'f', 'g'])
  assert.deepStrictEqual(await a.load('m', 'a'), rec(1))
  const s = new Storage()
  s.putMany(vm.runInNewContext('new Map([["x", rec(1)]])', { rec }))
  s.putMany(generated())
  assert.deepStrictEqual(s.get('x'), rec(1))
  assert.deepStrictEqual(s.get('e'), rec(5))
  // Not iterable, or not pairs: a TypeError, nothing stored.
  await assert.rejects(a.storeAll('m2', { a: rec(1) }), TypeError)
  await assert.rejects(a.storeAll('m2', vm.runInNewContext('new Map([["a", 1]])')), (e) => e.code === 'ERR_INVALID_ARG_TYPE' || e.code === 'ERR_VALUE_SHAPE' || e instanceof TypeError)
  await assert.rejects(a.storeAll('m2', new Set(['ab'])), TypeError)
  assert.deepStrictEqual(await a.loadAllKeys('m2'), [])
})

test('async reads reject with ERR_CLOSED when the storage closes under them', async () => {
  const s = new MapStorage()
  for (let i = 0; i < 10; i++) s.store('m', `k${i}`, lww(i))
  const pending = s.loadAllKeysAsync('m')
  s.close()
  // Either the walk finished first or it saw the close: never a crash.
  try {
    const keys = await pending
    assert.ok(Array.isArray(keys))
  } catch (e) {
    assert.ok(e instanceof StorageError && e.code === 'ERR_CLOSED')
  }
})

test('reads of maps that do not exist allocate nothing; close stays linear', async () => {
  // TopGun's clients choose map names. Before, 40,000 reads of missing maps
  // grew RSS by ~45 MiB and close() then blocked for 12-17 s, scanning every
  // store once per map (issue 10, item 2).
  const a = await fresh()
  const before = process.memoryUsage().rss
  for (let i = 0; i < 40_000; i++) assert.equal(await a.load(`m${i}`, 'k'), undefined)
  assert.equal((await a.loadAll('missing', ['a', 'b', 'c'])).size, 0)
  assert.deepStrictEqual(await a.loadAllKeys('missing'), [])
  await a.delete('missing', 'k')
  await a.deleteAll('missing', ['a', 'b'])
  assert.equal(a.storage.storeCount, 0, 'a read created a store')
  assert.equal(a.storage.mapSize('missing'), 0)
  const grown = process.memoryUsage().rss - before
  assert.ok(grown < 30 * 1024 * 1024, `RSS grew by ${grown} bytes over 40,000 missing-map reads`)
  await a.store('m1', 'k', lww(1))
  assert.equal(a.storage.storeCount, 1)
  // Close of many maps: linear, so 20,000 maps close in well under the
  // time the 20,000 writes took (before: quadratic, seconds).
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < 20_000; i++) await a.store(`w${i}`, 'k', lww(i))
  const writes = process.hrtime.bigint() - t0
  assert.equal(a.storage.storeCount, 20_001)
  const t1 = process.hrtime.bigint()
  await a.close()
  const close = process.hrtime.bigint() - t1
  assert.equal(a.storage.storeCount, 0)
  assert.ok(close < writes, `close took ${close} ns, the writes ${writes} ns`)
})

test('a large read overlapping close resolves complete or rejects with ERR_CLOSED', async () => {
  // Before, loadAllKeys of 20,000 keys resolved with e.g. 19,869 keys when
  // close() ran while the thread pool walked the partitions (issue 10,
  // item 9).
  const keys = Array.from({ length: 20_000 }, (_, i) => `k${i}`)
  const outcomes = { complete: 0, closed: 0 }
  const rounds = 30
  for (let round = 0; round < rounds; round++) {
    const a = await fresh()
    await a.storeAll('m', new Map(keys.map((k) => [k, lww(1)])))
    // Each outcome is taken at once, so a read rejected while the other is
    // awaited is never an unhandled rejection.
    const reads = [a.loadAllKeys('m'), a.loadAll('m', keys.slice(0, 5_000))].map((read) =>
      read.then(
        (result) => ({ result }),
        (error) => ({ error }),
      ),
    )
    // Close at a different point of the reads' work each round: the main
    // thread waits 0 to ~15 ms (the reads run on the thread pool).
    const until = process.hrtime.bigint() + BigInt(round) * 500_000n
    while (process.hrtime.bigint() < until) {}
    await a.close()
    for (const [i, read] of reads.entries()) {
      const outcome = await read
      if (outcome.error) {
        const e = outcome.error
        assert.ok(e instanceof StorageError && e.code === 'ERR_CLOSED', String(e))
        outcomes.closed++
      } else {
        const n = i === 0 ? outcome.result.length : outcome.result.size
        assert.equal(n, i === 0 ? 20_000 : 5_000, `round ${round}: partial data`)
        outcomes.complete++
      }
    }
  }
  assert.equal(outcomes.complete + outcomes.closed, 2 * rounds)
})

test('wrong argument types reject with TypeError; bad values with StorageError', async () => {
  const a = await fresh()
  await assert.rejects(a.load(1, 'k'), TypeError)
  await assert.rejects(a.load('m', null), TypeError)
  await assert.rejects(a.loadAll('m', 'k'), TypeError)
  await assert.rejects(a.loadAll('m', ['k', 2]), TypeError)
  await assert.rejects(a.loadAllKeys(undefined), TypeError)
  await assert.rejects(a.store('m', 'k', 'not a record'), TypeError)
  await assert.rejects(a.storeAll('m', { k: lww(1) }), TypeError)
  await assert.rejects(a.deleteAll('m', 'k'), TypeError)
  await assert.rejects(a.store('m', 'k', { value: 1 }), (e) => e instanceof StorageError && e.code === 'ERR_VALUE_SHAPE')
  // A bad record in storeAll stores nothing.
  await assert.rejects(a.storeAll('m', new Map([['ok', lww(1)], ['bad', { value: 2 }]])), (e) => e.code === 'ERR_VALUE_SHAPE')
  assert.equal(await a.load('m', 'ok'), undefined)
})

test('options: bounds per (map, partition), per-map overrides and a manual clock', async () => {
  const clock = new ManualClock(0)
  const a = await fresh({ ttl: 100, clock, maps: { forever: { ttl: 0 } } })
  await a.store('short', 'k', lww(1))
  await a.store('forever', 'k', lww(2))
  clock.set(101)
  assert.equal(await a.load('short', 'k'), undefined)
  assert.deepStrictEqual(await a.load('forever', 'k'), lww(2))
  assert.throws(() => new TopgunStorageAdapter({ maps: { m: { bogus: 1 } } }), (e) => e.code === 'ERR_INVALID_ARGUMENT')
  assert.throws(() => new TopgunStorageAdapter({ maps: 'x' }), TypeError)
  assert.throws(() => new TopgunStorageAdapter({ nope: 1 }), (e) => e.code === 'ERR_INVALID_ARGUMENT')
})

test('writes apply in call order even when not awaited (fire-and-forget, as TopGun writes)', async () => {
  const a = await fresh()
  const big = new Map()
  for (let i = 0; i < 5000; i++) big.set(`k${i}`, lww('old'))
  const p1 = a.storeAll('m', big)
  const p2 = a.store('m', 'k1', lww('new'))
  const p3 = a.delete('m', 'k2')
  await Promise.all([p1, p2, p3])
  assert.deepStrictEqual(await a.load('m', 'k1'), lww('new'))
  assert.equal(await a.load('m', 'k2'), undefined)
})
