'use strict'

// The package entry (CommonJS): the native addon (loaded by the generated
// ../index.js) plus the JavaScript parts: StorageError, ErrorCode and the
// TopgunStorageAdapter. The ESM entry (index.mjs) re-exports this module,
// so both entries share one StorageError class.

const native = require('../index.js')
const { ErrorCode, StorageError } = require('./errors.js')
const { TopgunStorageAdapter, ASYNC_THRESHOLD } = require('./adapter.js')

// Once per JavaScript environment (main thread or worker): the StorageError
// class and the functions the addon builds its results with.
native.__init(require('./helpers.js'))

module.exports = {
  Storage: native.Storage,
  ManualClock: native.ManualClock,
  MapStorage: native.MapStorage,
  KeyIterator: native.KeyIterator,
  TopgunStorageAdapter,
  ASYNC_THRESHOLD,
  StorageError,
  ErrorCode,
  encode: native.encode,
  decode: native.decode,
  partitionForKey: native.partitionForKey,
  verifyExport: native.verifyExport,
  PARTITION_COUNT: native.PARTITION_COUNT,
}
