// Type-checked by `tsc --noEmit -p test/types` (make node-test): the
// adapter is usable where TopGun's server expects an IServerStorage, and
// the Storage API has the types the docs promise.

import {
  Storage,
  ManualClock,
  TopgunStorageAdapter,
  StorageError,
  ErrorCode,
  encode,
  decode,
  partitionForKey,
  verifyExport,
  type ExportProgress,
  type ExportSummary,
  type IServerStorage,
  type StorageValue,
  type LWWRecord,
  type ORMapValue,
  type ORMapTombstones,
  type StorageEvent,
  type KeysPage,
} from 'topgun-storage'

// What TopGun's ServerCoordinator takes: `storage?: IServerStorage`.
interface ServerCoordinatorConfig {
  port: number
  storage?: IServerStorage
}
class ServerCoordinator {
  constructor(readonly config: ServerCoordinatorConfig) {}
  async start(): Promise<void> {
    await this.config.storage?.initialize()
  }
}

const storage: IServerStorage = new TopgunStorageAdapter()
const server = new ServerCoordinator({ port: 8080, storage: new TopgunStorageAdapter({ maxEntries: 0 }) })

async function useAdapter(s: IServerStorage): Promise<number> {
  const lww: LWWRecord<{ title: string }> = { value: { title: 'x' }, timestamp: { millis: Date.now(), counter: 0, nodeId: 'n1' }, ttlMs: 1000 }
  const or: ORMapValue<string> = { type: 'OR', records: [{ value: 'a', timestamp: { millis: 1, counter: 0, nodeId: 'n' }, tag: 't' }] }
  const tomb: ORMapTombstones = { type: 'OR_TOMBSTONES', tags: ['t0'] }
  await s.store('todos', 'a', lww)
  await s.store('todos', 'b', or)
  await s.store('todos', '__tombstones__', tomb)
  await s.storeAll('todos', new Map<string, StorageValue>([['c', lww]]))
  const one: StorageValue | undefined = await s.load('todos', 'a')
  const many: Map<string, StorageValue> = await s.loadAll('todos', ['a', 'b'])
  const keys: string[] = await s.loadAllKeys('todos')
  await s.delete('todos', 'a')
  await s.deleteAll('todos', keys)
  await s.close()
  return (one ? 1 : 0) + many.size
}

function useStorage(): void {
  const clock = new ManualClock(0)
  const s = new Storage({ ttl: 1000, maxEntries: 10_000, eviction: 'lru', samples: 15, clock })
  const replaced: boolean = s.put('k', { value: 1n, timestamp: { millis: 0, counter: 0, nodeId: 'n' } }, { ttl: 5 })
  const v: StorageValue | undefined = s.get('k')
  const many: Array<StorageValue | undefined> = s.getMany(['k'])
  const page: KeysPage = s.fetchKeys(null, 100)
  const next = s.fetchEntries(page.cursor, 100)
  for (const key of s) key.toUpperCase()
  for (const key of s.keys()) key.toLowerCase()
  const id: number = s.subscribe((e: StorageEvent) => e.type === 'put' && e.value)
  s.unsubscribe(id)
  const bytes: Buffer | undefined = s.getMsgpack('k')
  if (bytes) s.putMsgpack('k2', bytes)
  const stats = s.stats()
  const hits: number = stats.hits + s.maintain().expired + s.size() + s.estimatedCost() + partitionForKey('k')
  decode(encode({ type: 'OR_TOMBSTONES', tags: [] }))
  try {
    s.put('x', { value: 1 } as unknown as StorageValue)
  } catch (e) {
    if (e instanceof StorageError && e.code === ErrorCode.VALUE_SHAPE) console.log(e.path, replaced, v, many, next, hits)
  }
}

void useAdapter(storage)
void server.start()
useStorage()

// Export and import: Promises of an ExportSummary, progress objects typed.
async function backup(store: Storage, adapter: TopgunStorageAdapter): Promise<number> {
  const seen: ExportProgress[] = []
  const a: ExportSummary = await store.exportTo('store.tgx', (p) => seen.push(p))
  const b: ExportSummary = await adapter.storage.exportTo('maps.tgx')
  await store.importFrom('store.tgx')
  await adapter.storage.importFrom('maps.tgx', (p: ExportProgress) => p.checking)
  const kind: string = (await verifyExport('maps.tgx')).kind
  return a.records + b.bytes + seen.length + kind.length
}
void backup
