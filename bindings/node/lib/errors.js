'use strict'

const { __errorCategories } = require('../index.js')

/**
 * The `code` of every StorageError, by category: `ERR_` and the category in
 * capitals. The categories come from the core's `ErrorCode` (through the
 * addon), so they are the same in the C, Python and Node bindings.
 */
const ErrorCode = Object.freeze(
  Object.fromEntries(
    __errorCategories().map((name) => [name.toUpperCase(), `ERR_${name.toUpperCase()}`]),
  ),
)

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
