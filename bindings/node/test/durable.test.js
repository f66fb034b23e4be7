'use strict'

// Durable stores (docs/node.md, "Durable stores"): TopgunStorageAdapter
// with { path } / { postgres }, Storage with { path }, createStorageAdapter.
// Every backend of the build; PostgreSQL against the throwaway cluster the
// Makefile starts (TOPGUN_TEST_POSTGRES_URL, tests/postgres/cluster.sh).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const {
  Storage,
  DurableStorage,
  TopgunStorageAdapter,
  StorageError,
  ManualClock,
  encode,
  createStorageAdapter,
  storageAdapterOptions,
} = require('..')
const { MAP, expected } = require('./support/dataset.js')
const { lww } = require('./support/fixtures.js')

const CHILD = path.join(__dirname, 'support', 'durable-child.js')
const POSTGRES = process.env.TOPGUN_TEST_POSTGRES_URL

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'topgun-node-durable-'))
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }))
let counter = 0
const fresh = (name) => path.join(tmp, `${name}-${++counter}`)
let tables = 0
const table = () => `node_test_${process.pid}_${++tables}`

/** The options of a new, empty store of `backend`. */
function storeOptions(backend) {
  switch (backend) {
    case 'redb':
      return { path: fresh('maps.redb') }
    case 'lmdb':
    case 'rocksdb':
      return { backend, path: fresh(backend) }
    case 'postgres':
      return { postgres: POSTGRES, tableName: table() }
    default:
      throw new Error(backend)
  }
}

const BACKENDS = ['redb', 'lmdb', 'rocksdb', 'postgres']
const skip = (backend) => (backend === 'postgres' && !POSTGRES ? 'TOPGUN_TEST_POSTGRES_URL is not set (make node-test starts a cluster)' : false)

function child(command, options) {
  return execFileSync(process.execPath, [CHILD, command, JSON.stringify(options)], { encoding: 'utf8' })
}

async function rejects(promise, code, pattern) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof StorageError, `${error}`)
    assert.equal(error.code, code, error.message)
    if (pattern) assert.match(error.message, pattern)
    return true
  })
}

for (const backend of BACKENDS) {
  test(`TopGun-shaped script on ${backend}: written by one process, read back by a new one`, { skip: skip(backend) }, () => {
    const options = storeOptions(backend)
    assert.equal(child('write', options), 'done\n')
    const read = JSON.parse(child('read', options))
    const want = expected()
    assert.equal(read.keys, Object.keys(want).length)
    assert.deepStrictEqual(read.records, want)
  })

  test(`initialize() after close() reopens ${backend} with its data`, { skip: skip(backend) }, async () => {
    const a = new TopgunStorageAdapter(storeOptions(backend))
    assert.equal(a.durable, true)
    await a.initialize()
    await a.initialize() // harmless
    await a.storeAll('m', new Map([['a', lww(1)], ['b', lww({ x: [1, 'y'] })]]))
    await a.store('m', 'c', { type: 'OR_TOMBSTONES', tags: ['t'] })
    await a.close()
    await a.close() // harmless
    await rejects(a.load('m', 'a'), 'ERR_CLOSED', /initialize/)
    await a.initialize()
    assert.deepStrictEqual((await a.loadAllKeys('m')).sort(), ['a', 'b', 'c'])
    assert.deepStrictEqual(await a.load('m', 'b'), lww({ x: [1, 'y'] }))
    assert.deepStrictEqual(await a.loadAll('m', ['c', 'nope', 'a']), new Map([['c', { type: 'OR_TOMBSTONES', tags: ['t'] }], ['a', lww(1)]]))
    await a.deleteAll('m', ['a', 'c'])
    await a.delete('m', 'b')
    assert.deepStrictEqual(await a.loadAllKeys('m'), [])
    await a.close()
  })
}

for (const backend of ['redb', 'lmdb', 'rocksdb']) {
  test(`${backend}: every storeAll acknowledged before SIGKILL is there after it`, async () => {
    const options = storeOptions(backend)
    const proc = spawn(process.execPath, [CHILD, 'acked', JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let acked = 0
    let buffer = ''
    await new Promise((resolve, reject) => {
      proc.on('error', reject)
      proc.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited ${code} ${signal}`))))
      proc.stdout.on('data', (chunk) => {
        buffer += chunk
        const lines = buffer.split('\n')
        buffer = lines.pop()
        for (const line of lines) acked = Number(line.split(' ')[1])
        if (acked >= 30 && !proc.killed) proc.kill('SIGKILL')
      })
    })
    assert.ok(acked >= 30)
    const read = JSON.parse(child('read', options)).records
    for (let n = 1; n <= acked; n++) {
      for (const i of [0, 57, 99]) {
        assert.deepStrictEqual(read[`b${n}-${i}`]?.value, { n, i }, `batch ${n} of ${acked} acknowledged`)
      }
    }
    // A batch is all or nothing, acknowledged or not.
    const batches = new Map()
    for (const key of Object.keys(read)) {
      const n = key.split('-')[0]
      batches.set(n, (batches.get(n) ?? 0) + 1)
    }
    for (const [n, count] of batches) assert.equal(count, 100, `batch ${n}`)
  })
}

test('calls take effect in call order, reads included, without awaiting', async () => {
  const a = new TopgunStorageAdapter(storeOptions('redb'))
  a.initialize() // not awaited: the next calls queue behind it
  const steps = []
  const model = new Map()
  // A fixed pseudo-random sequence over few keys.
  let seed = 7
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648)
  for (let i = 0; i < 600; i++) {
    const key = `k${next() % 5}`
    const r = next() % 10
    if (r < 5) {
      const record = lww(i)
      steps.push(a.store('m', key, record))
      model.set(key, record)
    } else if (r < 6) {
      const records = new Map([[key, lww(-i)], [`k${(next() % 5)}`, lww(i * 2)]])
      steps.push(a.storeAll('m', records))
      for (const [k, v] of records) model.set(k, v)
    } else if (r < 8) {
      steps.push(a.delete('m', key))
      model.delete(key)
    } else {
      const want = model.get(key)
      steps.push(a.load('m', key).then((got) => assert.deepStrictEqual(got, want, `load of ${key} at step ${i}`)))
    }
  }
  await Promise.all(steps)
  const keys = (await a.loadAllKeys('m')).sort()
  assert.deepStrictEqual(keys, [...model.keys()].sort())
  assert.deepStrictEqual(await a.loadAll('m', keys), new Map(keys.map((k) => [k, model.get(k)])))
  await a.close()
})

test('a large storeAll leaves the event loop running (timers and immediates fire while it is pending)', async () => {
  const a = new TopgunStorageAdapter({ ...storeOptions('redb'), durability: 'fsync' })
  await a.initialize()
  const records = new Map()
  for (let i = 0; i < 50_000; i++) records.set(`key-${i}`, lww({ i, text: 'x'.repeat(100) }))
  let settled = false
  let immediates = 0
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  const spin = () => {
    if (settled) return
    immediates++
    setImmediate(spin)
  }
  const pending = a.storeAll('m', records).then(() => (settled = true))
  setImmediate(spin)
  await pending
  clearInterval(timer)
  // A store written on the JavaScript thread would resolve with no turn of
  // the event loop in between (immediates = 0).
  assert.ok(immediates > 10, `event loop turns while storeAll was pending: ${immediates}`)
  assert.ok(ticks > 0, `timer ticks while storeAll was pending: ${ticks}`)
  assert.equal((await a.loadAllKeys('m')).length, 50_000)
  await a.close()
})

test('a file another store holds: ERR_LOCKED (same process and another process)', async () => {
  const options = storeOptions('redb')
  const first = new TopgunStorageAdapter(options)
  await first.initialize()
  const second = new TopgunStorageAdapter(options)
  await rejects(second.initialize(), 'ERR_LOCKED')
  await rejects(second.load('m', 'k'), 'ERR_LOCKED') // what the failed open said
  await first.close()
  await second.initialize() // free now
  await second.close()

  const proc = spawn(process.execPath, [CHILD, 'hold', JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((resolve) => proc.stdout.once('data', resolve))
  try {
    await rejects(new TopgunStorageAdapter(options).initialize(), 'ERR_LOCKED')
    const storage = new Storage({ ...options })
    await rejects(storage.ready, 'ERR_LOCKED')
  } finally {
    proc.kill('SIGKILL')
  }
})

test('a damaged file: ERR_CORRUPT, never an empty store', async () => {
  const file = fresh('damaged.redb')
  fs.writeFileSync(file, Buffer.alloc(64 * 1024, 0x5a))
  const a = new TopgunStorageAdapter({ path: file })
  await assert.rejects(a.initialize(), (e) => e instanceof StorageError && ['ERR_CORRUPT', 'ERR_IO'].includes(e.code))
})

test('bad options: clear errors, thrown by the constructor', () => {
  const check = (options, type, code, pattern) =>
    assert.throws(
      () => new TopgunStorageAdapter(options),
      (e) => {
        assert.ok(e instanceof type, `${e}`)
        if (code) assert.equal(e.code, code)
        assert.match(e.message, pattern)
        return true
      },
    )
  check({ backend: 'sqlite', path: 'x' }, StorageError, 'ERR_REJECTED', /unknown backend "sqlite"/)
  check({ path: 'x', durability: 'always' }, StorageError, 'ERR_REJECTED', /durability/)
  check({ path: 'x', options: { bogus: 1 } }, StorageError, 'ERR_REJECTED', /unknown option "bogus"/)
  check({ path: 'x', options: { write_batch_size: 0 } }, StorageError, 'ERR_REJECTED', /write_batch_size/)
  check({ path: 'x', options: { max_map_size: 10 } }, StorageError, 'ERR_REJECTED', /lmdb backend/)
  check({ backend: 'lmdb' }, StorageError, 'ERR_REJECTED', /needs a path/)
  check({ backend: 'memory', path: 'x' }, StorageError, 'ERR_REJECTED', /no path/)
  check({ path: 'x', postgres: 'postgres://h/db' }, StorageError, 'ERR_INVALID_ARGUMENT', /give one/)
  check({ path: 'x', writeBehind: 'yes' }, TypeError, 'ERR_INVALID_ARG_TYPE', /writeBehind must be a boolean/)
  check({ path: 42 }, TypeError, 'ERR_INVALID_ARG_TYPE', /options.path must be a string/)
  check({ path: 'x', colour: 'red' }, StorageError, 'ERR_INVALID_ARGUMENT', /unknown option `colour`/)
  assert.throws(() => new Storage({ path: 'x', maps: {} }), /unknown option `maps`/)
})

test('a connection string that does not parse: ERR_REJECTED when it opens', async () => {
  await rejects(new TopgunStorageAdapter({ postgres: 'not a url at all ===' }).initialize(), 'ERR_REJECTED', /connection string/)
})

test('wrong argument types reject with TypeError and queue nothing', async () => {
  const a = new TopgunStorageAdapter(storeOptions('redb'))
  await a.initialize()
  await assert.rejects(a.store('m', 1, lww(1)), TypeError)
  await assert.rejects(a.storeAll('m', 5), TypeError)
  await assert.rejects(a.store('m', 'k', { value: 1 }), StorageError)
  assert.deepStrictEqual(await a.loadAllKeys('m'), [])
  await a.close()
})

test('write-behind with its log: acknowledged writes are back after close and reopen', async () => {
  const options = { path: fresh('wb.redb'), writeBehind: true, options: { write_delay_ms: 0 } }
  const a = new TopgunStorageAdapter(options)
  await a.initialize()
  for (let i = 0; i < 100; i++) a.store('m', `k${i}`, lww(i))
  await a.flush()
  await a.close()
  assert.ok(fs.existsSync(`${options.path}.wal`))
  const b = new TopgunStorageAdapter(options)
  await b.initialize()
  assert.equal((await b.loadAllKeys('m')).length, 100)
  await b.close()
})

test('new Storage({ path }): a DurableStorage, Promises in call order, data back after reopen and in a new process', async () => {
  const file = fresh('storage.redb')
  const s = new Storage({ path: file, durability: 'os' })
  assert.ok(s instanceof DurableStorage)
  assert.ok(!(new Storage() instanceof DurableStorage))
  assert.ok(new Storage({ ttl: 5 }) instanceof Storage)
  await s.ready
  const results = [s.put('a', lww(1)), s.put('a', lww(2)), s.get('a'), s.remove('a'), s.has('a'), s.putMany([['b', lww('b')], ['c', lww('c')]])]
  assert.deepStrictEqual(await Promise.all(results), [false, true, lww(2), true, false, 2])
  assert.deepStrictEqual(await s.getMany(['b', 'x', 'c']), [lww('b'), undefined, lww('c')])
  assert.equal(s.size(), 2)
  await s.close()
  await rejects(s.get('b'), 'ERR_CLOSED', /open\(\)/)
  await s.open()
  assert.equal(s.size(), 0, 'reopened lazily: nothing in memory yet')
  assert.deepStrictEqual(await s.get('c'), lww('c'))
  assert.equal(await s.warmUp(), 1, 'b loaded; c already in memory')
  await s.close()

  // The same file through the adapter of another process: Storage files its
  // records under the map "default".
  const read = JSON.parse(
    execFileSync(process.execPath, ['-e', `
      const { TopgunStorageAdapter } = require(${JSON.stringify(path.join(__dirname, '..'))})
      ;(async () => {
        const a = new TopgunStorageAdapter({ path: ${JSON.stringify(file)} })
        await a.initialize()
        const keys = (await a.loadAllKeys('default')).sort()
        process.stdout.write(JSON.stringify(Object.fromEntries(await a.loadAll('default', keys))))
        await a.close()
      })()`], { encoding: 'utf8' }),
  )
  assert.deepStrictEqual(read, { b: lww('b'), c: lww('c') })
})

test('Storage with backend memory and write-behind: the durable API over memory', async () => {
  const s = new Storage({ backend: 'memory', writeBehind: true, options: { write_delay_ms: 0 } })
  await s.ready
  await s.put('k', lww(1))
  await s.flush()
  assert.deepStrictEqual(await s.get('k'), lww(1))
  await s.close()
})

test('storageAdapterOptions reads TopGun\'s config fields and environment variables', () => {
  assert.deepStrictEqual(storageAdapterOptions({}, {}), {})
  assert.deepStrictEqual(storageAdapterOptions({ ttl: 5 }, { STORAGE_MODE: 'memory' }), { ttl: 5 })
  assert.deepStrictEqual(storageAdapterOptions({}, { STORAGE_MODE: 'sqlite', DB_PATH: '/d/x.db' }), { backend: 'redb', path: '/d/x.db' })
  assert.deepStrictEqual(storageAdapterOptions({}, { STORAGE_MODE: 'sqlite' }), { backend: 'redb', path: './topgun.redb' })
  assert.deepStrictEqual(storageAdapterOptions({ mode: 'sqlite', sqlitePath: '/a', sqliteVerbose: true }, { DB_PATH: '/b' }), { backend: 'redb', path: '/a' })
  assert.deepStrictEqual(storageAdapterOptions({ mode: 'rocksdb', durability: 'os' }, { DB_PATH: '/r' }), { backend: 'rocksdb', path: '/r', durability: 'os' })
  assert.deepStrictEqual(storageAdapterOptions({}, { STORAGE_MODE: 'postgres', DATABASE_URL: 'postgres://u@h/d' }), { postgres: 'postgres://u@h/d' })
  assert.deepStrictEqual(
    storageAdapterOptions({ tableName: 'maps' }, { STORAGE_MODE: 'postgres', DB_HOST: 'db', DB_PORT: '5433', DB_USER: 'u', DB_PASSWORD: "p'w\\", DB_NAME: 'topgun' }),
    { tableName: 'maps', postgres: "host='db' port='5433' user='u' password='p\\'w\\\\' dbname='topgun'" },
  )
  assert.deepStrictEqual(
    storageAdapterOptions({ mode: 'postgres', postgresConnectionString: 'postgres://c' }, { DATABASE_URL: 'postgres://e' }),
    { postgres: 'postgres://c' },
  )
  assert.throws(() => storageAdapterOptions({}, { STORAGE_MODE: 'mongo' }), /unknown storage mode "mongo"/)
  assert.throws(() => storageAdapterOptions({ mode: 'postgres' }, {}), /connectionString or at least one of host/)
})

test('createStorageAdapter: STORAGE_MODE=sqlite and DB_PATH give an initialized durable adapter', async () => {
  const file = fresh('factory.redb')
  const a = await createStorageAdapter(undefined, { STORAGE_MODE: 'sqlite', DB_PATH: file })
  assert.equal(a.durable, true)
  await a.store('m', 'k', lww(1))
  await a.close()
  const b = await createStorageAdapter({ mode: 'redb', path: file })
  assert.deepStrictEqual(await b.load('m', 'k'), lww(1))
  await b.close()
  const memory = await createStorageAdapter(undefined, {})
  assert.equal(memory.durable, false)
})

test('createStorageAdapter: STORAGE_MODE=postgres with DATABASE_URL, and a pg-style config', { skip: skip('postgres') }, async () => {
  const tableName = table()
  const a = await createStorageAdapter({ tableName }, { STORAGE_MODE: 'postgres', DATABASE_URL: POSTGRES })
  await a.store('m', 'k', lww({ deep: [1, 2] }))
  await a.close()
  const url = new URL(POSTGRES)
  const b = new TopgunStorageAdapter({
    postgres: { host: url.hostname, port: url.port, user: decodeURIComponent(url.username), database: url.pathname.slice(1) },
    tableName,
  })
  await b.initialize()
  assert.deepStrictEqual(await b.load('m', 'k'), lww({ deep: [1, 2] }))
  await b.close()
})

/** The options of a new, empty durable `Storage` of `backend`. */
function durableStorageOptions(backend) {
  const { tableName, ...options } = storeOptions(backend)
  return tableName === undefined ? options : { ...options, options: { table_name: tableName } }
}

/** Every key (or `[key, value]` pair) of `s`'s memory, through pages of `size`. */
async function pages(s, entries, size) {
  const out = []
  let cursor = null
  for (;;) {
    const page = await (entries ? s.fetchEntries(cursor, size) : s.fetchKeys(cursor, size))
    assert.ok(Buffer.isBuffer(page.cursor))
    out.push(...page.items)
    if (page.finished) return out
    cursor = page.cursor
  }
}

for (const backend of BACKENDS) {
  test(`DurableStorage on ${backend}: getRecord / getMsgpack find a record only on disk after a reopen; clear empties the disk`, { skip: skip(backend) }, async () => {
    const options = durableStorageOptions(backend)
    const s = new Storage(options)
    await s.ready
    assert.equal(await s.putMsgpack('a', encode(lww(1))), false)
    assert.equal(await s.put('b', lww('b')), false)
    assert.equal(await s.putMsgpack('a', encode(lww(2))), true)
    await s.close()
    await s.open()
    assert.equal(s.size(), 0, 'nothing in memory after the reopen')
    const record = await s.getRecord('a')
    assert.deepStrictEqual(record.value, lww(2))
    assert.deepStrictEqual(await s.getMsgpack('b'), encode(lww('b')))
    assert.equal(s.size(), 2, 'both loaded and kept')
    await s.close()

    const t = new Storage(options)
    await t.ready
    assert.equal(await t.put('c', lww('c')), false)
    // a and b only on disk, c in memory (and on disk): every key is removed.
    assert.equal(await t.clear(), 3)
    assert.equal(t.size(), 0)
    assert.equal(await t.has('a'), false)
    await t.close()
    const u = new Storage(options)
    await u.ready
    assert.equal(await u.warmUp(), 0, 'the data store is empty')
    assert.equal(await u.getRecord('a'), undefined)
    assert.equal(await u.getMsgpack('b'), undefined)
    await u.close()
  })
}

test('DurableStorage putMsgpack / getMsgpack: bytes in and out, checked as in memory', async () => {
  const s = new Storage({ path: fresh('msgpack.redb'), durability: 'os' })
  await s.ready
  const bytes = encode(lww({ n: 1 }))
  const results = [s.putMsgpack('k', bytes), s.getMsgpack('k'), s.get('k'), s.putMsgpack('k', bytes, { ttl: 1000 }), s.getMsgpack('x')]
  const [created, back, value, replaced, missing] = await Promise.all(results)
  assert.equal(created, false)
  assert.ok(Buffer.isBuffer(back))
  assert.deepStrictEqual(back, bytes)
  assert.deepStrictEqual(value, lww({ n: 1 }))
  assert.equal(replaced, true)
  assert.equal(missing, undefined)
  await assert.rejects(s.putMsgpack('k', 'not bytes'), TypeError)
  await assert.rejects(s.putMsgpack(1, bytes), TypeError)
  await rejects(s.putMsgpack('k', Buffer.from([0xc1])), 'ERR_MALFORMED_VALUE')
  await rejects(s.putMsgpack('k', bytes, { ttl: -1 }), 'ERR_INVALID_ARGUMENT')
  await assert.rejects(s.getMsgpack(5), TypeError)
  assert.deepStrictEqual(await s.getMsgpack('k'), bytes, 'a refused write changed nothing')
  await s.close()
  await rejects(s.getMsgpack('k'), 'ERR_CLOSED')
  await rejects(s.putMsgpack('k', bytes), 'ERR_CLOSED')
})

test('DurableStorage getRecord: the record and its metadata, an access like get', async () => {
  const clock = new ManualClock(1_000_000)
  const s = new Storage({ path: fresh('record.redb'), durability: 'os', clock, ttl: 60_000 })
  await s.ready
  await s.put('k', lww(1))
  clock.advance(5)
  const r = await s.getRecord('k')
  assert.deepStrictEqual(r.value, lww(1))
  assert.equal(r.version, 1)
  assert.equal(r.hits, 1)
  assert.equal(r.creationTime, 1_000_000)
  assert.equal(r.lastAccessTime, 1_000_005)
  assert.equal(r.expirationTime, 1_060_000)
  assert.ok(r.cost > 0)
  assert.equal(await s.getRecord('missing'), undefined)
  await assert.rejects(s.getRecord(1), TypeError)
  await s.close()
  await rejects(s.getRecord('k'), 'ERR_CLOSED')
})

test('DurableStorage estimatedCost / stats / maintain / randomSamples: as in memory, over memory', async () => {
  const clock = new ManualClock(1_000_000)
  const s = new Storage({ path: fresh('counters.redb'), durability: 'os', clock })
  const memory = new Storage({ clock })
  for (const target of [s, memory]) {
    await target.put('a', lww(1))
    await target.put('b', lww(2), { ttl: 10 })
    await target.put('c', lww(3))
    await target.get('a')
    await target.get('zz')
  }
  assert.equal(await s.estimatedCost(), memory.estimatedCost())
  const stats = await s.stats()
  assert.deepStrictEqual({ ...stats }, { ...memory.stats() })
  assert.equal(stats.observerErrors, 0)
  assert.equal(stats.entryCount, 3)
  assert.equal(stats.totalCost, await s.estimatedCost())
  clock.advance(20)
  const report = await s.maintain()
  assert.deepStrictEqual({ ...report }, { ...memory.maintain() })
  assert.equal(report.expired, 1)
  assert.equal(report.evicted, 0)
  const samples = await s.randomSamples(5)
  assert.equal(samples.length, 2)
  assert.deepStrictEqual(new Map(samples), new Map([['a', lww(1)], ['c', lww(3)]]))
  assert.deepStrictEqual(await s.randomSamples(0), [])
  await assert.rejects(s.randomSamples('2'), TypeError)
  await rejects(s.randomSamples(-1), 'ERR_INVALID_ARGUMENT')
  await s.close()
  await rejects(s.estimatedCost(), 'ERR_CLOSED')
  await rejects(s.stats(), 'ERR_CLOSED')
  await rejects(s.maintain(), 'ERR_CLOSED')
  await rejects(s.randomSamples(1), 'ERR_CLOSED')
  await rejects(s.clear(), 'ERR_CLOSED')
})

test('DurableStorage fetchKeys / fetchEntries: pages of memory through the cursor, errors as in memory', async () => {
  const s = new Storage({ path: fresh('pages.redb'), durability: 'os' })
  await s.ready
  const want = Array.from({ length: 7 }, (_, i) => [`k${i}`, lww(i)])
  assert.equal(await s.putMany(want), 7)
  assert.deepStrictEqual((await pages(s, false, 3)).sort(), want.map(([k]) => k))
  const entries = await pages(s, true, 2)
  assert.deepStrictEqual(new Map(entries), new Map(want))
  assert.equal(entries.length, 7)
  await rejects(s.fetchKeys(Buffer.from('not a cursor'), 10), 'ERR_INVALID_CURSOR')
  await rejects(s.fetchEntries(Buffer.alloc(5, 1), 10), 'ERR_INVALID_CURSOR')
  await assert.rejects(s.fetchKeys(null, '10'), TypeError)
  await assert.rejects(s.fetchEntries(7, 10), TypeError)
  // Memory only, as Python's durable fetch_keys: a key only on disk is
  // listed once loaded.
  await s.close()
  await s.open()
  assert.deepStrictEqual(await pages(s, false, 10), [])
  assert.equal(await s.warmUp(), 7)
  assert.equal((await pages(s, false, 10)).length, 7)
  await s.close()
  await rejects(s.fetchKeys(null, 10), 'ERR_CLOSED')
  await rejects(s.fetchEntries(null, 10), 'ERR_CLOSED')
})
