'use strict'

// exportTo / importFrom (Storage and MapStorage) and verifyExport: round
// trip with metadata and progress, an export during writes is one instant,
// damaged files reject with ERR_CORRUPT and change nothing, bad arguments.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Storage, ManualClock, MapStorage, StorageError, verifyExport } = require('..')
const { lww } = require('./support/fixtures.js')

const KEYS = 3000
const T0 = 1_700_000_000_000
const key = (i) => `key-${String(i).padStart(5, '0')}`
const isStorageError = (code) => (e) => e instanceof StorageError && e.code === code
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topgun-export-'))
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
const file = (name) => path.join(dir, name)

test('a round trip keeps records, metadata and expiry; progress reaches the total', async () => {
  const a = new Storage({ clock: new ManualClock(T0) })
  for (let i = 0; i < KEYS; i++) a.put(key(i), lww(i), i % 2 ? { ttl: 60_000 } : {})
  const seen = []
  const summary = await a.exportTo(file('round.tgx'), (p) => seen.push(p))
  assert.deepStrictEqual(
    { kind: summary.kind, records: summary.records, stores: summary.stores, instantMs: summary.instantMs },
    { kind: 'store', records: KEYS, stores: 1, instantMs: T0 },
  )
  assert.equal(summary.bytes, fs.statSync(file('round.tgx')).size)
  assert.ok(seen.length >= 2, 'progress after every frame and at the end')
  assert.deepStrictEqual(seen.at(-1), { recordsDone: KEYS, recordsTotal: KEYS, storesDone: 1, checking: false })

  const clock = new ManualClock(T0)
  const b = new Storage({ clock })
  const imported = []
  await b.importFrom(file('round.tgx'), (p) => imported.push(p))
  assert.ok(imported[0].checking && !imported.at(-1).checking)
  assert.equal(imported.at(-1).recordsDone, KEYS)
  assert.equal(b.size(), KEYS)
  for (let i = 0; i < KEYS; i++) assert.deepStrictEqual(b.get(key(i)), lww(i))
  assert.equal(b.getRecord(key(1)).ttl, 60_000)
  assert.equal(b.getRecord(key(1)).creationTime, a.getRecord(key(1)).creationTime)
  clock.advance(60_001)
  assert.equal(b.has(key(1)), false)
  assert.equal(b.has(key(2)), true)
  assert.equal((await verifyExport(file('round.tgx'))).records, KEYS)
})

test('an export while the event loop keeps writing is the state at one instant', async () => {
  const s = new Storage()
  for (let i = 0; i < KEYS; i++) s.put(key(i), lww(0))
  // Rounds g = 1, 2, ...: keys in order set to g, a chunk per event-loop
  // turn, so at any instant a prefix of the keys holds g + 1, the rest g.
  let g = 0
  let next = KEYS
  let writing = true
  const writeOne = () => {
    if (next === KEYS) {
      g++
      next = 0
    }
    s.put(key(next++), lww(g))
  }
  const writeChunk = () => {
    for (let n = 0; n < 100; n++) writeOne()
    if (writing) setImmediate(writeChunk)
  }
  setImmediate(writeChunk)
  let rewrote = false
  await s.exportTo(file('during.tgx'), () => {
    // The snapshot is taken: finish this round and write a whole one more.
    if (rewrote) return
    rewrote = true
    for (let n = 0; n < 2 * KEYS; n++) writeOne()
  })
  writing = false
  assert.ok(rewrote)
  const copy = new Storage()
  await copy.importFrom(file('during.tgx'))
  assert.equal(copy.size(), KEYS)
  const values = Array.from({ length: KEYS }, (_, i) => copy.get(key(i)).value)
  const first = values[0]
  const last = values[KEYS - 1]
  assert.ok(first === last || first === last + 1, `first ${first}, last ${last}`)
  let k = 0
  while (k < KEYS && values[k] === first) k++
  for (let i = k; i < KEYS; i++) assert.equal(values[i], last, `key ${i}`)
  assert.ok(values.some((v, i) => s.get(key(i)).value !== v), 'the store moved on after the snapshot')
})

test('truncated, bit-flipped and foreign files reject with ERR_CORRUPT and change nothing', async () => {
  const s = new Storage()
  for (let i = 0; i < 200; i++) s.put(key(i), lww(i))
  await s.exportTo(file('good.tgx'))
  const data = fs.readFileSync(file('good.tgx'))
  const target = new Storage()
  target.put(key(0), lww(777))
  const cases = [0, 10, 24, 40, data.length >> 1, data.length - 1].map((n) => data.subarray(0, n))
  for (const at of [9, 30, data.length >> 1, data.length - 5]) {
    const flipped = Buffer.from(data)
    flipped[at] ^= 0x10
    cases.push(flipped)
  }
  cases.push(Buffer.concat([data, Buffer.from([0])]))
  cases.push(Buffer.from('hello, world, not an export file'))
  for (const bytes of cases) {
    fs.writeFileSync(file('bad.tgx'), bytes)
    await assert.rejects(target.importFrom(file('bad.tgx')), (e) => {
      assert.ok(isStorageError('ERR_CORRUPT')(e), String(e))
      assert.ok(e.message.includes(file('bad.tgx')), e.message)
      return true
    })
    await assert.rejects(verifyExport(file('bad.tgx')), isStorageError('ERR_CORRUPT'))
  }
  assert.equal(target.size(), 1)
  assert.deepStrictEqual(target.get(key(0)), lww(777))
  await target.importFrom(file('good.tgx'))
  assert.equal(target.size(), 200)
})

test('MapStorage exports every map at one instant and imports them back', async () => {
  const maps = new MapStorage()
  for (let i = 0; i < 500; i++) {
    maps.store('users', key(i), lww(i))
    maps.store('orders', key(i), lww(-i))
  }
  const summary = await maps.exportTo(file('maps.tgx'))
  assert.equal(summary.kind, 'maps')
  assert.equal(summary.records, 1000)
  const copy = new MapStorage()
  await copy.importFrom(file('maps.tgx'))
  assert.equal(copy.mapSize('users'), 500)
  assert.deepStrictEqual(copy.load('orders', key(7)), lww(-7))
  // A MapStorage file is not one store's export.
  await assert.rejects(new Storage().importFrom(file('maps.tgx')), isStorageError('ERR_INVALID_ARGUMENT'))
  maps.close()
  await assert.rejects(maps.exportTo(file('closed.tgx')), isStorageError('ERR_CLOSED'))
})

test('bad arguments, missing files and a throwing onProgress', async () => {
  const s = new Storage()
  s.put('k', lww(1))
  assert.throws(() => s.exportTo(42), TypeError)
  assert.throws(() => s.exportTo(file('x.tgx'), 'not a function'), TypeError)
  assert.throws(() => s.exportTo(''), isStorageError('ERR_INVALID_ARGUMENT'))
  await assert.rejects(s.importFrom(file('missing.tgx')), isStorageError('ERR_IO'))
  await assert.rejects(s.exportTo(file('no/such/dir.tgx')), isStorageError('ERR_IO'))
  let calls = 0
  await assert.rejects(
    s.exportTo(file('boom.tgx'), () => {
      calls++
      throw new Error('from onProgress')
    }),
    /from onProgress/,
  )
  assert.equal(calls, 1, 'not called again after it threw')
  assert.equal((await verifyExport(file('boom.tgx'))).records, 1, 'the export itself finished')
})
