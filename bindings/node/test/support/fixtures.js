'use strict'

// Shared test fixtures.

const ts = (millis = 1_700_000_000_000, counter = 0, nodeId = 'node-a') => ({ millis, counter, nodeId })

const lww = (value, extra = {}) => ({ value, timestamp: ts(), ...extra })

/** Waits for `condition()` across event-loop turns (bounded: 10,000 turns). */
async function until(condition) {
  for (let i = 0; i < 10_000; i++) {
    if (condition()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error('condition not met after 10,000 event-loop turns')
}

/** Lets queued events be delivered: a fixed number of event-loop turns. */
async function turns(n = 20) {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}

module.exports = { ts, lww, until, turns }
