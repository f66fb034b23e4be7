'use strict'

// Value shapes and number rules across the boundary (docs/node.md, "Values and numbers").

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Storage, StorageError, encode, decode } = require('..')
const { ts, lww } = require('./support/fixtures.js')

const roundTrip = (record) => {
  const s = new Storage()
  s.put('k', record)
  return s.get('k')
}

test('LWW record with every kind of value round-trips deep-equal', () => {
  const values = [
    null,
    true,
    false,
    0,
    42,
    -7,
    1.5,
    'text',
    '',
    'ünïcödé ✓',
    Buffer.from([0, 1, 2, 255]),
    [1, 'two', null, [3]],
    { a: 1, b: { c: [true, null] } },
    {},
    [],
  ]
  for (const value of values) {
    assert.deepStrictEqual(roundTrip(lww(value)), lww(value), `value ${String(value)}`)
  }
})

test('ttlMs is preserved on LWW and OR entries', () => {
  assert.deepStrictEqual(roundTrip(lww('v', { ttlMs: 5000 })), lww('v', { ttlMs: 5000 }))
  const or = { type: 'OR', records: [{ value: 1, timestamp: ts(), tag: 't1', ttlMs: 10 }] }
  assert.deepStrictEqual(roundTrip(or), or)
})

test('OR values and OR tombstones round-trip', () => {
  const or = {
    type: 'OR',
    records: [
      { value: { x: 1 }, timestamp: ts(1, 2, 'n1'), tag: 'a' },
      { value: 'two', timestamp: ts(3, 4, 'n2'), tag: 'b' },
    ],
  }
  assert.deepStrictEqual(roundTrip(or), or)
  assert.deepStrictEqual(roundTrip({ type: 'OR', records: [] }), { type: 'OR', records: [] })
  const tomb = { type: 'OR_TOMBSTONES', tags: ['a', 'b'] }
  assert.deepStrictEqual(roundTrip(tomb), tomb)
})

test('object key order is kept (except integer-like keys, which JS always orders first)', () => {
  const value = { zeta: 1, alpha: 2, mid: 3, 'with space': 4 }
  assert.deepStrictEqual(Object.keys(roundTrip(lww(value)).value), ['zeta', 'alpha', 'mid', 'with space'])
  assert.deepStrictEqual(Object.keys(roundTrip(lww({ b: 1, 2: 'x', a: 3 })).value), ['2', 'b', 'a'])
})

test('a __proto__ key stays an own data property', () => {
  const value = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}')
  const back = roundTrip(lww(value)).value
  assert.deepStrictEqual(Object.keys(back), ['__proto__', 'ok'])
  assert.equal(Object.getPrototypeOf(back), Object.prototype)
  assert.equal({}.polluted, undefined)
})

test('large maps and arrays round-trip', () => {
  const big = {}
  for (let i = 0; i < 300; i++) big[`key${i}`] = i
  const arr = Array.from({ length: 5000 }, (_, i) => i)
  assert.deepStrictEqual(roundTrip(lww({ big, arr })), lww({ big, arr }))
})

test('numbers: safe integers are integers, others are floats; -0 stays a float', () => {
  const s = new Storage()
  const cases = [0, 1, -1, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 1e300, 0.1, -0, NaN, Infinity, -Infinity]
  for (const n of cases) {
    s.put('n', lww(n))
    const back = s.get('n').value
    assert.ok(Object.is(back, n), `${n} came back as ${back}`)
  }
  // The encoding tells integers from floats: 1 is a positive fixint, 1.5 / 2^53 / -0 are float64.
  const valueBytes = (v) => encode(lww(v)).subarray(7, 16)
  assert.equal(valueBytes(1)[0], 0x01)
  assert.equal(valueBytes(2 ** 53)[0], 0xcb)
  assert.equal(valueBytes(-0)[0], 0xcb)
  assert.equal(valueBytes(1.5)[0], 0xcb)
  assert.equal(valueBytes(2 ** 53 - 1)[0], 0xcf)
})

test('BigInt: fits i64 -> integer (back as number when safe, else BigInt); beyond -> ERR_VALUE_RANGE', () => {
  const s = new Storage()
  const roundTrips = [
    [5n, 5],
    [-5n, -5],
    [2n ** 53n, 2n ** 53n],
    [2n ** 63n - 1n, 2n ** 63n - 1n],
    [-(2n ** 63n), -(2n ** 63n)],
    [-(2n ** 53n) - 1n, -(2n ** 53n) - 1n],
  ]
  for (const [input, expected] of roundTrips) {
    s.put('b', lww(input))
    assert.strictEqual(s.get('b').value, expected)
  }
  for (const bad of [2n ** 63n, -(2n ** 63n) - 1n, 2n ** 64n, 2n ** 200n]) {
    assert.throws(
      () => s.put('b', lww({ deep: [bad] })),
      (e) => e instanceof StorageError && e.code === 'ERR_VALUE_RANGE' && e.path === '$.value.deep[0]',
    )
  }
  assert.strictEqual(s.get('b').value, -(2n ** 53n) - 1n, 'a failed put changes nothing')
})

test('strings with a lone surrogate are refused with their path, never turned into U+FFFD', () => {
  const s = new Storage()
  const cases = [
    [lww('\ud800'), '$.value'],
    [lww({ a: ['ok', 'x\udfff'] }), '$.value.a[1]'],
    [lww({ ['\ud800']: 1 }), '$.value'],
    [{ value: 1, timestamp: { millis: 1, counter: 0, nodeId: '\udc00' } }, '$.timestamp.nodeId'],
    [{ type: 'OR_TOMBSTONES', tags: ['t', '\ud800'] }, '$.tags[1]'],
  ]
  for (const [record, path] of cases) {
    assert.throws(
      () => s.put('k', record),
      (e) => e instanceof StorageError && e.code === 'ERR_MALFORMED_VALUE' && e.path === path && /lone surrogate/.test(e.message),
      path,
    )
    assert.throws(() => encode(record), (e) => e.code === 'ERR_MALFORMED_VALUE')
  }
  assert.equal(s.size(), 0)
  // A real U+FFFD and surrogate pairs are data like any other.
  assert.deepStrictEqual(roundTrip(lww({ '\ufffd': '\ud83d\ude00\ufffd' })), lww({ '\ufffd': '\ud83d\ude00\ufffd' }))
})

test('millis and ttlMs: exact up to 2^63-1 in every form, refused beyond', () => {
  const s = new Storage()
  const top = 2n ** 63n - 1n
  const record = { value: 1, timestamp: { millis: top, counter: 0, nodeId: 'n' }, ttlMs: top }
  // Whatever a read returns, a write accepts: through put and putMsgpack.
  s.put('obj', record)
  s.putMsgpack('bytes', encode(record))
  for (const key of ['obj', 'bytes']) {
    const back = s.get(key)
    assert.deepStrictEqual(back, record)
    s.put(key, back)
    assert.deepStrictEqual(decode(s.getMsgpack(key)), record)
  }
  // A peer's MessagePack with millis = 2^64-1 (uint64) is refused with its
  // path; before, it was stored and read back as a BigInt put() refused.
  const packed = Buffer.concat([
    Buffer.from([0x82, 0xa5]), Buffer.from('value'), Buffer.from([0x01, 0xa9]), Buffer.from('timestamp'),
    Buffer.from([0x83, 0xa6]), Buffer.from('millis'), Buffer.from([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    Buffer.from([0xa7]), Buffer.from('counter'), Buffer.from([0x00, 0xa6]), Buffer.from('nodeId'), Buffer.from([0xa1, 0x6e]),
  ])
  assert.throws(() => s.putMsgpack('peer', packed), (e) => e.code === 'ERR_VALUE_RANGE' && e.path === '$.timestamp.millis')
  assert.throws(() => decode(packed), (e) => e.code === 'ERR_VALUE_RANGE')
  for (const bad of [2n ** 63n, 2n ** 64n - 1n]) {
    assert.throws(() => s.put('big', { ...record, ttlMs: bad }), (e) => e.code === 'ERR_VALUE_RANGE' && e.path === '$.ttlMs')
    assert.throws(() => s.put('big', { ...record, timestamp: { ...record.timestamp, millis: bad } }), (e) => e.code === 'ERR_VALUE_RANGE')
  }
  assert.equal(s.has('peer') || s.has('big'), false)
})

test('integers beyond 2^53 in envelope fields come back exactly as BigInt', () => {
  const record = { value: 1, timestamp: { millis: 2n ** 60n, counter: 0, nodeId: 'n' }, ttlMs: 2n ** 55n }
  const back = roundTrip(record)
  assert.strictEqual(back.timestamp.millis, 2n ** 60n)
  assert.strictEqual(back.ttlMs, 2n ** 55n)
  assert.strictEqual(roundTrip(lww(1)).timestamp.millis, 1_700_000_000_000)
})

test('undefined properties are dropped, undefined array items become null', () => {
  const back = roundTrip(lww({ a: undefined, b: 1, c: [undefined, 2] }))
  assert.deepStrictEqual(back.value, { b: 1, c: [null, 2] })
  assert.deepStrictEqual(roundTrip({ value: 1, timestamp: ts(), ttlMs: undefined }), lww(1))
})

test('Uint8Array comes back as a Buffer with the same bytes', () => {
  const back = roundTrip(lww(new Uint8Array([9, 8, 7])))
  assert.ok(Buffer.isBuffer(back.value))
  assert.deepStrictEqual([...back.value], [9, 8, 7])
})

test('wrong shapes throw StorageError ERR_VALUE_SHAPE naming the path', () => {
  const s = new Storage()
  const cases = [
    [{ value: 1 }, '$'],
    [{ value: 1, timestamp: { millis: 1, counter: 0 } }, '$.timestamp'],
    [{ value: 1, timestamp: { millis: 'x', counter: 0, nodeId: 'n' } }, '$.timestamp.millis'],
    [{ type: 'OR', records: [{ value: 1, timestamp: ts(), tag: 5 }] }, '$.records[0].tag'],
    [{ type: 'NOPE' }, '$'],
    [{ type: 'OR_TOMBSTONES', tags: [1] }, '$.tags[0]'],
  ]
  for (const [record, path] of cases) {
    assert.throws(
      () => s.put('k', record),
      (e) => e instanceof StorageError && e.code === 'ERR_VALUE_SHAPE' && e.path === path && e.message.includes(path),
      JSON.stringify(record),
    )
  }
  assert.equal(s.size(), 0)
})

test('envelope numbers out of range throw ERR_VALUE_RANGE', () => {
  const s = new Storage()
  assert.throws(
    () => s.put('k', { value: 1, timestamp: { millis: -1, counter: 0, nodeId: 'n' } }),
    (e) => e.code === 'ERR_VALUE_RANGE' && e.path === '$.timestamp.millis',
  )
  assert.throws(
    () => s.put('k', { value: 1, timestamp: { millis: 1, counter: 2 ** 32, nodeId: 'n' } }),
    (e) => e.code === 'ERR_VALUE_RANGE' && e.path === '$.timestamp.counter',
  )
  assert.throws(() => s.put('k', lww(1, { ttlMs: 1.5 })), (e) => e.code === 'ERR_VALUE_RANGE')
})

test('values that cannot be stored are TypeErrors naming the path', () => {
  const s = new Storage()
  const bad = [
    [[new Float64Array(2)], '$.value[0]'],
    [{ 'a\b': new Int32Array(1) }, '$.value["a\\b"]'],
  ]
  for (const [value, path] of bad) {
    assert.throws(
      () => s.put('k', lww(value)),
      (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE' && e.message.endsWith(path),
      path,
    )
  }
})

test('values are normalised as JSON.stringify does for TopGun\'s PostgresAdapter', () => {
  const s = new Storage()
  const when = new Date(1_700_000_000_123)
  const cases = [
    // A Date (msgpackr decodes timestamps as Dates) is its ISO string.
    [lww(when), lww('2023-11-14T22:13:20.123Z')],
    [lww({ at: when, bad: new Date(NaN) }), lww({ at: '2023-11-14T22:13:20.123Z', bad: null })],
    // undefined, functions and symbols: left out of objects, null in arrays.
    [lww(undefined), lww(null)],
    [{ timestamp: ts() }, lww(null)],
    [lww({ f() {}, u: undefined, s: Symbol('x'), keep: 1 }), lww({ keep: 1 })],
    [lww([1, undefined, () => 2, Symbol('y')]), lww([1, null, null, null])],
    [lww(() => 1), lww(null)],
    // toJSON decides, as JSON.stringify lets it (called with the key).
    [lww({ money: { toJSON: (key) => `${key}:12.50` } }), lww({ money: 'money:12.50' })],
    [lww([{ toJSON: (key) => key }]), lww(['0'])],
    [lww({ gone: { toJSON: () => undefined } }), lww({})],
    // Objects JSON has no form for are their own enumerable properties.
    [lww({ m: new Map([['a', 1]]), b: new ArrayBuffer(2) }), lww({ m: {}, b: {} })],
    // Extra fields of a record are ignored; any other `type` is an LWW record.
    [lww(1, { source: 'client', records: [] }), lww(1)],
    [{ type: 'LWW', value: 1, timestamp: ts() }, lww(1)],
    [{ type: 'OR_TOMBSTONES', tags: ['t'], at: when }, { type: 'OR_TOMBSTONES', tags: ['t'] }],
    [
      { type: 'OR', records: [{ value: when, timestamp: { ...ts(), extra: 1 }, tag: 't', by: 'me' }] },
      { type: 'OR', records: [{ value: '2023-11-14T22:13:20.123Z', timestamp: ts(), tag: 't' }] },
    ],
  ]
  for (const [input, stored] of cases) {
    s.put('k', input)
    assert.deepStrictEqual(s.get('k'), stored, JSON.stringify(input) ?? String(input))
  }
  // The same Date arriving as MessagePack (what msgpackr writes for it).
  const bytes = Buffer.from('83a576616c7565d7ff1d5353006553f100a974696d657374616d7083a66d696c6c6973cf0000018bcfe56800a7636f756e74657200a66e6f64654964a66e6f64652d61a574746c4d7301', 'hex')
  assert.equal(decode(bytes).value, '2023-11-14T22:13:20.123Z')
})

test('depth is counted from the user value, as the decoders count it', () => {
  const nest = (n) => {
    let v = 0
    for (let i = 0; i < n; i++) v = [v]
    return v
  }
  const s = new Storage()
  // 256 levels inside an LWW record and inside an OR record: accepted, and
  // what decode returns, put accepts.
  s.put('lww', lww(nest(256)))
  s.put('or', { type: 'OR', records: [{ value: nest(256), timestamp: ts(), tag: 't' }] })
  s.put('again', decode(encode(s.get('lww'))))
  assert.deepStrictEqual(s.get('again'), s.get('lww'))
  assert.deepStrictEqual(s.get('or').records[0].value, nest(256))
  for (const record of [lww(nest(257)), { type: 'OR', records: [{ value: nest(257), timestamp: ts(), tag: 't' }] }]) {
    assert.throws(
      () => s.put('k', record),
      (e) => e instanceof StorageError && e.code === 'ERR_MALFORMED_VALUE' && e.path.endsWith('[0]'.repeat(256)),
    )
  }
  // Far deeper (or cyclic) data is the same error, never a stack overflow.
  assert.throws(() => s.put('k', lww(nest(100_000))), (e) => e.code === 'ERR_MALFORMED_VALUE')
})

test('a key with a control character is escaped in paths as the core escapes it', () => {
  const s = new Storage()
  assert.throws(
    () => s.put('k', lww({ 'a\b': 2n ** 64n })),
    (e) => e.code === 'ERR_VALUE_RANGE' && e.path === '$.value["a\\b"]',
  )
})

test('the top-level value must be an object', () => {
  const s = new Storage()
  for (const v of [undefined, null, 1, 'x', true, [], Buffer.from('x'), 5n]) {
    assert.throws(() => s.put('k', v), TypeError)
  }
})

test('cyclic values are refused, not a crash', () => {
  const s = new Storage()
  const a = { name: 'a' }
  a.self = a
  assert.throws(
    () => s.put('k', lww(a)),
    (e) => e instanceof StorageError && e.code === 'ERR_MALFORMED_VALUE' && /deeper than 256/.test(e.message),
  )
})

test('encode / decode: MessagePack bytes round-trip and bad bytes are typed errors', () => {
  const record = lww({ a: [1, 2.5, 'x', null] }, { ttlMs: 7 })
  const bytes = encode(record)
  assert.ok(Buffer.isBuffer(bytes))
  assert.deepStrictEqual(decode(bytes), record)
  assert.deepStrictEqual(decode(new Uint8Array(bytes)), record)
  // Canonical: the envelope keys in order, smallest forms.
  assert.equal(bytes[0], 0x83) // fixmap of 3
  assert.throws(() => decode(Buffer.from([0xc1])), (e) => e.code === 'ERR_MALFORMED_VALUE')
  assert.throws(() => decode(Buffer.from([0x80])), (e) => e.code === 'ERR_VALUE_SHAPE')
  assert.throws(() => decode(Buffer.concat([bytes, Buffer.from([0])])), (e) => e.code === 'ERR_MALFORMED_VALUE')
  assert.throws(() => decode('not bytes'), TypeError)
  assert.throws(() => encode(1), TypeError)
  assert.throws(() => encode({ value: 1 }), (e) => e.code === 'ERR_VALUE_SHAPE')
})
