// The gifts part of the web e2e (called from e2e.mjs): an admin grants viewer B coins over the
// API, B sends a gift from the watch page's picker, and sees the balance fall, the gift's
// animation play and the leaderboard name them; the creator's studio shows the earnings.
// SPOOL_ADMIN_TOKEN: an admin's API token (crates/spool/tests/web.rs makes one).

/* global document */ // inside page.evaluate callbacks, which run in the page
import assert from 'node:assert/strict'

/**
 * @param {{base: string, viewer: import('playwright-core').Page, viewerName: string,
 *   creator: import('playwright-core').Page, videoId: string, log: (...args: any[]) => void,
 *   waitFor: (what: string, fn: () => Promise<any>, opts?: object) => Promise<any>}} t
 */
export async function checkGifts({ base, viewer, viewerName, creator, videoId, log, waitFor }) {
  const admin = process.env.SPOOL_ADMIN_TOKEN
  assert.ok(admin, 'SPOOL_ADMIN_TOKEN is not set: the gifts check needs an admin to grant coins')
  const granted = await fetch(`${base}/api/v1/admin/wallets/${encodeURIComponent(viewerName)}/grant`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', 'idempotency-key': `e2e-${viewerName}` },
    body: JSON.stringify({ amount: 100 }),
  })
  assert.equal(granted.status, 200, `grant: HTTP ${granted.status} ${await granted.text()}`)

  await viewer.goto(`${base}/watch/${videoId}`)
  const balance = viewer.locator('.gift-balance')
  await waitFor('the wallet balance', async () => (await balance.textContent()) === '100 coins')
  const rose = viewer.getByRole('button', { name: 'Send Rose (10 coins)' })
  await rose.click()
  await waitFor('the balance to fall by the rose', async () => (await balance.textContent()) === '90 coins')
  await viewer.locator('.gift-burst').first().waitFor({ timeout: 5_000 })
  assert.match(await viewer.locator('.gift-burst').first().textContent(), new RegExp(`^${viewerName} sent Rose$`))
  const leader = viewer.locator(`.gift-leader[data-name="${viewerName}"]`)
  await leader.waitFor({ timeout: 10_000 })
  assert.match(await leader.textContent(), /10 coins$/)
  // The server agrees: once debited, and the leaderboard from the ledger.
  const wallet = await viewer.evaluate(async () => (await fetch('/api/v1/me/wallet')).json())
  assert.equal(wallet.balance, 90)
  assert.equal(wallet.recent.filter((m) => m.kind === 'gift').length, 1, 'one gift transfer for one click')

  // A gift from another viewer arrives as the socket delivers it: a `spool:gift` DOM event.
  await viewer.evaluate(() => document.dispatchEvent(new CustomEvent('spool:gift', { detail: { type: 'gift', id: 'tr_other', from: '<b>eve</b>', gift: { id: 'star', name: 'Star', animation: 'spin' }, count: 3, amount: 150, at: Date.now() } })))
  const other = viewer.locator('.gift-burst.gift-anim-spin')
  await other.waitFor({ timeout: 5_000 })
  assert.equal(await other.textContent(), '<b>eve</b> sent 3 × Star', 'names are text, never markup')

  await creator.goto(`${base}/studio`)
  const earned = creator.locator('.gift-earned-total')
  await waitFor('the creator\'s earnings', async () => (await earned.textContent()) === '7 coins earned from gifts')
  log('   gifts: B granted 100, sent a rose (balance 90, leaderboard, animation), A earned 7 in the studio')
}
