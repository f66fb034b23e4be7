// `make demo`, Node part: the workload of examples/README.md through the
// addon over a redb file, printing what it did and the digest of the final
// state; then, in a second process, the file read back (its digest equal to
// the first one's, and to the other languages' digests).
//
//   node demo.mjs write PATH   the workload over a new redb file at PATH
//   node demo.mjs read PATH    PATH opened again, read back, its digest
//
// A durable Storage returns a Promise from every call (the disk work runs
// on libuv's thread pool, in call order). Its API has no scan, sample or
// maintain: the digest is computed from getMany over every key of the
// workload, which returns exactly the live records.
import { rmSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { Storage, ManualClock, encode, decode, partitionForKey } = require('../../bindings/node')

const N = 100_000
const START = 1_700_000_000_000
const TTL = 60_000

const value = (i) => ({
  value: { id: i, name: `user-${i}`, score: i + 0.25 },
  timestamp: { millis: START + i, counter: 0, nodeId: 'demo-node' }
})
const rate = (n, ms) => `${(n / ms / 1e3).toFixed(2)} M ops/s`
const since = (t) => Number(process.hrtime.bigint() - t) / 1e6

// FNV-1a 64 of each key, a 0xff byte and its MessagePack value, summed
// modulo 2^64 (independent of order), over the live records among `keys`.
async function digest (store, keys) {
  const MASK = (1n << 64n) - 1n
  const PRIME = 0x100000001b3n
  let sum = 0n
  const values = await store.getMany(keys)
  values.forEach((record, i) => {
    if (record === undefined) return
    let h = 0xcbf29ce484222325n
    for (const bytes of [Buffer.from(keys[i], 'utf8'), Buffer.from([0xff]), encode(record)]) {
      for (const b of bytes) h = ((h ^ BigInt(b)) * PRIME) & MASK
    }
    sum = (sum + h) & MASK
  })
  return sum.toString(16).padStart(16, '0')
}

const allKeys = Array.from({ length: N }, (_, i) => `user:${i}`)

// The first process: the workload over a new file (durability `os`: an
// acknowledged write is in the operating system when its Promise resolves,
// so it survives the end of the process; `fsync`, the default, also
// survives power loss), then the file closed.
async function write (path) {
  rmSync(path, { force: true })
  const clock = new ManualClock(START)
  const store = new Storage({ path, durability: 'os', clock })
  await store.ready
  console.log(`topgun-storage Node demo: node ${process.version}, writing ${path} (redb, durability os)`)

  let t = process.hrtime.bigint()
  const withTtl = []
  const others = []
  for (let i = 0; i < N; i++) (i % 10 === 0 ? withTtl : others).push([`user:${i}`, value(i)])
  await store.putMany(withTtl, { ttl: TTL })
  await store.putMany(others)
  let ms = since(t)
  console.log(`put      ${N} records in ${ms.toFixed(1)} ms (${rate(N, ms)}, two putMany); len ${store.size()}`)

  t = process.hrtime.bigint()
  const found = await store.getMany(allKeys.map((_, i) => `user:${(i * 7919) % N}`))
  const hits = found.filter((v) => v !== undefined).length
  ms = since(t)
  console.log(`getMany  ${hits}/${N} hits in ${ms.toFixed(1)} ms (${rate(N, ms)})`)

  const key = 'user:42'
  const record = await store.get(key)
  const bytes = encode(record)
  if (encode(decode(bytes)).compare(bytes) !== 0) throw new Error('MessagePack round trip differs')
  console.log(`codec    ${key} -> ${bytes.length} bytes of MessagePack -> decoded equal; partition ${partitionForKey(key)}`)

  t = process.hrtime.bigint()
  let removed = 0
  for (let i = 1; i < N; i += 4) if (await store.remove(`user:${i}`)) removed++
  ms = since(t)
  console.log(`remove   ${removed} keys (i % 4 == 1) in ${ms.toFixed(1)} ms; len ${store.size()}`)

  clock.advance(TTL + 1)
  console.log(`expiry   clock +${TTL + 1} ms: the 10000 keys with a TTL are no longer returned`)
  console.log(`written  ${await digest(store, allKeys)}`)
  await store.close()
}

// The second process: the file opened again on a clock where the first one
// stopped, memory filled from it (warm-up), the digest of what it holds.
async function read (path) {
  const t = process.hrtime.bigint()
  const store = new Storage({ path, clock: new ManualClock(START + TTL + 1) })
  const loaded = await store.warmUp()
  console.log(`topgun-storage Node demo, second process: ${path} opened again`)
  console.log(`reopen   ${loaded} records loaded in ${since(t).toFixed(1)} ms (those past their TTL left out); len ${store.size()}`)
  console.log(`digest   ${await digest(store, allKeys)}`)
  await store.close()
}

const [mode, path] = process.argv.slice(2)
if (!['write', 'read'].includes(mode) || !path) {
  console.error('usage: node demo.mjs write|read PATH')
  process.exit(2)
}
await (mode === 'write' ? write(path) : read(path))
