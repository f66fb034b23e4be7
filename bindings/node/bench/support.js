'use strict'

// What the Node benchmarks share: the timer, interleaved rounds, medians
// and the data sets. Internal to bench/.
//
// Time is the process's CPU time (user + system, all its threads) rather
// than the wall clock: the machine the figures in docs/benchmarks.md come
// from is shared by several builds at once, and a process waiting for a
// core would otherwise be charged for the wait. Every contender runs in
// this process, interleaved (the order rotates each round), after a
// warm-up; each figure is the median over the rounds.

const ROUNDS = Number(process.env.BENCH_ROUNDS || 15)
const WARMUP = 3

/** CPU nanoseconds spent by `fn` (which may return a Promise). */
async function cpuNs(fn) {
  const start = process.cpuUsage()
  await fn()
  const used = process.cpuUsage(start)
  return (used.user + used.system) * 1000
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/**
 * Runs every contender `{ name: [fn, ops] }` WARMUP + ROUNDS times,
 * interleaved; returns the median ns per operation of each.
 */
async function run(contenders, rounds = ROUNDS) {
  const names = Object.keys(contenders)
  const samples = Object.fromEntries(names.map((n) => [n, []]))
  for (let round = 0; round < WARMUP + rounds; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length]
      const [fn, ops] = contenders[name]
      const ns = (await cpuNs(fn)) / ops
      if (round >= WARMUP) samples[name].push(ns)
    }
  }
  return Object.fromEntries(names.map((n) => [n, median(samples[n])]))
}

const pad = (s, n) => String(s).padEnd(n)

/** Prints rows `[id, ours, baseline, target]` of the medians `m`. */
function report(m, rows) {
  console.log(`${pad('id', 8)} ${pad('ours', 38)} ${pad('ns/op', 8)} ${pad('baseline', 38)} ${pad('ns/op', 8)} ${pad('ratio', 7)} target`)
  for (const [id, ours, base, target] of rows) {
    console.log(
      `${pad(id, 8)} ${pad(ours, 38)} ${pad(m[ours].toFixed(0), 8)} ${pad(base, 38)} ${pad(m[base].toFixed(0), 8)} ` +
        `${pad((m[ours] / m[base]).toFixed(2) + 'x', 7)} ${target}`,
    )
  }
}

const key = (i) => `key-${String(i).padStart(12, '0')}`
const timestamp = (i) => ({ millis: 1_700_000_000_000 + i, counter: i % 7, nodeId: 'node-1' })
/** A record holding a short string (64 bytes as MessagePack). */
const stringRecord = (i) => ({ value: `v${String(i).padStart(5, '0')}`, timestamp: timestamp(i) })
/** A record holding a small object: two strings, an integer, a two-element array. */
const objectRecord = (i) => ({
  value: { name: `user-${i}`, email: `user${i}@example.com`, age: 20 + (i % 50), tags: ['a', 'b'] },
  timestamp: timestamp(i),
})

/** Fixed pseudo-random indexes below `n`. */
function order(count, n, seed = 42) {
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
  return Array.from({ length: count }, () => Math.floor(rand() * n))
}

module.exports = { ROUNDS, WARMUP, run, report, median, key, stringRecord, objectRecord, order }
