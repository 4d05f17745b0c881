// The comments and follows part of the browser end-to-end test (called from tests/e2e.mjs):
// B comments on A's video with markup in the text (shown as text, never run), A replies in
// B's thread, B sees the reply, follows A's channel and finds A's video in the home page's
// Following row.

import assert from 'node:assert/strict'

/**
 * @param {{base: string, pageA: import('playwright-core').Page, pageB: import('playwright-core').Page,
 *   userA: string, userB: string, videoId: string, log: (...args: unknown[]) => void,
 *   waitFor: (what: string, fn: () => Promise<unknown>, opts?: {timeout?: number}) => Promise<unknown>}} t
 */
export async function social({ base, pageA, pageB, userA, userB, videoId, log, waitFor }) {
  log('7a. comments and follows: B comments (markup shown as text), A replies, B follows A')
  const markup = `<b>bold</b> <img src=x onerror="window.__xssComment=1"> & "quotes"`
  await pageB.goto(`${base}/watch/${videoId}`)
  await pageB.locator('.comments').waitFor()
  await pageB.getByLabel('Add a comment').fill(markup)
  await pageB.getByRole('button', { name: 'Comment', exact: true }).click()
  const bComment = pageB.locator('.comment').filter({ has: pageB.locator('.comment-author', { hasText: userB }) }).first()
  await bComment.locator('.comment-text').waitFor({ timeout: 10_000 })
  assert.equal(await bComment.locator('.comment-text').textContent(), markup, 'the comment shows its characters')
  assert.equal(await bComment.locator('.comment-text b, .comment-text img').count(), 0, 'no element was made from the comment')
  assert.equal(await pageB.evaluate(() => globalThis.__xssComment), undefined, 'no script ran from the comment')

  await pageA.goto(`${base}/watch/${videoId}`)
  const thread = pageA.locator('.comment').filter({ has: pageA.locator('.comment-author', { hasText: userB }) }).first()
  await thread.waitFor({ timeout: 10_000 })
  assert.equal(await thread.locator('.comment-text').first().textContent(), markup)
  await thread.getByRole('button', { name: 'Reply', exact: true }).first().click()
  await pageA.getByLabel(`Reply to ${userB}`).fill('Thanks <i>for</i> watching')
  await thread.getByRole('button', { name: 'Reply', exact: true }).last().click()
  await thread.locator('.comment-replies .comment-text', { hasText: 'Thanks <i>for</i> watching' }).waitFor({ timeout: 10_000 })
  // The owner sees Pin on a top-level comment of their video.
  assert.equal(await thread.locator('.comment-pin').first().count(), 1, 'the owner can pin')

  await pageB.reload()
  const reply = pageB.locator('.comment-replies .comment').filter({ has: pageB.locator('.comment-author', { hasText: userA }) })
  await reply.first().waitFor({ timeout: 10_000 })
  assert.equal(await reply.first().locator('.comment-text').textContent(), 'Thanks <i>for</i> watching')
  assert.equal(await reply.first().locator('.comment-text i').count(), 0)
  log('   comment, reply in its thread, markup inert on both pages')

  await pageB.goto(`${base}/c/${userA}`)
  const follow = pageB.locator('.channel-head .follow-btn')
  await follow.waitFor()
  assert.equal(await follow.textContent(), 'Follow')
  await follow.click()
  await waitFor('the Follow button to say Following', async () => (await follow.textContent()) === 'Following', { timeout: 10_000 })
  await waitFor('the follower count', async () => (await pageB.locator('.channel-head .follower-count').textContent()) === '1 follower', { timeout: 10_000 })
  await pageB.goto(`${base}/`)
  await pageB.locator(`.following .card[data-video-id="${videoId}"]`).waitFor({ timeout: 10_000 })
  assert.equal(await pageB.locator('.following h2').textContent(), 'Following')
  log('   B follows A; A\'s video is on B\'s home page under Following')
}
