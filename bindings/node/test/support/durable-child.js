'use strict'

// A separate process for the durable tests (test/durable.test.js):
//
//   node durable-child.js write|read|hold|acked JSON_OPTIONS
//
// write  initialize, storeAll + store + delete of the TopGun-shaped data
//        set (support/dataset.js), close; prints "done"
// read   initialize, loadAllKeys, loadAll of every key; prints the map as
//        JSON ({ key: value }) and closes
// hold   initialize and print "ready", then wait to be killed
// acked  initialize, then storeAll batches of 100 records forever, printing
//        "acked N" after each one resolves (N = batches acknowledged)

const { TopgunStorageAdapter } = require('../..')
const { dataset, MAP } = require('./dataset.js')

async function main() {
  const [command, json] = process.argv.slice(2)
  const adapter = new TopgunStorageAdapter(JSON.parse(json))
  await adapter.initialize()
  switch (command) {
    case 'write': {
      const { batch, single, deleted } = dataset()
      await adapter.storeAll(MAP, batch)
      for (const [key, value] of single) adapter.store(MAP, key, value) // fire and forget, as TopGun
      for (const key of deleted) adapter.delete(MAP, key)
      await adapter.close()
      process.stdout.write('done\n')
      break
    }
    case 'read': {
      const keys = await adapter.loadAllKeys(MAP)
      const found = await adapter.loadAll(MAP, keys)
      await adapter.close()
      process.stdout.write(JSON.stringify({ keys: keys.length, records: Object.fromEntries(found) }))
      break
    }
    case 'hold':
      process.stdout.write('ready\n')
      setInterval(() => {}, 1 << 30)
      break
    case 'acked':
      for (let n = 1; ; n++) {
        const batch = new Map()
        for (let i = 0; i < 100; i++) {
          batch.set(`b${n}-${i}`, { value: { n, i }, timestamp: { millis: 1_700_000_000_000 + n, counter: i, nodeId: 'kill' } })
        }
        await adapter.storeAll(MAP, batch)
        process.stdout.write(`acked ${n}\n`)
      }
    default:
      throw new Error(`unknown command ${command}`)
  }
}

main().catch((error) => {
  process.stderr.write(`${error.code ?? ''} ${error.stack}\n`)
  process.exit(1)
})
