// The package loads as an ES module with named exports, and both entries
// share one StorageError class.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import pkg, { Storage, TopgunStorageAdapter, StorageError, ErrorCode, encode, decode, partitionForKey } from 'topgun-storage'

const require = createRequire(import.meta.url)

test('ESM named and default exports', async () => {
  const s = new Storage()
  const record = { value: 1, timestamp: { millis: 1, counter: 0, nodeId: 'n' } }
  s.put('k', record)
  assert.deepStrictEqual(s.get('k'), record)
  assert.deepStrictEqual(decode(encode(record)), record)
  assert.equal(partitionForKey('hello'), 95)
  assert.equal(pkg.Storage, Storage)
  const a = new TopgunStorageAdapter()
  await a.store('m', 'k', record)
  assert.deepStrictEqual(await a.load('m', 'k'), record)
  assert.equal(ErrorCode.CLOSED, 'ERR_CLOSED')
})

test('CommonJS and ESM entries share StorageError', () => {
  const cjs = require('topgun-storage')
  assert.equal(cjs.StorageError, StorageError)
  assert.throws(() => new cjs.Storage().put('k', { value: 1 }), StorageError)
})
