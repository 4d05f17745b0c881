import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hashBits, hashDiff, formatShare, reasonProblem, listNameProblem, isHashHex, REASON_MAX } from '../../src/moderation/rules.js'

const ZERO = '0'.repeat(64)
/** 64 hex digits: `word` (4 digits) at word slot `slot` (0 = the first 4 digits), zeros elsewhere. */
const withWord = (slot, word) => ZERO.slice(0, slot * 4) + word + ZERO.slice(slot * 4 + 4)
const ones = (bits) => bits.flatMap((b, k) => (b ? [k] : []))

test('hashBits: row-major 16x16, the first word is row 15, the last row 0, a word\'s low bit column 0', () => {
  const cases = [
    // [hex, the set bits (k = row * 16 + column)]
    [ZERO, []],
    [withWord(15, '0001'), [0]], // last word, low bit: row 0, column 0
    [withWord(15, '8000'), [15]], // last word, high bit: row 0, column 15
    [withWord(0, '0001'), [240]], // first word, low bit: row 15, column 0
    [withWord(0, '8000'), [255]], // first word, high bit: row 15, column 15
    [withWord(14, '0002'), [17]], // row 1, column 1
    [withWord(7, '0010'), [8 * 16 + 4]], // slot 7 is row 8
    [withWord(15, 'ABCD'), ones(hashBits(withWord(15, 'abcd')))], // either case
    [withWord(15, '00ff'), [0, 1, 2, 3, 4, 5, 6, 7]],
  ]
  for (const [hex, want] of cases) {
    const bits = hashBits(hex)
    assert.equal(bits.length, 256, hex)
    assert.deepEqual(ones(bits), want, hex)
  }
  assert.equal(ones(hashBits('f'.repeat(64))).length, 256)
})

test('hashBits agrees with the Rust side\'s rule: bit i is bit i % 8 of byte 31 - i / 8', () => {
  let seed = 7
  // A 32-bit LCG; its high bits are the random ones.
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16
  for (let n = 0; n < 50; n++) {
    const hex = Array.from({ length: 64 }, () => (next() % 16).toString(16)).join('')
    const bits = hashBits(hex)
    for (let i = 0; i < 256; i++) {
      const byte = parseInt(hex.slice(2 * (31 - (i >> 3)), 2 * (31 - (i >> 3)) + 2), 16)
      assert.equal(bits[i], ((byte >> (i & 7)) & 1) === 1, `${hex} bit ${i}`)
    }
  }
})

test('hashBits refuses what is not 64 hex digits', () => {
  for (const bad of ['', '0'.repeat(63), '0'.repeat(65), `${'0'.repeat(63)}g`, ` ${'0'.repeat(63)}`, null, undefined, 42]) {
    assert.throws(() => hashBits(/** @type {any} */ (bad)), TypeError, String(bad))
  }
})

test('hashDiff: the differing bits and their count (the Hamming distance)', () => {
  const a = '0123456789abcdef'.repeat(4)
  const cases = [
    // [a, b, distance, differing bits or null to skip]
    [ZERO, ZERO, 0, []],
    [ZERO, 'f'.repeat(64), 256, null],
    [a, a.toUpperCase(), 0, []],
    [ZERO, withWord(15, '0001'), 1, [0]],
    [withWord(0, '8000'), withWord(15, '0001'), 2, [0, 255]],
    [ZERO, withWord(14, 'f000'), 4, [28, 29, 30, 31]],
    [a, a.slice(0, 63) + 'e', 1, [0]], // f → e: the last digit's low bit
  ]
  for (const [x, y, distance, bits] of cases) {
    const diff = hashDiff(x, y)
    assert.equal(diff.distance, distance, `${x} vs ${y}`)
    assert.equal(diff.bits.length, 256)
    if (bits) assert.deepEqual(ones(diff.bits), bits, `${x} vs ${y}`)
    assert.equal(hashDiff(y, x).distance, distance, 'symmetric')
  }
  // The count is the popcount of the XOR, whatever the layout.
  const b = 'fedcba9876543210'.repeat(4)
  let xor = 0
  for (let i = 0; i < 64; i++) {
    let v = parseInt(a[i], 16) ^ parseInt(b[i], 16)
    while (v) {
      xor += v & 1
      v >>= 1
    }
  }
  assert.equal(hashDiff(a, b).distance, xor)
})

test('formatShare: percentages, tenths cut (never rounded up to the 80 % rule)', () => {
  const cases = [
    [92, '92%'],
    [80, '80%'],
    [1, '1%'],
    [100, '100%'],
    [0, '0%'],
    [92.5, '92.5%'],
    [79.99, '79.9%'],
    [0.29 * 100, '29%'], // 28.999999999999996
    [200 / 3, '66.6%'],
    [0.04, '0%'],
    [150, '100%'],
    [-0.1, '—'],
    [Number.NaN, '—'],
    [Infinity, '—'],
    [null, '—'],
    ['0.5', '—'],
  ]
  for (const [share, want] of cases) assert.equal(formatShare(share), want, String(share))
})

test('reasonProblem: 1-500 characters once trimmed, one line, counted in code points', () => {
  const cases = [
    ['spam', null],
    ['  padded  ', null],
    ['x'.repeat(REASON_MAX), null],
    [`  ${'x'.repeat(REASON_MAX)}  `, null],
    ['😀'.repeat(REASON_MAX), null], // 1000 UTF-16 units, 500 characters
    ['', 'Give a reason.'],
    ['   ', 'Give a reason.'],
    [null, 'Give a reason.'],
    ['a\nb', 'The reason must be one line.'],
    ['a\r\nb', 'The reason must be one line.'],
    ['a\u2028b', 'The reason must be one line.'],
    ['x'.repeat(REASON_MAX + 1), `The reason is too long: at most ${REASON_MAX} characters (this has ${REASON_MAX + 1}).`],
    ['😀'.repeat(REASON_MAX + 1), `The reason is too long: at most ${REASON_MAX} characters (this has ${REASON_MAX + 1}).`],
  ]
  for (const [text, want] of cases) assert.equal(reasonProblem(/** @type {any} */ (text)), want, JSON.stringify(text)?.slice(0, 40))
})

test('listNameProblem and isHashHex', () => {
  const names = [
    ['banned-clips', true],
    ['a', true],
    ['v1.2_final', true],
    ['x'.repeat(64), true],
    ['x'.repeat(65), false],
    ['', false],
    ['has space', false],
    ['slash/y', false],
    ['ünïcode', false],
  ]
  for (const [name, ok] of names) assert.equal(listNameProblem(name) === null, ok, name)
  const hashes = [
    ['a'.repeat(64), true],
    ['A'.repeat(64), true],
    ['a'.repeat(63), false],
    ['g'.repeat(64), false],
    [null, false],
  ]
  for (const [hex, ok] of hashes) assert.equal(isHashHex(hex), ok, String(hex))
})
