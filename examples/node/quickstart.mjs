// topgun-storage from Node.js: a record store, and the IServerStorage
// adapter that TopGun's TypeScript server uses. Run with `make node-demo`
// (it builds the addon first). In an application, import from
// 'topgun-storage' instead of the relative path.
import { Storage, ManualClock, TopgunStorageAdapter, StorageError } from '../../bindings/node/lib/index.mjs'

const ts = (millis) => ({ millis, counter: 0, nodeId: 'node-1' })

// 1. A store with a TTL and an LRU bound, on a clock we control.
const clock = new ManualClock(1_700_000_000_000)
const store = new Storage({ ttl: 60_000, maxEntries: 1000, eviction: 'lru', clock })
store.subscribe((e) => console.log(`event: ${e.type} ${e.key}`))

store.put('user:1', { value: { name: 'Ada', langs: ['en', 'fr'] }, timestamp: ts(clock.now()) })
store.put('user:2', { value: { name: 'Linus' }, timestamp: ts(clock.now()) }, { ttl: 5_000 })
console.log('get user:1 ->', JSON.stringify(store.get('user:1')))
console.log('getMany ->', store.getMany(['user:1', 'nobody']).map((v) => v && v.value.name))

clock.advance(6_000) // user:2 had its own 5 s TTL
console.log('user:2 after 6 s ->', store.get('user:2'))
console.log('keys ->', [...store])
console.log('stats ->', store.stats())

try {
  store.put('bad', { value: 1 }) // no timestamp
} catch (e) {
  if (e instanceof StorageError) console.log(`StorageError ${e.code}: ${e.message}`)
}

// 2. The adapter TopGun's server takes as `storage` (IServerStorage).
const storage = new TopgunStorageAdapter()
await storage.initialize()
await storage.store('todos', 'a', { value: { title: 'write docs' }, timestamp: ts(1), ttlMs: 86_400_000 })
await storage.store('todos', 'b', { type: 'OR', records: [{ value: 'x', timestamp: ts(2), tag: 'node-1:1' }] })
await storage.store('todos', '__tombstones__', { type: 'OR_TOMBSTONES', tags: ['node-1:0'] })
const keys = await storage.loadAllKeys('todos')
const records = await storage.loadAll('todos', keys)
console.log('loadAll(todos) ->', [...records.keys()].sort())
await storage.close()

// Observer events arrive on later turns of the event loop; give them a few.
for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
