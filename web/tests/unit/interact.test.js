import { test } from 'node:test'
import assert from 'node:assert/strict'
import { toComment, DENSITY } from '../../src/interact/rules.js'
import { questionOrder } from '../../src/interact/order.js'

const item = (over) => ({ id: 1, text: '<b>hi</b>', time_ms: 1500, mode: 'scroll', color: '#ff0000', size: 'normal', weight: 5, author: 'a', ...over })

test('toComment: scroll flies right to left, time in seconds, sizes scale, colours are checked', () => {
  const cases = [
    [item(), 1, true, { text: '<b>hi</b>', mode: 'rtl', time: 1.5, fontSize: '24px', color: '#ff0000' }],
    [item({ mode: 'top', size: 'large' }), 0.5, true, { mode: 'top', time: 1.5, fontSize: '16px' }],
    [item({ mode: 'bottom', size: 'small', color: 'red;background:url(x)' }), 1, false, { mode: 'bottom', time: undefined, fontSize: '18px', color: '#ffffff' }],
    [item({ mode: 'sideways', size: 'huge' }), 1, true, { mode: 'rtl', fontSize: '24px' }],
  ]
  for (const [input, scale, withTime, want] of cases) {
    const got = toComment(input, scale, withTime)
    for (const [key, value] of Object.entries(want)) {
      const actual = key in got ? got[key] : got.style[key]
      assert.equal(actual, value, `${JSON.stringify(input)} ${key}`)
    }
  }
})

test('density: hosts (10) always show, low shows only what says something', () => {
  assert.ok(DENSITY.low > DENSITY.normal && DENSITY.normal > DENSITY.all)
  assert.ok(10 >= DENSITY.low && DENSITY.all === 1)
})

test('questionOrder: pinned first, then unanswered by votes, then answered, ties by age', () => {
  const q = (id, votes, pinned = false, answered = false) => ({ id, votes, pinned, answered })
  const list = [q(1, 5, false, true), q(2, 1), q(3, 9), q(4, 0, true), q(5, 9)]
  assert.deepEqual(list.sort(questionOrder).map((x) => x.id), [4, 3, 5, 2, 1])
})
