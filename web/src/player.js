// The watch page's player: hls.js on a <video> with custom controls (native controls off):
// play/pause, a progress bar with buffered ranges and storyboard previews, time, volume/mute,
// a quality menu (Auto + every level) and fullscreen; keyboard shortcuts; telemetry.
//
// Until the viewer first presses play, only about one segment is buffered (a fast start without
// downloading a whole video nobody watches); after that the configured 30 s buffer applies.

import Hls from 'hls.js'
import { h, icon, ICONS, formatDuration, isTypingTarget } from './dom.js'
import { track } from './telemetry.js'
import { loadStoryboard, cueAt } from './storyboard.js'

/** The hls.js settings every Spool player uses. */
export const HLS_CONFIG = {
  maxBufferLength: 30,
  maxMaxBufferLength: 30,
  backBufferLength: 30,
  capLevelToPlayerSize: true,
  // CMCD (query-string mode): the analytics pipeline reads it from the media requests.
  cmcd: {},
  enableWorker: true,
  debug: false,
}

/** Seconds buffered before the first play. */
const PRELOAD_S = 4
const HEARTBEAT_S = 10
const VOLUME_KEY = 'spool.volume'
const MUTED_KEY = 'spool.muted'

export { Hls }

/** "720p": the short side, as the ladder names rungs. */
export function levelName(level) {
  if (!level) return ''
  const { width, height } = level
  if (width && height) return `${Math.min(width, height)}p`
  if (height) return `${height}p`
  return level.bitrate ? `${Math.round(level.bitrate / 1000)} kbps` : '?'
}

function readNumber(key, fallback) {
  try {
    const v = Number(localStorage.getItem(key))
    return localStorage.getItem(key) !== null && Number.isFinite(v) ? v : fallback
  } catch {
    return fallback
  }
}

function save(key, value) {
  try {
    localStorage.setItem(key, String(value))
  } catch {
    /* ignore */
  }
}

/**
 * Watches a <video> for playback telemetry: play, pause, seek, ended, rebuffers and heartbeats
 * (every 10 s of playback, with the intervals watched since the last one). Returns
 * { stats, flush, stop }.
 */
export function watchPlayback(video, videoId, extra = () => ({})) {
  const stats = { rebuffers: 0, waitingAfterStart: 0, firstPlayingAt: null, stalledMs: 0, heartbeats: 0 }
  let lastPos = 0
  let seekFrom = null
  let rebufferAt = null
  let intervals = []
  let segmentStart = null
  let watched = 0
  const pos = () => video.currentTime

  const closeSegment = () => {
    if (segmentStart !== null && lastPos > segmentStart) intervals.push([round(segmentStart), round(lastPos)])
    segmentStart = null
  }
  const heartbeat = (final) => {
    closeSegment()
    if (watched <= (final ? 0.5 : 0)) return
    stats.heartbeats += 1
    track('heartbeat', {
      video_id: videoId,
      position_s: pos(),
      properties: { watched_s: round(watched), intervals, final: Boolean(final), ...extra() },
    })
    intervals = []
    watched = 0
    if (!video.paused && !video.seeking) segmentStart = pos()
  }
  const on = {
    play: () => track('play', { video_id: videoId, position_s: pos(), properties: extra() }),
    pause: () => {
      if (video.ended) return
      closeSegment()
      track('pause', { video_id: videoId, position_s: pos(), properties: extra() })
    },
    playing: () => {
      if (stats.firstPlayingAt === null) stats.firstPlayingAt = performance.now()
      if (rebufferAt !== null) {
        const ms = Math.round(performance.now() - rebufferAt)
        stats.stalledMs += ms
        track('rebuffer_end', { video_id: videoId, position_s: pos(), properties: { duration_ms: ms, ...extra() } })
        rebufferAt = null
      }
      if (segmentStart === null) segmentStart = pos()
    },
    waiting: () => {
      if (stats.firstPlayingAt === null || video.seeking || video.paused || rebufferAt !== null) return
      stats.rebuffers += 1
      stats.waitingAfterStart += 1
      rebufferAt = performance.now()
      closeSegment()
      track('rebuffer_start', { video_id: videoId, position_s: pos(), properties: extra() })
    },
    seeking: () => {
      if (seekFrom === null) seekFrom = lastPos
      closeSegment()
      if (rebufferAt !== null) rebufferAt = null
    },
    seeked: () => {
      // Sub-frame nudges (jumping a start gap) are not the viewer seeking.
      if (Math.abs(pos() - (seekFrom ?? 0)) >= 0.25) {
        track('seek', { video_id: videoId, position_s: pos(), properties: { from_s: round(seekFrom ?? 0), to_s: round(pos()), ...extra() } })
      }
      seekFrom = null
      lastPos = pos()
      if (!video.paused) segmentStart = pos()
    },
    timeupdate: () => {
      const now = pos()
      if (!video.paused && !video.seeking && rebufferAt === null) {
        const delta = now - lastPos
        if (delta > 0 && delta < 2) watched += delta
        if (segmentStart === null) segmentStart = lastPos
      }
      lastPos = now
      if (watched >= HEARTBEAT_S) heartbeat(false)
    },
    ended: () => {
      heartbeat(true)
      track('ended', { video_id: videoId, position_s: pos(), properties: extra() })
    },
  }
  for (const [name, fn] of Object.entries(on)) video.addEventListener(name, fn)
  return {
    stats,
    flush: () => heartbeat(true),
    stop: () => {
      heartbeat(true)
      for (const [name, fn] of Object.entries(on)) video.removeEventListener(name, fn)
    },
  }
}

function round(n) {
  return Math.round(n * 1000) / 1000
}

/**
 * Builds the player for a VideoJson that has an hls_url. Returns
 * { el, video, hls, destroy, metrics, togglePlay, seek }.
 */
export function createPlayer(meta, { startPosition = -1, autoplay = false } = {}) {
  const video = h('video', {
    class: 'player-video',
    playsinline: true,
    preload: 'auto',
    'aria-label': meta.title || 'Video',
    poster: meta.cover_url || undefined,
  })
  video.controls = false
  video.volume = Math.min(1, Math.max(0, readNumber(VOLUME_KEY, 1)))
  video.muted = readNumber(MUTED_KEY, 0) === 1

  const metrics = {
    createdAt: performance.now(),
    playRequestedAt: null,
    firstFrameAt: null,
    ttffMs: null, // play request → first rendered frame
    loadToFirstFrameMs: null, // player created → first rendered frame
    errors: [],
    fatal: null,
    levelSwitches: [],
    ready: false,
  }

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
  const el = h('div', { class: 'player is-paused', 'data-state': 'loading' }, video, spinner, bigPlay, errorBox, controls)

  // ---- hls.js
  let hls = null
  const destroyers = []
  const listen = (target, name, fn, opts) => {
    target.addEventListener(name, fn, opts)
    destroyers.push(() => target.removeEventListener(name, fn, opts))
  }
  let started = false // has the viewer asked to play yet
  let networkRetries = 0
  let mediaRecoveries = 0

  const showError = (message) => {
    errorBox.hidden = false
    errorBox.replaceChildren(h('p', null, message), h('button', { class: 'btn', type: 'button', onclick: () => location.reload() }, 'Reload'))
    el.dataset.state = 'error'
  }

  if (Hls.isSupported()) {
    hls = new Hls({ ...HLS_CONFIG, startPosition })
    // Preload only a segment until the first play.
    hls.config.maxBufferLength = PRELOAD_S
    hls.config.maxMaxBufferLength = PRELOAD_S
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      metrics.ready = true
      buildQualityMenu()
    })
    hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => {
      const level = hls.levels[data.level]
      const previous = metrics.levelSwitches.length ? metrics.levelSwitches[metrics.levelSwitches.length - 1] : null
      metrics.levelSwitches.push({ level: data.level, height: level?.height ?? null, at: performance.now() })
      updateQualityLabel()
      if (level?.height) track('quality_change', {
        video_id: meta.id,
        position_s: video.currentTime,
        properties: {
          from: previous ? levelName(hls.levels[previous.level]) : null,
          to: levelName(level),
          height: level?.height ?? null,
          bitrate: level?.bitrate ?? null,
          auto: hls.autoLevelEnabled,
        },
      })
    })
    hls.on(Hls.Events.ERROR, (_e, data) => {
      metrics.errors.push({ type: data.type, details: data.details, fatal: Boolean(data.fatal) })
      if (!data.fatal) return
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR && networkRetries < 3) {
        networkRetries += 1
        hls.startLoad(video.currentTime || -1)
      } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < 2) {
        mediaRecoveries += 1
        hls.recoverMediaError()
      } else {
        metrics.fatal = `${data.type}: ${data.details}`
        showError('This video cannot be played right now. Try reloading the page.')
      }
    })
    hls.attachMedia(video)
    hls.loadSource(meta.hls_url)
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = meta.hls_url
    metrics.ready = true
  } else {
    showError('This browser cannot play HLS video.')
  }

  const fullBuffer = () => {
    if (hls && hls.config.maxBufferLength !== HLS_CONFIG.maxBufferLength) {
      hls.config.maxBufferLength = HLS_CONFIG.maxBufferLength
      hls.config.maxMaxBufferLength = HLS_CONFIG.maxMaxBufferLength
    }
  }

  // ---- first frame
  const onFirstFrame = () => {
    if (metrics.firstFrameAt !== null) return
    metrics.firstFrameAt = performance.now()
    metrics.loadToFirstFrameMs = Math.round(metrics.firstFrameAt - metrics.createdAt)
    if (metrics.playRequestedAt !== null) metrics.ttffMs = Math.round(metrics.firstFrameAt - metrics.playRequestedAt)
  }
  const armFirstFrame = () => {
    if (typeof video.requestVideoFrameCallback === 'function') video.requestVideoFrameCallback(() => onFirstFrame())
    else video.addEventListener('playing', onFirstFrame, { once: true })
  }

  // ---- actions
  const play = () => {
    started = true
    fullBuffer()
    if (metrics.playRequestedAt === null) {
      metrics.playRequestedAt = performance.now()
      armFirstFrame()
    }
    // The first frame often sits a frame or two after 0 (B-frame composition offset): start
    // there instead of stalling until hls.js jumps the gap on its next tick.
    const b = video.buffered
    if (metrics.firstFrameAt === null && b.length && video.currentTime < b.start(0) && b.start(0) - video.currentTime < 0.5) {
      video.currentTime = b.start(0)
    }
    const p = video.play()
    if (p && p.catch) {
      p.catch((e) => {
        if (e && e.name === 'NotAllowedError' && !video.muted) {
          // Autoplay with sound was refused: try muted, the viewer can unmute.
          video.muted = true
          video.play().catch(() => setPaused(true))
        } else if (e && e.name !== 'AbortError') setPaused(true)
      })
    }
  }
  const togglePlay = () => (video.paused || video.ended ? play() : video.pause())
  const duration = () => (Number.isFinite(video.duration) && video.duration > 0 ? video.duration : meta.duration_s || 0)
  const seek = (t) => {
    const d = duration()
    const target = Math.max(0, Math.min(d ? d - 0.05 : t, t))
    video.currentTime = target
    updateTime()
  }
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
  const toggleFullscreen = () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {})
    else if (el.requestFullscreen) el.requestFullscreen().catch(() => {})
    else if (video.webkitEnterFullscreen) video.webkitEnterFullscreen()
  }

  // ---- UI updates
  const setPaused = (paused) => {
    el.classList.toggle('is-paused', paused)
    const label = paused ? 'Play' : 'Pause'
    playBtn.setAttribute('aria-label', `${label} (k)`)
    playBtn.replaceChildren(icon(paused ? ICONS.play : ICONS.pause))
    bigPlay.hidden = !paused || started
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
    el.classList.toggle('is-fullscreen', on)
    fsBtn.replaceChildren(icon(on ? ICONS.exitFullscreen : ICONS.fullscreen))
    fsBtn.setAttribute('aria-label', on ? 'Exit full screen (f)' : 'Full screen (f)')
  }

  // ---- quality menu
  function currentAutoName() {
    if (!hls) return ''
    const level = hls.levels[hls.currentLevel >= 0 ? hls.currentLevel : hls.loadLevel]
    return level ? levelName(level) : ''
  }
  function updateQualityLabel() {
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
    if (!started) {
      started = true
      fullBuffer()
    }
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
  listen(document, 'fullscreenchange', updateFullscreen)
  listen(video, 'play', () => {
    started = true
    fullBuffer()
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

  const telemetry = watchPlayback(video, meta.id, () => ({
    level: hls && hls.currentLevel >= 0 ? levelName(hls.levels[hls.currentLevel]) : null,
    surface: 'watch',
  }))

  setPaused(true)
  updateTime()
  updateVolume()
  updateFullscreen()
  if (meta.storyboard_vtt_url) setTimeout(() => ensureStoryboard(), 0)
  if (autoplay) play()

  const destroy = () => {
    telemetry.stop()
    storyboardAbort.abort()
    for (const fn of destroyers) fn()
    if (hls) hls.destroy()
    video.removeAttribute('src')
    video.load()
  }

  return { el, video, hls, metrics, stats: telemetry.stats, destroy, togglePlay, play, seek }
}
