'use strict'

// The byte path (lib/packed.js, src/packed.rs) against the addon's object
// path: every value stored, read and refused the same way by both.

const test = require('node:test')
const assert = require('node:assert/strict')
const { Storage, MapStorage } = require('..')
const { objectPath } = require('../lib/packed.js')

const ts = { millis: 1_700_000_000_000, counter: 3, nodeId: 'node-1' }
const lww = (value, extra = {}) => ({ value, timestamp: { ...ts }, ...extra })

class Point {
  constructor() {
    this.x = 1
  }
}
const deep = (n) => {
  let v = 'leaf'
  for (let i = 0; i < n; i++) v = { v }
  return v
}
const nullProto = Object.assign(Object.create(null), { a: 1, b: [2, 'x'] })
const holes = [1, , 3] // eslint-disable-line no-sparse-arrays

// Values both paths must store and return alike.
const values = {
  string: lww('hello'),
  'nested object': lww({ name: 'ann', email: 'a@example.com', age: 41, tags: ['a', 'b'] }),
  numbers: lww([0, -0, 1, -1, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 2 ** 60, 1.5, -2.25, NaN, Infinity, -Infinity, 1e300]),
  'minus zero alone': lww(-0),
  bigints: lww([5n, -(2n ** 62n), 2n ** 60n]),
  'safe integer beyond 32 bits in an object': lww({ n: 4_000_000_000, m: -4_000_000_000 }),
  'null and booleans': lww({ a: null, b: true, c: false }),
  'null value (tombstone)': lww(null),
  'bytes': lww({ b: Buffer.from([1, 2, 3]), u: new Uint8Array([4, 5]) }),
  'undefined, function and symbol properties': lww({ a: undefined, f() {}, s: Symbol('s'), k: 1, arr: [undefined, () => 1] }),
  'a Date and toJSON': lww({ d: new Date(0), t: { toJSON: () => 'tj' }, r: { toJSON: () => undefined } }),
  'a Map, a Set and a class instance': lww({ m: new Map([[1, 2]]), s: new Set([1]), p: new Point() }),
  'a __proto__ own key': lww(JSON.parse('{"__proto__": {"x": 1}, "a": 2}')),
  'integer-like keys': lww({ b: 1, 2: 'two', 1: 'one', a: 0 }),
  'a null-prototype object': lww(nullProto),
  'an array with holes': lww(holes),
  'deep nesting': lww(deep(100)),
  'a string larger than the scratch buffer': lww('x'.repeat(100_000)),
  'well-formed surrogate pairs': lww({ 'k\u{1F600}': '\u{1F600}\u{10FFFF}' }),
  'ttlMs': lww({ a: 1 }, { ttlMs: 5000 }),
  'ttlMs beyond 2^53': lww({ a: 1 }, { ttlMs: 2n ** 60n }),
  'millis beyond 2^53': { value: 1, timestamp: { millis: 2n ** 60n, counter: 0, nodeId: 'n' } },
  'OR record': { type: 'OR', records: [{ value: { x: 1 }, timestamp: { ...ts }, tag: 't1' }, { value: 2, timestamp: { ...ts }, tag: 't2', ttlMs: 9 }] },
  'OR tombstones': { type: 'OR_TOMBSTONES', tags: ['t1', 't2'] },
}

// Values both paths must refuse alike.
const bad = {
  'a lone surrogate in a string': lww({ s: 'a\ud800b' }),
  'a long string with a lone surrogate': lww('y'.repeat(200) + '\udc00'),
  'a lone surrogate in a key': lww({ ['k\ud800']: 1 }),
  'a BigInt out of range': lww(2n ** 64n),
  'a wrong shape': { value: 1, timestamp: { millis: 'soon', counter: 0, nodeId: 'n' } },
  'a negative counter': { value: 1, timestamp: { millis: 1, counter: -1, nodeId: 'n' } },
  'a fractional millis': { value: 1, timestamp: { millis: 1.5, counter: 0, nodeId: 'n' } },
  'a Float64Array': lww(new Float64Array(2)),
  'too deep': lww(deep(300)),
  'not an object': 'text',
  'an array': [1, 2],
}

const caught = (fn) => {
  try {
    fn()
  } catch (e) {
    return { name: e.name, message: e.message, code: e.code, path: e.path }
  }
  assert.fail('expected an error')
}

test('the byte path stores and returns every value as the object path does', () => {
  for (const [name, v] of Object.entries(values)) {
    const bytes = new Storage()
    const objects = new Storage()
    assert.equal(bytes.put('k', v), false, name)
    objectPath.Storage.put.call(objects, 'k', v)
    const expected = objectPath.Storage.get.call(objects, 'k')
    assert.deepEqual(objectPath.Storage.get.call(bytes, 'k'), expected, `${name}: stored`)
    assert.deepEqual(bytes.get('k'), expected, `${name}: get`)
    assert.deepEqual(objects.get('k'), expected, `${name}: get of the object path's record`)
    assert.deepEqual(bytes.getMany(['k', 'missing', 'k']), [expected, undefined, expected], `${name}: getMany`)
    assert.equal(bytes.put('k', v), true, `${name}: replaced`)
    assert.equal(bytes.stats().hits, 4, `${name}: every read counted once`)
    assert.equal(bytes.estimatedCost(), objects.estimatedCost(), `${name}: same cost`)
  }
})

test('putMany and the adapter calls take the byte path with the same results', () => {
  const entries = Object.entries(values)
  const bytes = new Storage()
  const objects = new Storage()
  assert.equal(bytes.putMany(new Map(entries)), entries.length)
  objectPath.Storage.putMany.call(objects, entries)
  const names = entries.map(([k]) => k)
  assert.deepEqual(bytes.getMany(names), objectPath.Storage.getMany.call(objects, names))

  const maps = new MapStorage()
  const reference = new MapStorage()
  maps.storeAll('m', entries.slice(0, 10))
  for (const [k, v] of entries.slice(10)) maps.store('m', k, v)
  objectPath.MapStorage.storeAll.call(reference, 'm', entries)
  for (const k of names) assert.deepEqual(maps.load('m', k), objectPath.MapStorage.load.call(reference, 'm', k), k)
  const asked = [...names, 'missing']
  assert.deepEqual(maps.loadAll('m', asked), objectPath.MapStorage.loadAll.call(reference, 'm', asked))
  assert.equal(maps.load('m', 'missing'), undefined)
})

test('the byte path refuses every bad value as the object path does, and writes nothing', () => {
  for (const [name, v] of Object.entries(bad)) {
    const bytes = new Storage()
    const objects = new Storage()
    const expected = caught(() => objectPath.Storage.put.call(objects, 'k', v))
    assert.deepEqual(caught(() => bytes.put('k', v)), expected, `${name}: put`)
    assert.deepEqual(caught(() => bytes.putMany([['a', lww(1)], ['k', v]])), caught(() => objectPath.Storage.putMany.call(objects, [['a', lww(1)], ['k', v]])), `${name}: putMany`)
    assert.equal(bytes.size(), 0, `${name}: nothing written`)
    const maps = new MapStorage()
    const reference = new MapStorage()
    assert.deepEqual(caught(() => maps.store('m', 'k', v)), caught(() => objectPath.MapStorage.store.call(reference, 'm', 'k', v)), `${name}: store`)
    assert.deepEqual(caught(() => maps.storeAll('m', [['k', v]])), caught(() => objectPath.MapStorage.storeAll.call(reference, 'm', [['k', v]])), `${name}: storeAll`)
  }
})

test('wrong argument types fail as before on the byte path', () => {
  const s = new Storage()
  for (const [fn, reference] of [
    [() => s.get(1), () => objectPath.Storage.get.call(s, 1)],
    [() => s.getMany('k'), () => objectPath.Storage.getMany.call(s, 'k')],
    [() => s.getMany([1]), () => objectPath.Storage.getMany.call(s, [1])],
    [() => s.put(1, lww(1)), () => objectPath.Storage.put.call(s, 1, lww(1))],
    [() => s.put('k', lww(1), { ttl: -1 }), () => objectPath.Storage.put.call(s, 'k', lww(1), { ttl: -1 })],
    [() => s.putMany(5), () => objectPath.Storage.putMany.call(s, 5)],
    [() => s.putMany([['k']]), () => objectPath.Storage.putMany.call(s, [['k']])],
    [() => s.get('\ud800'), () => objectPath.Storage.get.call(s, '\ud800')],
  ]) {
    assert.deepEqual(caught(fn), caught(reference))
  }
})

test('a generator of entries is read once', () => {
  const s = new Storage()
  function* gen() {
    yield ['a', lww(1)]
    yield ['b', lww({ d: new Date(0) })]
  }
  assert.equal(s.putMany(gen()), 2)
  assert.deepEqual(s.get('b'), lww({ d: '1970-01-01T00:00:00.000Z' }))
})
