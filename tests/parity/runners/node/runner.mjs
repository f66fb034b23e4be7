// The Node parity runner (see tests/parity/README.md).
//
//   node runner.mjs OUT_DIR SCENARIO.json...
//
// Replays each scenario against the built `topgun-storage` addon and writes
// OUT_DIR/<name>.txt, one line per step. Values given as JSON are passed as
// plain objects (JS's native form); values read back are JS values, encoded
// again with the package's `encode`.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const pkg = require('../../../../bindings/node')
const { Storage, ManualClock, StorageError, encode, decode } = pkg

const keyOf = (step) => (step.keyRepeat ? step.keyRepeat[0].repeat(step.keyRepeat[1]) : step.key ?? '')
const utf8Hex = (text) => Buffer.from(text, 'utf8').toString('hex')
const hexOf = (value) => (value === undefined ? '-' : encode(value).toString('hex'))
const fromHex = (hex) => Buffer.from(hex, 'hex')
const sortedJoin = (items) => items.sort().join(',')

function scan (store, page, entries) {
  const out = []
  let cursor = null
  for (;;) {
    const result = entries ? store.fetchEntries(cursor, page) : store.fetchKeys(cursor, page)
    out.push(...result.items)
    if (result.finished) return out
    cursor = result.cursor
  }
}

function runStep (store, clock, step) {
  const key = keyOf(step)
  const options = {}
  if (step.ttl) options.ttl = step.ttl
  if (step.maxIdle) options.maxIdle = step.maxIdle
  switch (step.op) {
    case 'put':
    case 'putPath':
      if ('value' in step) store.put(key, step.value, options)
      else store.putMsgpack(key, fromHex(step.msgpack), options)
      return 'ok'
    case 'get':
      return `value=${hexOf(store.get(key))}`
    case 'getBytes': {
      const bytes = store.getMsgpack(key)
      return `value=${bytes === undefined ? '-' : bytes.toString('hex')}`
    }
    case 'record': {
      const r = store.getRecord(key)
      if (r === undefined) return 'value=-'
      return `value=${hexOf(r.value)} version=${r.version} hits=${r.hits} created=${r.creationTime}` +
        ` updated=${r.lastUpdateTime} accessed=${r.lastAccessTime}`
    }
    case 'remove':
      return `removed=${store.remove(key)}`
    case 'has':
      return `has=${store.has(key)}`
    case 'len':
      return `len=${store.size()}`
    case 'cost':
      return `cost=${store.estimatedCost()}`
    case 'clear':
      store.clear()
      return `len=${store.size()}`
    case 'advance':
      return `now=${clock.advance(step.ms ?? 0)}`
    case 'maintain': {
      const r = store.maintain()
      return `expired=${r.expired} evicted=${r.evicted}`
    }
    case 'scan':
      return `keys=${sortedJoin(scan(store, step.page ?? 100, false).map(utf8Hex))}`
    case 'scanEntries':
      return `entries=${sortedJoin(scan(store, step.page ?? 100, true).map(([k, v]) => `${utf8Hex(k)}:${hexOf(v)}`))}`
    case 'samples': {
      const sample = store.randomSamples(step.k ?? 0)
      const live = new Set(scan(store, 1000, true).map(([k, v]) => `${k}\u0000${hexOf(v)}`))
      const distinct = new Set(sample.map(([k]) => k)).size === sample.length
      const members = sample.every(([k, v]) => live.has(`${k}\u0000${hexOf(v)}`))
      return `count=${sample.length} distinct=${distinct} members=${members}`
    }
    case 'stats': {
      const s = store.stats()
      return `hits=${s.hits} misses=${s.misses} puts=${s.puts} updates=${s.updates} removes=${s.removes}` +
        ` evictions=${s.evictions} expirations=${s.expirations} entries=${s.entryCount} cost=${s.totalCost}`
    }
    case 'encode': {
      const value = 'value' in step ? step.value : decode(fromHex(step.msgpack))
      return `hex=${encode(value).toString('hex')}`
    }
    case 'badCursor':
      store.fetchKeys(fromHex(step.cursor), step.page ?? 10)
      return 'ok'
    default:
      throw new Error(`parity-node: unknown op ${step.op}`)
  }
}

function run (outDir, path) {
  const scenario = JSON.parse(readFileSync(path, 'utf8'))
  const o = scenario.store ?? {}
  const clock = new ManualClock(o.clock ?? 0)
  const options = { eviction: o.eviction ?? 'none', samples: o.samples ?? 15, clock }
  if (o.ttl) options.ttl = o.ttl
  if (o.maxIdle) options.maxIdle = o.maxIdle
  if (o.maxEntries) options.maxEntries = o.maxEntries
  if (o.maxCost) options.maxCost = o.maxCost
  const store = new Storage(options)
  const lines = scenario.steps.map((step, i) => {
    let result
    try {
      result = runStep(store, clock, step)
    } catch (e) {
      if (!(e instanceof StorageError)) throw e
      result = `error=${e.code.replace(/^ERR_/, '').toLowerCase()}`
      if (step.op === 'putPath' && e.path !== undefined) result += ` path=${e.path}`
    }
    return `${i + 1} ${step.op} ${result}\n`
  })
  writeFileSync(join(outDir, `${scenario.name}.txt`), lines.join(''))
}

const [outDir, ...paths] = process.argv.slice(2)
if (!outDir || paths.length === 0) {
  console.error('usage: node runner.mjs OUT_DIR SCENARIO.json...')
  process.exit(2)
}
mkdirSync(outDir, { recursive: true })
for (const path of paths) run(outDir, path)
