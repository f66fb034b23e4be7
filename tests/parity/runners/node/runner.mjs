// The Node parity runner (see tests/parity/README.md).
//
//   node runner.mjs run|write [--backend B --at LOCATION [--durability D]] OUT_DIR SCENARIO.json...
//
// Replays each scenario against the built `topgun-storage` addon (in memory,
// or over backend B: README, "Backends") and writes OUT_DIR/<name>.txt, one
// line per step; `write` runs the write steps of the cross-language
// scenarios Node writes. Values given as JSON are passed as plain objects
// (JS's native form); values read back are JS values, encoded again with the
// package's `encode`. Every call is awaited, so a call that returns a
// Promise (disk work off the event loop) is replayed in order.
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

async function scan (store, page, entries) {
  const out = []
  let cursor = null
  for (;;) {
    const result = await (entries ? store.fetchEntries(cursor, page) : store.fetchKeys(cursor, page))
    out.push(...result.items)
    if (result.finished) return out
    cursor = result.cursor
  }
}

async function runStep (store, clock, step) {
  const key = keyOf(step)
  const options = {}
  if (step.ttl) options.ttl = step.ttl
  if (step.maxIdle) options.maxIdle = step.maxIdle
  switch (step.op) {
    case 'put':
    case 'putPath':
      if ('value' in step) await store.put(key, step.value, options)
      else await store.putMsgpack(key, fromHex(step.msgpack), options)
      return 'ok'
    case 'get':
      return `value=${hexOf(await store.get(key))}`
    case 'getBytes': {
      const bytes = await store.getMsgpack(key)
      return `value=${bytes === undefined ? '-' : bytes.toString('hex')}`
    }
    case 'record': {
      const r = await store.getRecord(key)
      if (r === undefined) return 'value=-'
      return `value=${hexOf(r.value)} version=${r.version} hits=${r.hits} created=${r.creationTime}` +
        ` updated=${r.lastUpdateTime} accessed=${r.lastAccessTime}`
    }
    case 'remove':
      return `removed=${await store.remove(key)}`
    case 'has':
      return `has=${await store.has(key)}`
    case 'len':
      return `len=${await store.size()}`
    case 'cost':
      return `cost=${await store.estimatedCost()}`
    case 'clear':
      await store.clear()
      return `len=${await store.size()}`
    case 'advance':
      return `now=${clock.advance(step.ms ?? 0)}`
    case 'maintain': {
      const r = await store.maintain()
      return `expired=${r.expired} evicted=${r.evicted}`
    }
    case 'scan':
      return `keys=${sortedJoin((await scan(store, step.page ?? 100, false)).map(utf8Hex))}`
    case 'scanEntries':
      return `entries=${sortedJoin((await scan(store, step.page ?? 100, true)).map(([k, v]) => `${utf8Hex(k)}:${hexOf(v)}`))}`
    case 'samples': {
      const sample = await store.randomSamples(step.k ?? 0)
      const live = new Set((await scan(store, 1000, true)).map(([k, v]) => `${k}\u0000${hexOf(v)}`))
      const distinct = new Set(sample.map(([k]) => k)).size === sample.length
      const members = sample.every(([k, v]) => live.has(`${k}\u0000${hexOf(v)}`))
      return `count=${sample.length} distinct=${distinct} members=${members}`
    }
    case 'stats': {
      const s = await store.stats()
      return `hits=${s.hits} misses=${s.misses} puts=${s.puts} updates=${s.updates} removes=${s.removes}` +
        ` evictions=${s.evictions} expirations=${s.expirations} entries=${s.entryCount} cost=${s.totalCost}`
    }
    case 'encode': {
      const value = 'value' in step ? step.value : decode(fromHex(step.msgpack))
      return `hex=${encode(value).toString('hex')}`
    }
    case 'badCursor':
      await store.fetchKeys(fromHex(step.cursor), step.page ?? 10)
      return 'ok'
    default:
      throw new Error(`parity-node: unknown op ${step.op}`)
  }
}

const LANGS = ['rust', 'c', 'python', 'node']

// This addon cannot run the requested backend (the reason is printed).
class NotRun extends Error {}

// Where store `name` lives: [path or connection string, PostgreSQL table].
function location (target, name) {
  if (target.backend === 'postgres') return [target.at, `p_${name.replace(/[^A-Za-z0-9]/g, '_')}`]
  return [join(target.at, `${name}.${target.backend}`), undefined]
}

// The scenario's store: in memory, or over the target's backend at the
// location of store `name`.
async function openStore (target, name, o, clock) {
  const options = { eviction: o.eviction ?? 'none', samples: o.samples ?? 15, clock }
  if (o.ttl) options.ttl = o.ttl
  if (o.maxIdle) options.maxIdle = o.maxIdle
  if (o.maxEntries) options.maxEntries = o.maxEntries
  if (o.maxCost) options.maxCost = o.maxCost
  if (target.backend === undefined) return new Storage(options)
  const [where, table] = location(target, name)
  Object.assign(options, { backend: target.backend, durability: target.durability })
  if (table === undefined) options.path = where
  else Object.assign(options, { postgres: where, options: { table_name: table } })
  let store
  try {
    store = new Storage(options)
  } catch (e) {
    // An addon without durable stores refuses the option names.
    if (/is not built into this library/.test(e.message)) throw new NotRun(e.message)
    if (/unknown option `?(path|backend|durability|postgres|options)\b/.test(e.message)) {
      throw new NotRun(`this addon has no durable Storage (new Storage({ path, backend })): ${e.message}`)
    }
    throw e
  }
  if (store.ready === undefined) {
    throw new NotRun('this addon ignored the durable options of new Storage({ path, backend })')
  }
  try {
    await store.ready
  } catch (e) {
    if (/is not built into this library/.test(e.message)) throw new NotRun(e.message)
    throw e
  }
  return store
}

async function closeStore (store) {
  if (typeof store.close === 'function') await store.close()
}

// A step whose call the store does not have (an addon whose durable Storage
// lacks part of the in-memory surface): its transcript line says so, and
// compare.py reports it as not run (which fails `make parity`).
class Unsupported extends Error {}
const DURABLE_CALLS = {
  put: (step) => ('value' in step ? 'put' : 'putMsgpack'),
  putPath: (step) => ('value' in step ? 'put' : 'putMsgpack'),
  get: () => 'get',
  getBytes: () => 'getMsgpack',
  record: () => 'getRecord',
  remove: () => 'remove',
  has: () => 'has',
  len: () => 'size',
  cost: () => 'estimatedCost',
  clear: () => 'clear',
  maintain: () => 'maintain',
  scan: () => 'fetchKeys',
  scanEntries: () => 'fetchEntries',
  samples: () => 'randomSamples',
  stats: () => 'stats',
  badCursor: () => 'fetchKeys'
}
function checkSupported (store, step) {
  const call = DURABLE_CALLS[step.op]?.(step)
  if (call !== undefined && typeof store[call] !== 'function') throw new Unsupported(`Storage({ path }).${call}`)
}

// Runs `steps` over store `name`; `reopen` closes it and opens it again
// (same location, options and clock).
async function replay (target, name, scenario, steps, outFile) {
  const o = scenario.store ?? {}
  const clock = new ManualClock(o.clock ?? 0)
  let store = await openStore(target, name, o, clock)
  const lines = []
  // After a step the store could not replay, the state differs from the
  // scenario's: later steps are not replayed either (and say why).
  let skipped
  for (const [i, step] of steps.entries()) {
    if (skipped !== undefined) {
      lines.push(`${i + 1} ${step.op} unsupported: a step after ${skipped}\n`)
      continue
    }
    let result
    try {
      if (step.op === 'reopen') {
        const old = store
        store = undefined
        await closeStore(old)
        store = await openStore(target, name, o, clock)
        result = 'ok'
      } else if (store === undefined) {
        result = 'error=closed'
      } else {
        checkSupported(store, step)
        result = await runStep(store, clock, step)
      }
    } catch (e) {
      if (e instanceof Unsupported) {
        lines.push(`${i + 1} ${step.op} unsupported: ${e.message}\n`)
        skipped = e.message
        continue
      }
      if (!(e instanceof StorageError)) throw e
      result = `error=${e.code.replace(/^ERR_/, '').toLowerCase()}`
      if (step.op === 'putPath' && e.path !== undefined) result += ` path=${e.path}`
    }
    lines.push(`${i + 1} ${step.op} ${result}\n`)
  }
  if (store !== undefined) await closeStore(store)
  writeFileSync(outFile, lines.join(''))
}

async function run (mode, target, outDir, path) {
  const scenario = JSON.parse(readFileSync(path, 'utf8'))
  const { name, writer } = scenario
  if (mode === 'write') {
    if (writer === 'node' && target.backend !== undefined) {
      for (const reader of LANGS) {
        await replay(target, `cross.${name}.${reader}`, scenario, scenario.write, join(outDir, `${name}.write.txt`))
      }
    }
    return
  }
  if (scenario.durable && target.backend === undefined) return // not applicable in memory (compare.py says so)
  const storeName = writer ? `cross.${name}.node` : `node.${name}`
  await replay(target, storeName, scenario, scenario.steps, join(outDir, `${name}.txt`))
}

const USAGE = 'usage: node runner.mjs run|write [--backend B --at LOCATION [--durability D]] OUT_DIR SCENARIO.json...'
const [mode, ...args] = process.argv.slice(2)
const target = { backend: undefined, at: '', durability: 'fsync' }
const rest = []
for (let i = 0; i < args.length; i++) {
  if (['--backend', '--at', '--durability'].includes(args[i])) target[args[i].slice(2)] = args[++i]
  else rest.push(args[i])
}
if (target.backend === 'memory') target.backend = undefined
const [outDir, ...paths] = rest
if (!['run', 'write'].includes(mode) || !outDir || paths.length === 0) {
  console.error(USAGE)
  process.exit(2)
}
mkdirSync(outDir, { recursive: true })
try {
  for (const path of paths) await run(mode, target, outDir, path)
} catch (e) {
  if (!(e instanceof NotRun)) throw e
  const reason = `node on ${target.backend}: ${e.message}`
  console.error(`parity-node: NOT RUN: ${reason}`)
  writeFileSync(join(outDir, 'NOT-RUN'), `${reason}\n`)
}
