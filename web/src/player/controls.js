// The watch page's player: the shared player core (core.js) with custom controls (native
// controls off): play/pause, a progress bar with buffered ranges and storyboard previews, time,
// volume/mute, a quality menu (Auto + every level) and fullscreen; keyboard shortcuts.
//
// Until the viewer first presses play, only about one segment is buffered (a fast start without
// downloading a whole video nobody watches); after that the configured 30 s buffer applies.

import { h, icon, ICONS, formatDuration, isTypingTarget } from '../dom.js'
import { createPlayerCore, levelName } from './core.js'
import { loadStoryboard, cueAt } from './storyboard.js'

/** Seconds buffered before the first play. */
const PRELOAD_S = 4
const VOLUME_KEY = 'spool.volume'
const MUTED_KEY = 'spool.muted'

/**
 * @param {string} key
 * @param {number} fallback
 */
function readNumber(key, fallback) {
  try {
    const v = Number(localStorage.getItem(key))
    return localStorage.getItem(key) !== null && Number.isFinite(v) ? v : fallback
  } catch {
    return fallback
  }
}

/**
 * @param {string} key
 * @param {string | number} value
 */
function save(key, value) {
  try {
    localStorage.setItem(key, String(value))
  } catch {
    /* ignore */
  }
}

/**
 * Builds the player for a VideoJson that has an hls_url. Returns
 * { el, video, hls, core, destroy, metrics, stats, togglePlay, play, seek, reload }.
 * @param {{id: string, title?: string, hls_url: string, cover_url?: string | null, duration_s?: number | null, storyboard_vtt_url?: string | null}} meta
 * @param {{startPosition?: number, autoplay?: boolean}} [opts]
 */
export function createPlayer(meta, { startPosition = -1, autoplay = false } = {}) {
  const video = /** @type {HTMLVideoElement} */ (
    h('video', {
      class: 'player-video',
      playsinline: true,
      preload: 'auto',
      'aria-label': meta.title || 'Video',
      poster: meta.cover_url || undefined,
    })
  )
  video.volume = Math.min(1, Math.max(0, readNumber(VOLUME_KEY, 1)))
  video.muted = readNumber(MUTED_KEY, 0) === 1
  const core = createPlayerCore({ src: meta.hls_url, videoId: meta.id, surface: 'watch', video, className: 'player is-paused', startPosition, preloadSeconds: PRELOAD_S })
  const { metrics } = core

  // ---- elements
  const bigPlay = h('button', { class: 'player-bigplay', type: 'button', 'aria-label': 'Play' }, icon(ICONS.play))
  const spinner = h('div', { class: 'player-spinner', 'aria-hidden': 'true' })
  const errorBox = h('div', { class: 'player-error', role: 'alert', hidden: true })

  const buffered = h('div', { class: 'progress-buffered' })
  const played = h('div', { class: 'progress-played' })
  const handle = h('div', { class: 'progress-handle' })
  const previewImg = h('div', { class: 'preview-img' })
  const previewTime = h('span', { class: 'preview-time' })
  const preview = h('div', { class: 'player-preview', 'aria-hidden': 'true', hidden: true }, previewImg, previewTime)
  const progress = h(
    'div',
    {
      class: 'player-progress',
      role: 'slider',
      tabindex: '0',
      'aria-label': 'Seek',
      'aria-valuemin': '0',
      'aria-valuemax': '0',
      'aria-valuenow': '0',
      'aria-valuetext': '0:00',
    },
    h('div', { class: 'progress-track' }, buffered, played, handle),
    preview,
  )

  const playBtn = h('button', { class: 'ctl ctl-play', type: 'button', 'aria-label': 'Play' }, icon(ICONS.play))
  const muteBtn = h('button', { class: 'ctl ctl-mute', type: 'button', 'aria-label': 'Mute' }, icon(ICONS.volume))
  const volume = h('input', {
    class: 'ctl-volume',
    type: 'range',
    min: '0',
    max: '1',
    step: '0.05',
    'aria-label': 'Volume',
    value: String(video.volume),
  })
  const time = h('span', { class: 'player-time', 'aria-live': 'off' }, '0:00 / ', formatDuration(meta.duration_s || 0))
  const qualityLabel = h('span', { class: 'quality-label' }, 'Auto')
  const qualityBtn = h(
    'button',
    { class: 'ctl ctl-quality', type: 'button', 'aria-label': 'Quality', 'aria-haspopup': 'menu', 'aria-expanded': 'false' },
    icon(ICONS.settings),
    qualityLabel,
  )
  const qualityMenu = h('div', { class: 'quality-menu', role: 'menu', 'aria-label': 'Quality', hidden: true })
  const fsBtn = h('button', { class: 'ctl ctl-fullscreen', type: 'button', 'aria-label': 'Full screen' }, icon(ICONS.fullscreen))

  const controls = h(
    'div',
    { class: 'player-controls' },
    progress,
    h(
      'div',
      { class: 'player-bar' },
      playBtn,
      h('div', { class: 'player-volume' }, muteBtn, volume),
      time,
      h('span', { class: 'player-spacer' }),
      h('div', { class: 'player-quality' }, qualityBtn, qualityMenu),
      fsBtn,
    ),
  )
  const el = core.root
  el.dataset.state = 'loading'
  el.append(spinner, bigPlay, errorBox, controls)

  const destroyers = []
  /**
   * @param {EventTarget} target
   * @param {string} name
   * @param {(e: any) => void} fn
   * @param {AddEventListenerOptions} [opts]
   */
  const listen = (target, name, fn, opts) => {
    target.addEventListener(name, fn, opts)
    destroyers.push(() => target.removeEventListener(name, fn, opts))
  }

  /** @param {string} message */
  const showError = (message) => {
    errorBox.hidden = false
    errorBox.replaceChildren(h('p', null, message), h('button', { class: 'btn', type: 'button', onclick: () => location.reload() }, 'Reload'))
    el.dataset.state = 'error'
  }
  // hls.js failures read "type: details"; anything else is already a sentence for the viewer.
  core.on('fatal', (fatal) => showError(String(fatal).includes(':') ? 'This video cannot be played right now. Try reloading the page.' : fatal))
  core.on('manifest', () => buildQualityMenu())
  core.on('level', () => updateQualityLabel())
  core.on('fullscreen', () => updateFullscreen())

  // ---- actions
  const play = () => {
    core.play().then((ok) => {
      if (!ok && video.paused) setPaused(true)
    })
  }
  const togglePlay = () => (video.paused || video.ended ? play() : video.pause())
  const duration = () => core.duration() || meta.duration_s || 0
  /** @param {number} t */
  const seek = (t) => {
    const d = duration()
    const target = Math.max(0, Math.min(d ? d - 0.05 : t, t))
    video.currentTime = target
    updateTime()
  }
  /** @param {number} v */
  const setVolume = (v) => {
    video.volume = Math.min(1, Math.max(0, v))
    if (video.volume > 0 && video.muted) video.muted = false
  }
  const toggleMute = () => {
    if (video.muted || video.volume === 0) {
      video.muted = false
      if (video.volume === 0) video.volume = 0.5
    } else video.muted = true
  }
  const toggleFullscreen = () => core.toggleFullscreen()

  // ---- UI updates
  /** @param {boolean} paused */
  const setPaused = (paused) => {
    el.classList.toggle('is-paused', paused)
    const label = paused ? 'Play' : 'Pause'
    playBtn.setAttribute('aria-label', `${label} (k)`)
    playBtn.replaceChildren(icon(paused ? ICONS.play : ICONS.pause))
    bigPlay.hidden = !paused || core.started
  }
  const updateTime = () => {
    const d = duration()
    const t = video.currentTime || 0
    time.textContent = `${formatDuration(t)} / ${formatDuration(d)}`
    played.style.width = d ? `${(t / d) * 100}%` : '0%'
    handle.style.left = d ? `${(t / d) * 100}%` : '0%'
    progress.setAttribute('aria-valuemax', String(Math.round(d)))
    progress.setAttribute('aria-valuenow', String(Math.round(t)))
    progress.setAttribute('aria-valuetext', `${formatDuration(t)} of ${formatDuration(d)}`)
  }
  const updateBuffered = () => {
    const d = duration()
    const ranges = video.buffered
    const bars = []
    for (let i = 0; d && i < ranges.length; i++) {
      const bar = document.createElement('div')
      bar.className = 'buffered-range'
      bar.style.left = `${(ranges.start(i) / d) * 100}%`
      bar.style.width = `${((ranges.end(i) - ranges.start(i)) / d) * 100}%`
      bars.push(bar)
    }
    buffered.replaceChildren(...bars)
  }
  const updateVolume = () => {
    const muted = video.muted || video.volume === 0
    muteBtn.replaceChildren(icon(muted ? ICONS.muted : ICONS.volume))
    muteBtn.setAttribute('aria-label', muted ? 'Unmute (m)' : 'Mute (m)')
    volume.value = String(muted ? 0 : video.volume)
    save(VOLUME_KEY, video.volume)
    save(MUTED_KEY, video.muted ? 1 : 0)
  }
  const updateFullscreen = () => {
    const on = document.fullscreenElement === el
    fsBtn.replaceChildren(icon(on ? ICONS.exitFullscreen : ICONS.fullscreen))
    fsBtn.setAttribute('aria-label', on ? 'Exit full screen (f)' : 'Full screen (f)')
  }

  // ---- quality menu
  function currentAutoName() {
    const hls = core.hls
    if (!hls) return ''
    const level = hls.levels[hls.currentLevel >= 0 ? hls.currentLevel : hls.loadLevel]
    return level ? levelName(level) : ''
  }
  function updateQualityLabel() {
    const hls = core.hls
    if (!hls) return
    const name = currentAutoName()
    qualityLabel.textContent = hls.autoLevelEnabled ? (name ? `Auto (${name})` : 'Auto') : name
    for (const item of qualityMenu.querySelectorAll('[role="menuitemradio"]')) {
      const level = Number(item.dataset.level)
      const checked = hls.autoLevelEnabled ? level === -1 : level === hls.manualLevel
      item.setAttribute('aria-checked', String(checked))
      if (level === -1) item.querySelector('.menu-note').textContent = hls.autoLevelEnabled && name ? name : ''
    }
  }
  function buildQualityMenu() {
    const hls = core.hls
    if (!hls) return
    const entries = hls.levels.map((level, index) => ({ level, index })).sort((a, b) => (b.level.height || 0) - (a.level.height || 0) || b.level.bitrate - a.level.bitrate)
    const item = (index, label) =>
      h(
        'button',
        {
          type: 'button',
          role: 'menuitemradio',
          class: 'menu-item',
          'aria-checked': 'false',
          dataset: { level: index },
          onclick: () => {
            const before = hls.autoLevelEnabled ? -1 : hls.manualLevel
            hls.nextLevel = index
            if (index === -1) hls.currentLevel = -1
            closeMenu()
            updateQualityLabel()
            // The switch itself is reported when hls.js makes it (LEVEL_SWITCHED).
            if (before !== index) metrics.manualRequests = (metrics.manualRequests ?? 0) + 1
          },
        },
        h('span', null, label),
        h('span', { class: 'menu-note' }),
      )
    qualityMenu.replaceChildren(item(-1, 'Auto'), ...entries.map(({ level, index }) => item(index, levelName(level))))
    qualityBtn.disabled = hls.levels.length < 2
    updateQualityLabel()
  }
  const openMenu = () => {
    qualityMenu.hidden = false
    qualityBtn.setAttribute('aria-expanded', 'true')
    el.classList.add('menu-open')
    const checked = qualityMenu.querySelector('[aria-checked="true"]') || qualityMenu.querySelector('button')
    checked?.focus()
  }
  const closeMenu = (refocus = false) => {
    if (qualityMenu.hidden) return
    qualityMenu.hidden = true
    qualityBtn.setAttribute('aria-expanded', 'false')
    el.classList.remove('menu-open')
    if (refocus) qualityBtn.focus()
  }
  listen(qualityBtn, 'click', (e) => {
    e.stopPropagation()
    if (qualityMenu.hidden) openMenu()
    else closeMenu()
  })
  listen(qualityMenu, 'keydown', (e) => {
    const items = [...qualityMenu.querySelectorAll('button')]
    const i = items.indexOf(document.activeElement)
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault()
      e.stopPropagation()
      const next = items[(i + (e.key === 'ArrowDown' ? 1 : -1) + items.length) % items.length]
      next.focus()
    } else if (e.key === 'Escape') {
      e.stopPropagation()
      closeMenu(true)
    }
  })
  listen(document, 'click', (e) => {
    if (!qualityMenu.hidden && !qualityMenu.contains(e.target) && e.target !== qualityBtn) closeMenu()
  })

  // ---- storyboard preview
  let cues = null
  let storyboardLoading = null
  const storyboardAbort = new AbortController()
  const ensureStoryboard = () => {
    if (!meta.storyboard_vtt_url || storyboardLoading) return storyboardLoading
    storyboardLoading = loadStoryboard(meta.storyboard_vtt_url, storyboardAbort.signal)
      .then((c) => {
        cues = c
        // Warm the first sprite so the first hover shows at once.
        if (c.length) new Image().src = c[0].url
        return c
      })
      .catch(() => {
        cues = []
        return []
      })
    return storyboardLoading
  }
  const fractionAt = (clientX) => {
    const rect = progress.getBoundingClientRect()
    return Math.min(1, Math.max(0, (clientX - rect.left) / rect.width))
  }
  const showPreview = (clientX) => {
    const d = duration()
    if (!d) return
    const f = fractionAt(clientX)
    const t = f * d
    previewTime.textContent = formatDuration(t)
    const cue = cues ? cueAt(cues, t) : null
    if (cue && cue.w && cue.h) {
      previewImg.hidden = false
      previewImg.style.backgroundImage = `url("${cue.url.replace(/["\\]/g, '')}")`
      previewImg.style.backgroundPosition = `-${cue.x}px -${cue.y}px`
      previewImg.style.width = `${cue.w}px`
      previewImg.style.height = `${cue.h}px`
      preview.dataset.sprite = cue.url
    } else {
      previewImg.hidden = true
    }
    preview.hidden = false
    const rect = progress.getBoundingClientRect()
    const half = (preview.offsetWidth || cue?.w || 80) / 2
    const x = Math.min(rect.width - half, Math.max(half, f * rect.width))
    preview.style.left = `${x}px`
  }
  listen(progress, 'pointerenter', () => ensureStoryboard())
  listen(progress, 'pointermove', (e) => {
    if (cues === null) ensureStoryboard()?.then(() => showPreview(e.clientX))
    else showPreview(e.clientX)
    if (dragging) seek(fractionAt(e.clientX) * duration())
  })
  listen(progress, 'pointerleave', () => {
    if (!dragging) preview.hidden = true
  })
  let dragging = false
  let wasPlaying = false
  listen(progress, 'pointerdown', (e) => {
    if (e.button !== 0) return
    dragging = true
    wasPlaying = !video.paused
    progress.setPointerCapture(e.pointerId)
    if (!core.started) core.markStarted()
    seek(fractionAt(e.clientX) * duration())
  })
  const endDrag = (e) => {
    if (!dragging) return
    dragging = false
    if (progress.hasPointerCapture?.(e.pointerId)) progress.releasePointerCapture(e.pointerId)
    preview.hidden = true
    if (wasPlaying && video.paused) play()
  }
  listen(progress, 'pointerup', endDrag)
  listen(progress, 'pointercancel', endDrag)

  // ---- wiring
  listen(bigPlay, 'click', () => play())
  listen(playBtn, 'click', () => togglePlay())
  listen(video, 'click', () => togglePlay())
  listen(video, 'dblclick', () => toggleFullscreen())
  listen(muteBtn, 'click', () => toggleMute())
  listen(volume, 'input', () => setVolume(Number(volume.value)))
  listen(fsBtn, 'click', () => toggleFullscreen())
  listen(video, 'play', () => {
    setPaused(false)
  })
  listen(video, 'pause', () => setPaused(true))
  listen(video, 'ended', () => setPaused(true))
  listen(video, 'timeupdate', updateTime)
  listen(video, 'durationchange', updateTime)
  listen(video, 'progress', updateBuffered)
  listen(video, 'seeked', updateBuffered)
  listen(video, 'volumechange', updateVolume)
  listen(video, 'waiting', () => (el.dataset.state = 'buffering'))
  listen(video, 'playing', () => (el.dataset.state = 'playing'))
  listen(video, 'canplay', () => {
    if (el.dataset.state !== 'error' && el.dataset.state !== 'playing') el.dataset.state = 'ready'
  })

  // Controls fade out while playing and the pointer rests.
  let idleTimer = 0
  const wake = () => {
    el.classList.remove('is-idle')
    clearTimeout(idleTimer)
    idleTimer = setTimeout(() => {
      if (!video.paused && qualityMenu.hidden) el.classList.add('is-idle')
    }, 2500)
  }
  listen(el, 'pointermove', wake)
  listen(el, 'focusin', wake)
  destroyers.push(() => clearTimeout(idleTimer))

  // Keyboard shortcuts, unless typing in a field or another control takes the key.
  listen(document, 'keydown', (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || isTypingTarget(e.target)) return
    const target = e.target instanceof Element ? e.target : null
    const onControl = target && target.closest('button, a, summary, [role="menuitemradio"]')
    const onRange = target && target.matches('input[type="range"]')
    const key = e.key
    if ((key === ' ' || key === 'Enter') && onControl) return
    if (onRange && key.startsWith('Arrow')) return
    if (target && target.closest('dialog[open]')) return
    let handled = true
    switch (key) {
      case ' ':
      case 'k':
      case 'K':
        togglePlay()
        break
      case 'ArrowLeft':
        seek(video.currentTime - 5)
        break
      case 'ArrowRight':
        seek(video.currentTime + 5)
        break
      case 'ArrowUp':
        setVolume((video.muted ? 0 : video.volume) + 0.1)
        break
      case 'ArrowDown':
        setVolume(video.volume - 0.1)
        break
      case 'f':
      case 'F':
        toggleFullscreen()
        break
      case 'm':
      case 'M':
        toggleMute()
        break
      default:
        handled = false
    }
    if (handled) {
      e.preventDefault()
      wake()
    }
  })

  setPaused(true)
  updateTime()
  updateVolume()
  updateFullscreen()
  if (meta.storyboard_vtt_url) setTimeout(() => ensureStoryboard(), 0)
  if (autoplay) play()

  const destroy = () => {
    storyboardAbort.abort()
    for (const fn of destroyers) fn()
    core.destroy()
  }

  return {
    el,
    video,
    core,
    /** The current hls.js instance (a reload of the ladder makes a new one). */
    get hls() {
      return core.hls
    },
    metrics,
    stats: core.stats,
    destroy,
    togglePlay,
    play,
    seek,
    /** Reloads the master playlist at the current position (the ladder grew). */
    reload: () => core.reload(),
  }
}
