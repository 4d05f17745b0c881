// Danmaku over the player: the `danmaku` library's DOM engine in the player core's overlay
// slot (its lanes keep comments from colliding; in media mode it follows the video clock,
// pausing with it and following seeks), fed on demand by the video's history, slice by
// slice as playback reaches it, and live by the page's socket. Text goes in as text (the
// library sets textContent). The layer stops above the bottom controls. Under the player:
// a toggle, opacity and density settings (kept in localStorage), the send box and "Report…"
// (the danmaku shown lately, each with the moderation service's Report control).

import Danmaku from 'danmaku'
import { h } from '../dom.js'
import { api, currentUser } from '../api.js'
import { subscribe, sendDanmaku, markSeen, ChatError } from './socket.js'
import { DENSITY, SLICE_MS, toComment } from './rules.js'
import { danmakuReportButton } from '../moderation/report.js'

const SETTINGS_KEY = 'spool.danmaku'

/**
 * @typedef {import('./rules.js').DanmakuItem} DanmakuItem
 * @typedef {{on: boolean, opacity: number, density: keyof typeof DENSITY}} DanmakuSettings
 */

/** @returns {DanmakuSettings} */
export function loadSettings() {
  try {
    const saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) || '{}')
    const density = saved.density in DENSITY ? saved.density : 'normal'
    const opacity = Number.isFinite(saved.opacity) ? Math.min(1, Math.max(0.2, saved.opacity)) : 0.9
    return { on: saved.on !== false, opacity, density }
  } catch {
    return { on: true, opacity: 0.9, density: 'normal' }
  }
}

/** @param {DanmakuSettings} settings */
function saveSettings(settings) {
  try {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings))
  } catch {
    // Private mode: the settings last for this page.
  }
}

/**
 * Mounts danmaku on a player core.
 * @param {import('../player/core.js').PlayerCore} core
 * @param {{videoId: string, roomId?: string, live?: boolean, latency?: () => number | null}} target
 * @returns {{controls: HTMLElement, destroy: () => void}}
 */
export function mountDanmaku(core, target) {
  const settings = loadSettings()
  const container = h('div', { class: 'danmaku-layer', 'aria-hidden': 'true' })
  const removeLayer = core.addOverlay('danmaku', container)
  const live = Boolean(target.live && target.roomId)
  const topic = live ? `room:${target.roomId}` : `video:${target.videoId}`
  const scale = () => Math.max(0.6, Math.min(1.4, (container.clientWidth || 640) / 640))
  // Live comments show as they arrive; on demand they are placed on the video's clock.
  const dm = new Danmaku(live ? { container, engine: 'dom' } : { container, media: core.video, engine: 'dom', comments: [] })
  dm.speed = 144
  const apply = () => {
    container.style.opacity = String(settings.opacity)
    if (settings.on) dm.show()
    else dm.hide()
  }
  apply()
  const shown = new Set()
  /** What was put on screen, by id (live: the latest only), for "Report…". @type {Map<number, DanmakuItem>} */
  const onScreen = new Map()
  /** @param {DanmakuItem} d @param {boolean} now */
  const show = (d, now = false) => {
    if (d.deleted || shown.has(d.id) || d.weight < DENSITY[settings.density]) return
    shown.add(d.id)
    onScreen.set(d.id, d)
    if (live && onScreen.size > 50) onScreen.delete(onScreen.keys().next().value ?? d.id)
    dm.emit(toComment(d, scale(), !live && !now))
  }
  /** Others' danmaku on screen lately, newest first: live the last 30, on demand the last 20 s of the video. */
  const recent = () => {
    const me = currentUser()?.name
    const nowMs = core.video.currentTime * 1000
    const items = [...onScreen.values()].filter((d) => d.author !== me && !d.deleted)
    if (live) return items.slice(-30).reverse()
    return items.filter((d) => d.time_ms >= nowMs - 20_000 && d.time_ms <= nowMs + 2_000).sort((a, b) => b.time_ms - a.time_ms)
  }

  // On demand: the slice playback is in, and the next one ahead of time.
  const loaded = new Set()
  const loadSlice = async (/** @type {number} */ index) => {
    if (live || loaded.has(index) || index < 0) return
    loaded.add(index)
    try {
      const from = index * SLICE_MS
      const slice = await api.danmakuSlice(target.videoId, from, from + SLICE_MS)
      for (const d of slice.danmaku) show(d)
    } catch {
      loaded.delete(index) // try again when playback comes back here
    }
  }
  const onTime = () => {
    const index = Math.floor((core.video.currentTime * 1000) / SLICE_MS)
    void loadSlice(index)
    if ((core.video.currentTime * 1000) % SLICE_MS > SLICE_MS - 30_000) void loadSlice(index + 1)
  }
  core.video.addEventListener('timeupdate', onTime)
  onTime()

  const unsubscribe = subscribe(topic, (message) => {
    if (message.type === 'danmaku') show(/** @type {DanmakuItem} */ (/** @type {unknown} */ (message)))
  })
  // The layer ends where the bottom controls begin, whatever their height.
  const fitAboveControls = () => {
    const controls = core.root.querySelector('.player-controls, .live-controls')
    if (!(controls instanceof HTMLElement)) return
    const picture = core.overlays.getBoundingClientRect()
    const bar = controls.getBoundingClientRect()
    const overlap = bar.top < picture.bottom && bar.bottom > picture.top ? picture.bottom - bar.top : 0
    const bottom = `${Math.max(0, Math.round(overlap))}px`
    if (container.style.bottom !== bottom) container.style.bottom = bottom
  }
  const resize = new ResizeObserver(() => {
    fitAboveControls()
    dm.resize()
  })
  resize.observe(container)
  resize.observe(core.root)
  queueMicrotask(fitAboveControls)

  // The bar under the player.
  const toggle = h('button', { class: 'btn btn-ghost btn-sm danmaku-toggle', type: 'button', 'aria-pressed': String(settings.on) }, '弹 Danmaku')
  toggle.addEventListener('click', () => {
    settings.on = !settings.on
    toggle.setAttribute('aria-pressed', String(settings.on))
    saveSettings(settings)
    apply()
  })
  const opacity = h('input', { type: 'range', min: '0.2', max: '1', step: '0.1', value: String(settings.opacity), 'aria-label': 'Danmaku opacity' })
  opacity.addEventListener('input', () => {
    settings.opacity = Number(opacity.value)
    saveSettings(settings)
    apply()
  })
  const density = h('select', { 'aria-label': 'Danmaku density' }, ...Object.keys(DENSITY).map((k) => h('option', { value: k, selected: k === settings.density }, k)))
  density.addEventListener('change', () => {
    settings.density = /** @type {keyof typeof DENSITY} */ (density.value)
    saveSettings(settings)
  })
  const bar = h('div', { class: 'danmaku-bar' }, toggle, h('label', { class: 'danmaku-setting' }, 'Opacity ', opacity), h('label', { class: 'danmaku-setting' }, 'Density ', density), sendBox(core, topic, live, target, (d) => show(d, true)), danmakuReportButton(recent, { live }))

  return {
    controls: bar,
    destroy: () => {
      unsubscribe()
      resize.disconnect()
      core.video.removeEventListener('timeupdate', onTime)
      dm.destroy()
      removeLayer()
    },
  }
}

/**
 * The send box: text, mode, colour; Enter sends at the current video time (live: now).
 * @param {import('../player/core.js').PlayerCore} core
 * @param {string} topic
 * @param {boolean} live
 * @param {{latency?: () => number | null}} target
 * @param {(d: DanmakuItem) => void} showOwn
 */
function sendBox(core, topic, live, target, showOwn) {
  if (!currentUser()) {
    return h('p', { class: 'danmaku-signin' }, h('a', { href: `/signin?next=${encodeURIComponent(location.pathname)}` }, 'Sign in'), ' to send danmaku')
  }
  const text = h('input', { class: 'danmaku-input', type: 'text', maxlength: '100', placeholder: 'Send a danmaku…', 'aria-label': 'Danmaku text' })
  const mode = h('select', { 'aria-label': 'Danmaku position' }, h('option', { value: 'scroll' }, 'scroll'), h('option', { value: 'top' }, 'top'), h('option', { value: 'bottom' }, 'bottom'))
  const color = h('input', { type: 'color', value: '#ffffff', 'aria-label': 'Danmaku colour' })
  const button = h('button', { class: 'btn btn-primary btn-sm', type: 'submit' }, 'Send')
  const status = h('span', { class: 'danmaku-status', role: 'status' })
  const form = h('form', { class: 'danmaku-send' }, text, mode, color, button, status)
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const value = text.value.trim()
    if (!value) return
    const at = Math.round(core.video.currentTime * 1000)
    const latency = target.latency?.()
    const payload = live
      ? { text: value, mode: mode.value, color: color.value, latency_ms: latency ? Math.round(Math.min(60, latency) * 1000) : undefined }
      : { text: value, mode: mode.value, color: color.value, time_ms: at }
    button.disabled = true
    status.textContent = ''
    try {
      const sent = await sendDanmaku(topic, payload)
      markSeen(topic, sent.id)
      showOwn({ id: sent.id, text: value, time_ms: at, mode: mode.value, color: color.value, size: 'normal', weight: 10, author: currentUser()?.name ?? '' })
      text.value = ''
    } catch (e) {
      status.textContent = e instanceof ChatError && e.retryAfterMs ? `${e.message} (wait ${Math.ceil(e.retryAfterMs / 1000)} s)` : e instanceof Error ? e.message : String(e)
    } finally {
      button.disabled = false
    }
  })
  return form
}
