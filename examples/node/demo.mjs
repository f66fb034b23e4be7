// `make demo`, Node part: the workload of examples/README.md through the
// addon, printing what it did and the digest of the final state (equal to
// the other languages' digests when they hold the same data).
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
// modulo 2^64: independent of iteration order.
function digest (store) {
  const MASK = (1n << 64n) - 1n
  const PRIME = 0x100000001b3n
  let sum = 0n
  let cursor = null
  for (;;) {
    const page = store.fetchEntries(cursor, 1000)
    for (const [key, record] of page.items) {
      let h = 0xcbf29ce484222325n
      for (const bytes of [Buffer.from(key, 'utf8'), Buffer.from([0xff]), encode(record)]) {
        for (const b of bytes) h = ((h ^ BigInt(b)) * PRIME) & MASK
      }
      sum = (sum + h) & MASK
    }
    if (page.finished) return sum
    cursor = page.cursor
  }
}

const clock = new ManualClock(START)
const store = new Storage({ clock })
console.log(`topgun-storage Node demo: node ${process.version}`)

let t = process.hrtime.bigint()
for (let i = 0; i < N; i++) {
  store.put(`user:${i}`, value(i), i % 10 === 0 ? { ttl: TTL } : undefined)
}
let ms = since(t)
console.log(`put      ${N} records in ${ms.toFixed(1)} ms (${rate(N, ms)})`)
console.log(`         len ${store.size()}, estimated cost ${store.estimatedCost()} bytes`)

t = process.hrtime.bigint()
let hits = 0
for (let i = 0; i < N; i++) if (store.get(`user:${(i * 7919) % N}`) !== undefined) hits++
ms = since(t)
console.log(`get      ${hits}/${N} hits in ${ms.toFixed(1)} ms (${rate(N, ms)})`)

t = process.hrtime.bigint()
let keys = 0
let pages = 0
let cursor = null
for (;;) {
  const page = store.fetchKeys(cursor, 1000)
  keys += page.items.length
  pages++
  if (page.finished) break
  cursor = page.cursor
}
ms = since(t)
console.log(`scan     ${keys} keys in ${pages} pages of <= 1000 in ${ms.toFixed(1)} ms`)

const sample = store.randomSamples(5)
console.log(`sample   5 random keys: ${sample.map(([k]) => k).join(', ')}`)
const [key, record] = sample[0]
const bytes = encode(record)
if (encode(decode(bytes)).compare(bytes) !== 0) throw new Error('MessagePack round trip differs')
console.log(`codec    ${key} -> ${bytes.length} bytes of MessagePack -> decoded equal; partition ${partitionForKey(key)}`)

t = process.hrtime.bigint()
let removed = 0
for (let i = 1; i < N; i += 4) if (store.remove(`user:${i}`)) removed++
ms = since(t)
console.log(`remove   ${removed} keys (i % 4 == 1) in ${ms.toFixed(1)} ms; len ${store.size()}`)

clock.advance(TTL + 1)
let expired = 0
for (let pass = 0; pass < 20; pass++) expired += store.maintain().expired
console.log(`expiry   clock +${TTL + 1} ms, 20 maintain() passes: ${expired} expired; len ${store.size()}`)
console.log(`digest   ${digest(store).toString(16).padStart(16, '0')}`)
