'use strict'

// Benchmark baseline (N5, docs/benchmarks.md): an IServerStorage written
// the way TopGun's MemoryServerAdapter is (reference: its state is a
// Map<mapName, Map<key, StorageValue>>, per-map maps created lazily,
// object references stored as given, nothing cloned, async methods).
// This project's own code, for benchmarking only.

class MapMemoryAdapter {
  #maps = new Map()

  #map(mapName) {
    let map = this.#maps.get(mapName)
    if (map === undefined) {
      map = new Map()
      this.#maps.set(mapName, map)
    }
    return map
  }

  async initialize() {}

  async close() {
    this.#maps.clear()
  }

  async load(mapName, key) {
    return this.#map(mapName).get(key)
  }

  async loadAll(mapName, keys) {
    const map = this.#map(mapName)
    const found = new Map()
    for (const key of keys) {
      const value = map.get(key)
      if (value !== undefined) found.set(key, value)
    }
    return found
  }

  async loadAllKeys(mapName) {
    return Array.from(this.#map(mapName).keys())
  }

  async store(mapName, key, record) {
    this.#map(mapName).set(key, record)
  }

  async storeAll(mapName, records) {
    const map = this.#map(mapName)
    for (const [key, record] of records) map.set(key, record)
  }

  async delete(mapName, key) {
    this.#map(mapName).delete(key)
  }

  async deleteAll(mapName, keys) {
    const map = this.#map(mapName)
    for (const key of keys) map.delete(key)
  }
}

module.exports = { MapMemoryAdapter }
