'use strict'

// The addon loads and works in two worker threads at once (and in the main
// thread beside them); each environment has its own stores, helpers and
// StorageError class.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Worker } = require('node:worker_threads')
const path = require('node:path')

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads')
const { Storage, TopgunStorageAdapter, StorageError } = require(workerData.pkg)
const ts = { millis: 1, counter: 0, nodeId: 'w' + workerData.id }
;(async () => {
  const s = new Storage()
  for (let i = 0; i < 5000; i++) s.put('k' + i, { value: { worker: workerData.id, i }, timestamp: ts })
  let sum = 0
  for (let i = 0; i < 5000; i++) sum += s.get('k' + i).value.i
  const keys = [...s.keys()].length
  let errorOk = false
  try { s.put('bad', { value: 1 }) } catch (e) { errorOk = e instanceof StorageError && e.code === 'ERR_VALUE_SHAPE' }
  const events = []
  s.subscribe((e) => events.push(e.type))
  s.remove('k0')
  const a = new TopgunStorageAdapter()
  await a.storeAll('m', new Map(Array.from({ length: 5000 }, (_, i) => ['x' + i, { value: i, timestamp: ts }])))
  const loaded = await a.loadAll('m', await a.loadAllKeys('m'))
  for (let i = 0; i < 1000 && events.length === 0; i++) await new Promise((r) => setImmediate(r))
  parentPort.postMessage({ id: workerData.id, sum, keys, errorOk, loaded: loaded.size, events })
})().catch((e) => parentPort.postMessage({ error: String(e && e.stack) }))
`

function run(id) {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerSource, { eval: true, workerData: { id, pkg: path.join(__dirname, '..') } })
    let message
    w.on('message', (m) => (message = m))
    w.on('error', reject)
    w.on('exit', (code) => (code === 0 ? resolve(message) : reject(new Error(`worker ${id} exited with ${code}`))))
  })
}

test('two workers use the addon at the same time', async () => {
  const { Storage } = require('..')
  const main = new Storage()
  main.put('main', { value: 'here', timestamp: { millis: 1, counter: 0, nodeId: 'main' } })
  const results = await Promise.all([run(1), run(2)])
  for (const [i, r] of results.entries()) {
    assert.equal(r.error, undefined)
    assert.deepStrictEqual(r, {
      id: i + 1,
      sum: (4999 * 5000) / 2,
      keys: 5000,
      errorOk: true,
      loaded: 5000,
      events: ['remove'],
    })
  }
  assert.equal(main.get('main').value, 'here', 'the main thread store is untouched')
})

test('a worker can be terminated while it uses the addon', async () => {
  const w = new Worker(
    `const { Storage } = require(${JSON.stringify(path.join(__dirname, '..'))})
     const s = new Storage(); s.subscribe(() => {})
     const ts = { millis: 1, counter: 0, nodeId: 'w' }
     require('node:worker_threads').parentPort.postMessage('ready')
     for (let i = 0; ; i++) s.put('k' + (i % 1000), { value: i, timestamp: ts })`,
    { eval: true },
  )
  await new Promise((resolve) => w.once('message', resolve))
  const code = await w.terminate()
  assert.equal(code, 1)
})

test('the raw addon without the package entry fails with a clear error, not a crash', async () => {
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads')
     const native = require(${JSON.stringify(path.join(__dirname, '..', 'index.js'))})
     const s = new native.Storage()
     const out = {}
     try { s.get('k'); out.get = 'no error' } catch (e) { out.get = e.message }
     try { s.subscribe(() => {}); out.subscribe = 'no error' } catch (e) { out.subscribe = e.message }
     parentPort.postMessage(out)`,
    { eval: true },
  )
  const out = await new Promise((resolve, reject) => {
    w.once('message', resolve)
    w.once('error', reject)
  })
  await new Promise((resolve) => w.once('exit', resolve))
  assert.match(out.get, /without its package entry/)
  assert.match(out.subscribe, /without its package entry/)
})
