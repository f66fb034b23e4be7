'use strict'

// Durable stores (docs/node.md, "Durable stores"): `DurableStorage`, what
// `new Storage({ path, ... })` returns, and `DurableAdapter`, what a
// `TopgunStorageAdapter` built with `{ path }` or `{ postgres }` works
// through. Every method returns a Promise; the work runs in call order on
// libuv's thread pool (lib/lane.js, src/lane.rs).

const native = require('../index.js')
const { Lane } = require('./lane.js')

/** Option names that make `Storage` / `TopgunStorageAdapter` durable. */
const DURABLE_KEYS = ['path', 'postgres', 'backend', 'durability', 'writeBehind', 'options']

/** Whether `options` describe a durable store (any of DURABLE_KEYS set). */
function isDurable(options) {
  if (options === null || typeof options !== 'object') return false
  return DURABLE_KEYS.some((name) => options[name] !== undefined && options[name] !== null)
}

/**
 * A TopGun / `pg`-style PostgreSQL configuration object
 * (`{ host, port, user, password, database }`, or `{ connectionString }`)
 * as a connection string; strings pass through.
 */
function postgresConnectionString(config) {
  if (typeof config === 'string' || config === undefined || config === null) return config
  if (typeof config !== 'object') {
    throw new TypeError(`options.postgres must be a connection string or a configuration object, got ${typeof config}`)
  }
  if (typeof config.connectionString === 'string') return config.connectionString
  const quote = (v) => `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
  const parts = []
  for (const [name, key] of [['host', 'host'], ['port', 'port'], ['user', 'user'], ['password', 'password'], ['database', 'dbname']]) {
    if (config[name] !== undefined && config[name] !== null) parts.push(`${key}=${quote(config[name])}`)
  }
  if (parts.length === 0) {
    throw new TypeError('options.postgres needs a connectionString or at least one of host, port, user, password, database')
  }
  return parts.join(' ')
}

function nativeOptions(options) {
  if (options.postgres === undefined || typeof options.postgres === 'string') return options
  return { ...options, postgres: postgresConnectionString(options.postgres) }
}

/**
 * A record store whose data lives in a data store (redb by default): what
 * `new Storage({ path, backend, durability, writeBehind, options })`
 * returns. It opens at once, in the background (`ready` settles when it
 * has); every method returns a Promise, and calls take effect in the order
 * they were made. Memory holds what was written or read (within the
 * bounds); a miss loads from the data store.
 */
class DurableStorage {
  #core
  #lane
  #ready

  /** @param {import('./index').DurableStorageOptions} options */
  constructor(options) {
    this.#core = new native.__DurableStorage(options)
    this.#lane = new Lane(this.#core)
    this.#ready = this.open()
    // Reported through `ready` and every call queued after it.
    this.#ready.catch(() => {})
  }

  /** Settles when the open made by the constructor has: rejects with its error (`ERR_LOCKED`, ...). */
  get ready() {
    return this.#ready
  }

  /** Opens the store again after `close()` (nothing to do when open). */
  open() {
    return this.#lane.call(() => this.#core.open())
  }

  /** Flushes (write-behind queue included) and closes; later calls reject with `ERR_CLOSED` until `open()`. */
  close() {
    return this.#lane.call(() => this.#core.close())
  }

  put(key, value, options) {
    return this.#lane.call(() => this.#core.put(key, value, options))
  }

  get(key) {
    return this.#lane.call(() => this.#core.get(key))
  }

  has(key) {
    return this.#lane.call(() => this.#core.has(key))
  }

  remove(key) {
    return this.#lane.call(() => this.#core.remove(key))
  }

  getMany(keys) {
    return this.#lane.call(() => this.#core.getMany(keys))
  }

  putMany(entries, options) {
    return this.#lane.call(() => this.#core.putMany(entries, options))
  }

  /** Stores a record given as MessagePack bytes; resolves `true` when a live value was replaced. */
  putMsgpack(key, bytes, options) {
    return this.#lane.call(() => this.#core.putMsgpack(key, bytes, options))
  }

  /** The live value as MessagePack bytes (memory, else the data store), or `undefined`. */
  getMsgpack(key) {
    return this.#lane.call(() => this.#core.getMsgpack(key))
  }

  /** The live record with its metadata (memory, else the data store), or `undefined`; counts as an access. */
  getRecord(key) {
    return this.#lane.call(() => this.#core.getRecord(key))
  }

  /** Sum of the costs of the entries in memory. */
  estimatedCost() {
    return this.#lane.call(() => this.#core.estimatedCost())
  }

  /** Removes every record, from memory and the data store; resolves how many keys were removed. */
  clear() {
    return this.#lane.call(() => this.#core.clear())
  }

  /** One bounded maintenance pass over memory (expiry sweep, eviction back within the bounds). */
  maintain() {
    return this.#lane.call(() => this.#core.maintain())
  }

  /** A page of the keys in memory from `cursor` (see the in-memory `fetchKeys`). */
  fetchKeys(cursor, size) {
    return this.#lane.call(() => this.#core.fetchKeys(cursor, size))
  }

  /** As `fetchKeys`, with `[key, value]` pairs. */
  fetchEntries(cursor, size) {
    return this.#lane.call(() => this.#core.fetchEntries(cursor, size))
  }

  /** Up to `count` distinct live entries of memory, chosen at random, as `[key, value]` pairs. */
  randomSamples(count) {
    return this.#lane.call(() => this.#core.randomSamples(count))
  }

  /** The store's counters (`observerErrors` is always 0: a durable store has no observers). */
  stats() {
    return this.#lane.call(() => this.#core.stats())
  }

  /** Makes every acknowledged write durable as with durability `fsync`. */
  flush() {
    return this.#lane.call(() => this.#core.flush())
  }

  /** Fills memory from the data store as far as the bounds allow; resolves the number loaded. */
  warmUp() {
    return this.#lane.call(() => this.#core.warmUp())
  }

  /** Entries in memory now (not on disk). */
  size() {
    return this.#core.size()
  }
}

/**
 * The durable side of `TopgunStorageAdapter` (internal): every method
 * returns a Promise; calls take effect in call order.
 */
class DurableAdapter {
  #core
  #lane

  constructor(options) {
    this.#core = new native.__DurableMapStorage(nativeOptions(options))
    this.#lane = new Lane(this.#core)
  }

  initialize() {
    return this.#lane.call(() => this.#core.open())
  }

  close() {
    return this.#lane.call(() => this.#core.close())
  }

  flush() {
    return this.#lane.call(() => this.#core.flush())
  }

  // With nothing queued, a key memory holds is answered at once (memory
  // only, no I/O); anything else queues. A bad argument queues too, and
  // rejects there.
  load(mapName, key) {
    if (this.#lane.idle) {
      try {
        const value = this.#core.loadResident(mapName, key)
        if (value !== null) return Promise.resolve(value)
      } catch {}
    }
    return this.#lane.call(() => this.#core.load(mapName, key))
  }

  async loadAll(mapName, keys) {
    if (this.#lane.idle) {
      try {
        const pairs = this.#core.loadAllResident(mapName, keys)
        if (pairs !== null) return new Map(pairs)
      } catch {}
    }
    return new Map(await this.#lane.call(() => this.#core.loadAll(mapName, keys)))
  }

  loadAllKeys(mapName) {
    return this.#lane.call(() => this.#core.loadAllKeys(mapName))
  }

  store(mapName, key, record) {
    return this.#lane.call(() => this.#core.store(mapName, key, record))
  }

  storeAll(mapName, records) {
    return this.#lane.call(() => this.#core.storeAll(mapName, records))
  }

  delete(mapName, key) {
    return this.#lane.call(() => this.#core.delete(mapName, key))
  }

  deleteAll(mapName, keys) {
    return this.#lane.call(() => this.#core.deleteAll(mapName, keys))
  }
}

module.exports = { DurableStorage, DurableAdapter, isDurable, postgresConnectionString }
