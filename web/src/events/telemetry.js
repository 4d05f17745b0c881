// Playback telemetry: the ONE place the player and the feed report what happened
// (play, pause, seek, ended, quality_change, rebuffer_start, rebuffer_end, impression, skip,
// like, unlike, heartbeat). Events are kept (the last 500, for tests and debugging), handed to
// the registered sinks, and sent to POST /api/v1/events in batches (docs/events.md): at once
// for the events that make numbers (heartbeats, ends, likes, skips), within 5 s for the rest,
// and with navigator.sendBeacon when the page is hidden. Sending never blocks playback: it
// happens off the event's call, failures are retried later, and the queue is bounded.

import { csrfToken } from '../api.js'

const KEEP = 500
const ANON_KEY = 'spool.anonymousId'
const SESSION_KEY = 'spool.sessionId'

const events = []
const sinks = new Set()

function stored(storage, key) {
  try {
    let value = storage.getItem(key)
    if (!value) {
      value = crypto.randomUUID()
      storage.setItem(key, value)
    }
    return value
  } catch {
    return crypto.randomUUID()
  }
}

let anonymousId = null
let sessionId = null

/** This browser's anonymous id (localStorage; survives restarts). */
export function getAnonymousId() {
  anonymousId ??= stored(localStorage, ANON_KEY)
  return anonymousId
}

/** This tab's session id (sessionStorage). */
export function getSessionId() {
  sessionId ??= stored(sessionStorage, SESSION_KEY)
  return sessionId
}

/**
 * track('play', { video_id, position_s, properties: {...} })
 * Returns the event.
 */
export function track(type, fields = {}) {
  const { video_id = null, position_s = null, properties = {} } = fields
  const event = {
    event_id: crypto.randomUUID(),
    type,
    anonymous_id: getAnonymousId(),
    session_id: getSessionId(),
    video_id,
    position_s: Number.isFinite(position_s) ? Math.round(position_s * 1000) / 1000 : null,
    properties,
    occurred_at: new Date().toISOString(),
  }
  events.push(event)
  if (events.length > KEEP) events.splice(0, events.length - KEEP)
  for (const sink of sinks) {
    try {
      sink(event)
    } catch (e) {
      // A broken sink must not break playback; surface it asynchronously.
      queueMicrotask(() => {
        throw e
      })
    }
  }
  return event
}

/** Registers fn(event) for every event from now on; returns a function that removes it. */
export function addSink(fn) {
  sinks.add(fn)
  return () => sinks.delete(fn)
}

// ---------------------------------------------------------------- sending

const ENDPOINT = '/api/v1/events'
const BATCH = 50
const SEND_WITHIN_MS = 5000
const MAX_PENDING = 1000
const URGENT = new Set(['heartbeat', 'ended', 'like', 'unlike', 'skip', 'not_interested', 'share'])

const pending = []
const sent = { batches: 0, events: 0, dropped: 0, byType: {} }
let timer = null
let sending = false
let backoffMs = 0

function body(batch) {
  const now = new Date().toISOString()
  const events = batch.map((e) => ({ ...e, sent_at: now }))
  const csrf = csrfToken()
  return JSON.stringify(csrf ? { events, csrf_token: csrf } : { events })
}

function schedule(ms) {
  if (timer === null) timer = setTimeout(() => {
    timer = null
    flush()
  }, ms)
}

/** Sends what is queued now, one batch at a time; resolves when done or when it must wait. */
export async function flush() {
  if (sending) return
  sending = true
  try {
    while (pending.length) {
      const batch = pending.slice(0, BATCH)
      let response
      try {
        response = await fetch(ENDPOINT, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: body(batch),
          credentials: 'same-origin',
          keepalive: true,
        })
      } catch {
        response = null
      }
      if (response && response.ok) {
        pending.splice(0, batch.length)
        sent.batches += 1
        sent.events += batch.length
        for (const e of batch) sent.byType[e.type] = (sent.byType[e.type] ?? 0) + 1
        backoffMs = 0
      } else if (response && response.status >= 400 && response.status < 500 && response.status !== 429) {
        // The server refuses it as it is: resending the same batch cannot help.
        pending.splice(0, batch.length)
        sent.dropped += batch.length
      } else {
        // Offline, overloaded or rate limited: keep the events and try again later.
        backoffMs = Math.min(60_000, Math.max(2000, backoffMs * 2))
        schedule(backoffMs)
        return
      }
    }
  } finally {
    sending = false
  }
}

function enqueue(event) {
  pending.push(event)
  if (pending.length > MAX_PENDING) sent.dropped += pending.splice(0, pending.length - MAX_PENDING).length
  if (backoffMs) return
  if (URGENT.has(event.type) || pending.length >= BATCH) queueMicrotask(flush)
  else schedule(SEND_WITHIN_MS)
}

/** The page is going away or hidden: hand everything to the browser, which sends it later. */
function beaconAll() {
  if (!pending.length || !navigator.sendBeacon) return
  while (pending.length) {
    const batch = pending.slice(0, BATCH)
    const blob = new Blob([body(batch)], { type: 'application/json' })
    if (!navigator.sendBeacon(ENDPOINT, blob)) break
    pending.splice(0, batch.length)
    sent.batches += 1
    sent.events += batch.length
  }
}

addSink(enqueue)
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') beaconAll()
})
window.addEventListener('pagehide', beaconAll)

/** The queued events (last 500), oldest first. */
export function queuedEvents() {
  return events.slice()
}

window.__spoolTelemetry = { events, sent, pending }
