'use strict'

// The TopGun-shaped data set of the durable tests: LWW records (objects,
// arrays, strings, numbers, tombstones, ttlMs), OR values with their map-wide
// tombstone row, as TopGun's server writes them.

const MAP = 'todos'

const ts = (millis, counter, nodeId) => ({ millis, counter, nodeId })

function dataset() {
  const batch = new Map()
  for (let i = 0; i < 2000; i++) {
    const value =
      i % 7 === 0
        ? null
        : { title: `task ${i}`, done: i % 2 === 0, tags: ['a', `t${i % 5}`], n: i * 1.5, nested: { depth: { i } } }
    const record = { value, timestamp: ts(1_700_000_000_000 + i, i % 3, `node-${i % 4}`) }
    if (i % 11 === 0) record.ttlMs = 86_400_000_000
    batch.set(`key-${i}`, record)
  }
  batch.set('or-1', {
    type: 'OR',
    records: [
      { value: 'x', timestamp: ts(1_700_000_000_001, 0, 'n1'), tag: 'tag-1' },
      { value: { y: [1, 2] }, timestamp: ts(1_700_000_000_002, 1, 'n2'), tag: 'tag-2', ttlMs: 60_000_000_000 },
    ],
  })
  batch.set('__tombstones__', { type: 'OR_TOMBSTONES', tags: ['tag-0', 'tag-9'] })
  const single = []
  for (let i = 0; i < 50; i++) {
    single.push([`single-${i}`, { value: `s${i}`, timestamp: ts(1_800_000_000_000, i, 'single') }])
  }
  // Overwrites of batch keys, in call order: the later value wins.
  single.push(['key-1', { value: 'first', timestamp: ts(1_900_000_000_000, 0, 'w') }])
  single.push(['key-1', { value: 'second', timestamp: ts(1_900_000_000_000, 1, 'w') }])
  const deleted = ['key-2', 'key-3', 'single-0', 'never-there']
  return { batch, single, deleted }
}

/** What a read must return: the data set after the writes, as a plain object. */
function expected() {
  const { batch, single, deleted } = dataset()
  const all = new Map(batch)
  for (const [key, value] of single) all.set(key, value)
  for (const key of deleted) all.delete(key)
  return Object.fromEntries(all)
}

module.exports = { MAP, dataset, expected }
