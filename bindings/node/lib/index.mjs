// The package entry for ES modules: the same objects as the CommonJS entry.
import pkg from './index.js'

export const {
  Storage,
  DurableStorage,
  ManualClock,
  MapStorage,
  KeyIterator,
  TopgunStorageAdapter,
  createStorageAdapter,
  storageAdapterOptions,
  ASYNC_THRESHOLD,
  StorageError,
  ErrorCode,
  encode,
  decode,
  partitionForKey,
  verifyExport,
  PARTITION_COUNT,
} = pkg

export default pkg
