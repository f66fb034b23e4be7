// Type-checked by `tsc --noEmit -p test/types` (make node-test, strict): the
// adapter is assignable, with no cast, to TopGun's own IServerStorage,
// declared here exactly as TopGun writes it (packages/core and
// packages/server/src/storage/IServerStorage.ts).

import { TopgunStorageAdapter, createStorageAdapter, Storage, DurableStorage } from 'topgun-storage'

// packages/core/src/HLC.ts
interface Timestamp {
  millis: number
  counter: number
  nodeId: string
}
// packages/core/src/LWWMap.ts
interface LWWRecord<V> {
  value: V | null
  timestamp: Timestamp
  ttlMs?: number
}
// packages/core/src/ORMap.ts
interface ORMapRecord<V> {
  value: V
  timestamp: Timestamp
  tag: string
  ttlMs?: number
}
// packages/server/src/storage/IServerStorage.ts
type ORMapValue<V> = { type: 'OR'; records: ORMapRecord<V>[] }
type ORMapTombstones = { type: 'OR_TOMBSTONES'; tags: string[] }
type StorageValue<V> = LWWRecord<V> | ORMapValue<V> | ORMapTombstones

interface IServerStorage {
  initialize(): Promise<void>
  close(): Promise<void>
  load(mapName: string, key: string): Promise<StorageValue<any> | undefined>
  loadAll(mapName: string, keys: string[]): Promise<Map<string, StorageValue<any>>>
  loadAllKeys(mapName: string): Promise<string[]>
  store(mapName: string, key: string, record: StorageValue<any>): Promise<void>
  storeAll(mapName: string, records: Map<string, StorageValue<any>>): Promise<void>
  delete(mapName: string, key: string): Promise<void>
  deleteAll(mapName: string, keys: string[]): Promise<void>
}

// What TopGun's ServerCoordinator takes.
interface ServerCoordinatorConfig {
  port: number
  storage?: IServerStorage
}

export const storage: IServerStorage = new TopgunStorageAdapter()
export const config: ServerCoordinatorConfig = { port: 8080, storage: new TopgunStorageAdapter() }

// Durable adapters are the same class: assignable with no cast.
export const onDisk: ServerCoordinatorConfig = {
  port: 8080,
  storage: new TopgunStorageAdapter({ path: '/var/lib/topgun/maps.redb', durability: 'fsync' }),
}
export const inPostgres: IServerStorage = new TopgunStorageAdapter({ postgres: 'postgres://topgun@db/topgun', tableName: 'maps' })
export const pgStyle: IServerStorage = new TopgunStorageAdapter({ postgres: { host: 'db', port: 5432, database: 'topgun' } })
export const lmdb: IServerStorage = new TopgunStorageAdapter({ backend: 'lmdb', path: '/d', writeBehind: true, options: { write_delay_ms: 10 } })

export async function fromEnvironment(): Promise<ServerCoordinatorConfig> {
  return { port: 8080, storage: await createStorageAdapter({ mode: 'postgres', tableName: 'maps' }) }
}

// new Storage(...) is typed by its options: durable ones give a DurableStorage.
export async function durableStorage(): Promise<boolean> {
  const durable: DurableStorage = new Storage({ path: 'cache.redb', maxEntries: 10 })
  const memory: Storage = new Storage({ ttl: 5 })
  const replaced: boolean = await durable.put('k', { value: 1, timestamp: { millis: 1, counter: 0, nodeId: 'n' } })
  memory.put('k', { value: 1, timestamp: { millis: 1, counter: 0, nodeId: 'n' } })
  await durable.close()
  return replaced
}

// The rest of the in-memory surface, as Promises.
export async function durableSurface(durable: DurableStorage): Promise<number> {
  const bytes: Buffer | undefined = await durable.getMsgpack('k')
  if (bytes !== undefined) await durable.putMsgpack('k2', bytes, { ttl: 5 })
  const record = await durable.getRecord('k')
  const version: number | undefined = record?.version
  const page = await durable.fetchKeys(null, 10)
  const keys: string[] = page.items
  const entries = await durable.fetchEntries(page.finished ? null : page.cursor, 10)
  const samples: Array<[string, unknown]> = await durable.randomSamples(2)
  const stats = await durable.stats()
  const report = await durable.maintain()
  const removed: number = await durable.clear()
  return (version ?? 0) + keys.length + entries.items.length + samples.length + stats.hits + report.expired + removed + (await durable.estimatedCost())
}

export async function roundTrip(s: IServerStorage): Promise<number> {
  const record: LWWRecord<{ n: number }> = { value: { n: 1 }, timestamp: { millis: Date.now(), counter: 0, nodeId: 'a' } }
  await s.store('m', 'k', record)
  await s.storeAll('m', new Map<string, StorageValue<any>>([['k2', record]]))
  const back = await s.load('m', 'k')
  // TopGun's code reads the timestamp as a number.
  const millis: number = back !== undefined && 'timestamp' in back ? back.timestamp.millis : 0
  return millis + (await s.loadAll('m', ['k'])).size
}
