'use strict'

// Where the time of one call goes (docs/benchmarks.md, "Node: where the
// time goes"). Each row is a call that does a known part of `get` / `put`;
// the differences between rows are the costs of the parts:
//
//   boundary     storage.size(): a method call, no argument, a number back
//   + key        storage.has(k): + reading the key string + one lookup
//                (no access counted, no copy, no result)
//   + read       storage.__getPacked(k): + the counted read, the record
//                encoded into the scratch buffer (get = this + msgpackr)
//   result       decode(buf): a plain function, the Rust decode of the bytes
//                and building the JavaScript result through N-API (the
//                object path's result; its own boundary crossing included)
//   value in     encode(v): a plain function, reading the value into Rust
//                through N-API (the object path's input), its encoding, a
//                Buffer back
//   + write      storage.__putPacked(k, bytes): a put of bytes msgpackr
//                wrote (put = this + the check and msgpackr's pack)
//
// for a record holding a short string and one holding a small nested
// object (two strings, an integer, a two-element array), single calls and
// batches of 1000, over 1000 hot keys (the binding's own cost, without the
// machine's memory latency), the object path of each call, and
// JavaScript's JSON / msgpackr for scale. Timing: bench/support.js.

const { Storage, encode, decode } = require('..')
const { Packr } = require('msgpackr')
const { objectPath } = require('../lib/packed.js')
const { ROUNDS, WARMUP, run, key, stringRecord, objectRecord, order } = require('./support.js')

const OPS = 20_000
const HOT = 1000
const BATCH = 1000

const packr = new Packr({ useRecords: false })
const keys = Array.from({ length: HOT }, (_, i) => key(i))
const picks = order(OPS, HOT, 7)

async function measure(kind, make) {
  const storage = new Storage()
  const records = keys.map((_, i) => make(i))
  keys.forEach((k, i) => storage.put(k, records[i]))
  const buffers = records.map((r) => encode(r))
  const jsons = records.map((r) => JSON.stringify(r))
  const packed = records.map((r) => packr.pack(r))
  const okeys = picks.map((i) => keys[i])
  const batches = []
  const pairBatches = []
  for (let i = 0; i < OPS; i += BATCH) {
    batches.push(okeys.slice(i, i + BATCH))
    pairBatches.push(picks.slice(i, i + BATCH).map((j) => [keys[j], records[j]]))
  }
  const { get, getMany, put, putMany } = objectPath.Storage
  let sink = 0
  const loop = (fn) => [fn, OPS]
  const m = await run({
    'size() (boundary)': loop(() => { for (let n = 0; n < OPS; n++) sink += storage.size() }),
    'has(k) (+ key, lookup)': loop(() => { for (const k of okeys) sink += storage.has(k) ? 1 : 0 }),
    '__getPacked(k) (+ read into scratch)': loop(() => { for (const k of okeys) sink += storage.__getPacked(k) }),
    'get(k)': loop(() => { for (const k of okeys) sink += storage.get(k) ? 1 : 0 }),
    'get(k), object path': loop(() => { for (const k of okeys) sink += get.call(storage, k) ? 1 : 0 }),
    'getMany(1000) per key': loop(() => { for (const b of batches) sink += storage.getMany(b).length }),
    'getMany(1000), object path': loop(() => { for (const b of batches) sink += getMany.call(storage, b).length }),
    'decode(buf) (object result)': loop(() => { for (const i of picks) sink += decode(buffers[i]) ? 1 : 0 }),
    'encode(v) (object value in)': loop(() => { for (const i of picks) sink += encode(records[i]).length }),
    'put(k, v)': loop(() => { for (const i of picks) sink += storage.put(keys[i], records[i]) ? 1 : 0 }),
    'put(k, v), object path': loop(() => { for (const i of picks) sink += put.call(storage, keys[i], records[i]) ? 1 : 0 }),
    '__putPacked(k, bytes) (no packing)': loop(() => { for (const i of picks) sink += storage.__putPacked(keys[i], packed[i]) ? 1 : 0 }),
    'putMsgpack(k, buf) (canonical bytes)': loop(() => { for (const i of picks) sink += storage.putMsgpack(keys[i], buffers[i]) ? 1 : 0 }),
    'putMany(1000) per key': loop(() => { for (const b of pairBatches) sink += storage.putMany(b) }),
    'putMany(1000), object path': loop(() => { for (const b of pairBatches) sink += putMany.call(storage, b) }),
    'JSON.stringify(v)': loop(() => { for (const i of picks) sink += JSON.stringify(records[i]).length }),
    'JSON.parse(s)': loop(() => { for (const i of picks) sink += JSON.parse(jsons[i]) ? 1 : 0 }),
    'msgpackr pack(v)': loop(() => { for (const i of picks) sink += packr.pack(records[i]).length }),
    'msgpackr unpack(buf)': loop(() => { for (const i of picks) sink += packr.unpack(packed[i]) ? 1 : 0 }),
  })
  console.log(`\n${kind} values (${buffers[0].length} bytes as MessagePack), ${HOT} hot keys, CPU ns per operation:`)
  for (const [n, ns] of Object.entries(m)) console.log(`  ${n.padEnd(40)} ${ns.toFixed(0).padStart(6)}`)
  if (sink === -1) console.log(sink)
}

async function main() {
  console.log(`Node ${process.version}; median of ${ROUNDS} interleaved rounds after ${WARMUP} warm-up, ${OPS} ops each`)
  await measure('string', stringRecord)
  await measure('nested-object', objectRecord)
}

main()
