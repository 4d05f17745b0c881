// The pure rules of moderation in the browser: a PDQ hash as its 16x16 bit map, the bits two
// hashes differ in, how a share reads as a percentage, what a report or decision reason and a
// list name must be. Kept apart from the DOM so node's test runner checks them.

/** Two hashes are "the same picture" within this Hamming distance (docs/moderation.md). */
export const MATCH_DISTANCE = 31
/** A reason (report or decision): 1-500 characters, one line. */
export const REASON_MAX = 500
/** What a list may be called. */
const LIST_NAME = /^[A-Za-z0-9._-]{1,64}$/
const HEX64 = /^[0-9a-fA-F]{64}$/

/** True when `text` is 64 hex digits (either case): a PDQ hash or a BLAKE3 digest. */
export function isHashHex(text) {
  return typeof text === 'string' && HEX64.test(text)
}

/**
 * The 256 bits of a PDQ hash, row-major over its 16x16 map: bit k is row k >> 4, column k & 15.
 * The hex text is the reference's 16 words of 16 bits, the most significant word first: its
 * first 4 digits are row 15 and its last 4 are row 0; the lowest bit of each word is column 0.
 * @param {string} hex 64 hex digits
 * @returns {boolean[]} 256 entries
 */
export function hashBits(hex) {
  if (!isHashHex(hex)) throw new TypeError(`a PDQ hash is 64 hex digits, not ${JSON.stringify(String(hex).slice(0, 80))}`)
  /** @type {boolean[]} */
  const bits = new Array(256)
  for (let row = 0; row < 16; row++) {
    const start = (15 - row) * 4
    const word = parseInt(hex.slice(start, start + 4), 16)
    for (let col = 0; col < 16; col++) bits[row * 16 + col] = ((word >> col) & 1) === 1
  }
  return bits
}

/**
 * Where two hashes differ: `bits[k]` is true when bit k differs; `distance` is how many do
 * (their Hamming distance).
 * @param {string} a
 * @param {string} b
 * @returns {{bits: boolean[], distance: number}}
 */
export function hashDiff(a, b) {
  const x = hashBits(a)
  const y = hashBits(b)
  const bits = x.map((bit, k) => bit !== y[k])
  return { bits, distance: bits.filter(Boolean).length }
}

/**
 * A share (`query_share`, `compared_share`) as text: "92%", "66.6%". Shares are percentages
 * 0-100 (the server sends whole ones, rounded down); a fraction of one is cut to the tenth,
 * never rounded up, so a share just under the 80 % rule never reads as 80 %. Above 100 reads
 * as 100 %; anything else (negative, not a number) is "—".
 * @param {unknown} share
 * @returns {string}
 */
export function formatShare(share) {
  if (typeof share !== 'number' || !Number.isFinite(share) || share < 0) return '—'
  // The epsilon keeps 29.000000000000004 and 28.999999999999996 at 29.
  const tenths = Math.floor(Math.min(share, 100) * 10 + 1e-6)
  return `${tenths % 10 === 0 ? tenths / 10 : (tenths / 10).toFixed(1)}%`
}

/**
 * Why a reason cannot be sent, or null when it can. Counted as it will be sent (trimmed), in
 * characters (code points), as the server counts.
 * @param {string} text
 * @returns {string | null}
 */
export function reasonProblem(text) {
  const reason = String(text ?? '').trim()
  if (!reason) return 'Give a reason.'
  if (/[\r\n\u0085\u2028\u2029]/.test(reason)) return 'The reason must be one line.'
  const length = [...reason].length
  if (length > REASON_MAX) return `The reason is too long: at most ${REASON_MAX} characters (this has ${length}).`
  return null
}

/**
 * Why a list name is refused, or null.
 * @param {string} name
 * @returns {string | null}
 */
export function listNameProblem(name) {
  if (!name) return 'Name the list.'
  if (!LIST_NAME.test(name)) return 'A list name is 1-64 letters, digits, “-”, “_” or “.”.'
  return null
}
