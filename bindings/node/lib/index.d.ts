// Typings of the package entry: the generated typings of the addon
// (../index.d.ts) plus the JavaScript parts.

import type {
  IServerStorage,
  MapStorage,
  StorageValue,
  TopgunStorageAdapterOptions,
} from '../index'

export {
  Storage,
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
  constructor(options?: TopgunStorageAdapterOptions)
  /** The synchronous `MapStorage` underneath (exact types: BigInts included). */
  readonly storage: MapStorage
  /** Opens the adapter; after `close()` it opens it again (empty), as `MemoryServerAdapter` stays usable. */
  initialize(): Promise<void>
  /** Drops every map's data (as `MemoryServerAdapter`); later calls reject with `ERR_CLOSED` until `initialize()`. */
  close(): Promise<void>
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
