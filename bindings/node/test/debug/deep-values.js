'use strict'

// Deep values against a DEBUG build of the addon (`make node-test` builds
// one and runs this with its path). Debug frames are large, and a converter
// that recursed once per level overflowed the part of the native stack V8
// lends the addon at about 230 levels, killing the process. The converters
// are loops now: values at the depth limit go both ways, and far deeper
// (or cyclic) ones are an ERR_MALFORMED_VALUE, never a crash.

const assert = require('node:assert/strict')

const addon = process.argv[2]
if (!addon) throw new Error('usage: node deep-values.js path/to/debug/topgun-storage.node')
const native = require(addon)
const packed = require('../../lib/packed.js')
native.__init({ ...require('../../lib/helpers.js'), scratch: packed.scratch })
// The byte path too: reads encode records (recursively, in the core's
// encoder) straight into the scratch buffer.
packed.install(native)
const { Storage, encode, decode } = native

const ts = { millis: 1_700_000_000_000, counter: 0, nodeId: 'n' }
const nest = (n, inner = 0) => {
  let v = inner
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { d: v }
  return v
}

let passed = 0
const check = (name, body) => {
  body()
  passed += 1
  console.log(`ok - ${name}`)
}

check('256 levels inside an LWW record go in and out', () => {
  const s = new Storage()
  const record = { value: nest(256), timestamp: ts }
  s.put('k', record)
  assert.deepStrictEqual(s.get('k'), record)
  assert.deepStrictEqual(decode(encode(record)), record)
  assert.deepStrictEqual(s.getMany(['k']), [record])
})

check('256 levels inside an OR record go in and out', () => {
  const s = new Storage()
  const record = { type: 'OR', records: [{ value: nest(256), timestamp: ts, tag: 't' }] }
  s.putMany([['k', record]])
  assert.deepStrictEqual(s.get('k'), record)
})

check('far deeper and cyclic values are errors, not a crash', () => {
  const s = new Storage()
  for (const value of [nest(257), nest(100_000)]) {
    assert.throws(() => s.put('k', { value, timestamp: ts }), (e) => e.code === 'ERR_MALFORMED_VALUE')
  }
  const cyclic = {}
  cyclic.self = cyclic
  assert.throws(() => s.put('k', { value: cyclic, timestamp: ts }), (e) => e.code === 'ERR_MALFORMED_VALUE')
  assert.equal(s.size(), 0)
})

console.log(`${passed} passed, 0 failed`)
