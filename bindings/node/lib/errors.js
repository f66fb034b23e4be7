'use strict'

/**
 * The `code` of every StorageError, by category. The categories are the
 * core's `ErrorCode` and are the same in the C, Python and Node bindings.
 */
const ErrorCode = Object.freeze({
  MALFORMED_VALUE: 'ERR_MALFORMED_VALUE',
  VALUE_SHAPE: 'ERR_VALUE_SHAPE',
  VALUE_RANGE: 'ERR_VALUE_RANGE',
  INVALID_CURSOR: 'ERR_INVALID_CURSOR',
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  CAPACITY_EXCEEDED: 'ERR_CAPACITY_EXCEEDED',
  ENTRY_TOO_LARGE: 'ERR_ENTRY_TOO_LARGE',
  DATA_STORE: 'ERR_DATA_STORE',
  CLOSED: 'ERR_CLOSED',
  IO: 'ERR_IO',
  CORRUPT: 'ERR_CORRUPT',
  LOCKED: 'ERR_LOCKED',
  UNAVAILABLE: 'ERR_UNAVAILABLE',
  DISK_FULL: 'ERR_DISK_FULL',
  REJECTED: 'ERR_REJECTED',
})

/**
 * Every failure of topgun-storage that is not a wrong argument type (those
 * are `TypeError`s): `code` tells the category, `message` what went wrong,
 * and for value errors `path` where (`$.value.items[2]`).
 */
class StorageError extends Error {
  constructor(message, code, path) {
    super(message)
    this.name = 'StorageError'
    this.code = code
    if (path !== undefined && path !== null) this.path = path
  }
}

module.exports = { ErrorCode, StorageError }
