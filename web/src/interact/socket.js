// The page's one WebSocket (`/api/v1/ws`, frames in docs/interact.md). Components subscribe
// to conversations (`video:<id>`, `room:<id>`) and get each message once: after a reconnect
// the socket resubscribes with the last danmaku id it saw, so the server replays only what
// was missed, and ids already seen are dropped. Every message is also dispatched on
// `document` as a `spool:<type>` CustomEvent (spool:danmaku, spool:gift, spool:question,
// spool:comment, …) for panels that only listen.

const RECONNECT_MIN_MS = 500
const RECONNECT_MAX_MS = 15_000
/** Silence longer than two heartbeats means the connection is gone. */
const SILENCE_MS = 45_000
/** Danmaku ids remembered per conversation to drop duplicates. */
const SEEN_IDS = 2000

/**
 * @typedef {{type: string, id?: number, [key: string]: any}} ChatMessage
 * @typedef {{handlers: Set<(m: ChatMessage) => void>, lastId: number, seen: Set<number>, seenOrder: number[]}} Topic
 */

/** @type {WebSocket | null} */
let socket = null
let open = false
let retryMs = RECONNECT_MIN_MS
/** @type {number | undefined} */
let retryTimer
/** @type {number | undefined} */
let silenceTimer
let nextRef = 1
/** @type {Map<string, Topic>} */
const topics = new Map()
/** @type {Map<string, {resolve: (v: any) => void, reject: (e: any) => void}>} */
const pending = new Map()

export class ChatError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {number | null} retryAfterMs
   */
  constructor(code, message, retryAfterMs) {
    super(message)
    this.name = 'ChatError'
    this.code = code
    this.retryAfterMs = retryAfterMs
  }
}

function url() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${location.host}/api/v1/ws`
}

/** @param {any} frame */
function write(frame) {
  if (socket && open) socket.send(JSON.stringify(frame))
}

function connect() {
  clearTimeout(retryTimer)
  if (socket || topics.size === 0) return
  const ws = new WebSocket(url())
  socket = ws
  ws.addEventListener('open', () => {
    open = true
    retryMs = RECONNECT_MIN_MS
    for (const [topic, t] of topics) write({ type: 'subscribe', topic, since: t.lastId > 0 ? t.lastId : undefined })
    watchSilence()
  })
  ws.addEventListener('message', (event) => {
    watchSilence()
    let frame
    try {
      frame = JSON.parse(String(event.data))
    } catch {
      return
    }
    receive(frame)
  })
  ws.addEventListener('close', () => {
    open = false
    socket = null
    clearTimeout(silenceTimer)
    for (const [, p] of pending) p.reject(new ChatError('disconnected', 'The connection dropped; try again.', null))
    pending.clear()
    if (topics.size > 0) {
      retryTimer = window.setTimeout(connect, retryMs)
      retryMs = Math.min(RECONNECT_MAX_MS, retryMs * 2)
    }
  })
}

function watchSilence() {
  clearTimeout(silenceTimer)
  silenceTimer = window.setTimeout(() => socket?.close(), SILENCE_MS)
}

/** @param {any} frame */
function receive(frame) {
  switch (frame.type) {
    case 'batch': {
      const t = topics.get(frame.topic)
      if (!t) return
      for (const message of frame.messages || []) if (message) deliver(frame.topic, t, message)
      return
    }
    case 'lagged': {
      // Frames were dropped while this tab was slow: ask again from the last id seen.
      const t = topics.get(frame.topic)
      if (t) write({ type: 'subscribe', topic: frame.topic, since: t.lastId })
      return
    }
    case 'sent':
    case 'error': {
      const p = frame.ref ? pending.get(frame.ref) : undefined
      if (!p) return
      pending.delete(frame.ref)
      if (frame.type === 'sent') p.resolve(frame)
      else p.reject(new ChatError(frame.code, frame.message, frame.retry_after_ms ?? null))
      return
    }
    default:
  }
}

/**
 * @param {string} topic
 * @param {Topic} t
 * @param {ChatMessage} message
 */
function deliver(topic, t, message) {
  if (message.type === 'danmaku' && typeof message.id === 'number' && !remember(t, message.id)) return
  for (const fn of t.handlers) fn(message)
  document.dispatchEvent(new CustomEvent(`spool:${message.type}`, { detail: { topic, ...message } }))
}

/**
 * Records a danmaku id; false when it was already seen.
 * @param {Topic} t
 * @param {number} id
 */
function remember(t, id) {
  if (t.seen.has(id)) return false
  t.seen.add(id)
  t.seenOrder.push(id)
  if (t.seenOrder.length > SEEN_IDS) t.seen.delete(/** @type {number} */ (t.seenOrder.shift()))
  t.lastId = Math.max(t.lastId, id)
  return true
}

/**
 * Follows `topic`'s messages; returns the unsubscription.
 * @param {string} topic `video:<id>` or `room:<id>`
 * @param {(m: ChatMessage) => void} fn
 * @returns {() => void}
 */
export function subscribe(topic, fn) {
  let t = topics.get(topic)
  if (!t) {
    t = { handlers: new Set(), lastId: 0, seen: new Set(), seenOrder: [] }
    topics.set(topic, t)
    write({ type: 'subscribe', topic })
  }
  t.handlers.add(fn)
  connect()
  return () => {
    const current = topics.get(topic)
    if (!current) return
    current.handlers.delete(fn)
    if (current.handlers.size > 0) return
    topics.delete(topic)
    write({ type: 'unsubscribe', topic })
    if (topics.size === 0) socket?.close()
  }
}

/**
 * Marks a danmaku id as seen (the sender's own, shown at once), so its echo is dropped.
 * @param {string} topic
 * @param {number} id
 */
export function markSeen(topic, id) {
  const t = topics.get(topic)
  if (t) remember(t, id)
}

/**
 * Sends a danmaku over the socket; resolves with the server's `sent` frame, rejects with a
 * ChatError (its code and, for floods, how long to wait).
 * @param {string} topic
 * @param {{text: string, time_ms?: number, mode?: string, color?: string, size?: string, latency_ms?: number}} danmaku
 * @returns {Promise<{id: number}>}
 */
export function sendDanmaku(topic, danmaku) {
  if (!socket || !open) return Promise.reject(new ChatError('disconnected', 'Not connected yet; try again in a moment.', null))
  const ref = String(nextRef++)
  return new Promise((resolve, reject) => {
    pending.set(ref, { resolve, reject })
    write({ type: 'send', topic, ref, ...danmaku })
    window.setTimeout(() => {
      if (pending.delete(ref)) reject(new ChatError('timeout', 'The server did not answer; try again.', null))
    }, 10_000)
  })
}
