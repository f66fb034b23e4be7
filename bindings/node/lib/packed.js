'use strict'

// The byte path (see src/packed.rs and docs/node.md, "How values cross"):
// values cross the N-API boundary as one MessagePack buffer, written and
// read here by msgpackr, instead of one N-API call per field.
//
// Reads: a single read leaves its record in `scratch` (one buffer per
// JavaScript environment, registered with the addon by index.js) and
// returns its length; a batch returns one Buffer holding an array with an
// item per key. Records msgpackr could not reproduce exactly (bytes,
// integers beyond 2^53 - 1, a `__proto__` key) come back as objects built
// by the addon.
//
// Writes (put, putMany, store): a value that is plain data (see `plain`) is packed here and the
// addon decodes and validates the bytes with the core; anything else (and
// any value the addon does not accept from bytes) goes the object path,
// which converts it with the rules of docs/node.md and reports its errors.
// Both paths store the same records. Internal.

const { Packr, Unpackr } = require('msgpackr')

// Plain objects for maps, numbers for the integers the addon sends (none
// beyond 2^53 - 1 this way), no msgpackr record extension.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })
const packr = new Packr({ useRecords: false })

// Records larger than this come back as objects.
const SCRATCH_SIZE = 64 * 1024
const scratch = Buffer.allocUnsafeSlow(SCRATCH_SIZE)

// Deeper values go the object path (which has no depth limit of its own
// below the core's 256 levels and never recurses).
const MAX_PLAIN_DEPTH = 64

// A lone surrogate (in a `u` regex a well-formed pair is one code point):
// msgpackr would write it as U+FFFD or as bytes that are not UTF-8, where
// the object path refuses it with its position.
const LONE_SURROGATE = /\p{Surrogate}/u

/**
 * Whether msgpackr writes `v` exactly as the object path reads it: `null`,
 * booleans, numbers other than -0 (msgpackr writes -0 as the integer 0),
 * strings without a lone surrogate, arrays without holes and objects whose
 * prototype is `Object.prototype` or `null` without a `toJSON` method, of
 * such values, at most MAX_PLAIN_DEPTH deep. Everything else (undefined,
 * functions, symbols, BigInts, Buffers, Dates, Maps, class instances, ...)
 * goes the object path, which applies the JSON-like rules.
 */
function plain(v, depth) {
  switch (typeof v) {
    case 'string':
      return !LONE_SURROGATE.test(v)
    case 'number':
      return v !== 0 || 1 / v > 0
    case 'boolean':
      return true
    case 'object': {
      if (v === null) return true
      if (depth >= MAX_PLAIN_DEPTH) return false
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!plain(v[i], depth + 1)) return false
        return true
      }
      const proto = Object.getPrototypeOf(v)
      if ((proto !== Object.prototype && proto !== null) || typeof v.toJSON === 'function') return false
      for (const k in v) {
        if (!Object.prototype.hasOwnProperty.call(v, k)) return false
        if (LONE_SURROGATE.test(k) || !plain(v[k], depth + 1)) return false
      }
      return true
    }
    default:
      return false
  }
}

/** A record as bytes, or `undefined` when it must go the object path. */
function packRecord(value) {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !plain(value, 0)) return undefined
  try {
    return packr.pack(value)
  } catch {
    return undefined
  }
}

/**
 * The entries of `putMany` as an array (a Map or other
 * iterable read once, as the addon reads it) and their bytes, or no bytes
 * when they must go the object path.
 */
function packEntries(entries) {
  let array = entries
  if (!Array.isArray(entries)) {
    if (entries === null || typeof entries !== 'object' || typeof entries[Symbol.iterator] !== 'function') {
      return { array, bytes: undefined }
    }
    array = Array.from(entries)
  }
  for (let i = 0; i < array.length; i++) {
    const pair = array[i]
    if (
      !Array.isArray(pair) ||
      pair.length !== 2 ||
      typeof pair[0] !== 'string' ||
      LONE_SURROGATE.test(pair[0]) ||
      typeof pair[1] !== 'object' ||
      pair[1] === null ||
      Array.isArray(pair[1]) ||
      !plain(pair[1], 0)
    ) {
      return { array, bytes: undefined }
    }
  }
  try {
    return { array, bytes: packr.pack(array) }
  } catch {
    return { array, bytes: undefined }
  }
}

/** A single read's result: a length in `scratch`, `undefined`, or an object. */
function one(result) {
  return typeof result === 'number' ? unpackr.unpack(scratch, result) : result
}

/**
 * A batch read's result as an array with an item per key (`undefined` for
 * none): a Buffer, or `[buffer, index, object, ...]` (see src/packed.rs).
 */
function many(result) {
  const bytes = ArrayBuffer.isView(result) ? result : result[0]
  const items = unpackr.unpack(bytes)
  for (let i = 0; i < items.length; i++) if (items[i] === null) items[i] = undefined
  if (bytes !== result) for (let i = 1; i < result.length; i += 2) items[result[i]] = result[i + 1]
  return items
}

function define(proto, name, fn) {
  Object.defineProperty(proto, name, { value: fn, writable: true, configurable: true, enumerable: false })
}

// The addon's own methods (the object path): the fallbacks, and the
// benchmarks' same-run comparison.
const objectPath = {}

/**
 * Puts the byte path under the public methods of the addon's `Storage`
 * and `MapStorage` (same arguments, results and errors).
 */
function install(native) {
  const storage = native.Storage.prototype
  const maps = native.MapStorage.prototype
  objectPath.Storage = { get: storage.get, getMany: storage.getMany, put: storage.put, putMany: storage.putMany }
  objectPath.MapStorage = { load: maps.load, loadAll: maps.loadAll, store: maps.store, storeAll: maps.storeAll }
  const { put: nativePut, putMany: nativePutMany } = objectPath.Storage
  const { store: nativeStore } = objectPath.MapStorage
  define(storage, 'get', function get(key) {
    return one(this.__getPacked(key))
  })
  define(storage, 'getMany', function getMany(keys) {
    return many(this.__getManyPacked(keys))
  })
  define(storage, 'put', function put(key, value, options) {
    const bytes = packRecord(value)
    if (bytes !== undefined) {
      const replaced = this.__putPacked(key, bytes, options)
      if (replaced !== null) return replaced
    }
    return nativePut.call(this, key, value, options)
  })
  define(storage, 'putMany', function putMany(entries, options) {
    const { array, bytes } = packEntries(entries)
    if (bytes !== undefined) {
      const count = this.__putManyPacked(bytes, options)
      if (count !== null) return count
    }
    return nativePutMany.call(this, array, options)
  })

  define(maps, 'load', function load(mapName, key) {
    return one(this.__loadPacked(mapName, key))
  })
  define(maps, 'loadAll', function loadAll(mapName, keys) {
    const items = many(this.__loadAllPacked(mapName, keys))
    const pairs = []
    for (let i = 0; i < items.length; i++) if (items[i] !== undefined) pairs.push([keys[i], items[i]])
    return pairs
  })
  define(maps, 'store', function store(mapName, key, record) {
    const bytes = packRecord(record)
    if (bytes === undefined || !this.__storePacked(mapName, key, bytes)) nativeStore.call(this, mapName, key, record)
  })
  // storeAll stays on the object path: through the adapter, the byte path
  // measured slower for it (docs/benchmarks.md, N5).
}

/** `loadAll` of a `MapStorage` as the `Map` `IServerStorage.loadAll` returns. */
function loadAllMap(storage, mapName, keys) {
  const items = many(storage.__loadAllPacked(mapName, keys))
  const found = new Map()
  for (let i = 0; i < items.length; i++) if (items[i] !== undefined) found.set(keys[i], items[i])
  return found
}

module.exports = { scratch, install, loadAllMap, objectPath }
