'use strict'

// Functions the native addon calls to build its results (see
// src/helpers.rs): an object literal made by JavaScript is several times
// cheaper than the same object made field by field through N-API.
// Registered once per JavaScript environment by index.js. Internal.

const { StorageError } = require('./errors.js')

const lww = (value, millis, counter, nodeId) => ({
  value,
  timestamp: { millis, counter, nodeId },
})

const lwwTtl = (value, millis, counter, nodeId, ttlMs) => ({
  value,
  timestamp: { millis, counter, nodeId },
  ttlMs,
})

const orEntry = (value, millis, counter, nodeId, tag) => ({
  value,
  timestamp: { millis, counter, nodeId },
  tag,
})

const orEntryTtl = (value, millis, counter, nodeId, tag, ttlMs) => ({
  value,
  timestamp: { millis, counter, nodeId },
  tag,
  ttlMs,
})

const orMap = (records) => ({ type: 'OR', records })

const tombstones = (tags) => ({ type: 'OR_TOMBSTONES', tags })

// `__proto__` must become an own data property, not the prototype.
function put(target, key, value) {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[key] = value
  }
}

function object() {
  const target = {}
  for (let i = 0; i < arguments.length; i += 2) put(target, arguments[i], arguments[i + 1])
  return target
}

function assign(target) {
  for (let i = 1; i < arguments.length; i += 2) put(target, arguments[i], arguments[i + 1])
  return target
}

const array = (...items) => items

// Many records in one call (see Out::batch in src/convert.rs): after the
// withKeys flag, each record is [key], a tag and its fields.
function records(withKeys) {
  const a = arguments
  const out = []
  let i = 1
  while (i < a.length) {
    const key = withKeys ? a[i++] : undefined
    let record
    switch (a[i]) {
      case 0:
        record = undefined
        i += 1
        break
      case 1:
        record = { value: a[i + 1], timestamp: { millis: a[i + 2], counter: a[i + 3], nodeId: a[i + 4] } }
        i += 5
        break
      case 2:
        record = {
          value: a[i + 1],
          timestamp: { millis: a[i + 2], counter: a[i + 3], nodeId: a[i + 4] },
          ttlMs: a[i + 5],
        }
        i += 6
        break
      default:
        record = a[i + 1]
        i += 2
    }
    out.push(withKeys ? [key, record] : record)
  }
  return out
}

const concat = (...arrays) => [].concat(...arrays)

const page = (items, cursor, finished) => ({ items, cursor, finished })

function event(type, key, value, oldValue, reason, isBackup) {
  const e = { type, key }
  if (value !== undefined) e.value = value
  if (oldValue !== undefined) e.oldValue = oldValue
  if (reason !== undefined) e.reason = reason
  e.isBackup = isBackup
  return e
}

const storedRecord = (
  value,
  version,
  hits,
  cost,
  creationTime,
  lastAccessTime,
  lastUpdateTime,
  lastStoredTime,
  ttl,
  maxIdle,
  expirationTime,
) => ({
  value,
  version,
  hits,
  cost,
  creationTime,
  lastAccessTime,
  lastUpdateTime,
  lastStoredTime,
  ttl,
  maxIdle,
  expirationTime,
})

module.exports = {
  StorageError,
  lww,
  lwwTtl,
  orEntry,
  orEntryTtl,
  orMap,
  tombstones,
  object,
  assign,
  array,
  records,
  concat,
  page,
  event,
  storedRecord,
}
