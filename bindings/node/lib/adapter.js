'use strict'

const { MapStorage } = require('../index.js')
const { ErrorCode, StorageError } = require('./errors.js')

/**
 * From this many keys on, `loadAll` / `loadAllKeys` run the store work on
 * libuv's thread pool; smaller calls are cheaper done at once.
 */
const ASYNC_THRESHOLD = 4096

/**
 * TopGun's `IServerStorage` over topgun-storage: every map in memory, one
 * record store per (map, partition), with the semantics of TopGun's
 * `MemoryServerAdapter`. Every method returns a Promise; wrong argument
 * types reject with `TypeError`, other failures with `StorageError`, and
 * after `close()` every call rejects with code `ERR_CLOSED`.
 *
 * Writes are applied when called, in call order (TopGun fires them without
 * awaiting); large reads run off the JavaScript thread.
 */
class TopgunStorageAdapter {
  #storage

  /** @param {import('./index').TopgunStorageAdapterOptions} [options] */
  constructor(options) {
    this.#storage = new MapStorage(options)
  }

  /** The synchronous `MapStorage` underneath. */
  get storage() {
    return this.#storage
  }

  async initialize() {
    this.#storage.initialize()
  }

  async close() {
    this.#storage.close()
  }

  async load(mapName, key) {
    return this.#storage.load(mapName, key)
  }

  async loadAll(mapName, keys) {
    const pairs =
      Array.isArray(keys) && keys.length >= ASYNC_THRESHOLD
        ? await this.#storage.loadAllAsync(mapName, keys)
        : this.#storage.loadAll(mapName, keys)
    return new Map(pairs)
  }

  async loadAllKeys(mapName) {
    if (this.#storage.mapSize(mapName) >= ASYNC_THRESHOLD) {
      return this.#storage.loadAllKeysAsync(mapName)
    }
    return this.#storage.loadAllKeys(mapName)
  }

  async store(mapName, key, record) {
    this.#storage.store(mapName, key, record)
  }

  async storeAll(mapName, records) {
    this.#storage.storeAll(mapName, records)
  }

  async delete(mapName, key) {
    this.#storage.delete(mapName, key)
  }

  async deleteAll(mapName, keys) {
    this.#storage.deleteAll(mapName, keys)
  }
}

module.exports = { TopgunStorageAdapter, ASYNC_THRESHOLD, ErrorCode, StorageError }
