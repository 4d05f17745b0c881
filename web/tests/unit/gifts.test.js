import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatCoins, giftNotice, isRetryable, sendOnce } from '../../src/gifts/sending.js'

test('isRetryable: the network and 5xx are retried, 4xx answers are final', () => {
  const cases = [
    [{ status: 0 }, true],
    [{ status: 500 }, true],
    [{ status: 503 }, true],
    [{ status: 409 }, false],
    [{ status: 422 }, false],
    [{ status: 400 }, false],
    [{ name: 'AbortError', status: 0 }, false],
    [null, false],
  ]
  for (const [error, want] of cases) assert.equal(isRetryable(error), want, JSON.stringify(error))
})

test('sendOnce: every retry reuses the one key, a final refusal stops at once', async () => {
  const cases = [
    // [answers in order (an object with status throws it), expected calls, resolves?]
    [[{ status: 0 }, { status: 502 }, 'sent'], 3, true],
    [['sent'], 1, true],
    [[{ status: 409 }], 1, false],
    [[{ status: 0 }, { status: 0 }, { status: 0 }, { status: 0 }], 4, false],
  ]
  for (const [answers, calls, resolves] of cases) {
    const keys = []
    const send = async (key) => {
      keys.push(key)
      const answer = answers[keys.length - 1]
      if (typeof answer === 'object') throw answer
      return answer
    }
    const result = sendOnce(send, { key: 'k-1', delays: [1, 1, 1], sleep: async () => {} })
    if (resolves) assert.equal(await result, 'sent')
    else await assert.rejects(result)
    assert.equal(keys.length, calls, JSON.stringify(answers))
    assert.ok(keys.every((k) => k === 'k-1'), 'the same key each time')
  }
})

test('giftNotice: only well-formed gift messages, animations from the known list', () => {
  const gift = { type: 'gift', id: 'tr_1', from: 'ann', gift: { id: 'rose', name: 'Rose', animation: 'spin' }, count: 2, amount: 20, at: 1 }
  assert.deepEqual(giftNotice(gift), { id: 'tr_1', from: 'ann', giftName: 'Rose', animation: 'spin', count: 2, amount: 20 })
  assert.equal(giftNotice({ ...gift, gift: { ...gift.gift, animation: 'x" onload="' } }).animation, 'float')
  const refused = [null, {}, { ...gift, type: 'danmaku' }, { ...gift, id: 7 }, { ...gift, count: 0 }, { ...gift, count: 1.5 }, { ...gift, gift: null }]
  for (const detail of refused) assert.equal(giftNotice(detail), null, JSON.stringify(detail))
})

test('formatCoins: singular, plural, thousands', () => {
  const cases = [
    [1, '1 coin'],
    [0, '0 coins'],
    [1250, '1,250 coins'],
  ]
  for (const [n, want] of cases) assert.equal(formatCoins(n), want)
})
