// The pure part of sending gifts: one Idempotency-Key per click, retries that reuse it (so a
// send the server applied but whose answer was lost is not paid twice), and the checks a
// broadcast gift message passes before the page shows it. No DOM.

/** A fresh Idempotency-Key: one per click, reused by that click's retries. */
export function newIdempotencyKey() {
  if (globalThis.crypto && typeof globalThis.crypto.randomUUID === 'function') return globalThis.crypto.randomUUID()
  return `k-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`
}

/**
 * True when the same request may be sent again: the network failed or the server did
 * (5xx). A 4xx answer is final (no funds, a reused key, an unknown gift).
 * @param {{status?: number, name?: string} | null | undefined} error
 */
export function isRetryable(error) {
  if (!error || error.name === 'AbortError') return false
  const status = typeof error.status === 'number' ? error.status : 0
  return status === 0 || status >= 500
}

/**
 * Calls send(key) until it answers or fails for good, at most `delays.length + 1` times,
 * always with the same key.
 * @template T
 * @param {(key: string) => Promise<T>} send
 * @param {{key?: string, delays?: number[], sleep?: (ms: number) => Promise<void>}} [opts]
 * @returns {Promise<T>}
 */
export async function sendOnce(send, { key = newIdempotencyKey(), delays = [300, 1000, 3000], sleep = (ms) => new Promise((r) => setTimeout(r, ms)) } = {}) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await send(key)
    } catch (e) {
      if (attempt >= delays.length || !isRetryable(e)) throw e
      await sleep(delays[attempt])
    }
  }
}

/** Animations the overlay knows; anything else plays the default. */
export const ANIMATIONS = ['float', 'spin', 'launch', 'burst']

/**
 * @typedef {{id: string, from: string, giftName: string, animation: string, count: number, amount: number}} GiftNotice
 */

/**
 * The fields of a `spool:gift` event's detail the page shows, checked; null when it is not
 * a gift message.
 * @param {any} detail
 * @returns {GiftNotice | null}
 */
export function giftNotice(detail) {
  if (!detail || detail.type !== 'gift' || typeof detail.id !== 'string' || !detail.gift) return null
  const count = Number(detail.count)
  const amount = Number(detail.amount)
  if (!Number.isInteger(count) || count < 1 || !Number.isFinite(amount)) return null
  const animation = ANIMATIONS.includes(detail.gift.animation) ? detail.gift.animation : 'float'
  return {
    id: detail.id,
    from: String(detail.from ?? '').slice(0, 64),
    giftName: String(detail.gift.name ?? detail.gift.id ?? 'gift').slice(0, 64),
    animation,
    count,
    amount,
  }
}

/** "1 coin", "1,250 coins". @param {number} n */
export function formatCoins(n) {
  return `${Number(n).toLocaleString('en-US')} ${n === 1 ? 'coin' : 'coins'}`
}
