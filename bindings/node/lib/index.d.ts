// Typings of the package entry: the generated typings of the addon
// (../index.d.ts) plus the JavaScript parts.

import type {
  EntriesPage,
  IServerStorage,
  KeysPage,
  MaintenanceReport,
  MapStorage,
  PutOptions,
  Storage as MemoryStorage,
  StorageOptions,
  StorageValue,
  StoredRecord,
  StoreStats,
  TopgunStorageAdapterOptions,
} from '../index'

export {
  ManualClock,
  MapStorage,
  KeyIterator,
  encode,
  decode,
  partitionForKey,
  verifyExport,
  PARTITION_COUNT,
} from '../index'

export type {
  Timestamp,
  Value,
  LWWRecord,
  ORMapRecord,
  ORMapValue,
  ORMapTombstones,
  StorageValue,
  IServerStorage,
  EvictionPolicy,
  StorageOptions,
  TopgunStorageAdapterOptions,
  PutOptions,
  StoredRecord,
  KeysPage,
  EntriesPage,
  StorageEvent,
  StoreStats,
  MaintenanceReport,
  ExportProgress,
  ExportSummary,
} from '../index'

/** The `code` of every StorageError, by category (the same in C, Python and Node). */
export declare const ErrorCode: {
  readonly MALFORMED_VALUE: 'ERR_MALFORMED_VALUE'
  readonly VALUE_SHAPE: 'ERR_VALUE_SHAPE'
  readonly VALUE_RANGE: 'ERR_VALUE_RANGE'
  readonly INVALID_CURSOR: 'ERR_INVALID_CURSOR'
  readonly INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT'
  readonly CAPACITY_EXCEEDED: 'ERR_CAPACITY_EXCEEDED'
  readonly ENTRY_TOO_LARGE: 'ERR_ENTRY_TOO_LARGE'
  readonly DATA_STORE: 'ERR_DATA_STORE'
  readonly CLOSED: 'ERR_CLOSED'
  readonly IO: 'ERR_IO'
  readonly CORRUPT: 'ERR_CORRUPT'
  readonly LOCKED: 'ERR_LOCKED'
  readonly UNAVAILABLE: 'ERR_UNAVAILABLE'
  readonly DISK_FULL: 'ERR_DISK_FULL'
  readonly REJECTED: 'ERR_REJECTED'
}

/** One of the `ErrorCode` values. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode]

/**
 * Every failure that is not a wrong argument type (those are `TypeError`s):
 * `code` tells the category, `message` what went wrong, and for value
 * errors `path` where (`$.value.items[2]`).
 */
export declare class StorageError extends Error {
  constructor(message: string, code: ErrorCodeValue, path?: string)
  readonly name: 'StorageError'
  readonly code: ErrorCodeValue
  readonly path?: string
}

/**
 * TopGun's `IServerStorage` over topgun-storage: every map in memory, one
 * record store per (map, partition), with the semantics of TopGun's
 * `MemoryServerAdapter`. Every method returns a Promise; wrong argument
 * types reject with `TypeError`, other failures with `StorageError`; after
 * `close()` every call rejects with code `ERR_CLOSED`.
 *
 * ```ts
 * import { ServerCoordinator } from '@topgunbuild/server'
 * import { TopgunStorageAdapter } from 'topgun-storage'
 * const server = new ServerCoordinator({ port: 8080, storage: new TopgunStorageAdapter() })
 * ```
 */
export declare class TopgunStorageAdapter implements IServerStorage {
  constructor(options?: TopgunStorageAdapterOptions | DurableAdapterOptions)
  /** The synchronous `MapStorage` underneath (exact types: BigInts included); `undefined` for a durable adapter. */
  readonly storage: MapStorage
  /** Whether the data lives in a data store. */
  readonly durable: boolean
  /** In memory: opens the adapter, after `close()` again empty. Durable: opens the data store, after `close()` again with its data. */
  initialize(): Promise<void>
  /** In memory: drops every map's data. Durable: flushes and closes the data store. Later calls reject with `ERR_CLOSED` until `initialize()`. */
  close(): Promise<void>
  /** Makes every acknowledged write durable as with durability `'fsync'` (nothing to do in memory). */
  flush(): Promise<void>
  load(mapName: string, key: string): Promise<AdapterStorageValue | undefined>
  loadAll(mapName: string, keys: string[]): Promise<Map<string, AdapterStorageValue>>
  loadAllKeys(mapName: string): Promise<string[]>
  store(mapName: string, key: string, record: StorageValue): Promise<void>
  /** A `Map` (of any realm) or any iterable of `[key, record]` pairs. */
  storeAll(mapName: string, records: Map<string, StorageValue> | Iterable<readonly [string, StorageValue]>): Promise<void>
  delete(mapName: string, key: string): Promise<void>
  deleteAll(mapName: string, keys: string[]): Promise<void>
}

/**
 * A record as the adapter returns it, typed as TopGun's own `StorageValue`
 * (`millis`, `counter` and `ttlMs` are `number`), so the adapter is
 * assignable to TopGun's `IServerStorage` with no cast. At run time a
 * `millis` or `ttlMs` beyond `Number.MAX_SAFE_INTEGER` (year 287,396) comes
 * back as a BigInt rather than rounded; `adapter.storage` and `Storage` are
 * typed with those BigInts.
 */
export type AdapterStorageValue<V = any> =
  | { value: V | null; timestamp: AdapterTimestamp; ttlMs?: number }
  | { type: 'OR'; records: Array<{ value: V; timestamp: AdapterTimestamp; tag: string; ttlMs?: number }> }
  | { type: 'OR_TOMBSTONES'; tags: string[] }

/** TopGun's HLC timestamp: `{ millis, counter, nodeId }`, numbers. */
export interface AdapterTimestamp {
  millis: number
  counter: number
  nodeId: string
}

/** From this many keys on, `loadAll` / `loadAllKeys` run off the JavaScript thread. */
export declare const ASYNC_THRESHOLD: number

/** The data-store backends (`make test` builds the addon with all five). */
export type BackendName = 'memory' | 'redb' | 'lmdb' | 'rocksdb' | 'postgres'

/** How durable an acknowledged write is (docs/node.md, "Durable stores"). */
export type DurabilityLevel = 'fsync' | 'os' | 'none'

/**
 * Where a durable store keeps its data and how. Give `path` (a file for
 * redb, the default backend; a directory for LMDB and RocksDB), or
 * `postgres` (a connection string), or `backend` alone (`'memory'`).
 */
export interface DataStoreOptions {
  /** A file (redb) or a directory (lmdb, rocksdb). */
  path?: string
  /** A PostgreSQL connection string (`postgres://user@host/db` or `host=... dbname=...`). */
  postgres?: string
  /** Default `'redb'` with a path, `'postgres'` with a connection string. */
  backend?: BackendName
  /** Default `'fsync'`: acknowledged writes survive a power loss; `'os'`: a process crash; `'none'`: a clean close. */
  durability?: DurabilityLevel
  /** Queue writes and store them in the background (with a write-ahead log by default). Default false. */
  writeBehind?: boolean
  /**
   * Any other option of the core by its name, values as text, numbers or
   * booleans: `write_delay_ms`, `write_batch_size`, `write_queue_capacity`,
   * `wal`, `wal_dir`, `cache_size` (redb), `max_map_size` (lmdb),
   * `table_name`, `pool_size`, `connect_timeout_ms`, ... (postgres).
   */
  options?: Record<string, string | number | boolean>
}

/** Options of `new Storage(...)` for a durable store: memory options (bounds evict only what is on disk) plus where the data lives. */
export type DurableStorageOptions = StorageOptions &
  DataStoreOptions & {
    /** The map name the records are filed under in the data store (default `'default'`). */
    map?: string
  } & ({ path: string } | { postgres: string } | { backend: BackendName })

/** Options of a durable `TopgunStorageAdapter`. */
export type DurableAdapterOptions = TopgunStorageAdapterOptions &
  Omit<DataStoreOptions, 'postgres'> & {
    /** A connection string, or a `pg`-style configuration. */
    postgres?: string | PostgresConfig
    /** TopGun's `tableName` (default `topgun_maps`). */
    tableName?: string
  } & ({ path: string } | { postgres: string | PostgresConfig } | { backend: BackendName })

/** A `pg`-style PostgreSQL configuration. */
export interface PostgresConfig {
  connectionString?: string
  host?: string
  port?: number | string
  user?: string
  password?: string
  database?: string
}

/**
 * A record store over a data store: what `new Storage({ path, ... })`
 * returns. It starts opening at once (`ready`); every method returns a
 * Promise and calls take effect in the order they were made, on libuv's
 * thread pool (never blocking the event loop). Failures reject with
 * `StorageError` (`ERR_LOCKED`, `ERR_IO`, `ERR_CORRUPT`, `ERR_DISK_FULL`,
 * `ERR_UNAVAILABLE`, `ERR_REJECTED`, `ERR_CLOSED`, ...).
 */
export declare class DurableStorage {
  constructor(options: DurableStorageOptions)
  /** Settles when the open started by the constructor has. */
  readonly ready: Promise<void>
  /** Opens the store again after `close()`. */
  open(): Promise<void>
  /** Flushes (the write-behind queue included) and closes. */
  close(): Promise<void>
  /** Resolves `true` when a live value was replaced. */
  put(key: string, value: StorageValue, options?: PutOptions): Promise<boolean>
  get(key: string): Promise<StorageValue | undefined>
  has(key: string): Promise<boolean>
  /** Resolves `true` when a live value was removed. */
  remove(key: string): Promise<boolean>
  getMany(keys: string[]): Promise<Array<StorageValue | undefined>>
  /** One data-store batch, all or nothing; resolves the number written. */
  putMany(entries: Array<[string, StorageValue]> | Map<string, StorageValue>, options?: PutOptions): Promise<number>
  /** As `put`, with the record as MessagePack bytes (TopGun's wire format). */
  putMsgpack(key: string, bytes: Uint8Array, options?: PutOptions): Promise<boolean>
  /** The live value as MessagePack bytes (memory, else the data store). */
  getMsgpack(key: string): Promise<Buffer | undefined>
  /** The live record with its metadata (memory, else the data store); counts as an access. */
  getRecord(key: string): Promise<StoredRecord | undefined>
  /** Sum of the costs of the entries in memory. */
  estimatedCost(): Promise<number>
  /** Removes every record, from memory and the data store; resolves how many keys were removed. */
  clear(): Promise<number>
  /** One bounded maintenance pass over memory. */
  maintain(): Promise<MaintenanceReport>
  /** A page of the keys in memory (`warmUp` first to list what only the data store holds). */
  fetchKeys(cursor: Uint8Array | null | undefined, size: number): Promise<KeysPage>
  /** As `fetchKeys`, with `[key, value]` pairs. */
  fetchEntries(cursor: Uint8Array | null | undefined, size: number): Promise<EntriesPage>
  /** Up to `count` distinct live entries of memory, chosen at random. */
  randomSamples(count: number): Promise<Array<[string, StorageValue]>>
  /** The store's counters (`observerErrors` is 0: a durable store has no observers). */
  stats(): Promise<StoreStats>
  /** Every acknowledged write made durable as with durability `'fsync'`. */
  flush(): Promise<void>
  /** Fills memory from the data store as far as the bounds allow; resolves the number loaded. */
  warmUp(): Promise<number>
  /** Entries in memory now. */
  size(): number
}

/** `new Storage(options)`: in memory, or a `DurableStorage` when the options name a path, a connection string or a backend. */
export interface StorageConstructor {
  new (options: DurableStorageOptions): DurableStorage
  new (options?: StorageOptions): MemoryStorage
  readonly prototype: MemoryStorage
}
export declare const Storage: StorageConstructor
export type Storage = MemoryStorage

/** The config of `createStorageAdapter`: TopGun's `StorageConfig` fields plus the adapter's own options. */
export interface StorageAdapterConfig extends Omit<TopgunStorageAdapterOptions, never>, Omit<DataStoreOptions, 'path' | 'postgres'> {
  /** Default `STORAGE_MODE`, else `'memory'`. `'sqlite'` (TopGun's file mode) keeps a redb file. */
  mode?: 'memory' | 'sqlite' | 'postgres' | 'redb' | 'lmdb' | 'rocksdb'
  /** The file or directory (default `DB_PATH`, else `./topgun.redb`). */
  sqlitePath?: string
  /** Same as `sqlitePath`. */
  path?: string
  /** Accepted and ignored. */
  sqliteVerbose?: boolean
  postgresHost?: string
  postgresPort?: number
  postgresUser?: string
  postgresPassword?: string
  postgresDatabase?: string
  postgresConnectionString?: string
  tableName?: string
}

/** A TopgunStorageAdapter from `config` and TopGun's environment variables (`STORAGE_MODE`, `DB_PATH`, `DATABASE_URL`, `DB_HOST`, ...), initialized. */
export declare function createStorageAdapter(
  config?: StorageAdapterConfig,
  env?: Record<string, string | undefined>,
): Promise<TopgunStorageAdapter>

/** The options `createStorageAdapter` would build the adapter with. */
export declare function storageAdapterOptions(
  config?: StorageAdapterConfig,
  env?: Record<string, string | undefined>,
): TopgunStorageAdapterOptions | DurableAdapterOptions
