'use strict'

const { MapStorage } = require('../index.js')
const { loadAllMap } = require('./packed.js')
const { ErrorCode, StorageError } = require('./errors.js')
const { DurableAdapter, isDurable } = require('./durable.js')

/**
 * From this many keys on, `loadAll` / `loadAllKeys` run the store work on
 * libuv's thread pool; smaller calls are cheaper done at once.
 */
const ASYNC_THRESHOLD = 4096

/**
 * TopGun's `IServerStorage` over topgun-storage, one record store per
 * (map, partition). Every method returns a Promise; wrong argument types
 * reject with `TypeError`, other failures with `StorageError`, and after
 * `close()` every call rejects with code `ERR_CLOSED`.
 *
 * In memory (no `path`, `postgres` or `backend`): the semantics of
 * TopGun's `MemoryServerAdapter`; writes are applied when called, in call
 * order (TopGun fires them without awaiting); large reads run off the
 * JavaScript thread.
 *
 * Durable (`{ path }`, `{ postgres }`, `{ backend }`: lib/durable.js):
 * `initialize()` opens the data store, `close()` flushes and closes it,
 * `initialize()` again reopens it with the data; every call runs in call
 * order on libuv's thread pool.
 */
class TopgunStorageAdapter {
  #storage
  #durable

  /** @param {import('./index').TopgunStorageAdapterOptions | import('./index').DurableAdapterOptions} [options] */
  constructor(options) {
    if (isDurable(options)) this.#durable = new DurableAdapter(options)
    else this.#storage = new MapStorage(options)
  }

  /** The synchronous `MapStorage` underneath (in memory; `undefined` for a durable adapter). */
  get storage() {
    return this.#storage
  }

  /** Whether the data lives in a data store (`{ path }`, `{ postgres }`, `{ backend }`). */
  get durable() {
    return this.#durable !== undefined
  }

  async initialize() {
    if (this.#durable) return this.#durable.initialize()
    this.#storage.initialize()
  }

  async close() {
    if (this.#durable) return this.#durable.close()
    this.#storage.close()
  }

  /** Makes every acknowledged write durable as with durability `fsync` (nothing to do in memory). */
  async flush() {
    if (this.#durable) return this.#durable.flush()
  }

  async load(mapName, key) {
    if (this.#durable) return this.#durable.load(mapName, key)
    return this.#storage.load(mapName, key)
  }

  async loadAll(mapName, keys) {
    if (this.#durable) return this.#durable.loadAll(mapName, keys)
    if (Array.isArray(keys) && keys.length >= ASYNC_THRESHOLD) {
      return new Map(await this.#storage.loadAllAsync(mapName, keys))
    }
    return loadAllMap(this.#storage, mapName, keys)
  }

  async loadAllKeys(mapName) {
    if (this.#durable) return this.#durable.loadAllKeys(mapName)
    if (this.#storage.mapSize(mapName) >= ASYNC_THRESHOLD) {
      return this.#storage.loadAllKeysAsync(mapName)
    }
    return this.#storage.loadAllKeys(mapName)
  }

  async store(mapName, key, record) {
    if (this.#durable) return this.#durable.store(mapName, key, record)
    this.#storage.store(mapName, key, record)
  }

  async storeAll(mapName, records) {
    if (this.#durable) return this.#durable.storeAll(mapName, records)
    this.#storage.storeAll(mapName, records)
  }

  async delete(mapName, key) {
    if (this.#durable) return this.#durable.delete(mapName, key)
    this.#storage.delete(mapName, key)
  }

  async deleteAll(mapName, keys) {
    if (this.#durable) return this.#durable.deleteAll(mapName, keys)
    this.#storage.deleteAll(mapName, keys)
  }
}

module.exports = { TopgunStorageAdapter, ASYNC_THRESHOLD, ErrorCode, StorageError }
