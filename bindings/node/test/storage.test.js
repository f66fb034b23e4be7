'use strict'

// Every method of Storage and ManualClock.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const {
  Storage,
  ManualClock,
  StorageError,
  ErrorCode,
  KeyIterator,
  partitionForKey,
  PARTITION_COUNT,
  encode,
  decode,
} = require('..')
const { lww, until, turns } = require('./support/fixtures.js')

const isStorageError = (code) => (e) => e instanceof StorageError && e.name === 'StorageError' && e.code === code

test('put / get / has / remove / size', () => {
  const s = new Storage()
  assert.equal(s.get('k'), undefined)
  assert.equal(s.has('k'), false)
  assert.equal(s.put('k', lww(1)), false, 'a new key replaced nothing')
  assert.equal(s.put('k', lww(2)), true, 'an overwrite replaced a live value')
  assert.deepStrictEqual(s.get('k'), lww(2))
  assert.equal(s.has('k'), true)
  assert.equal(s.size(), 1)
  s.put('', lww('empty key'))
  assert.deepStrictEqual(s.get(''), lww('empty key'))
  assert.equal(s.remove('k'), true)
  assert.equal(s.remove('k'), false)
  assert.equal(s.get('k'), undefined)
  assert.equal(s.size(), 1)
})

test('values are copies: changing a returned object does not change the store', () => {
  const s = new Storage()
  const record = lww({ n: 1 })
  s.put('k', record)
  record.value.n = 2
  const got = s.get('k')
  got.value.n = 3
  assert.equal(s.get('k').value.n, 1)
})

test('clear, estimatedCost and stats', () => {
  const s = new Storage()
  const base = s.estimatedCost()
  assert.equal(base, 0)
  s.put('a', lww('x'))
  s.put('b', lww('y'))
  const cost = s.estimatedCost()
  assert.ok(cost > 0)
  assert.equal(cost, 'a'.length + encode(lww('x')).length + 'b'.length + encode(lww('y')).length)
  s.get('a')
  s.get('zz')
  s.put('a', lww('z'))
  s.remove('b')
  const st = s.stats()
  assert.deepStrictEqual(
    { ...st },
    {
      hits: 1,
      misses: 1,
      puts: 2,
      updates: 1,
      removes: 1,
      evictions: 0,
      expirations: 0,
      entryCount: 1,
      totalCost: s.estimatedCost(),
      observerErrors: 0,
    },
  )
  assert.equal(s.clear(), 1)
  assert.equal(s.size(), 0)
  assert.equal(s.estimatedCost(), base, 'cost returns to its baseline')
})

test('getRecord returns metadata and counts as an access, like get', () => {
  const clock = new ManualClock(1000)
  const s = new Storage({ clock, ttl: 500 })
  s.put('k', lww(1), { maxIdle: 300 })
  clock.advance(10)
  s.get('k')
  clock.advance(5)
  s.put('k', lww(2))
  const r = s.getRecord('k')
  assert.deepStrictEqual(r.value, lww(2))
  assert.equal(r.version, 2)
  assert.equal(r.hits, 2, 'the get and this getRecord')
  assert.equal(r.creationTime, 1000)
  assert.equal(r.lastAccessTime, 1015)
  assert.equal(r.lastUpdateTime, 1015)
  assert.equal(r.lastStoredTime, 0)
  assert.equal(r.ttl, 0)
  assert.equal(r.maxIdle, 0)
  assert.equal(r.cost, 1 + encode(lww(2)).length)
  assert.equal(r.expirationTime, 1515)
  assert.equal(s.getRecord('k').hits, 3, 'each getRecord is an access')
  assert.equal(s.stats().hits, 3)
  assert.equal(s.getRecord('missing'), undefined)
})

test('expiry: store TTL, per-entry TTL and max idle, driven by a ManualClock', () => {
  const clock = new ManualClock(0)
  const s = new Storage({ ttl: 100, clock })
  s.put('default', lww(1))
  s.put('own', lww(2), { ttl: 1000 })
  s.put('idle', lww(3), { maxIdle: 50 })
  clock.set(40)
  assert.ok(s.get('idle'), 'read at 40 keeps it alive')
  clock.set(80)
  assert.ok(s.has('idle'))
  clock.set(100)
  assert.ok(s.has('default'), 'TTL is exclusive: not expired at exactly 100')
  clock.set(101)
  assert.equal(s.get('default'), undefined)
  assert.equal(s.has('idle'), false, 'idle since 40, max idle 50')
  assert.deepStrictEqual(s.get('own'), lww(2))
  clock.advance(1000)
  assert.equal(s.get('own'), undefined)
  assert.ok(s.stats().expirations >= 2)
})

test('maintain removes expired entries without reads', () => {
  const clock = new ManualClock(0)
  const s = new Storage({ ttl: 10, clock })
  for (let i = 0; i < 50; i++) s.put(`k${i}`, lww(i))
  clock.set(11)
  assert.equal(s.size(), 50)
  const report = s.maintain()
  assert.equal(report.expired, 50)
  assert.ok(report.scanned >= 50)
  assert.equal(report.evicted, 0)
  assert.equal(s.size(), 0)
})

test('bounds: eviction none refuses with ERR_CAPACITY_EXCEEDED and changes nothing', () => {
  const s = new Storage({ maxEntries: 2 })
  s.put('a', lww(1))
  s.put('b', lww(2))
  assert.throws(() => s.put('c', lww(3)), isStorageError('ERR_CAPACITY_EXCEEDED'))
  assert.equal(s.size(), 2)
  assert.equal(s.get('c'), undefined)
  s.put('a', lww(10))
  assert.deepStrictEqual(s.get('a'), lww(10), 'overwriting within the bound works')
})

test('bounds: an entry larger than maxCost is ERR_ENTRY_TOO_LARGE', () => {
  const s = new Storage({ maxCost: 40, eviction: 'lru' })
  assert.throws(() => s.put('k', lww('x'.repeat(100))), isStorageError('ERR_ENTRY_TOO_LARGE'))
  assert.equal(s.size(), 0)
})

test('bounds: a large put evicts back within maxCost before it returns', () => {
  // Before, a put evicted at most 64 entries: 3,000 small puts then one of
  // 90,000 bytes left the store at ~186% of maxCost (issue 10, item 1).
  for (const eviction of ['lru', 'lfu', 'random']) {
    const s = new Storage({ maxCost: 100_000, eviction })
    for (let i = 0; i < 3_000; i++) s.put(`small-${i}`, lww('0123456789'))
    s.put('large', lww('x'.repeat(90_000)))
    assert.ok(s.estimatedCost() <= 100_000, `${eviction}: cost ${s.estimatedCost()}`)
    assert.ok(s.has('large'), 'the key just written stays')
  }
})

test('bounds: lru, lfu and random evict and keep the bound', () => {
  for (const eviction of ['lru', 'lfu', 'random', 'LRU']) {
    const clock = new ManualClock(0)
    // samples >= entries: every entry is a candidate, so the choice is deterministic.
    const s = new Storage({ maxEntries: 10, eviction, samples: 20, clock })
    for (let i = 0; i < 10; i++) {
      clock.advance(1)
      s.put(`k${i}`, lww(i))
    }
    for (let r = 0; r < 5; r++) {
      clock.advance(1)
      s.get('k0')
    }
    clock.advance(1)
    s.put('new', lww('n'))
    assert.equal(s.size(), 10, eviction)
    assert.equal(s.stats().evictions, 1)
    assert.ok(s.has('new'), 'the key just written is spared')
    if (eviction !== 'random') assert.ok(s.has('k0'), `${eviction} keeps the hot key`)
    if (eviction.toLowerCase() === 'lru') assert.equal(s.has('k1'), false, 'lru evicts the oldest')
  }
})

test('getMany / putMany', () => {
  const s = new Storage()
  assert.equal(s.putMany([['a', lww(1)], ['b', lww(2)]]), 2)
  assert.equal(s.putMany(new Map([['c', lww(3)]]), { ttl: 5 }), 1)
  assert.deepStrictEqual(s.getMany(['a', 'x', 'c', 'b']), [lww(1), undefined, lww(3), lww(2)])
  assert.deepStrictEqual(s.getMany([]), [])
  assert.equal(s.getRecord('c').ttl, 5)
  // One bad entry: nothing is written, and the message names the key.
  assert.throws(
    () => s.putMany([['d', lww(4)], ['e', { value: 1 }]]),
    (e) => e.code === 'ERR_VALUE_SHAPE' && e.message.includes('"e"'),
  )
  assert.equal(s.has('d'), false)
  assert.throws(() => s.putMany([['d']]), TypeError)
  assert.throws(() => s.putMany([[1, lww(1)]]), TypeError)
  assert.throws(() => s.putMany({ a: lww(1) }), TypeError)
  assert.throws(() => s.getMany('a'), TypeError)
  assert.throws(() => s.getMany(['a', 2]), TypeError)
})

test('fetchKeys / fetchEntries walk every key once with the cursor', () => {
  const s = new Storage()
  const n = 2500
  for (let i = 0; i < n; i++) s.put(`key-${i}`, lww(i))
  const seen = new Set()
  let cursor = null
  let pages = 0
  for (;;) {
    const page = s.fetchKeys(cursor, 100)
    assert.ok(page.items.length <= 100)
    assert.ok(Buffer.isBuffer(page.cursor) && page.cursor.length === 24)
    for (const k of page.items) {
      assert.ok(!seen.has(k), `duplicate ${k}`)
      seen.add(k)
    }
    pages++
    cursor = page.cursor
    if (page.finished) break
  }
  assert.equal(seen.size, n)
  assert.ok(pages >= n / 100)
  // A finished cursor stays finished.
  assert.deepStrictEqual({ ...s.fetchKeys(cursor, 10), cursor: null }, { items: [], cursor: null, finished: true })
  // Entries: the same keys, with values.
  const entries = new Map()
  let c
  do {
    const page = s.fetchEntries(c, 333)
    for (const [k, v] of page.items) entries.set(k, v)
    c = page.finished ? null : page.cursor
  } while (c)
  assert.equal(entries.size, n)
  assert.deepStrictEqual(entries.get('key-77'), lww(77))
  // Empty and zeroed buffers start over.
  assert.equal(s.fetchKeys(Buffer.alloc(0), 5000).items.length, n)
  assert.equal(s.fetchKeys(new Uint8Array(24), 5000).items.length, n)
  assert.equal(s.fetchKeys(undefined, 5000).items.length, n)
})

test('bad cursors and page sizes are typed errors', () => {
  const s = new Storage()
  s.put('a', lww(1))
  const bad = Buffer.from(s.fetchKeys(null, 1).cursor)
  bad[8] ^= 0xff
  assert.throws(() => s.fetchKeys(bad, 10), isStorageError('ERR_INVALID_CURSOR'))
  assert.throws(() => s.fetchKeys(Buffer.from([1, 2, 3]), 10), isStorageError('ERR_INVALID_CURSOR'))
  assert.throws(() => s.fetchEntries(Buffer.alloc(24, 7), 10), isStorageError('ERR_INVALID_CURSOR'))
  assert.throws(() => s.fetchKeys(null, 0), isStorageError('ERR_INVALID_ARGUMENT'))
  assert.throws(() => s.fetchKeys(null, -1), isStorageError('ERR_INVALID_ARGUMENT'))
  assert.throws(() => s.fetchKeys(null, 1.5), isStorageError('ERR_INVALID_ARGUMENT'))
  assert.throws(() => s.fetchKeys(null, '10'), TypeError)
  assert.throws(() => s.fetchKeys('cursor', 10), TypeError)
  assert.throws(() => s.fetchKeys([1, 2], 10), TypeError)
})

test('keys() and for..of iterate every key through the cursor', () => {
  const s = new Storage()
  const expected = new Set()
  for (let i = 0; i < 2345; i++) {
    s.put(`k${i}`, lww(i))
    expected.add(`k${i}`)
  }
  const viaKeys = [...s.keys()]
  assert.equal(viaKeys.length, expected.size)
  assert.deepStrictEqual(new Set(viaKeys), expected)
  const viaFor = []
  for (const k of s) viaFor.push(k)
  assert.deepStrictEqual(new Set(viaFor), expected)
  assert.ok(s.keys() instanceof KeyIterator)
  const it = new Storage()[Symbol.iterator]()
  assert.equal(it.next().done, true)
})

test('randomSamples returns distinct live entries', () => {
  const s = new Storage()
  assert.deepStrictEqual(s.randomSamples(5), [])
  for (let i = 0; i < 100; i++) s.put(`k${i}`, lww(i))
  const sample = s.randomSamples(15)
  assert.equal(sample.length, 15)
  assert.equal(new Set(sample.map(([k]) => k)).size, 15)
  for (const [k, v] of sample) assert.deepStrictEqual(v, lww(Number(k.slice(1))))
  assert.equal(s.randomSamples(1000).length, 100)
  assert.deepStrictEqual(s.randomSamples(0), [])
  assert.throws(() => s.randomSamples(-1), isStorageError('ERR_INVALID_ARGUMENT'))
  assert.throws(() => s.randomSamples('3'), TypeError)
})

test('MessagePack path: putMsgpack / getMsgpack', () => {
  const s = new Storage()
  const record = lww({ a: 1 }, { ttlMs: 3 })
  assert.equal(s.putMsgpack('k', encode(record)), false)
  assert.deepStrictEqual(s.get('k'), record)
  assert.deepStrictEqual(s.getMsgpack('k'), encode(record))
  assert.deepStrictEqual(decode(s.getMsgpack('k')), record)
  assert.equal(s.getMsgpack('missing'), undefined)
  assert.equal(s.putMsgpack('k', new Uint8Array(encode(lww(2))), { ttl: 9 }), true)
  assert.equal(s.getRecord('k').ttl, 9)
  assert.throws(() => s.putMsgpack('k', Buffer.from([0xc1])), isStorageError('ERR_MALFORMED_VALUE'))
  assert.throws(() => s.putMsgpack('k', 'bytes'), TypeError)
  assert.deepStrictEqual(s.get('k'), lww(2), 'failed writes changed nothing')
})

test('partitionForKey matches TopGun vectors', () => {
  assert.equal(PARTITION_COUNT, 271)
  assert.equal(partitionForKey('hello'), 95)
  assert.equal(partitionForKey('key1'), 268)
  assert.equal(partitionForKey(''), 199)
  assert.throws(() => partitionForKey(1), TypeError)
})

/** TopGun's hashString: FNV-1a over the UTF-16 code units, modulo 271. */
const topgunPartition = (key) => {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0
  return h % 271
}

test('partitionForKey matches TopGun for every JS string, lone surrogates included', () => {
  assert.equal(partitionForKey('\ud800'), 166)
  assert.equal(partitionForKey('\udfff'), 196)
  assert.equal(partitionForKey('\ufffd'), 232)
  const samples = ['\ud83d\ude00', 'a\ud800b', '\udc00\ud800', 'x\udbff', 'é', '\u0000']
  for (let i = 0; i < 2000; i++) {
    let key = ''
    for (let j = 0; j < (i % 7); j++) key += String.fromCharCode((i * 7919 + j * 104729) % 65536)
    samples.push(key)
  }
  for (const key of samples) assert.equal(partitionForKey(key), topgunPartition(key), JSON.stringify(key))
})

test('keys with a lone surrogate are refused, never merged into U+FFFD', () => {
  const s = new Storage()
  for (const key of ['\ud800', '\udfff', 'a\ud800', '\udc00b']) {
    assert.throws(() => s.put(key, lww(1)), (e) => isStorageError('ERR_INVALID_ARGUMENT')(e) && /lone surrogate/.test(e.message))
    assert.throws(() => s.get(key), isStorageError('ERR_INVALID_ARGUMENT'))
    assert.throws(() => s.has(key), isStorageError('ERR_INVALID_ARGUMENT'))
    assert.throws(() => s.remove(key), isStorageError('ERR_INVALID_ARGUMENT'))
    assert.throws(() => s.getMany(['ok', key]), isStorageError('ERR_INVALID_ARGUMENT'))
    assert.throws(() => s.putMany([[key, lww(1)]]), isStorageError('ERR_INVALID_ARGUMENT'))
  }
  assert.equal(s.size(), 0, 'nothing was stored')
  // Well-formed keys stay distinct, a real U+FFFD and surrogate pairs too.
  s.put('\ufffd', lww('replacement'))
  s.put('\ud83d\ude00', lww('pair'))
  assert.equal(s.size(), 2)
  assert.deepStrictEqual(s.get('\ufffd'), lww('replacement'))
  assert.deepStrictEqual(s.get('\ud83d\ude00'), lww('pair'))
})

test('a cursor of another store is refused, even with the same layout', () => {
  const a = new Storage()
  const b = new Storage()
  for (let i = 0; i < 1000; i++) {
    a.put(`a${i}`, lww(i))
    b.put(`b${i}`, lww(i))
  }
  const page = a.fetchKeys(null, 700)
  assert.equal(page.finished, false)
  assert.throws(() => b.fetchKeys(page.cursor, 10), (e) => isStorageError('ERR_INVALID_CURSOR')(e) && /another store/.test(e.message))
  assert.throws(() => b.fetchEntries(page.cursor, 10), isStorageError('ERR_INVALID_CURSOR'))
  const rest = a.fetchKeys(page.cursor, 1000)
  assert.equal(rest.items.length, 300)
  assert.equal(rest.finished, true)
  assert.throws(() => b.fetchKeys(rest.cursor, 10), isStorageError('ERR_INVALID_CURSOR'))
})

test('wrong argument types throw TypeError with code ERR_INVALID_ARG_TYPE', () => {
  const s = new Storage()
  const calls = [
    () => s.put(1, lww(1)),
    () => s.put(undefined, lww(1)),
    () => s.put('k'),
    () => s.put('k', lww(1), 'ttl'),
    () => s.put('k', lww(1), { ttl: '5' }),
    () => s.get(),
    () => s.get(Symbol('k')),
    () => s.getRecord(1),
    () => s.remove({}),
    () => s.has(null),
    () => s.getMsgpack(1),
    () => s.subscribe('not a function'),
    () => s.unsubscribe('1'),
    () => new Storage('options'),
    () => new Storage({ ttl: '1' }),
    () => new Storage({ eviction: 1 }),
    () => new Storage({ clock: {} }),
    () => new Storage({ clock: new Storage() }),
    () => new ManualClock('0'),
    () => new ManualClock().set('1'),
  ]
  for (const call of calls) {
    assert.throws(call, (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE', call.toString())
  }
})

test('bad option values throw StorageError ERR_INVALID_ARGUMENT', () => {
  const calls = [
    () => new Storage({ ttl: -1 }),
    () => new Storage({ maxEntries: 1.5 }),
    () => new Storage({ maxCost: NaN }),
    () => new Storage({ eviction: 'fifo' }),
    () => new Storage({ samples: 0 }),
    () => new Storage({ unknownOption: 1 }),
    () => new Storage().put('k', lww(1), { ttl: -5 }),
    () => new Storage().put('k', lww(1), { expire: 5 }),
    () => new ManualClock(0.5),
  ]
  for (const call of calls) assert.throws(call, isStorageError('ERR_INVALID_ARGUMENT'), call.toString())
  // Absent and null options are fine.
  new Storage(undefined)
  new Storage(null)
  new Storage({ ttl: undefined, clock: null })
})

test('ErrorCode is the core table, and the typings declare exactly it', () => {
  // The runtime table is built from the core's categories.
  for (const [key, code] of Object.entries(ErrorCode)) assert.equal(code, `ERR_${key}`)
  for (const key of ['MALFORMED_VALUE', 'VALUE_SHAPE', 'VALUE_RANGE', 'CLOSED', 'DISK_FULL']) {
    assert.ok(key in ErrorCode, key)
  }
  // lib/index.d.ts is written by hand: it must list the same codes.
  const dts = fs.readFileSync(path.join(__dirname, '..', 'lib', 'index.d.ts'), 'utf8')
  const block = dts.slice(dts.indexOf('export declare const ErrorCode: {'))
  const declared = Object.fromEntries(
    [...block.slice(0, block.indexOf('}')).matchAll(/readonly (\w+): '(\w+)'/g)].map((m) => [m[1], m[2]]),
  )
  assert.deepStrictEqual(declared, { ...ErrorCode })
  const e = new StorageError('m', ErrorCode.CLOSED)
  assert.ok(e instanceof Error)
  assert.equal(e.code, 'ERR_CLOSED')
})

test('ManualClock: now / set / advance', () => {
  const c = new ManualClock()
  assert.equal(c.now(), 0)
  c.set(1_700_000_000_000)
  assert.equal(c.now(), 1_700_000_000_000)
  assert.equal(c.advance(500), 1_700_000_000_500)
  assert.equal(c.advance(-1000), 1_699_999_999_500)
  assert.equal(new ManualClock(42).now(), 42)
  assert.equal(new ManualClock(5n).now(), 5)
})

test('subscribe delivers events on the JS thread, in order, with values', async () => {
  const clock = new ManualClock(0)
  const s = new Storage({ clock, ttl: 10, maxEntries: 3, eviction: 'lru' })
  const events = []
  const id = s.subscribe((e) => events.push(e))
  assert.equal(typeof id, 'number')
  s.put('a', lww(1))
  s.put('a', lww(2))
  s.remove('a')
  s.put('b', lww(3))
  clock.set(100)
  assert.equal(s.get('b'), undefined)
  assert.equal(events.length, 0, 'delivery is asynchronous')
  await until(() => events.length === 5)
  assert.deepStrictEqual(
    events.map((e) => [e.type, e.key]),
    [
      ['put', 'a'],
      ['update', 'a'],
      ['remove', 'a'],
      ['put', 'b'],
      ['expire', 'b'],
    ],
  )
  assert.deepStrictEqual(events[0], { type: 'put', key: 'a', value: lww(1), isBackup: false })
  assert.deepStrictEqual(events[1].oldValue, lww(1))
  assert.deepStrictEqual(events[1].value, lww(2))
  assert.equal(events[4].reason, 'ttl')
  s.clear()
  await until(() => events.length === 6)
  assert.deepStrictEqual(events[5], { type: 'clear', key: '', isBackup: false })
  for (let i = 0; i < 4; i++) s.put(`e${i}`, lww(i))
  await until(() => events.some((e) => e.type === 'evict'))
  assert.equal(s.unsubscribe(id), true)
  assert.equal(s.unsubscribe(id), false)
})

test('an observer may call back into the store', async () => {
  const s = new Storage()
  const seen = []
  s.subscribe((e) => {
    if (e.type === 'put') seen.push(s.get(e.key))
  })
  s.put('k', lww('v'))
  await until(() => seen.length === 1)
  assert.deepStrictEqual(seen[0], lww('v'))
})

test('after unsubscribe, queued events are dropped', async () => {
  const s = new Storage()
  const events = []
  const id = s.subscribe((e) => events.push(e))
  s.put('a', lww(1))
  s.unsubscribe(id)
  s.put('b', lww(2))
  await turns(50)
  assert.deepStrictEqual(events, [])
})

test('a throwing observer does not crash: counted, warned, others still called', async () => {
  const s = new Storage()
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  try {
    s.subscribe(() => {
      throw new Error('observer failure (expected by the test)')
    })
    let calls = 0
    s.subscribe(() => calls++)
    s.put('a', lww(1))
    s.put('b', lww(2))
    await until(() => calls === 2 && warnings.length === 2)
    assert.equal(s.stats().observerErrors, 2)
    assert.equal(warnings[0].name, 'TopgunStorageObserverError')
    assert.match(warnings[0].message, /observer failure/)
    assert.deepStrictEqual(s.get('a'), lww(1), 'the store is fine')
  } finally {
    process.off('warning', onWarning)
  }
})

test('a throwing callback and a throwing process.emitWarning still do not crash', async () => {
  const s = new Storage()
  const original = process.emitWarning
  process.emitWarning = () => {
    throw new Error('emitWarning replaced by a throwing function (expected by the test)')
  }
  try {
    s.subscribe(() => {
      throw new Error('observer failure (expected by the test)')
    })
    let calls = 0
    s.subscribe(() => calls++)
    s.put('a', lww(1))
    await until(() => calls === 1 && s.stats().observerErrors === 1)
  } finally {
    process.emitWarning = original
  }
})

// Issue 10, item 3: two callbacks that cancel each other. Node calls every
// callback on the JavaScript thread and unsubscribe never waits, so this
// cannot deadlock; the test pins the semantics (whichever comes first
// cancels the other, whose queued event is dropped) and fails on a hang by
// timeout.
test('callbacks that unsubscribe each other', { timeout: 60_000 }, async () => {
  for (let round = 0; round < 200; round++) {
    const s = new Storage()
    const calls = { a: 0, b: 0 }
    const ids = {}
    const results = {}
    ids.a = s.subscribe(() => {
      calls.a++
      results.a = s.unsubscribe(ids.b)
    })
    ids.b = s.subscribe(() => {
      calls.b++
      results.b = s.unsubscribe(ids.a)
    })
    s.put('x', lww(round))
    await until(() => calls.a + calls.b > 0)
    await turns(3)
    const first = calls.a === 1 ? 'a' : 'b'
    const second = first === 'a' ? 'b' : 'a'
    assert.equal(calls[first], 1)
    assert.equal(calls[second], 0, 'cancelled before its event came up')
    assert.deepStrictEqual(results, { [first]: true })
    assert.equal(s.unsubscribe(ids[first]), true)
    assert.equal(s.unsubscribe(ids[second]), false)
    s.put('y', lww(round))
    await turns(3)
    assert.equal(calls.a + calls.b, 1, 'no call after unsubscribe')
  }
})

// Issue 10, item 10: an observer that writes on every event. Each write
// from a callback is queued and delivered in a later turn, so callbacks
// never nest, whatever the length of the chain; an error at its end
// surfaces as a counted process warning.
test('an observer that writes on every event runs in constant stack', { timeout: 120_000 }, async () => {
  const N = 20_000
  const s = new Storage()
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  try {
    let calls = 0
    let depth = 0
    let deepest = 0
    s.subscribe((e) => {
      calls++
      deepest = Math.max(deepest, ++depth)
      try {
        const i = Number(e.key.slice(1))
        if (i < N) s.put(`k${i + 1}`, lww(i))
        else throw new Error(`end of chain at ${i} (expected by the test)`)
      } finally {
        depth--
      }
    })
    s.put('k0', lww(0))
    // One link per event-loop turn at most: wait (boundedly) for the end.
    for (let i = 0; i < 10 * N && warnings.length === 0; i++) {
      await new Promise((resolve) => setImmediate(resolve))
    }
    assert.equal(calls, N + 1)
    assert.equal(deepest, 1)
    assert.equal(s.size(), N + 1)
    assert.equal(s.stats().observerErrors, 1)
    assert.match(warnings[0].message, /end of chain at 20000/)
  } finally {
    process.off('warning', onWarning)
  }
})

// Expiry limits are at most 2^63-1 ms (a record's ttlMs range; the same
// limit as C and Python): beyond is refused, never saturated.
test('expiry limits up to 2^63-1 ms; beyond is refused, nothing written', () => {
  const top = 2n ** 63n - 1n
  const s = new Storage({ ttl: top, maxIdle: top })
  s.put('k', lww(1), { ttl: top, maxIdle: top })
  assert.equal(s.size(), 1)
  for (const bad of [2n ** 63n, 2n ** 64n - 1n, 2n ** 64n]) {
    assert.throws(() => new Storage({ ttl: bad }), isStorageError('ERR_INVALID_ARGUMENT'))
    assert.throws(() => new Storage({ maxIdle: bad }), isStorageError('ERR_INVALID_ARGUMENT'))
    assert.throws(() => s.put('x', lww(1), { ttl: bad }), isStorageError('ERR_INVALID_ARGUMENT'))
    assert.throws(() => s.put('x', lww(1), { maxIdle: bad }), isStorageError('ERR_INVALID_ARGUMENT'))
  }
  assert.equal(s.size(), 1)
})
