// The moderation part of the web e2e (called from e2e.mjs after social when the harness passes
// SPOOL_MODERATION_HELD; crates/spool/tests/web.rs does):
// the uploader of a held video sees why on its watch page and in the studio; an admin finds it
// in /admin/moderation with its reason, opens the case, sees a matched frame beside the
// frame's and the list entry's hash grids (the differing bits marked, distance ≤ 31), is told
// a too-long reason is refused, decides with a reason (markup shown as text), is sent back to
// the queue, and finds the decision at the top of the audit; the uploader's video is then
// public again (approve) or gone (remove, ban).
//
// Fixtures (the Rust harness makes them; e2e.mjs skips this part without them):
// - `admin`: a page whose requests the server takes as an admin's: a cookie session, or a
//   context made with `bearerContextOptions(SPOOL_ADMIN_TOKEN)` (every request carries the
//   token; the pages ask the server, not the session, whether the visitor is an admin).
// - `uploader`: a page of the held video's owner: a cookie session (then the studio is checked
//   too), or a token context as above (the watch page only).
// - `videoId`: a video held by a PDQ list match (at least one matched frame pair with its
//   picture kept, `frame_url`), e.g. from
//   SPOOL_MODERATION_HELD = {"video_id": ..., "owner_token": ...}. In e2e.mjs, after social:
//
//   if (process.env.SPOOL_MODERATION_HELD) {
//     const held = JSON.parse(process.env.SPOOL_MODERATION_HELD)
//     const m = await import('./e2e/moderation.mjs')
//     const admin = await newPage(await browser.newContext({ viewport: DESKTOP, ...m.bearerContextOptions(process.env.SPOOL_ADMIN_TOKEN) }), 'admin')
//     const uploader = await newPage(await browser.newContext({ viewport: DESKTOP, ...m.bearerContextOptions(held.owner_token) }), 'uploader')
//     measurements.moderation = await m.checkModeration({ base: BASE, admin, uploader, videoId: held.video_id, action: 'approve', log, waitFor })
//   }

import assert from 'node:assert/strict'

const MATCH_DISTANCE = 31

/**
 * Context options for a user known by an API token (`spool user add`): `browser.newContext({...DESKTOP,
 * ...bearerContextOptions(token)})`: every request of the context carries it.
 * @param {string} token
 */
export function bearerContextOptions(token) {
  return { extraHTTPHeaders: { authorization: `Bearer ${token}` } }
}

/**
 * GET `base + path` as `page`'s context (its cookies and extra headers), as {status, json}:
 * through Playwright's request API, so a 404 on purpose is no console error in the page.
 * @param {import('playwright-core').Page} page
 */
async function pageGet(page, base, path) {
  const r = await page.request.get(`${base}${path}`, { headers: { accept: 'application/json' } })
  const text = await r.text()
  try {
    return { status: r.status(), json: text ? JSON.parse(text) : null }
  } catch {
    return { status: r.status(), json: text }
  }
}

/**
 * @param {{base: string, admin: import('playwright-core').Page, uploader: import('playwright-core').Page,
 *   videoId: string, action?: 'approve' | 'remove' | 'ban', log: (...args: any[]) => void,
 *   waitFor: (what: string, fn: () => Promise<any>, opts?: {timeout?: number, interval?: number}) => Promise<any>}} t
 * @returns {Promise<{distance: number, pairs: number, action: string}>}
 */
export async function checkModeration({ base, admin, uploader, videoId, action = 'approve', log, waitFor }) {
  log(`moderation: a held video (${videoId}) through the queue, its case and a decision (${action})`)
  await admin.goto(`${base}/admin/moderation`)
  const caseJson = await pageGet(admin, base, `/api/v1/moderation/videos/${encodeURIComponent(videoId)}`)
  assert.equal(caseJson.status, 200, `GET the case of ${videoId}: ${caseJson.status} ${JSON.stringify(caseJson.json)}`)
  const c = caseJson.json
  assert.equal(c.video.status, 'held', `the video is ${c.video.status}, not held`)
  assert.ok(c.video.hold_reason, 'a held video has a hold_reason')
  assert.ok(c.matches.length > 0 && c.matches[0].pairs.length > 0, `the case has no matched frame: ${JSON.stringify(c.matches)}`)

  // ---- the uploader is told, on the watch page and in the studio
  await uploader.goto(`${base}/watch/${videoId}`)
  const notice = uploader.locator('.notice-held')
  await notice.waitFor({ timeout: 15_000 })
  assert.equal(await uploader.locator('.notice-held .held-reason-text').textContent(), c.video.hold_reason, 'the watch page shows the hold reason')
  // The studio is for a browser session (a token-only uploader sees its sign-in card).
  const session = await pageGet(uploader, base, '/api/v1/auth/session')
  const signedIn = Boolean(session.json && session.json.user)
  if (signedIn) {
    assert.equal(session.json.user.name, c.video.owner, 'the uploader page is the owner\'s')
    await uploader.goto(`${base}/studio`)
    const studioNotice = uploader.locator(`.studio-item[data-video-id="${videoId}"] .notice-held`)
    await studioNotice.waitFor({ timeout: 15_000 })
    assert.equal(await studioNotice.locator('.held-reason-text').textContent(), c.video.hold_reason, 'the studio shows the hold reason')
  }
  log(`   the uploader sees the held notice and its reason on the watch page${signedIn ? ' and in the studio' : ' (no browser session: studio not checked)'}`)

  // ---- the queue: the video, its reason, when, how many reports
  const item = admin.locator(`.mod-queue-item[data-video-id="${videoId}"]`)
  await waitFor('the held video in the queue', async () => {
    if ((await item.count()) > 0) return true
    const more = admin.locator('.mod-more').first()
    if ((await more.count()) > 0 && (await more.isVisible())) await more.click()
    return false
  }, { timeout: 20_000, interval: 300 })
  assert.equal(await item.locator('.mod-queue-title').textContent(), c.video.title, 'the title (as text)')
  assert.equal(await item.locator('.mod-queue-owner').textContent(), c.video.owner)
  assert.equal(await item.locator('.mod-queue-reason').textContent(), c.reason || c.video.hold_reason)
  assert.equal(await item.locator('.mod-queue-held').getAttribute('datetime'), c.held_at)
  assert.match(await item.locator('.mod-queue-reports').textContent(), new RegExp(`^${c.reports.length} reports?$`))

  // ---- the case
  await item.locator('.mod-queue-title a').click()
  await admin.waitForURL(`${base}/admin/moderation/${videoId}`)
  await admin.locator('.mod-case').waitFor({ timeout: 15_000 })
  assert.equal(await admin.locator('.mod-reason-text').textContent(), c.reason || c.video.hold_reason)
  const match = admin.locator('.mod-match').first()
  assert.equal(await match.locator('.mod-list-name').textContent(), c.matches[0].list)
  assert.match(await match.locator('.mod-query-share').textContent(), /^\d+(\.\d)?%/)
  assert.match(await match.locator('.mod-compared-share').textContent(), /^\d+(\.\d)?%/)
  // The first pair whose frame's picture was kept.
  assert.ok(c.matches[0].pairs.some((p) => p.frame_url), 'no matched frame of the first item has a picture')
  const pair = match.locator('.mod-pair:has(img.mod-frame-img)').first()
  await pair.scrollIntoViewIfNeeded()
  const frame = pair.locator('img.mod-frame-img')
  await waitFor('the matched frame to load', () => frame.evaluate((img) => img.complete && img.naturalWidth > 0), { timeout: 15_000 })
  const grids = pair.locator('svg.mod-hash-grid')
  assert.equal(await grids.count(), 2, 'the frame\'s and the entry\'s hash grids')
  for (let i = 0; i < 2; i++) assert.equal(await grids.nth(i).locator('rect.bit').count(), 256, '16x16 bits')
  // Side by side: left to right on one row.
  const [img, g1, g2] = await Promise.all([frame.boundingBox(), grids.nth(0).boundingBox(), grids.nth(1).boundingBox()])
  assert.ok(img && g1 && g2, 'the frame and the grids are visible')
  assert.ok(img.x + img.width <= g1.x + 1 && g1.x + g1.width <= g2.x + 1, `not side by side: ${JSON.stringify({ img, g1, g2 })}`)
  for (const [a, b] of [[img, g1], [g1, g2]]) assert.ok(a.y < b.y + b.height && b.y < a.y + a.height, `not on one row: ${JSON.stringify({ a, b })}`)
  const distance = Number(await pair.getAttribute('data-distance'))
  assert.ok(Number.isInteger(distance) && distance >= 0 && distance <= MATCH_DISTANCE, `distance ${distance}`)
  assert.equal(Number(await pair.locator('.mod-distance-value').textContent()), distance)
  for (let i = 0; i < 2; i++) assert.equal(await grids.nth(i).locator('.bit-diff-mark').count(), distance, 'the differing bits are marked, as many as the distance')
  assert.equal(await pair.locator('.form-alert').count(), 0, 'the hashes and the distance agree')
  const pairs = c.matches.reduce((n, m) => n + m.pairs.length, 0)
  assert.equal(await admin.locator('.mod-case .mod-audit-item').count(), c.decisions.length, 'the audit trail shows every decision so far')
  assert.equal(await admin.locator('.mod-report').count(), c.reports.length, 'the reports')
  log(`   queue → case: frame and two 16x16 grids side by side, distance ${distance}, ${pairs} pairs, ${c.decisions.length} decisions so far`)

  // ---- the decision: a bad reason is refused in the page, a good one decides
  const reasonBox = admin.getByLabel('Reason (kept in the audit)')
  const label = { approve: 'Approve', remove: 'Remove', ban: 'Ban uploader' }[action]
  await reasonBox.fill('x'.repeat(501))
  await admin.locator('.mod-decision').getByRole('button', { name: label, exact: true }).click()
  await waitFor('the too-long reason refused', async () => /too long/.test((await admin.locator('.mod-decision .form-alert').textContent()) || ''), { timeout: 5_000 })
  const reason = `e2e ${action}: <b>not markup</b> & fine ${Date.now()}`
  await reasonBox.fill(reason)
  await admin.locator('.mod-decision').getByRole('button', { name: label, exact: true }).click()
  if (action !== 'approve') await admin.locator('dialog[open]').getByRole('button', { name: action === 'ban' ? 'Ban' : 'Remove', exact: true }).click()
  await admin.waitForURL(`${base}/admin/moderation`, { timeout: 15_000 })
  await admin.locator('.mod-flash').waitFor({ timeout: 5_000 })
  const top = admin.locator('.mod-queue-page .mod-audit-item').first()
  await top.waitFor({ timeout: 15_000 })
  assert.equal(await item.count(), 0, 'the decided video left the queue')
  assert.equal(await top.getAttribute('data-action'), action)
  assert.equal(await top.getAttribute('data-video-id'), videoId)
  assert.equal(await top.locator('.mod-audit-reason').textContent(), reason, 'the reason, as text')
  assert.equal(await top.locator('.mod-audit-reason b').count(), 0)
  assert.notEqual(await top.locator('.mod-audit-actor').textContent(), 'by the system', 'the admin is the actor')
  const audit = await pageGet(admin, base, '/api/v1/moderation/audit?limit=5')
  assert.equal(audit.status, 200)
  const latest = audit.json.decisions[0]
  assert.ok(latest && latest.video_id === videoId && latest.action === action && latest.reason === reason && latest.actor, `the audit's latest decision: ${JSON.stringify(latest)}`)

  // ---- what the uploader sees now
  const after = await pageGet(uploader, base, `/api/v1/videos/${encodeURIComponent(videoId)}`)
  if (action === 'approve') {
    assert.equal(after.status, 200)
    assert.notEqual(after.json.status, 'held', 'approved, the video is no longer held')
    assert.equal(after.json.hold_reason, null)
    await uploader.goto(`${base}/watch/${videoId}`)
    await uploader.locator('.watch-title').waitFor({ timeout: 15_000 })
    assert.equal(await uploader.locator('.notice-held').count(), 0, 'no held notice after approval')
  } else {
    // Removed (a banned uploader's session ends too).
    assert.ok([401, 403, 404].includes(after.status), `after ${action}, GET the video: ${after.status}`)
  }
  log(`   ${action} with a reason: back on the queue, the decision on top of the audit, the uploader's video ${action === 'approve' ? 'public again' : 'gone'}`)
  return { distance, pairs, action }
}
