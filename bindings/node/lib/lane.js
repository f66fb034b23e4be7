'use strict'

// Promises for the calls queued on a durable store (see src/lane.rs).
// Internal.
//
// Each call queues its work natively (arguments are checked then, so a
// wrong type throws at once) and gets a Promise here. When calls are
// waiting and no batch is running, one `run()` takes every queued call and
// executes them in call order on libuv's thread pool; its result array has
// one entry per call: the value, or the StorageError it failed with. Calls
// made in the same tick (TopGun's fire-and-forget writes) share a batch.

const { StorageError } = require('./errors.js')

class Lane {
  #core
  /** resolve and reject of every queued call, in call order (flat pairs). */
  #waiting = []
  #scheduled = false
  #running = false

  /** @param {{ run(): Promise<unknown[]> }} core */
  constructor(core) {
    this.#core = core
  }

  /**
   * Queues a call: `queue()` checks the arguments and queues the work
   * natively; the Promise settles with its result. A synchronous throw
   * of `queue()` (a wrong argument) becomes a rejection; nothing is queued.
   */
  call(queue) {
    try {
      queue()
    } catch (error) {
      return Promise.reject(error)
    }
    return new Promise((resolve, reject) => {
      this.#waiting.push(resolve, reject)
      if (!this.#scheduled && !this.#running) {
        this.#scheduled = true
        queueMicrotask(this.#start)
      }
    })
  }

  /** Whether nothing is queued or running: a read of memory then sees every earlier call. */
  get idle() {
    return !this.#running && !this.#scheduled && this.#waiting.length === 0
  }

  #start = () => {
    this.#scheduled = false
    this.#run()
  }

  #run() {
    if (this.#running || this.#waiting.length === 0) return
    this.#running = true
    const waiting = this.#waiting
    this.#waiting = []
    this.#core.run().then(
      (results) => {
        for (let i = 0; i < results.length; i++) {
          const result = results[i]
          if (result instanceof StorageError) waiting[2 * i + 1](result)
          else waiting[2 * i](result)
        }
        this.#next()
      },
      (error) => {
        for (let i = 1; i < waiting.length; i += 2) waiting[i](error)
        this.#next()
      },
    )
  }

  #next() {
    this.#running = false
    this.#run()
  }
}

module.exports = { Lane }
