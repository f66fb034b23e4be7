'use strict'

// The package entry (CommonJS): the native addon (loaded by the generated
// ../index.js) plus the JavaScript parts: StorageError, ErrorCode and the
// TopgunStorageAdapter. The ESM entry (index.mjs) re-exports this module,
// so both entries share one StorageError class.

const native = require('../index.js')
const packed = require('./packed.js')
const { ErrorCode, StorageError } = require('./errors.js')
const { TopgunStorageAdapter, ASYNC_THRESHOLD } = require('./adapter.js')
const { DurableStorage, isDurable } = require('./durable.js')
const { createStorageAdapter, storageAdapterOptions } = require('./factory.js')

// Once per JavaScript environment (main thread or worker): the StorageError
// class, the functions the addon builds its results with and the scratch
// buffer of the byte path; then the byte path under the public methods.
native.__init({ ...require('./helpers.js'), scratch: packed.scratch })
packed.install(native)

// `new Storage(options)`: the in-memory store, or a DurableStorage when the
// options name a path, a connection string or a backend (lib/durable.js).
// A Proxy, so that `instanceof Storage`, subclasses and the static side of
// the in-memory class are unchanged.
const Storage = new Proxy(native.Storage, {
  construct(target, args, newTarget) {
    if (isDurable(args[0])) return new DurableStorage(args[0])
    return Reflect.construct(target, args, newTarget)
  },
})

module.exports = {
  Storage,
  DurableStorage,
  ManualClock: native.ManualClock,
  MapStorage: native.MapStorage,
  KeyIterator: native.KeyIterator,
  TopgunStorageAdapter,
  createStorageAdapter,
  storageAdapterOptions,
  ASYNC_THRESHOLD,
  StorageError,
  ErrorCode,
  encode: native.encode,
  decode: native.decode,
  partitionForKey: native.partitionForKey,
  verifyExport: native.verifyExport,
  PARTITION_COUNT: native.PARTITION_COUNT,
}
