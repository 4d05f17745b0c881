// End-to-end test of the Spool web app against a running `spool serve`, in headless Chromium.
//
//   SPOOL_URL=http://127.0.0.1:8099 SPOOL_ARTIFACTS=/tmp/artifacts SPOOL_SAMPLES=/tmp/samples \
//     node web/tests/e2e.mjs
//
// SPOOL_URL: a server with a fresh data dir (the test signs up its own users).
// SPOOL_ARTIFACTS: screenshots/<page>-<phone|desktop>.png and measurements.json go here.
// SPOOL_SAMPLES: scratch dir for the generated sample videos (real ffmpeg).
// CHROMIUM (optional): the browser binary, default /usr/bin/chromium.
//
// Progress lines go to stdout; the last line is one JSON object of measurements.

import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { createReadStream, mkdirSync, statSync, existsSync, writeFileSync } from 'node:fs'
import { join, basename } from 'node:path'
import { chromium } from 'playwright-core'
import * as tus from 'tus-js-client'

const BASE = (process.env.SPOOL_URL || '').replace(/\/$/, '')
const ARTIFACTS = process.env.SPOOL_ARTIFACTS
const SAMPLES = process.env.SPOOL_SAMPLES
if (!BASE || !ARTIFACTS || !SAMPLES) {
  console.error('set SPOOL_URL, SPOOL_ARTIFACTS and SPOOL_SAMPLES')
  process.exit(2)
}
const SHOTS = join(ARTIFACTS, 'screenshots')
mkdirSync(SHOTS, { recursive: true })
mkdirSync(SAMPLES, { recursive: true })

const T0 = Date.now()
const log = (...args) => console.log(`[e2e +${((Date.now() - T0) / 1000).toFixed(1)}s]`, ...args)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const PHONE = { width: 390, height: 844 }
const DESKTOP = { width: 1366, height: 900 }
const PROCESSING_TIMEOUT = 180_000
const RUN = Math.random().toString(36).slice(2, 7)
const USER_A = `alice_${RUN}`
const USER_B = `bob_${RUN}`
const PASS_A = 'correct horse battery staple'
const PASS_B = 'tr0ub4dor & three'
const XSS_TITLE = `Launch <img src=x onerror="window.__xss=1"> & <script>window.__xss=2</script> "demo"`
const measurements = {}

async function waitFor(what, fn, { timeout = 30_000, interval = 250 } = {}) {
  const end = Date.now() + timeout
  let last
  for (;;) {
    try {
      last = await fn()
      if (last) return last
    } catch (e) {
      last = e
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`)
    await sleep(interval)
  }
}

/**
 * Polls `fn` for `ms` and fails as soon as it answers false: a property that must hold over a
 * window of time (the server's offset while an upload is paused), not a sleep before a check.
 */
async function holds(what, fn, ms, { interval = 100 } = {}) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    assert.ok(await fn(), `${what} did not hold`)
    await sleep(interval)
  }
}

// ---------------------------------------------------------------- what a person sees

/**
 * Checks the picture a viewer sees while `selector` (a <video>) plays: the topmost element at
 * the player's centre is the video (a transparent overlay layer of the player core, if one
 * takes pointer events there, is looked under), and two screenshots of the middle of the
 * picture, taken while the playback position advances by a second, differ. A cover image left
 * above the video (the frozen feed picture) fails both. Returns what it measured.
 */
async function assertPictureMoves(page, label, selector) {
  const hit = await page.evaluate((sel) => {
    const video = document.querySelector(sel)
    if (!video) return { error: `no ${sel} on the page` }
    const r = video.getBoundingClientRect()
    const x = r.left + r.width / 2
    const y = r.top + r.height / 2
    const describe = (el) => `${el.tagName.toLowerCase()}${typeof el.className === 'string' && el.className.trim() ? `.${el.className.trim().split(/\s+/).join('.')}` : ''}`
    const transparentLayer = (el) => {
      if (!el.closest('.player-overlays') || ['IMG', 'VIDEO', 'CANVAS', 'SVG'].includes(el.tagName.toUpperCase())) return false
      const style = getComputedStyle(el)
      return style.backgroundImage === 'none' && /rgba\(.*,\s*0\)$|transparent/.test(style.backgroundColor)
    }
    const looked = []
    for (const el of document.elementsFromPoint(x, y)) {
      if (el === video) return { ok: true, lookedUnder: looked }
      if (!transparentLayer(el)) return { ok: false, top: describe(el), lookedUnder: looked }
      looked.push(describe(el))
    }
    return { ok: false, top: 'nothing', lookedUnder: looked }
  }, selector)
  assert.ok(!hit.error, `${label}: ${hit.error}`)
  assert.ok(hit.ok, `${label}: the topmost element at the player's centre is ${hit.top}, not the video`)

  // The middle of the picture (object-fit: contain), clear of controls, captions and badges.
  const clip = await page.evaluate((sel) => {
    const v = document.querySelector(sel)
    const r = v.getBoundingClientRect()
    const vw = v.videoWidth || r.width
    const vh = v.videoHeight || r.height
    const scale = Math.min(r.width / vw, r.height / vh)
    const w = vw * scale
    const h = vh * scale
    const left = r.left + (r.width - w) / 2
    const top = r.top + (r.height - h) / 2
    return { x: Math.round(left + w * 0.2), y: Math.round(top + h * 0.2), width: Math.round(w * 0.6), height: Math.round(h * 0.5) }
  }, selector)
  const position = () => page.evaluate((sel) => document.querySelector(sel).currentTime, selector)
  const dir = join(ARTIFACTS, 'motion')
  mkdirSync(dir, { recursive: true })
  const t1 = await position()
  const first = await page.screenshot({ clip, path: join(dir, `${label}-1.png`) })
  await waitFor(`${label}: the playback position to advance a second`, async () => (await position()) >= t1 + 1, { timeout: 20_000, interval: 100 })
  const t2 = await position()
  const second = await page.screenshot({ clip, path: join(dir, `${label}-2.png`) })
  const playing = await page.evaluate((sel) => !document.querySelector(sel).paused, selector)
  assert.ok(playing, `${label}: the video stopped playing`)
  assert.ok(!first.equals(second), `${label}: the picture did not change between ${t1.toFixed(2)} s and ${t2.toFixed(2)} s of playback (frozen): ${JSON.stringify(clip)}`)
  return { clip, from_s: Math.round(t1 * 100) / 100, to_s: Math.round(t2 * 100) / 100, lookedUnder: hit.lookedUnder }
}

// ---------------------------------------------------------------- samples (real ffmpeg)

function makeSample(name, { seconds, size, source = 'testsrc2', freq = 440, moving = '' }) {
  const out = join(SAMPLES, name)
  if (existsSync(out)) return out
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `${source}=size=${size}:rate=30${moving ? `,${moving}` : ''}`,
    '-f', 'lavfi', '-i', `sine=frequency=${freq}:sample_rate=48000`,
    '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '26', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '96k', '-shortest', out,
  ])
  return out
}

// ---------------------------------------------------------------- API helpers (node side)

async function apiSession(name, password) {
  const r = await fetch(`${BASE}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password }),
  })
  const text = await r.text()
  assert.equal(r.status, 200, `login ${name} over the API: HTTP ${r.status} ${text}`)
  const cookie = r.headers.get('set-cookie').split(';')[0]
  const { csrf_token } = JSON.parse(text)
  return { cookie, csrf: csrf_token }
}

async function apiGet(path, session) {
  const r = await fetch(`${BASE}${path}`, { headers: session ? { cookie: session.cookie } : {} })
  const text = await r.text()
  return { status: r.status, json: text ? JSON.parse(text) : null }
}

function tusUpload(session, file, title) {
  return new Promise((resolve, reject) => {
    let videoId = null
    const upload = new tus.Upload(createReadStream(file), {
      endpoint: `${BASE}/api/v1/uploads`,
      chunkSize: 8 * 1024 * 1024,
      retryDelays: [0, 1000, 3000],
      headers: { cookie: session.cookie, 'X-CSRF-Token': session.csrf },
      metadata: { filename: basename(file), title },
      onAfterResponse(_req, res) {
        videoId ||= res.getHeader('Spool-Video-Id') || null
      },
      onError: reject,
      onSuccess: () => (videoId ? resolve(videoId) : reject(new Error('no Spool-Video-Id header on the creation answer'))),
    })
    upload.start()
  })
}

async function waitProcessed(id, session, { complete = true } = {}) {
  return waitFor(
    `video ${id} to be ${complete ? 'fully processed' : 'playable'}`,
    async () => {
      const { status, json } = await apiGet(`/api/v1/videos/${id}`, session)
      assert.equal(status, 200, `GET video ${id}: ${status}`)
      if (json.status === 'failed') throw Object.assign(new Error(`processing of ${id} failed: ${json.error}`), { fatal: true })
      return (complete ? json.processing_complete : json.renditions.length > 0) ? json : null
    },
    { timeout: PROCESSING_TIMEOUT, interval: 1000 },
  ).catch((e) => {
    throw e
  })
}

// ---------------------------------------------------------------- browser instrumentation

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
})

const consoleErrors = [] // {page, text, url}
const consoleWarnings = []
// 4xx answers the test provokes on purpose; Chromium logs each failed request as a console
// error ("Failed to load resource"), which is the browser reporting the request, not our code.
const expectedFailures = [] // {url: RegExp, status}
function expectFailure(url, status) {
  expectedFailures.push({ url, status })
}

function instrument(page, label) {
  page.on('console', (msg) => {
    const type = msg.type()
    const where = msg.location()?.url || ''
    if (type === 'error') {
      const m = /status of (\d{3})/.exec(msg.text())
      if (m && expectedFailures.some((f) => f.status === Number(m[1]) && f.url.test(where))) return
      consoleErrors.push({ page: label, text: msg.text(), url: where })
    } else if (type === 'warning') consoleWarnings.push({ page: label, text: msg.text(), url: where })
  })
  page.on('pageerror', (err) => consoleErrors.push({ page: label, text: `pageerror: ${err.message}`, url: page.url() }))
  // A refused tracking batch is a bug in the player's telemetry: say which event and why.
  page.on('response', async (r) => {
    if (r.status() >= 400 && new URL(r.url()).pathname === '/api/v1/events') {
      const body = await r.text().catch(() => '')
      log(`   ${label}: POST /api/v1/events answered ${r.status()}: ${body.slice(0, 500)}; batch ${String(r.request().postData()).slice(0, 3000)}`)
    }
  })
  return page
}

async function newPage(context, label) {
  const page = await context.newPage()
  return instrument(page, label)
}

/**
 * Every request the page makes; `entries.inFlight(filter)` counts those not answered yet,
 * `entries.quietFor(filter)` is how long ago (ms) the last one started.
 */
function requestLog(page) {
  const entries = []
  const pending = new Set()
  page.on('request', (r) => {
    entries.push({ url: r.url(), at: Date.now(), method: r.method() })
    pending.add(r)
  })
  page.on('requestfinished', (r) => pending.delete(r))
  page.on('requestfailed', (r) => pending.delete(r))
  entries.inFlight = (filter = () => true) => [...pending].filter((r) => filter(r.url())).length
  entries.quietFor = (filter = () => true) => {
    const last = entries.filter((e) => filter(e.url)).at(-1)
    return last ? Date.now() - last.at : Infinity
  }
  return entries
}
const isMedia = (url) => url.includes('/media/')

const stripQuery = (u) => u.split('?')[0]

// ---------------------------------------------------------------- the run

let failed = null
const uploads = {} // name → id
try {
  log(`server ${BASE}; run id ${RUN}`)
  const health = await fetch(`${BASE}/healthz`)
  assert.equal(health.status, 200, 'the server is not healthy')

  const sampleA = makeSample(`main-30s-720p.mp4`, { seconds: 30, size: '1280x720', source: 'testsrc2', freq: 440 })
  log(`sample ${basename(sampleA)} ${(statSync(sampleA).size / 1e6).toFixed(1)} MB`)

  const ctxA = await browser.newContext({ viewport: DESKTOP })
  const pageA = await newPage(ctxA, 'A')

  // ------------------------------------------------------------ 1. accounts
  log('1. sign up, duplicate name, weak password, wrong password, sign in')
  await pageA.goto(`${BASE}/signup`)
  await pageA.getByLabel('User name').fill(USER_A)
  await pageA.getByLabel('Password').fill(PASS_A)
  await pageA.getByRole('button', { name: 'Sign up' }).click()
  await pageA.waitForURL(`${BASE}/`)
  await waitFor('the top bar to show the user', async () => (await pageA.locator('.account-name').textContent()) === USER_A)

  await pageA.getByRole('button', { name: 'Sign out' }).click()
  await pageA.getByRole('link', { name: 'Sign in' }).waitFor()

  expectFailure(/\/api\/v1\/auth\/signup$/, 409)
  await pageA.goto(`${BASE}/signup`)
  await pageA.getByLabel('User name').fill(USER_A)
  await pageA.getByLabel('Password').fill('another decent passphrase')
  await pageA.getByRole('button', { name: 'Sign up' }).click()
  const taken = await pageA.getByRole('alert').filter({ hasText: /taken/i }).textContent({ timeout: 10_000 })
  assert.match(taken, /that user name is taken/i, `duplicate name message: ${taken}`)

  expectFailure(/\/api\/v1\/auth\/signup$/, 422)
  await pageA.getByLabel('User name').fill(`carol_${RUN}`)
  await pageA.getByLabel('Password').fill('password')
  await pageA.getByRole('button', { name: 'Sign up' }).click()
  const weak = await pageA.getByRole('alert').filter({ hasText: /common/i }).textContent({ timeout: 10_000 })
  const serverWeak = await fetch(`${BASE}/api/v1/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `dave_${RUN}`, password: 'password' }) }).then((r) => r.json())
  assert.equal(weak.trim().toLowerCase(), serverWeak.error.message.toLowerCase(), 'the weak-password alert shows the server message')

  expectFailure(/\/api\/v1\/auth\/login$/, 401)
  await pageA.goto(`${BASE}/signin`)
  await pageA.getByLabel('User name').fill(USER_A)
  await pageA.getByLabel('Password').fill('not my password at all')
  await pageA.getByRole('button', { name: 'Sign in' }).click()
  const wrong = await pageA.getByRole('alert').filter({ hasText: /wrong/i }).textContent({ timeout: 10_000 })
  assert.match(wrong, /wrong user name or password/i, `wrong-password message: ${wrong}`)

  // 429: five failures for one (unknown) name lock it; the sixth answer is "too many attempts".
  expectFailure(/\/api\/v1\/auth\/login$/, 429)
  const ghost = `ghost_${RUN}`
  let lockedText = null
  for (let i = 0; i < 8 && !lockedText; i++) {
    await pageA.getByLabel('User name').fill(ghost)
    await pageA.getByLabel('Password').fill(`guess number ${i} here`)
    await pageA.getByRole('button', { name: 'Sign in' }).click()
    const alert = pageA.getByRole('alert')
    await waitFor('a sign-in answer', async () => (await pageA.getByRole('button', { name: 'Sign in' }).isEnabled()) && (await alert.textContent()).trim() !== '')
    const text = (await alert.textContent()).trim()
    if (/too many attempts/i.test(text)) lockedText = text
    else assert.match(text, /wrong user name or password/i, `unknown user answer: ${text}`)
  }
  assert.ok(lockedText, 'no "too many attempts" after repeated failures')
  assert.match(lockedText, /^Too many attempts, try again in \d+ s/, `429 message: ${lockedText}`)

  // Signing in from a page that needs it comes back to that page (?next=).
  await pageA.goto(`${BASE}/studio`)
  await pageA.locator('.page-studio').getByRole('link', { name: 'Sign in' }).click()
  await pageA.waitForURL(`${BASE}/signin?next=%2Fstudio`)
  await pageA.getByLabel('User name').fill(USER_A)
  await pageA.getByLabel('Password').fill(PASS_A)
  await pageA.getByRole('button', { name: 'Sign in' }).click()
  await pageA.waitForURL(`${BASE}/studio`)
  await waitFor('signed in again', async () => (await pageA.locator('.account-name').textContent()) === USER_A)
  log(`   signed up ${USER_A}; taken / weak / wrong / 429 messages shown`)

  // ------------------------------------------------------------ 2. upload through the page
  log('2. upload through /upload with an XSS title: pause, resume, reload and resume')
  // Slow the upload down (3 MB/s) so pausing and reloading land mid-file.
  const cdpUp = await ctxA.newCDPSession(pageA)
  await cdpUp.send('Network.enable')
  await cdpUp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 3_000_000 })
  await pageA.goto(`${BASE}/upload`)
  await pageA.locator('input[type=file]').setInputFiles(sampleA)
  await pageA.getByLabel('Title').fill(XSS_TITLE)
  await pageA.getByRole('button', { name: 'Upload', exact: true }).click()
  const root = pageA.locator('.page-upload')
  const pct = async () => Number(((await pageA.locator('.upload-pct').textContent().catch(() => '')) || '0').replace('%', '')) || 0
  await waitFor('15% uploaded', async () => (await pct()) >= 15, { timeout: 30_000, interval: 100 })
  const detailText = await pageA.locator('.upload-detail').textContent()
  assert.match(detailText, /MB of .* MB · [\d.]+ MB\/s/, `upload detail shows bytes and rate: ${detailText}`)
  await pageA.getByRole('button', { name: 'Pause' }).click()
  assert.equal(await root.getAttribute('data-upload-state'), 'paused')
  const pausedAt = await pct()
  // While paused, the server's offset stays put (tus HEAD on the upload's URL).
  const uploadUrl = await root.getAttribute('data-upload-url')
  assert.ok(uploadUrl, 'the upload page knows its upload URL')
  const serverOffset = async () => Number((await pageA.request.head(uploadUrl, { headers: { 'Tus-Resumable': '1.0.0' } })).headers()['upload-offset'])
  // A chunk in flight when Pause was pressed may still land (the server keeps what arrived
  // once it sees the aborted body): wait until three reads over a second agree, then the
  // offset must hold for 1.5 s.
  let offset1 = await serverOffset()
  let agreeing = 0
  await waitFor('the paused upload to settle', async () => {
    const now = await serverOffset()
    agreeing = now === offset1 ? agreeing + 1 : 0
    offset1 = now
    return agreeing >= 2
  }, { timeout: 15_000, interval: 500 })
  let offset2 = offset1
  await holds('the server offset while paused', async () => (offset2 = await serverOffset()) === offset1, 1500, { interval: 250 })
  assert.equal(offset2, offset1, `the server offset moved while paused (${offset1} → ${offset2})`)
  assert.ok((await pct()) - pausedAt <= 1, `the progress moved while paused (${pausedAt}% → ${await pct()}%)`)
  await pageA.getByRole('button', { name: 'Resume' }).click()
  await waitFor('upload progress after resuming', async () => (await pct()) > pausedAt + 5, { timeout: 30_000, interval: 100 })
  await waitFor('60% uploaded', async () => (await pct()) >= 60, { timeout: 30_000, interval: 100 })
  const videoBeforeReload = await root.getAttribute('data-video-id')
  assert.ok(videoBeforeReload, 'the creation answer named the video (Spool-Video-Id)')
  log(`   paused at ${pausedAt}% (server offset ${offset1} held), resumed; reloading at ${await pct()}% (video ${videoBeforeReload})`)
  await pageA.reload()
  await pageA.locator('input[type=file]').setInputFiles(sampleA)
  await pageA.getByLabel('Title').fill(XSS_TITLE)
  await pageA.getByRole('button', { name: 'Upload', exact: true }).click()
  const resumedText = await pageA.locator('.upload-message').filter({ hasText: /Resuming from/ }).textContent({ timeout: 15_000 })
  const resumedMB = Number(/Resuming from ([\d.]+) MB/.exec(resumedText)?.[1] || 0)
  assert.ok(resumedMB >= 8, `resumed from ${resumedText}; expected at least the first 8 MiB chunk`)
  await waitFor(
    'the upload to reach processing',
    async () => {
      const state = await root.getAttribute('data-upload-state')
      if (state === 'error') throw new Error(`upload failed: ${await pageA.locator('.upload-message').textContent()}`)
      return ['processing', 'playable', 'complete'].includes(state)
    },
    { timeout: 60_000, interval: 100 },
  )
  await cdpUp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
  await cdpUp.detach()
  measurements.upload_resumed_from_mb = resumedMB
  const videoA = await root.getAttribute('data-video-id')
  assert.equal(videoA, videoBeforeReload, 'the reload resumed the same upload (same video)')
  uploads.main = videoA
  const processingStarted = Date.now()
  log(`   upload resumed from ${resumedMB} MB after the reload and finished; processing ${videoA}`)

  // The feed videos go over the API meanwhile (processing queues behind the first).
  const sessionA = await apiSession(USER_A, PASS_A)
  const feedSamples = [
    // Bars and colour patterns stand still: their hue turns, so the picture moves while playing.
    makeSample(`feed1-12s-480p.mp4`, { seconds: 12, size: '854x480', source: 'smptehdbars', freq: 330, moving: 'hue=H=2*t' }),
    makeSample(`feed2-12s-480p.mp4`, { seconds: 12, size: '854x480', source: 'testsrc', freq: 550, moving: 'hue=H=2*t' }),
    makeSample(`feed3-12s-480p.mp4`, { seconds: 12, size: '854x480', source: 'rgbtestsrc', freq: 660, moving: 'hue=H=2*t' }),
  ]
  const brokenFile = join(SAMPLES, `broken.mp4`)
  writeFileSync(brokenFile, Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7919) % 251)))
  const feedUploads = (async () => {
    const ids = []
    for (const [i, file] of feedSamples.entries()) ids.push(await tusUpload(sessionA, file, `Feed clip ${i + 1} — ${['bars', 'pattern', 'colours'][i]}`))
    // Not a video at all: its processing fails (the studio shows why and offers a retry).
    ids.broken = await tusUpload(sessionA, brokenFile, 'Broken file')
    return ids
  })()

  await waitFor(
    'the upload page to show "Watch now"',
    async () => {
      const state = await root.getAttribute('data-upload-state')
      if (state === 'failed') throw Object.assign(new Error(`processing failed: ${await pageA.locator('.upload-message').textContent()}`), { fatal: true })
      return state === 'playable' || state === 'complete'
    },
    { timeout: PROCESSING_TIMEOUT, interval: 250 },
  )
  measurements.processing_to_playable_ms = Date.now() - processingStarted
  const watchNow = await pageA.getByRole('link', { name: 'Watch now' }).getAttribute('href')
  assert.equal(watchNow, `/watch/${videoA}`)
  log(`   playable ${measurements.processing_to_playable_ms} ms after the upload; waiting for the full ladder`)
  // A viewer opens the watch page while the video still processes (a fresh anonymous viewer,
  // so no watch history is made) and plays: the player must pick up the renditions published
  // later, at the position it is at, without a reload of the page.
  const ctxW = await browser.newContext({ viewport: DESKTOP })
  const pageW = await newPage(ctxW, 'growing-ladder')
  await pageW.goto(`${BASE}/watch/${videoA}?t=0`)
  await waitFor('the player on the processing video', () => pageW.evaluate(() => window.__spoolPlayer?.metrics?.ready === true), { timeout: 30_000 })
  const ladderAtOpen = await pageW.evaluate(() => window.__spoolPlayer.hls.levels.length)
  const completeAtOpen = (await apiGet(`/api/v1/videos/${videoA}`)).json.processing_complete
  // A slow viewer (quarter speed), so the 30 s video is still playing when the ladder completes.
  await pageW.evaluate(() => {
    const v = window.__spoolPlayer.video
    v.defaultPlaybackRate = 0.25
    v.playbackRate = 0.25
  })
  await pageW.getByRole('button', { name: 'Play', exact: true }).click()
  await waitFor('the processing video to play', () => pageW.evaluate(() => window.__spoolPlayer.video.currentTime > 0.5), { timeout: 30_000 })
  await waitFor('the upload page to show the full ladder', async () => (await root.getAttribute('data-upload-state')) === 'complete', { timeout: PROCESSING_TIMEOUT, interval: 500 })
  measurements.processing_to_complete_ms = Date.now() - processingStarted
  const fullLadder = (await apiGet(`/api/v1/videos/${videoA}`)).json.renditions.length
  if (completeAtOpen || ladderAtOpen >= fullLadder) {
    log(`   (the ladder was complete before the watch page loaded it: ${ladderAtOpen} of ${fullLadder} levels; pickup not exercised)`)
  } else {
    const before = await pageW.evaluate(() => ({ t: window.__spoolPlayer.video.currentTime, ended: window.__spoolPlayer.video.ended }))
    const positionBefore = before.t
    await waitFor(`the open watch page to pick up the full ladder (${fullLadder} levels, it loaded ${ladderAtOpen})`, () => pageW.evaluate((n) => window.__spoolPlayer.hls?.levels?.length === n, fullLadder), { timeout: 30_000, interval: 250 })
    // Processing took longer than the slow viewer's whole video: it ended; play it again.
    if (before.ended) {
      log('   (the video ended before the ladder completed; playing it again)')
      await pageW.getByRole('button', { name: /^Play/ }).first().click()
    }
    await waitFor('playback to go on after the ladder reload', async () => {
      const st = await pageW.evaluate(() => {
        const { video, metrics, hls } = window.__spoolPlayer
        return { paused: video.paused, readyState: video.readyState, t: video.currentTime, buffered: video.buffered.length ? [video.buffered.start(0), video.buffered.end(video.buffered.length - 1)] : [], errors: metrics.errors.slice(-5), reloads: metrics.reloads, level: hls?.currentLevel, src: video.src }
      })
      if (!st.paused && st.readyState >= 3) return true
      throw new Error(JSON.stringify(st))
    }, { timeout: 20_000 })
    const picked = await pageW.evaluate(() => ({ t: window.__spoolPlayer.video.currentTime, reloads: window.__spoolPlayer.metrics.reloads, fatal: window.__spoolPlayer.metrics.fatal }))
    assert.equal(picked.fatal, null, `the ladder reload failed: ${picked.fatal}`)
    if (!before.ended) assert.ok(picked.t >= positionBefore - 0.5, `the ladder reload moved the position back: ${positionBefore.toFixed(2)} → ${picked.t.toFixed(2)} s`)
    // Auto can now climb above the quick pass's rungs on a wide window.
    const climbed = await waitFor('Auto to climb above the renditions of the quick pass', () => pageW.evaluate((atOpen) => {
      const { hls } = window.__spoolPlayer
      const sorted = hls.levels.map((l) => Math.min(l.width, l.height)).sort((a, b) => a - b)
      const quickTop = sorted[atOpen - 1]
      const now = hls.levels[hls.currentLevel]
      return now && Math.min(now.width, now.height) > quickTop ? Math.min(now.width, now.height) : null
    }, ladderAtOpen), { timeout: 30_000, interval: 250 })
    measurements.ladder_pickup = { levels_at_open: ladderAtOpen, levels_after: fullLadder, reloads: picked.reloads, position_kept_s: Math.round(picked.t * 10) / 10, climbed_to: `${climbed}p` }
    log(`   the open watch page went from ${ladderAtOpen} to ${fullLadder} levels at ${picked.t.toFixed(1)} s (${picked.reloads} reload) and Auto climbed to ${climbed}p`)
  }
  await ctxW.close()
  assert.equal(await pageA.evaluate(() => window.__xss), undefined, 'XSS payload ran on the upload page')

  // ------------------------------------------------------------ 3. watch: play + storyboard
  log('3. watch page: play, storyboard preview')
  const sprites = []
  pageA.on('response', (r) => {
    if (/\/sb_\d+\.jpg/.test(r.url())) sprites.push({ url: r.url(), status: r.status() })
  })
  await pageA.goto(`${BASE}/watch/${videoA}?t=0`)
  const titleText = await pageA.locator('.watch-title').textContent()
  assert.equal(titleText, XSS_TITLE, 'the title shows literally on the watch page')
  assert.equal(await pageA.locator('img[src="x"]').count(), 0, 'an <img> from the title made it into the DOM')
  await waitFor('the player to parse the manifest', () => pageA.evaluate(() => window.__spoolPlayer?.metrics?.ready === true))
  // The player preloads the first segment; TTFF is measured from the click on Play.
  await waitFor('the preload', () => pageA.evaluate(() => window.__spoolPlayer.video.readyState >= 2), { timeout: 20_000 })
  await pageA.getByRole('button', { name: 'Play', exact: true }).click()
  await waitFor('playback to pass 2 s', () => pageA.evaluate(() => window.__spoolPlayer.video.currentTime > 2.2), { timeout: 30_000 })
  const watchState = await pageA.evaluate(() => ({ m: window.__spoolPlayer.metrics, levels: window.__spoolPlayer.hls.levels.map((l) => l.height) }))
  assert.equal(watchState.m.fatal, null, `hls.js fatal error: ${watchState.m.fatal}`)
  assert.deepEqual(watchState.m.errors.filter((e) => e.fatal), [], 'hls.js reported fatal errors')
  assert.ok(watchState.levels.length >= 3, `expected a ladder of at least 3 levels, got ${watchState.levels}`)
  measurements.watch_ttff_ms = watchState.m.ttffMs
  measurements.watch_levels = watchState.levels
  assert.equal(await pageA.evaluate(() => window.__xss), undefined, 'XSS payload ran on the watch page')
  // What the viewer sees: the video on top, and a moving picture.
  measurements.watch_picture = await assertPictureMoves(pageA, 'watch', '.player-video')

  const bar = pageA.locator('.player-progress')
  const box = await bar.boundingBox()
  await pageA.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2)
  await pageA.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 })
  const preview = pageA.locator('.player-preview .preview-img')
  await preview.waitFor({ state: 'visible', timeout: 10_000 })
  const bg = await preview.evaluate((el) => ({ image: el.style.backgroundImage, pos: el.style.backgroundPosition, w: el.offsetWidth, h: el.offsetHeight }))
  assert.match(bg.image, /sb_\d+\.jpg/, `storyboard background: ${bg.image}`)
  assert.ok(bg.w > 0 && bg.h > 0, 'storyboard thumbnail has a size')
  await waitFor('the sprite download', () => sprites.length > 0, { timeout: 10_000 })
  assert.ok(sprites.every((s) => s.status === 200), `sprite answers: ${JSON.stringify(sprites)}`)
  // Keyboard: k pauses and plays, → seeks 5 s, m mutes.
  await pageA.keyboard.press('k')
  await waitFor('k to pause', () => pageA.evaluate(() => window.__spoolPlayer.video.paused))
  const tBefore = await pageA.evaluate(() => window.__spoolPlayer.video.currentTime)
  await pageA.keyboard.press('ArrowRight')
  const tAfter = await pageA.evaluate(() => window.__spoolPlayer.video.currentTime)
  assert.ok(Math.abs(tAfter - tBefore - 5) < 0.5, `→ moved ${tBefore} → ${tAfter}`)
  const muted0 = await pageA.evaluate(() => window.__spoolPlayer.video.muted)
  await pageA.keyboard.press('m')
  assert.equal(await pageA.evaluate(() => window.__spoolPlayer.video.muted), !muted0, 'm toggles mute')
  await pageA.keyboard.press('m')
  await pageA.keyboard.press('k')
  await waitFor('k to play again', () => pageA.evaluate(() => !window.__spoolPlayer.video.paused))
  log(`   ttff ${measurements.watch_ttff_ms} ms; ladder ${watchState.levels.join('/')}; storyboard ${bg.image} @ ${bg.pos}`)

  // ------------------------------------------------------------ 4. seek to the end
  log('4. seek near the end on a fresh load: only the last segments are fetched')
  const pageS = await newPage(ctxA, 'seek')
  const reqS = requestLog(pageS)
  await pageS.goto(`${BASE}/watch/${videoA}?t=0`)
  await waitFor('the preload', () => pageS.evaluate(() => {
    const v = window.__spoolPlayer?.video
    return v && v.readyState >= 2 && v.buffered.length > 0
  }), { timeout: 20_000 })
  // The preload is done when no media request is in flight and none has started for 600 ms
  // (hls.js asks for the next segment on its 100 ms tick), and the duration is known.
  await waitFor('the preload to finish', async () => reqS.inFlight(isMedia) === 0 && reqS.quietFor(isMedia) >= 600 && Number.isFinite(await pageS.evaluate(() => window.__spoolPlayer.video.duration)), { timeout: 20_000, interval: 100 })
  const duration = await pageS.evaluate(() => window.__spoolPlayer.video.duration)
  const target = duration - 3
  const seekBox = await pageS.locator('.player-progress').boundingBox()
  const seekMark = reqS.length
  await pageS.mouse.click(seekBox.x + (seekBox.width * target) / duration, seekBox.y + seekBox.height / 2)
  await waitFor('the seek to buffer', () => pageS.evaluate((t) => {
    const v = window.__spoolPlayer.video
    for (let i = 0; i < v.buffered.length; i++) if (v.buffered.start(i) <= t + 0.5 && v.buffered.end(i) >= Math.min(v.duration - 0.2, t + 1)) return true
    return false
  }, target), { timeout: 20_000 })
  // Everything the seek made the player fetch has been answered (and nothing more is asked for
  // once the buffer reaches the end).
  await waitFor('the media requests after the seek to finish', async () => reqS.inFlight(isMedia) === 0 && (await pageS.evaluate(() => {
    const v = window.__spoolPlayer.video
    return v.buffered.length > 0 && v.buffered.end(v.buffered.length - 1) >= v.duration - 0.5
  })), { timeout: 20_000, interval: 100 })
  const seekedTo = await pageS.evaluate(() => window.__spoolPlayer.video.currentTime)
  assert.ok(Math.abs(seekedTo - target) < 1, `seeked to ${seekedTo}, wanted ${target}`)
  assert.ok(reqS.some((r) => /seg_\d+\.m4s\?(.*&)?CMCD=/.test(r.url)), 'segment requests carry CMCD data')
  const afterSeek = reqS.slice(seekMark).map((r) => stripQuery(r.url)).filter((u) => u.includes(`/media/`) && /seg_\d+\.m4s$/.test(u))
  const segs = afterSeek.map((u) => {
    const m = /\/([^/]+)\/seg_(\d+)\.m4s$/.exec(u)
    return { rendition: m[1], n: Number(m[2]), url: u }
  })
  // Segment timing from the media playlist of each rendition fetched.
  const segStart = {}
  for (const rendition of new Set(segs.map((s) => s.rendition))) {
    const url = segs.find((s) => s.rendition === rendition).url.replace(/seg_\d+\.m4s$/, 'index.m3u8')
    const text = await (await fetch(url)).text()
    let t = 0
    const starts = {}
    for (const line of text.split('\n')) {
      const inf = /^#EXTINF:([\d.]+)/.exec(line)
      if (inf) {
        starts.pending = Number(inf[1])
      } else if (/^seg_(\d+)\.m4s/.test(line.trim())) {
        const n = Number(/^seg_(\d+)/.exec(line.trim())[1])
        starts[n] = { start: t, end: t + starts.pending }
        t += starts.pending
      }
    }
    segStart[rendition] = starts
  }
  assert.ok(segs.length > 0, 'no segment was fetched after the seek')
  for (const s of segs) {
    const span = segStart[s.rendition][s.n]
    assert.ok(span && span.end > duration - 7, `segment ${s.rendition}/seg_${s.n} (${JSON.stringify(span)}) fetched after seeking to ${target.toFixed(1)} of ${duration.toFixed(1)} s is not near the end`)
  }
  const videoSegNumbers = new Set(segs.filter((s) => s.rendition !== 'audio').map((s) => s.n))
  assert.ok(videoSegNumbers.size <= 3, `too many video segments after the seek: ${[...videoSegNumbers]}`)
  measurements.seek_segments_fetched = segs.length
  measurements.seek_segment_urls = segs.map((s) => `${s.rendition}/seg_${s.n}`)
  log(`   after seeking to ${target.toFixed(1)}/${duration.toFixed(1)} s fetched: ${measurements.seek_segment_urls.join(', ')}`)
  await pageS.close()

  // ------------------------------------------------------------ 5. feed: prefetch and swipe
  log('5. feed: prefetch of the next two, swipe served from memory')
  const feedIds = await feedUploads
  for (const [i, id] of feedIds.entries()) uploads[`feed${i + 1}`] = id
  for (const id of feedIds) await waitProcessed(id, sessionA)
  log(`   feed videos processed: ${feedIds.join(', ')}`)
  const publicList = (await apiGet('/api/v1/videos?limit=24')).json.videos
  assert.ok(publicList.every((v) => v.visibility === 'public'), 'uploads default to public')
  assert.ok(publicList.length >= 4, `expected at least 4 public videos, got ${publicList.length}`)

  const ctxF = await browser.newContext({ viewport: PHONE, hasTouch: true })
  const pageF = await newPage(ctxF, 'feed')
  const reqF = requestLog(pageF)
  // On loopback every start is fast; a phone-like link (1.5 Mbit/s, 40 ms) shows what the
  // prefetch buys. The cold start and the swipes are measured under the same conditions.
  const cdpF = await ctxF.newCDPSession(pageF)
  await cdpF.send('Network.enable')
  await cdpF.send('Network.emulateNetworkConditions', { offline: false, latency: 40, downloadThroughput: 187500, uploadThroughput: 187500 })
  measurements.feed_network = '1.5 Mbit/s down, 40 ms latency (CDP emulation)'
  await pageF.goto(`${BASE}/feed`)
  const order = await waitFor('the feed order', () => pageF.evaluate(() => (window.__spoolFeedMetrics?.order?.length >= 4 ? window.__spoolFeedMetrics.order.slice() : null)))
  // The recommender orders the feed (a new viewer: trending, fresh and varied): every public
  // video once, nothing else.
  assert.deepEqual([...order].sort(), publicList.map((v) => v.id).sort(), 'the feed holds the public videos, each once')
  const cold = await waitFor('the first video to show a frame', () => pageF.evaluate((id) => window.__spoolFeedMetrics.firstFrameMs[id], order[0]), { timeout: 30_000 })
  measurements.feed_first_frame_cold_ms = cold
  // What the viewer sees: the video above the cover image, and a moving picture.
  measurements.feed_picture = await assertPictureMoves(pageF, 'feed', '.feed-slide.is-current .feed-video')
  await waitFor('the next two videos to be prefetched', () => pageF.evaluate((ids) => ids.every((id) => window.__spoolFeedMetrics.prefetchLevel[id]), [order[1], order[2]]), { timeout: 30_000 })
  const before = await pageF.evaluate(() => JSON.parse(JSON.stringify(window.__spoolFeedMetrics)))
  const mediaRequests = (id, list) => list.map((r) => stripQuery(r.url)).filter((u) => u.includes(`/media/${id}/`) && /\.(m3u8|mp4|m4s)$/.test(u))
  const prefetchCounts = []
  for (const id of [order[1], order[2]]) {
    const urls = mediaRequests(id, reqF)
    const kinds = urls.map((u) => u.replace(/^.*\/media\/[^/]+\//, ''))
    for (const k of kinds) assert.match(k, /(^master\.m3u8$|\/index\.m3u8$|\/init\.mp4$|\/seg_1\.m4s$)/, `video ${id}: prefetch fetched ${k}, beyond playlists + init + first segment`)
    const renditions = new Set(kinds.filter((k) => k !== 'master.m3u8').map((k) => k.split('/').slice(-2, -1)[0]))
    const videoRenditions = [...renditions].filter((r) => r !== 'audio')
    assert.equal(videoRenditions.length, 1, `video ${id}: prefetched ${videoRenditions.length} video renditions (${videoRenditions})`)
    for (const r of renditions) {
      const segCount = kinds.filter((k) => k.endsWith(`${r}/seg_1.m4s`)).length
      assert.equal(segCount, 1, `video ${id}: rendition ${r} first segment requested ${segCount} times`)
    }
    assert.equal(kinds.filter((k) => k === 'master.m3u8').length, 1, `video ${id}: master requested more than once`)
    assert.equal(new Set(urls).size, urls.length, `video ${id}: a prefetch URL was requested twice: ${kinds}`)
    assert.deepEqual([...before.prefetched[id]].sort(), [...new Set(urls)].sort(), `video ${id}: metrics list what went over the network`)
    const level = before.prefetchLevel[id]
    assert.ok(Math.min(level.width, level.height) >= 360, `prefetched level ${level.name} is below 360p`)
    prefetchCounts.push(urls.length)
    log(`   prefetched ${id}: ${kinds.join(', ')} (${before.prefetchBytes[id]} bytes, ${before.prefetchMs[id]} ms)`)
  }
  measurements.feed_prefetch_requests_per_video = prefetchCounts.reduce((a, b) => a + b, 0) / prefetchCounts.length

  const swipe = async (to) => {
    const mark = reqF.length
    // A key press within the feed's move cooldown is ignored: press until the swipe counts.
    const swipes = await pageF.evaluate(() => window.__spoolFeedMetrics.swipes)
    await waitFor(`the swipe to ${to}`, async () => {
      await pageF.keyboard.press('ArrowDown')
      return (await pageF.evaluate(() => window.__spoolFeedMetrics.swipes)) > swipes
    }, { timeout: 10_000, interval: 200 })
    const ms = await waitFor(`video ${to} to show a frame after the swipe`, () => pageF.evaluate((id) => window.__spoolFeedMetrics.firstFrameMs[id], to), { timeout: 20_000 })
    const prefetched = before.prefetched[to]
    // Everything prefetched is handed to hls.js from memory (the audio may come a moment later).
    await waitFor(`video ${to}: the prefetched URLs served from memory`, () => pageF.evaluate(({ id, urls }) => urls.every((u) => (window.__spoolFeedMetrics.servedFromCache[id] || []).includes(u)), { id: to, urls: prefetched }), { timeout: 10_000 }).catch(() => {})
    const m = await pageF.evaluate(() => JSON.parse(JSON.stringify(window.__spoolFeedMetrics)))
    const served = m.servedFromCache[to] || []
    for (const url of prefetched) assert.ok(served.includes(url), `video ${to}: ${url} was prefetched but not served from memory (served: ${served})`)
    const again = mediaRequests(to, reqF.slice(mark)).filter((u) => prefetched.includes(u))
    assert.deepEqual(again, [], `video ${to}: prefetched URLs went over the network again after the swipe`)
    assert.equal(m.coldStart[to], false, `video ${to} started cold`)
    return { ms, served: served.length, startLevel: m.startLevel[to] }
  }
  const s1 = await swipe(order[1])
  log(`   swipe 1 → ${order[1]}: first frame ${s1.ms} ms, ${s1.served} URLs from memory, start level ${s1.startLevel}`)
  measurements.feed_picture_after_swipe = await assertPictureMoves(pageF, 'feed-swiped', '.feed-slide.is-current .feed-video')
  const s2 = await swipe(order[2])
  log(`   swipe 2 → ${order[2]}: first frame ${s2.ms} ms, ${s2.served} URLs from memory, start level ${s2.startLevel}`)
  // The current video plays, so the feed prefetches the one after it.
  await waitFor('the video after the current one to be prefetched', () => pageF.evaluate((id) => Boolean(window.__spoolFeedMetrics.prefetchLevel[id]), order[3]), { timeout: 30_000 })
  const fm = await pageF.evaluate(() => JSON.parse(JSON.stringify(window.__spoolFeedMetrics)))
  assert.equal(fm.swipes, 2)
  measurements.feed_next_first_frame_prefetched_ms = Math.round((s1.ms + s2.ms) / 2)
  measurements.feed_next_first_frame_each_ms = [s1.ms, s2.ms]
  // Prefetched but never watched (the viewer stopped before reaching them).
  const skipped = Object.keys(fm.prefetchBytes).filter((id) => fm.firstFrameMs[id] === undefined && fm.prefetchLevel[id])
  measurements.feed_prefetched_never_watched = skipped.length
  measurements.wasted_prefetch_bytes_per_skipped_video = skipped.length ? Math.round(skipped.reduce((a, id) => a + fm.prefetchBytes[id], 0) / skipped.length) : 0
  measurements.feed_prefetch_bytes_per_video = Math.round(Object.values(fm.prefetchBytes).reduce((a, b) => a + b, 0) / Object.keys(fm.prefetchBytes).length)
  const telemetryTypes = await pageF.evaluate(() => [...new Set(window.__spoolTelemetry.events.map((e) => e.type))])
  for (const t of ['impression', 'skip', 'play']) assert.ok(telemetryTypes.includes(t), `feed telemetry has no ${t} event (${telemetryTypes})`)
  log(`   cold ${cold} ms vs prefetched ${measurements.feed_next_first_frame_prefetched_ms} ms; telemetry: ${telemetryTypes.join(', ')}`)
  await ctxF.close()

  // ------------------------------------------------------------ 6. throttled playback
  log('6. throttled watch (1.5 Mbit/s, 40 ms)')
  // A new anonymous viewer, so that this playback makes a new view in the owner's stats.
  const ctxT = await browser.newContext({ viewport: DESKTOP })
  const pageT = await newPage(ctxT, 'throttled')
  const cdp = await ctxT.newCDPSession(pageT)
  await cdp.send('Network.enable')
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 40, downloadThroughput: 187500, uploadThroughput: 187500 })
  await pageT.goto(`${BASE}/watch/${videoA}`)
  await waitFor('the player', () => pageT.evaluate(() => window.__spoolPlayer?.metrics?.ready === true), { timeout: 30_000 })
  await pageT.getByRole('button', { name: 'Play', exact: true }).click()
  await waitFor('throttled playback to start', () => pageT.evaluate(() => window.__spoolPlayer.stats.firstPlayingAt !== null), { timeout: 30_000 })
  const throttleStart = Date.now()
  // Meanwhile: once the browser has delivered its first heartbeat (10 s watched), the view
  // must show in the video's stats within a second.
  const statsBefore = (await apiGet(`/api/v1/videos/${videoA}/stats`, sessionA)).json
  const viewLag = (async () => {
    let ackAt = null
    const until = Date.now() + 45_000
    while (Date.now() < until) {
      if (ackAt === null) {
        if (await pageT.evaluate(() => (window.__spoolTelemetry.sent.byType.heartbeat ?? 0) > 0)) ackAt = Date.now()
      } else {
        const { json } = await apiGet(`/api/v1/videos/${videoA}/stats`, sessionA)
        if (json.views > statsBefore.views) return Date.now() - ackAt
      }
      await sleep(25)
    }
    return null
  })()
  // A measurement window, not a wait: the level is sampled every 2 s over 26 s of throttled
  // playback, and the checks below are about that window.
  const heights = []
  while (Date.now() - throttleStart < 26_000) {
    await sleep(2000)
    heights.push(await pageT.evaluate(() => {
      const { hls } = window.__spoolPlayer
      return hls.levels[hls.currentLevel]?.height ?? null
    }))
  }
  const thr = await pageT.evaluate(() => ({
    stats: window.__spoolPlayer.stats,
    t: window.__spoolPlayer.video.currentTime,
    level: window.__spoolPlayer.hls.levels[window.__spoolPlayer.hls.currentLevel]?.height,
    switches: window.__spoolPlayer.metrics.levelSwitches.map((s) => s.height),
    fatal: window.__spoolPlayer.metrics.fatal,
    stalls: window.__spoolPlayer.metrics.errors.filter((e) => e.details === 'bufferStalledError').length,
  }))
  measurements.rebuffers_throttled = thr.stats.rebuffers
  measurements.throttled_level_height = thr.level
  measurements.throttled_level_switches = thr.switches
  measurements.throttled_played_s = Math.round(thr.t * 10) / 10
  log(`   level heights over time ${heights.join(' ')}; switches ${thr.switches.join('→')}; rebuffers ${thr.stats.rebuffers}; stall errors ${thr.stalls}; played ${thr.t.toFixed(1)} s`)
  const beats = await pageT.evaluate(() => window.__spoolTelemetry.events.filter((e) => e.type === 'heartbeat' && e.properties.surface === 'watch'))
  assert.ok(beats.length >= 2, `expected heartbeats every 10 s of playback, got ${beats.length}`)
  for (const b of beats.filter((x) => !x.properties.final)) {
    assert.ok(b.properties.watched_s >= 10 && b.properties.watched_s < 11, `heartbeat watched_s ${b.properties.watched_s}`)
    assert.ok(b.properties.intervals.length >= 1, 'heartbeat without watched intervals')
  }
  measurements.heartbeats_throttled = beats.length
  const lag = await viewLag
  assert.ok(lag !== null, 'the view never showed in the stats')
  assert.ok(lag <= 1000, `the view showed in the stats ${lag} ms after its heartbeat was delivered`)
  measurements.view_in_stats_after_ms = lag
  const sentT = await pageT.evaluate(() => window.__spoolTelemetry.sent)
  assert.equal(sentT.dropped, 0, 'the server refused telemetry events')
  const statsAfter = (await apiGet(`/api/v1/videos/${videoA}/stats`, sessionA)).json
  assert.ok(statsAfter.watch_time_s - statsBefore.watch_time_s >= 10, `watch time grew by ${statsAfter.watch_time_s - statsBefore.watch_time_s} s`)
  assert.equal(statsAfter.unique_viewers, statsBefore.unique_viewers + 1)
  // hls.js sends CMCD with its segment requests; the server records it as QoE samples.
  await waitFor('CMCD samples in the stats', async () => (await apiGet(`/api/v1/videos/${videoA}/stats`, sessionA)).json.qoe.samples > statsBefore.qoe.samples, { timeout: 5_000 })
  const qoe = (await apiGet(`/api/v1/videos/${videoA}/stats`, sessionA)).json.qoe
  assert.ok(qoe.avg_throughput_kbps > 0 && qoe.avg_bitrate_kbps > 0, `QoE without throughput or bitrate: ${JSON.stringify(qoe)}`)
  measurements.qoe = qoe
  assert.equal(thr.fatal, null)
  assert.ok(thr.level <= 480, `throttled playback settled at ${thr.level}p, above 480p`)
  assert.ok(heights.slice(-4).every((hgt) => hgt <= 480), `level over the last samples: ${heights.slice(-4)}`)
  assert.equal(thr.stats.waitingAfterStart, 0, `${thr.stats.waitingAfterStart} stalls after playback started`)
  assert.ok(thr.t > 15, `played only ${thr.t} s in ~26 s`)
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
  await pageT.close()
  await ctxT.close()

  // ------------------------------------------------------------ 7. private video
  log('7. private video: hidden from others')
  const privateId = feedIds[0]
  await pageA.goto(`${BASE}/studio`)
  const item = pageA.locator(`.studio-item[data-video-id="${privateId}"]`)
  await item.waitFor()
  assert.equal(await pageA.locator(`.studio-item[data-video-id="${videoA}"] .studio-title`).textContent(), XSS_TITLE, 'the title shows literally in the studio')
  await item.locator('summary', { hasText: 'Edit details' }).click()
  await item.getByLabel('Visibility').selectOption('private')
  await item.getByRole('button', { name: 'Save' }).click()
  await waitFor('the save', async () => (await item.getAttribute('data-visibility')) === 'private' && (await item.locator('.saved-note').textContent()) === 'Saved')
  assert.equal((await apiGet(`/api/v1/videos/${privateId}`, sessionA)).json.visibility, 'private')

  // A value past its limit: the server's 422 message shows in the form's alert.
  const itemA = pageA.locator(`.studio-item[data-video-id="${videoA}"]`)
  await itemA.locator('summary', { hasText: 'Edit details' }).click()
  expectFailure(new RegExp(`/api/v1/videos/${videoA}$`), 422)
  await itemA.getByLabel('Tags').fill(`demo, ${'x'.repeat(40)}`)
  await itemA.getByRole('button', { name: 'Save' }).click()
  const tagError = await itemA.getByRole('alert').filter({ hasText: /tag/ }).textContent({ timeout: 10_000 })
  assert.match(tagError, /at most 32 characters/, `422 message: ${tagError}`)
  await itemA.getByLabel('Tags').fill('demo, test pattern')
  await itemA.getByLabel('Description').fill('Line one\n<b>not bold</b>\nLine three')
  await itemA.getByRole('button', { name: 'Save' }).click()
  await waitFor('the fixed save', async () => (await itemA.locator('.saved-note').textContent()) === 'Saved')
  assert.deepEqual((await apiGet(`/api/v1/videos/${videoA}`, sessionA)).json.tags, ['demo', 'test pattern'])

  // Stats: the numbers and the retention curve of the views the throttled viewer made.
  await itemA.locator('summary', { hasText: 'Stats' }).click()
  const chart = itemA.locator('.retention-chart polyline')
  await chart.waitFor({ timeout: 10_000 })
  const points = (await chart.getAttribute('points')).trim().split(/\s+/)
  assert.equal(points.length, 100, 'the retention curve has one point per 1% of the video')
  const shownViews = Number(await itemA.locator('.stats-facts dt', { hasText: /^Views$/ }).locator('xpath=following-sibling::dd[1]').textContent())
  assert.ok(shownViews >= 1, `the studio shows ${shownViews} views`)
  await itemA.locator('.studio-stats').screenshot({ path: join(SHOTS, 'studio-stats-desktop.png') })

  // Cover chooser: pick the third proposed frame.
  const coverBefore = (await apiGet(`/api/v1/videos/${videoA}`, sessionA)).json.cover_url
  const candidate = itemA.locator('.cover-candidate').nth(2)
  await candidate.waitFor({ timeout: 10_000 })
  const chosen = pageA.waitForResponse((r) => /\/cover\/candidates\/\d+$/.test(r.url()) && r.request().method() === 'POST')
  await candidate.click()
  assert.ok((await chosen).ok(), 'choosing a cover candidate failed')
  await waitFor('the new cover', async () => (await apiGet(`/api/v1/videos/${videoA}`, sessionA)).json.cover_url !== coverBefore, { timeout: 10_000 })
  await waitFor('the chosen candidate to be marked', async () => (await candidate.getAttribute('aria-pressed')) === 'true')

  // A failed video: its error and a retry, then deletion through the confirmation dialog.
  const brokenId = feedIds.broken
  await waitFor('the broken upload to fail', async () => (await apiGet(`/api/v1/videos/${brokenId}`, sessionA)).json.status === 'failed', { timeout: 60_000, interval: 500 })
  // Its watch page says so instead of a player.
  await pageA.goto(`${BASE}/watch/${brokenId}`)
  const pending = await pageA.locator('.processing-box').filter({ hasText: 'Processing failed' }).textContent({ timeout: 10_000 })
  assert.match(pending, /Processing failed.*not a supported video/s, `watch page of a failed video: ${pending}`)
  await pageA.goto(`${BASE}/studio`)
  const brokenItem = pageA.locator(`.studio-item[data-video-id="${brokenId}"]`)
  const failure = await brokenItem.locator('.notice-error').textContent({ timeout: 10_000 })
  assert.match(failure, /Processing failed: \S/, `failed video shows its error: ${failure}`)
  const retried = pageA.waitForResponse((r) => r.url().endsWith(`/api/v1/videos/${brokenId}/retry`))
  await brokenItem.getByRole('button', { name: 'Retry processing' }).click()
  assert.equal((await retried).status(), 202, 'retry was not accepted')
  await waitFor('the retried video to fail again', async () => (await apiGet(`/api/v1/videos/${brokenId}`, sessionA)).json.status === 'failed', { timeout: 60_000, interval: 500 })
  await brokenItem.getByRole('button', { name: 'Delete' }).click()
  const dialog = pageA.getByRole('dialog')
  await dialog.waitFor()
  assert.match(await dialog.textContent(), /Delete “Broken file”\?/)
  await dialog.getByRole('button', { name: 'Cancel' }).click()
  assert.equal(await brokenItem.count(), 1, 'cancel deleted the video')
  await brokenItem.getByRole('button', { name: 'Delete' }).click()
  await dialog.getByRole('button', { name: 'Delete' }).click()
  await waitFor('the item to go', async () => (await brokenItem.count()) === 0)
  assert.equal((await apiGet(`/api/v1/videos/${brokenId}`, sessionA)).status, 404, 'the deleted video still answers')
  log(`   studio: 422 shown (${tagError.trim()}), cover chosen, failed video retried (“${failure.replace('Retry processing', '').trim()}”) and deleted`)
  // The owner still sees it.
  await pageA.goto(`${BASE}/watch/${privateId}`)
  await pageA.locator('.watch-title').waitFor()

  const ctxB = await browser.newContext({ viewport: DESKTOP })
  const pageB = await newPage(ctxB, 'B')
  await pageB.goto(`${BASE}/signup`)
  await pageB.getByLabel('User name').fill(USER_B)
  await pageB.getByLabel('Password').fill(PASS_B)
  await pageB.getByRole('button', { name: 'Sign up' }).click()
  await pageB.waitForURL(`${BASE}/`)
  // B likes A's video, then takes it back.
  await pageB.goto(`${BASE}/watch/${videoA}`)
  const like = pageB.locator('.like-btn')
  await like.waitFor()
  assert.equal(await like.getAttribute('aria-pressed'), 'false')
  await like.click()
  await waitFor('the like', async () => (await like.getAttribute('aria-pressed')) === 'true' && (await like.isEnabled()))
  assert.equal((await apiGet(`/api/v1/videos/${videoA}`)).json.likes, 1)
  assert.match(await like.textContent(), /1 like$/)
  await like.click()
  await waitFor('the unlike', async () => (await like.getAttribute('aria-pressed')) === 'false' && (await like.isEnabled()))
  assert.equal((await apiGet(`/api/v1/videos/${videoA}`)).json.likes, 0)
  const chips = await pageB.locator('.chip').allTextContents()
  assert.deepEqual(chips, ['demo', 'test pattern'])
  assert.equal(await pageB.locator('.description').textContent(), 'Line one\n<b>not bold</b>\nLine three')
  const likeEvents = await pageB.evaluate(() => window.__spoolTelemetry.events.filter((e) => e.type === 'like' || e.type === 'unlike').map((e) => e.type))
  assert.deepEqual(likeEvents, ['like', 'unlike'])

  // B watches 12 s; the heartbeat puts the video in B's history, and the next visit resumes
  // there (a signed-in viewer's watch history, from the tracked events).
  await pageB.getByRole('button', { name: 'Play', exact: true }).click()
  await waitFor('B to watch 12 s', () => pageB.evaluate(() => window.__spoolPlayer.video.currentTime > 12), { timeout: 40_000, interval: 500 })
  await waitFor('B\'s heartbeat to be delivered', () => pageB.evaluate(() => (window.__spoolTelemetry.sent.byType.heartbeat ?? 0) > 0), { timeout: 10_000 })
  await pageB.evaluate(() => window.__spoolPlayer.video.pause())
  // The pause (past 12 s) is sent within 5 s and becomes the position to resume from.
  let left = null
  await waitFor('B\'s history to hold the pause position', async () => {
    const history = await pageB.evaluate(async () => (await fetch('/api/v1/me/history')).json())
    left = history.history.find((e) => e.video_id === videoA)
    return left && left.position_s >= 12
  }, { timeout: 15_000, interval: 500 })
  await pageB.goto(`${BASE}/watch/${videoA}`)
  const resume = pageB.locator('.resume-note')
  await resume.waitFor({ timeout: 10_000 })
  assert.match(await resume.textContent(), /Resuming where you left off, at 0:1\d/)
  await waitFor('the player to start at the resume point', () => pageB.evaluate(() => window.__spoolPlayer?.video?.currentTime >= 9.5), { timeout: 15_000 })
  measurements.resumed_at_s = left.position_s

  // ------------------------------------------------------------ 7a. danmaku on demand
  log('7a. danmaku: B sends over the video at its current time; another viewer sees it fly at that moment')
  const ctxDm = await browser.newContext({ viewport: DESKTOP })
  const pageDm = await newPage(ctxDm, 'danmaku viewer')
  await pageDm.goto(`${BASE}/watch/${videoA}`)
  await pageDm.locator('.danmaku-bar').waitFor({ timeout: 15_000 })
  await pageDm.evaluate(() => window.__spoolPlayer.video.pause())
  /** Danmaku nodes with this text over a page's picture: their left edge (px). */
  const danmakuAt = (page, text) => page.evaluate((t) => [...document.querySelectorAll('.danmaku-layer div div')].filter((n) => n.textContent === t).map((n) => n.getBoundingClientRect().left), text)
  await pageB.evaluate(() => window.__spoolPlayer.video.pause())
  const sentAt = await pageB.evaluate(() => window.__spoolPlayer.video.currentTime)
  const dmText = `弹幕 <img src=x onerror="window.__xss=1"> ${RUN}`
  await pageB.getByLabel('Danmaku text').fill(dmText)
  await pageB.getByLabel('Danmaku text').press('Enter')
  // Stored: the box empties (a refusal would show in its status line).
  await waitFor('the danmaku sent', async () => (await pageB.getByLabel('Danmaku text').inputValue()) === '' || Boolean(await pageB.locator('.danmaku-status').textContent()), { timeout: 10_000 })
  assert.equal(await pageB.locator('.danmaku-status').textContent(), '', 'the send was refused')
  // B's own shows on B's picture as playback goes on from that moment.
  await pageB.evaluate(() => window.__spoolPlayer.video.play())
  await waitFor("B's own danmaku over B's picture", async () => (await danmakuAt(pageB, dmText)).length === 1, { timeout: 10_000, interval: 50 })
  await pageB.evaluate(() => window.__spoolPlayer.video.pause())
  // The viewer had the page open: the danmaku came over the socket and waits for its moment.
  await pageDm.evaluate((t) => {
    const v = window.__spoolPlayer.video
    v.muted = true
    v.currentTime = Math.max(0, t - 3)
    return v.play()
  }, sentAt)
  await waitFor('the danmaku over the viewer\'s picture', async () => (await danmakuAt(pageDm, dmText)).length === 1, { timeout: 20_000, interval: 50 })
  const shownAt = await pageDm.evaluate(() => window.__spoolPlayer.video.currentTime)
  assert.ok(shownAt >= sentAt - 0.5 && shownAt <= sentAt + 1.5, `the danmaku sent at ${sentAt.toFixed(2)} s showed at ${shownAt.toFixed(2)} s`)
  measurements.danmaku_shown_offset_s = Math.round((shownAt - sentAt) * 100) / 100
  assert.equal(await pageDm.evaluate(() => document.querySelectorAll('.danmaku-layer img').length + (window.__xss ? 1 : 0)), 0, 'the danmaku\'s HTML was rendered')
  // It pauses with the video, and it never covers the bottom controls.
  await pageDm.evaluate(() => window.__spoolPlayer.video.pause())
  const pausedLeft = (await danmakuAt(pageDm, dmText))[0]
  await holds('a paused danmaku stays put', async () => (await danmakuAt(pageDm, dmText))[0] === pausedLeft, 600)
  const geometry = await pageDm.evaluate(() => ({ layer: document.querySelector('.danmaku-layer').getBoundingClientRect().bottom, controls: document.querySelector('.player-controls').getBoundingClientRect().top }))
  assert.ok(geometry.layer <= geometry.controls + 1, `the danmaku layer (bottom ${geometry.layer}) reaches over the controls (top ${geometry.controls})`)
  // A fresh load gets it from the history slice, at the same moment of the video.
  await pageDm.reload()
  await pageDm.locator('.danmaku-bar').waitFor({ timeout: 15_000 })
  await pageDm.evaluate((t) => {
    const v = window.__spoolPlayer.video
    v.muted = true
    v.currentTime = Math.max(0, t - 2)
    return v.play()
  }, sentAt)
  await waitFor('the danmaku from history', async () => (await danmakuAt(pageDm, dmText)).length === 1, { timeout: 20_000, interval: 50 })
  const replayedAt = await pageDm.evaluate(() => window.__spoolPlayer.video.currentTime)
  assert.ok(replayedAt >= sentAt - 0.5 && replayedAt <= sentAt + 1.5, `from history it showed at ${replayedAt.toFixed(2)} s, sent at ${sentAt.toFixed(2)} s`)
  // Turned off, nothing flies.
  await pageDm.locator('.danmaku-toggle').click()
  await waitFor('the overlay to empty when turned off', async () => (await pageDm.locator('.danmaku-layer div div').count()) === 0, { timeout: 5_000 })
  assert.equal(await pageDm.locator('.danmaku-toggle').getAttribute('aria-pressed'), 'false')
  await pageDm.locator('.danmaku-toggle').click()
  await ctxDm.close()
  log(`   danmaku sent at ${sentAt.toFixed(1)} s showed ${measurements.danmaku_shown_offset_s} s after that moment on the other viewer's player, and again from history`)

  const ctxAnon = await browser.newContext({ viewport: DESKTOP })
  const pageAnon = await newPage(ctxAnon, 'anonymous')
  expectFailure(new RegExp(`/api/v1/videos/${privateId}$`), 404)
  for (const [who, page] of [['user B', pageB], ['anonymous', pageAnon]]) {
    await page.goto(`${BASE}/`)
    await page.locator('.card').first().waitFor()
    assert.equal(await page.locator(`.card[data-video-id="${privateId}"]`).count(), 0, `${who} sees the private video on home`)
    assert.ok((await page.locator('.card').count()) >= 3, `${who} sees the public videos on home`)
    await page.goto(`${BASE}/c/${USER_A}`)
    await page.locator('.channel-name').waitFor()
    await page.locator('.card').first().waitFor()
    assert.equal(await page.locator(`.card[data-video-id="${privateId}"]`).count(), 0, `${who} sees the private video on the channel page`)
    assert.match(await page.locator('.channel-count').textContent(), /^3 videos$/, `${who}: channel count`)
    await page.goto(`${BASE}/watch/${privateId}`)
    await page.locator('.page-notfound').waitFor({ timeout: 10_000 })
    assert.match(await page.locator('.page-notfound h1').textContent(), /isn’t available/)
    const api = await page.request.get(`${BASE}/api/v1/videos/${privateId}`)
    assert.equal(api.status(), 404, `${who}: GET /api/v1/videos/${privateId} → ${api.status()}`)
  }
  log('   private video hidden from B and anonymous (home, channel, watch, API)')

  await (await import('./e2e/gifts.mjs')).checkGifts({ base: BASE, viewer: pageB, viewerName: USER_B, creator: pageA, videoId: videoA, log, waitFor })
  await (await import('./e2e/social.mjs')).social({ base: BASE, pageA, pageB, userA: USER_A, userB: USER_B, videoId: videoA, log, waitFor })
  // A video the harness had held by a PDQ list match (SPOOL_MODERATION_HELD): an admin approves it.
  if (process.env.SPOOL_MODERATION_HELD) {
    const held = JSON.parse(process.env.SPOOL_MODERATION_HELD)
    const m = await import('./e2e/moderation.mjs')
    const ctxAdmin = await browser.newContext({ viewport: DESKTOP, ...m.bearerContextOptions(process.env.SPOOL_ADMIN_TOKEN) })
    const ctxUploader = await browser.newContext({ viewport: DESKTOP, ...m.bearerContextOptions(held.owner_token) })
    const admin = await newPage(ctxAdmin, 'admin')
    const uploader = await newPage(ctxUploader, 'uploader')
    measurements.moderation = await m.checkModeration({ base: BASE, admin, uploader, videoId: held.video_id, action: 'approve', log, waitFor })
    await ctxAdmin.close()
    await ctxUploader.close()
  }
  // 404 page for an unknown route (the server answers the app with status 404, which the
  // browser logs as a failed load).
  expectFailure(/\/no\/such\/page$/, 404)
  await pageAnon.goto(`${BASE}/no/such/page`)
  await pageAnon.locator('.page-notfound').waitFor()

  // ------------------------------------------------------------ 7b. live
  log('7b. live: go live from the studio, watch the room in LL-HLS, the recording after')
  await pageA.goto(`${BASE}/studio`)
  await pageA.getByLabel('Stream title').fill('Evening live')
  await pageA.getByRole('button', { name: 'Go live' }).click()
  const liveRow = pageA.locator('.live-room-row').filter({ hasText: 'Evening live' })
  await liveRow.waitFor({ timeout: 10_000 })
  const rtmpUrl = await liveRow.getByLabel('RTMP server').inputValue()
  const streamKey = await liveRow.getByLabel('Stream key').inputValue()
  const roomId = await liveRow.getAttribute('data-room-id')
  assert.match(rtmpUrl, /^rtmp:\/\/127\.0\.0\.1:\d+\/live$/, `RTMP URL ${rtmpUrl}`)
  assert.ok(streamKey.length >= 20, 'the stream key is shown once after creating the room')
  // The room's playlists are gone once the broadcast ends: a player still asking gets 404.
  expectFailure(new RegExp(`/live/${roomId}/`), 404)
  const publisher = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-t', '90', '-f', 'flv', `${rtmpUrl}/${streamKey}`], { stdio: 'ignore' })
  try {
    await waitFor('the stream health in the studio', async () => /640x360 · \d+ fps/.test((await liveRow.locator('.health-line').textContent({ timeout: 1000 })) || ''), { timeout: 30_000 })
    await pageAnon.goto(`${BASE}/`)
    const card = pageAnon.locator(`.live-card[data-room-id="${roomId}"]`)
    await card.waitFor({ timeout: 15_000 })
    await card.locator('a').click()
    await pageAnon.waitForURL(`${BASE}/live/${roomId}`)
    await waitFor('live playback', () => pageAnon.evaluate(() => Boolean(window.__spoolLive && window.__spoolLive.video.currentTime > 2)), { timeout: 45_000 })
    const live = await pageAnon.evaluate(() => ({ ll: window.__spoolLive.hls.config.lowLatencyMode, latency: window.__spoolLive.hls.latency, fatal: window.__spoolLive.metrics.fatal, parts: window.__spoolLive.hls.latestLevelDetails?.partList?.length ?? 0 }))
    assert.equal(live.fatal, null, `live playback failed: ${live.fatal}`)
    assert.equal(live.ll, true, 'the room plays in low-latency mode')
    assert.ok(live.parts > 0, 'the player reads the playlist\'s parts')
    assert.ok(live.latency < 5, `the room plays ${live.latency} s behind the live edge`)
    measurements.live_latency_s = Math.round(live.latency * 100) / 100
    await pageAnon.locator('.live-edge.is-live').waitFor({ timeout: 10_000 })
    await waitFor('the viewer count', async () => /[1-9]\d* viewers? watching/.test(await pageAnon.locator('.live-viewers').first().textContent()), { timeout: 20_000 })
    log(`   live in LL-HLS ${measurements.live_latency_s} s behind the edge`)
    // Danmaku and Q&A in the room: B (signed in) speaks, the anonymous viewer sees it live;
    // the host pins B's question.
    await pageB.goto(`${BASE}/live/${roomId}`)
    await pageB.getByLabel('Danmaku text').waitFor({ timeout: 30_000 })
    const liveText = `live 弹幕 ${RUN}`
    await waitFor('a live danmaku sent', async () => {
      await pageB.getByLabel('Danmaku text').fill(liveText)
      await pageB.getByLabel('Danmaku text').press('Enter')
      await sleep(300)
      return (await pageB.getByLabel('Danmaku text').inputValue()) === ''
    }, { timeout: 15_000, interval: 500 })
    await waitFor('the live danmaku over the anonymous viewer\'s picture', async () => (await danmakuAt(pageAnon, liveText)).length >= 1, { timeout: 10_000, interval: 50 })
    const question = `What camera is that? <script>window.__xss=1</script> ${RUN}`
    await pageB.getByLabel('Your question').fill(question)
    await pageB.getByLabel('Your question').press('Enter')
    const asked = pageAnon.locator('.qa-item').filter({ hasText: question })
    await asked.waitFor({ timeout: 10_000 })
    const hostPage = await newPage(ctxA, 'host')
    await hostPage.goto(`${BASE}/live/${roomId}`)
    await hostPage.locator('.qa-item').filter({ hasText: question }).getByRole('button', { name: 'Pin' }).click()
    await waitFor('the pinned question for everyone', async () => (await asked.getAttribute('class')).includes('is-pinned'), { timeout: 10_000 })
    assert.equal(await pageAnon.evaluate(() => window.__xss ?? 0), 0, 'the question\'s HTML ran')
    await hostPage.close()
    log('   live danmaku and a question reached the anonymous viewer; the host pinned it')
  } finally {
    publisher.kill('SIGINT')
  }
  await pageAnon.getByRole('link', { name: 'Watch the recording' }).waitFor({ timeout: 40_000 })
  assert.equal(await pageAnon.locator('.watch-title .live-badge').isVisible(), false, 'the ended room still shows LIVE')
  log('   the ended room points at its recording')
  // The live danmaku stays with the recording, at the moment it was sent in the broadcast.
  const recordingId = (await apiGet(`/api/v1/live/${roomId}`)).json.video_id
  const replay = await apiGet(`/api/v1/videos/${recordingId}/danmaku?from_ms=0&to_ms=360000`)
  const kept = replay.json.danmaku.find((d) => d.text === `live 弹幕 ${RUN}`)
  assert.ok(kept && kept.time_ms > 0 && kept.time_ms < 90_000, `the live danmaku in the recording: ${JSON.stringify(kept)}`)

  // ------------------------------------------------------------ 7c. discovery
  log('7c. discovery: search in Chinese and English, suggestions, privacy; the feed hears "not interested"; Up next; For you')
  const cn = feedIds[1]
  const patched = await fetch(`${BASE}/api/v1/videos/${cn}`, {
    method: 'PATCH',
    headers: { cookie: sessionA.cookie, 'X-CSRF-Token': sessionA.csrf, 'content-type': 'application/json' },
    body: JSON.stringify({ title: '篮球比赛精彩集锦 Basketball highlights', tags: ['篮球', 'nba'], category: 'sports' }),
  })
  assert.equal(patched.status, 200, `retitling ${cn}: ${patched.status}`)
  // The search box in the top bar, as B: a Chinese word inside the title finds it.
  await pageB.goto(`${BASE}/`)
  const searchInput = pageB.getByLabel('Search videos')
  await searchInput.fill('篮球')
  await searchInput.press('Enter')
  await pageB.waitForURL(/\/search\?q=/)
  const found = pageB.locator(`.search-results .card[data-video-id="${cn}"]`)
  const settled = pageB.locator('.search-results .grid, .search-results .empty')
  await waitFor('the Chinese title to be found', async () => {
    await settled.first().waitFor({ timeout: 5_000 })
    if ((await found.count()) > 0) return true
    // The index takes the new title within moments: search again.
    await pageB.reload()
    return false
  }, { timeout: 20_000, interval: 300 })
  // Typos and suggestions.
  const typo = await apiGet(`/api/v1/search?q=${encodeURIComponent('baskteball')}`)
  assert.ok(typo.json.videos.some((v) => v.id === cn), 'a typo still finds the video')
  const suggest = await apiGet(`/api/v1/search/suggest?q=${encodeURIComponent('篮球比')}`)
  assert.ok(suggest.json.suggestions.some((s) => s.video_id === cn), `suggestions for 篮球比: ${JSON.stringify(suggest.json)}`)
  const searchEvents = await pageB.evaluate(() => window.__spoolTelemetry.events.filter((e) => e.type === 'search').map((e) => e.properties.query))
  assert.ok(searchEvents.includes('篮球'), 'the search is a tracking event')
  // The private video matches for its owner only.
  const privateTitle = (await apiGet(`/api/v1/videos/${privateId}`, sessionA)).json.title
  const forOwner = await apiGet(`/api/v1/search?q=${encodeURIComponent(privateTitle)}`, sessionA)
  assert.ok(forOwner.json.videos.some((v) => v.id === privateId), 'the owner finds their private video')
  await pageB.goto(`${BASE}/search?q=${encodeURIComponent(privateTitle)}`)
  await pageB.locator('.search-results .grid, .search-results .empty').first().waitFor({ timeout: 10_000 })
  assert.equal(await pageB.locator(`.search-results .card[data-video-id="${privateId}"]`).count(), 0, 'B finds A\'s private video')
  const forAnyone = await apiGet(`/api/v1/search?q=${encodeURIComponent(privateTitle)}`)
  assert.ok(!forAnyone.json.videos.some((v) => v.id === privateId), 'anyone finds the private video')
  // "Not interested" in the feed: the next page of B's feed no longer offers that video.
  await pageB.goto(`${BASE}/feed`)
  const refused = await waitFor('B\'s feed', () => pageB.evaluate(() => window.__spoolFeedMetrics?.current || null), { timeout: 20_000 })
  const refusedAt = Date.now()
  const answered = pageB.waitForResponse((r) => r.url().endsWith(`/api/v1/videos/${refused}/not-interested`))
  await pageB.getByRole('button', { name: 'Not interested (n)' }).click()
  assert.equal((await answered).status(), 204, 'not interested was not recorded')
  const gone = await waitFor('the refused video to leave B\'s feed', async () => {
    const page = await pageB.evaluate(async () => (await fetch('/api/v1/feed?limit=50')).json())
    return page.items.every((i) => i.video.id !== refused) ? Date.now() - refusedAt : null
  }, { timeout: 5_000, interval: 50 })
  measurements.feed_reacts_ms = gone
  assert.ok(gone < 1500, `the feed took ${gone} ms to drop a refused video`)
  // Up next on the watch page comes from the recommender, and never holds the private video.
  await pageB.goto(`${BASE}/watch/${videoA}`)
  await pageB.locator('.related-item').first().waitFor({ timeout: 10_000 })
  const upNext = await pageB.locator('.related-item').evaluateAll((els) => els.map((e) => e.dataset.videoId))
  assert.ok(upNext.length >= 2 && !upNext.includes(videoA) && !upNext.includes(privateId), `Up next: ${upNext}`)
  // For you on the home page.
  await pageB.goto(`${BASE}/`)
  await pageB.locator('.for-you .card').first().waitFor({ timeout: 10_000 })
  const forYou = await pageB.locator('.for-you .card').evaluateAll((els) => els.map((e) => e.dataset.videoId))
  assert.ok(!forYou.includes(privateId) && !forYou.includes(refused), `For you: ${forYou}`)
  log(`   search 篮球 → ${cn}; typo and suggestions; private hidden; the feed dropped a refused video in ${gone} ms; Up next ${upNext.length}; For you ${forYou.length}`)

  // ------------------------------------------------------------ 8. screenshots
  log('8. screenshots')
  const stateA = await ctxA.storageState()
  for (const [vpName, viewport] of [['phone', PHONE], ['desktop', DESKTOP]]) {
    const ctxShot = await browser.newContext({ viewport, storageState: stateA, hasTouch: vpName === 'phone' })
    const ctxAnonShot = await browser.newContext({ viewport, hasTouch: vpName === 'phone' })
    const p = await newPage(ctxShot, `shots-${vpName}`)
    const q = await newPage(ctxAnonShot, `shots-anon-${vpName}`)
    const shot = async (page, name) => {
      await page.evaluate(() => document.fonts.ready)
      await page.screenshot({ path: join(SHOTS, `${name}-${vpName}.png`) })
    }
    const settleImages = (page) => page.waitForFunction(() => [...document.images].filter((i) => i.getBoundingClientRect().top < innerHeight).every((i) => i.complete), null, { timeout: 10_000 }).catch(() => {})

    await p.goto(`${BASE}/`)
    await p.locator('.card').first().waitFor()
    await settleImages(p)
    await shot(p, 'home')

    await p.goto(`${BASE}/watch/${videoA}`)
    await waitFor('player', () => p.evaluate(() => window.__spoolPlayer?.metrics?.ready === true))
    await p.getByRole('button', { name: 'Play', exact: true }).click()
    await waitFor('playback', () => p.evaluate(() => window.__spoolPlayer.video.currentTime > 1.5), { timeout: 20_000 })
    await p.evaluate(() => window.__spoolPlayer.video.pause())
    await p.locator('.related-item').first().waitFor()
    await settleImages(p)
    await shot(p, 'watch')

    await p.goto(`${BASE}/upload`)
    await p.locator('.dropzone').waitFor()
    await shot(p, 'upload')

    await p.goto(`${BASE}/studio`)
    await p.locator('.studio-item').first().waitFor()
    await p.locator('.studio-item').first().locator('summary', { hasText: 'Edit details' }).click()
    await p.locator('.cover-candidate').first().waitFor({ timeout: 10_000 })
    await settleImages(p)
    await shot(p, 'studio')

    await p.goto(`${BASE}/feed`)
    await waitFor('feed frame', () => p.evaluate(() => {
      const m = window.__spoolFeedMetrics
      return m && m.current && m.firstFrameMs[m.current] !== undefined
    }), { timeout: 20_000 })
    await waitFor('the feed video to play', () => p.evaluate(() => {
      const v = window.__spoolFeedPlayer?.video
      return v && !v.paused && v.currentTime > 0.5
    }), { timeout: 20_000 })
    await shot(p, 'feed')

    await p.goto(`${BASE}/c/${USER_A}`)
    await p.locator('.card').first().waitFor()
    await settleImages(p)
    await shot(p, 'channel')

    await q.goto(`${BASE}/signin`)
    await q.getByLabel('User name').waitFor()
    await shot(q, 'signin')
    await q.goto(`${BASE}/signup`)
    await q.getByLabel('User name').waitFor()
    await shot(q, 'signup')

    // Nothing may stick out sideways on any page.
    for (const path of ['/', `/watch/${videoA}`, '/upload', '/studio', `/c/${USER_A}`]) {
      await p.goto(`${BASE}${path}`)
      await p.waitForLoadState('load')
      // The page has rendered its content (no loading spinner left) and its fonts.
      await waitFor(`${path} to render`, () => p.evaluate(async () => {
        await document.fonts.ready
        const main = document.getElementById('main')
        return main.children.length > 0 && !main.querySelector('.loading')
      }), { timeout: 10_000 })
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
      assert.ok(overflow <= 0, `${path} overflows horizontally by ${overflow}px at ${vpName}`)
    }
    await ctxShot.close()
    await ctxAnonShot.close()
  }
  log(`   16 screenshots in ${SHOTS}`)

  // Telemetry shape (watch page).
  const events = await pageA.evaluate(() => window.__spoolTelemetry.events.slice())
  for (const e of events) {
    for (const key of ['event_id', 'type', 'anonymous_id', 'session_id', 'video_id', 'position_s', 'properties', 'occurred_at']) assert.ok(key in e, `telemetry event lacks ${key}`)
  }

  await ctxB.close()
  await ctxAnon.close()
  await ctxA.close()

  // ------------------------------------------------------------ 9. console
  log('9. console errors')
  if (consoleWarnings.length) log(`   ${consoleWarnings.length} console warnings (not failing): ${JSON.stringify(consoleWarnings.slice(0, 5))}`)
  assert.deepEqual(consoleErrors, [], `console errors: ${JSON.stringify(consoleErrors, null, 1)}`)
  log('   none')
} catch (e) {
  failed = e
} finally {
  await browser.close().catch(() => {})
}

measurements.videos = uploads
measurements.total_s = Math.round((Date.now() - T0) / 100) / 10
writeFileSync(join(ARTIFACTS, 'measurements.json'), JSON.stringify(measurements, null, 2))
if (failed) {
  console.log(`FAILED: ${failed.stack || failed}`)
  if (consoleErrors.length) console.log(`console errors so far: ${JSON.stringify(consoleErrors, null, 1)}`)
  console.log(JSON.stringify({ ok: false, error: String(failed.message || failed), ...measurements }))
  process.exit(1)
}
console.log(JSON.stringify({ ok: true, ...measurements }))
