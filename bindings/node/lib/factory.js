'use strict'

// createStorageAdapter: a TopgunStorageAdapter configured the way TopGun's
// own `createStorageAdapter` configures its adapters, from a config object
// and the same environment variables (docs/node.md, "A TopGun server").

const { TopgunStorageAdapter } = require('./adapter.js')
const { postgresConnectionString } = require('./durable.js')

/** Where a file store goes when neither the config nor DB_PATH names one. */
const DEFAULT_PATH = './topgun.redb'

/** The modes: TopGun's three, plus the on-disk backends by name. */
const MODES = ['memory', 'sqlite', 'postgres', 'redb', 'lmdb', 'rocksdb']

function envValue(env, name) {
  const value = env[name]
  return value === undefined || value === '' ? undefined : value
}

/**
 * The options of the adapter that `createStorageAdapter(config, env)`
 * builds, without building it.
 *
 * The mode is `config.mode`, else `STORAGE_MODE`, else `'memory'`:
 * - `memory`: every map in memory (TopGun's `MemoryServerAdapter`);
 * - `sqlite` (TopGun's file mode) and `redb`: a redb file at
 *   `config.sqlitePath ?? config.path ?? DB_PATH ?? './topgun.redb'`;
 * - `lmdb`, `rocksdb`: that backend in the directory named the same way;
 * - `postgres`: `config.postgresConnectionString ?? DATABASE_URL`, else a
 *   connection built from `config.postgres{Host,Port,User,Password,Database}`
 *   or `DB_HOST`, `DB_PORT`, `DB_USER`, `DB_PASSWORD`, `DB_NAME`;
 *   `config.tableName` as TopGun's.
 * `durability`, `writeBehind`, `options` and the memory options (`ttl`,
 * `maxEntries`, ...) pass through. `sqliteVerbose` / `SQLITE_VERBOSE` are
 * accepted and ignored (no SQL to log).
 *
 * @param {import('./index').StorageAdapterConfig} [config]
 * @param {Record<string, string | undefined>} [env] default `process.env`
 */
function storageAdapterOptions(config = {}, env = process.env) {
  if (config === null || typeof config !== 'object') {
    throw new TypeError(`config must be an object, got ${config === null ? 'null' : typeof config}`)
  }
  const {
    mode: configMode,
    sqlitePath,
    sqliteVerbose: _verbose,
    path,
    postgresHost,
    postgresPort,
    postgresUser,
    postgresPassword,
    postgresDatabase,
    postgresConnectionString: connectionString,
    ...rest
  } = config
  const mode = configMode ?? envValue(env, 'STORAGE_MODE') ?? 'memory'
  if (!MODES.includes(mode)) {
    throw new RangeError(`unknown storage mode ${JSON.stringify(mode)}: expected one of ${MODES.join(', ')}`)
  }
  switch (mode) {
    case 'memory':
      return rest
    case 'sqlite':
    case 'redb':
    case 'lmdb':
    case 'rocksdb':
      return {
        ...rest,
        backend: mode === 'sqlite' ? 'redb' : mode,
        path: sqlitePath ?? path ?? envValue(env, 'DB_PATH') ?? DEFAULT_PATH,
      }
    case 'postgres': {
      let postgres = connectionString ?? envValue(env, 'DATABASE_URL')
      if (postgres === undefined) {
        postgres = postgresConnectionString({
          host: postgresHost ?? envValue(env, 'DB_HOST'),
          port: postgresPort ?? envValue(env, 'DB_PORT'),
          user: postgresUser ?? envValue(env, 'DB_USER'),
          password: postgresPassword ?? envValue(env, 'DB_PASSWORD'),
          database: postgresDatabase ?? envValue(env, 'DB_NAME'),
        })
      }
      return { ...rest, postgres }
    }
  }
}

/**
 * A TopgunStorageAdapter configured from `config` and the environment
 * (see `storageAdapterOptions`), initialized before it is returned, as
 * TopGun's `createStorageAdapter` does.
 *
 * @param {import('./index').StorageAdapterConfig} [config]
 * @param {Record<string, string | undefined>} [env] default `process.env`
 */
async function createStorageAdapter(config, env) {
  const adapter = new TopgunStorageAdapter(storageAdapterOptions(config, env))
  await adapter.initialize()
  return adapter
}

module.exports = { createStorageAdapter, storageAdapterOptions, DEFAULT_PATH }
