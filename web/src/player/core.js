// The player core every surface shares (watch page, feed, and the live room next): one hls.js
// lifecycle on one <video>, error recovery (network errors retried with backoff, media errors
// recovered, then a fatal state the page shows), the muted-autoplay fallback, first-frame
// timing, teardown, reloading the master playlist at the current position (a ladder that grew
// while processing), and one telemetry shape for every playback event.
//
// The core's `root` is the element that goes full screen. Inside it, above the video, is the
// overlay slot (`.player-overlays`): layers added with `addOverlay()` (danmaku, captions, a
// live badge) sit over the picture, pass pointer events through unless they ask for them, and
// stay visible in full screen. Page chrome (the watch page's controls) is appended after it.

import Hls from 'hls.js'
import { h } from '../dom.js'
import { track } from '../events/telemetry.js'
import { levelName } from './playlist.js'
import { watchPlayback } from './tracking.js'

export { Hls, levelName }

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

/** Fatal network errors retried (with backoff 0.5 s, 1 s, 2 s) before the player gives up. */
const NETWORK_RETRIES = 3
/** Fatal media errors recovered (the second one also swaps the audio codec) before giving up. */
const MEDIA_RECOVERIES = 2

/**
 * @typedef {object} PlayerMetrics
 * @property {number} createdAt performance.now() the page started this video (the feed: the swipe)
 * @property {number | null} playRequestedAt
 * @property {number | null} firstFrameAt
 * @property {number | null} ttffMs play request → first rendered frame
 * @property {number | null} loadToFirstFrameMs createdAt → first rendered frame
 * @property {{type: string, details: string, fatal: boolean}[]} errors
 * @property {string | null} fatal
 * @property {{level: number, height: number | null, at: number}[]} levelSwitches
 * @property {boolean} ready the manifest is parsed (or the browser plays HLS itself)
 * @property {number} reloads master playlists reloaded at the current position
 * @property {number[]} ladders the number of levels of each manifest parsed, in order
 * @property {boolean} mutedFallback autoplay with sound was refused and the core muted
 * @property {number} [manualRequests] quality choices the viewer made (watch page)
 */

/**
 * @typedef {object} CoreOptions
 * @property {string} src the master playlist
 * @property {string} videoId
 * @property {string} surface 'watch' | 'feed' | 'live': in every telemetry event
 * @property {HTMLVideoElement} [video] the element to play in (default: a new `.player-video`)
 * @property {string} [className] extra classes of the root
 * @property {number} [startPosition] seconds; -1 = from the start
 * @property {number} [preloadSeconds] buffer only this much until the first play (0: full buffer)
 * @property {Partial<import('hls.js').HlsConfig>} [hlsConfig] extra hls.js settings (the feed's loader)
 * @property {(hls: Hls) => void} [onHls] called with every new hls.js instance before it loads
 * @property {number} [startedAt] performance.now() the first-frame clock starts from
 * @property {Record<string, unknown>} [properties] added to every telemetry event (a live room's id)
 */

/**
 * @typedef {'manifest' | 'level' | 'fatal' | 'frame' | 'muted' | 'blocked' | 'fullscreen'} CoreEvent
 */

/**
 * Builds the core for one video. Nothing plays until `play()`.
 * @param {CoreOptions} options
 */
export function createPlayerCore(options) {
  const { src, videoId, surface, className = '', startPosition = -1, preloadSeconds = 0, hlsConfig = {}, onHls } = options
  const video = options.video || /** @type {HTMLVideoElement} */ (h('video', { class: 'player-video', playsinline: true, preload: 'auto' }))
  video.controls = false
  const overlays = h('div', { class: 'player-overlays' })
  const root = h('div', { class: ['player-core', ...className.split(/\s+/)] }, video, overlays)

  /** @type {PlayerMetrics} */
  const metrics = {
    createdAt: options.startedAt ?? performance.now(),
    playRequestedAt: null,
    firstFrameAt: null,
    ttffMs: null,
    loadToFirstFrameMs: null,
    errors: [],
    fatal: null,
    levelSwitches: [],
    ready: false,
    reloads: 0,
    ladders: [],
    mutedFallback: false,
  }

  /** @type {Map<CoreEvent, Set<(data: any) => void>>} */
  const listeners = new Map()
  /** @param {CoreEvent} name @param {any} [data] */
  const emit = (name, data) => {
    for (const fn of listeners.get(name) || []) fn(data)
  }

  /** @type {Hls | null} */
  let hls = null
  let currentSrc = src
  let started = false // has the viewer (or the feed) asked to play yet
  let destroyed = false
  let networkRetries = 0
  let mediaRecoveries = 0
  let retryTimer = 0
  /** @type {string | null} */
  let lastLevelName = null
  /** @type {(() => void)[]} */
  const cleanups = []
  /**
   * @param {EventTarget} target
   * @param {string} name
   * @param {(e: any) => void} fn
   * @param {AddEventListenerOptions} [opts]
   */
  const listen = (target, name, fn, opts) => {
    target.addEventListener(name, fn, opts)
    cleanups.push(() => target.removeEventListener(name, fn, opts))
  }

  const currentLevelName = () => (hls && hls.currentLevel >= 0 ? levelName(hls.levels[hls.currentLevel]) : null)
  /** The properties every playback event of this core carries. */
  const extra = () => ({ surface, level: currentLevelName(), ...options.properties })

  /** @param {string} message */
  const fail = (message) => {
    metrics.fatal = message
    emit('fatal', message)
  }

  /** @param {string} source @param {number} start */
  const createHls = (source, start) => {
    const instance = new Hls({ ...HLS_CONFIG, ...hlsConfig, startPosition: start })
    if (!started && preloadSeconds > 0) {
      instance.config.maxBufferLength = preloadSeconds
      instance.config.maxMaxBufferLength = preloadSeconds
    }
    instance.on(Hls.Events.MANIFEST_PARSED, () => {
      metrics.ready = true
      metrics.ladders.push(instance.levels.length)
      emit('manifest', instance.levels)
    })
    instance.on(Hls.Events.FRAG_LOADED, () => {
      networkRetries = 0
    })
    instance.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => {
      const level = instance.levels[data.level]
      metrics.levelSwitches.push({ level: data.level, height: level?.height ?? null, at: performance.now() })
      emit('level', { index: data.level, level })
      if (!level?.height) return
      const to = levelName(level)
      track('quality_change', {
        video_id: videoId,
        position_s: video.currentTime,
        properties: { ...extra(), from: lastLevelName, to, height: level.height, bitrate: level.bitrate ?? null, auto: instance.autoLevelEnabled },
      })
      lastLevelName = to
    })
    instance.on(Hls.Events.ERROR, (_e, data) => {
      metrics.errors.push({ type: data.type, details: data.details, fatal: Boolean(data.fatal) })
      if (!data.fatal || destroyed) return
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR && networkRetries < NETWORK_RETRIES) {
        const delay = 500 * 2 ** networkRetries
        networkRetries += 1
        clearTimeout(retryTimer)
        retryTimer = window.setTimeout(() => {
          if (hls !== instance) return
          // Without a manifest there is nothing to resume: load it again.
          if (!instance.levels || !instance.levels.length) instance.loadSource(currentSrc)
          else instance.startLoad(video.currentTime || start)
        }, delay)
      } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < MEDIA_RECOVERIES) {
        mediaRecoveries += 1
        if (mediaRecoveries === MEDIA_RECOVERIES) instance.swapAudioCodec()
        instance.recoverMediaError()
      } else {
        fail(`${data.type}: ${data.details}`)
      }
    })
    onHls?.(instance)
    instance.attachMedia(video)
    instance.loadSource(source)
    return instance
  }

  if (Hls.isSupported()) {
    hls = createHls(src, startPosition)
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = src
    if (startPosition > 0) video.addEventListener('loadedmetadata', () => (video.currentTime = startPosition), { once: true })
    metrics.ready = true
  } else {
    metrics.fatal = 'This browser cannot play HLS video.'
  }

  /** Lifts the preload limit: the configured buffer applies from the first play on. */
  const fullBuffer = () => {
    const want = hlsConfig.maxBufferLength ?? HLS_CONFIG.maxBufferLength
    if (hls && hls.config.maxBufferLength !== want) {
      hls.config.maxBufferLength = want
      hls.config.maxMaxBufferLength = hlsConfig.maxMaxBufferLength ?? HLS_CONFIG.maxMaxBufferLength
    }
  }
  const markStarted = () => {
    started = true
    fullBuffer()
  }

  // ---- first frame
  const onFirstFrame = () => {
    if (metrics.firstFrameAt !== null || destroyed) return
    metrics.firstFrameAt = performance.now()
    metrics.loadToFirstFrameMs = Math.round(metrics.firstFrameAt - metrics.createdAt)
    if (metrics.playRequestedAt !== null) metrics.ttffMs = Math.round(metrics.firstFrameAt - metrics.playRequestedAt)
    emit('frame', metrics)
  }
  const armFirstFrame = () => {
    if (typeof video.requestVideoFrameCallback === 'function') video.requestVideoFrameCallback(() => onFirstFrame())
    else video.addEventListener('playing', onFirstFrame, { once: true })
  }

  /**
   * Plays; when autoplay with sound is refused, plays muted (emits `muted`); when even that is
   * refused, emits `blocked`. Resolves to whether playback started.
   * @returns {Promise<boolean>}
   */
  const play = async () => {
    markStarted()
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
    try {
      await video.play()
      return true
    } catch (e) {
      const name = e instanceof Error ? e.name : ''
      if (name === 'NotAllowedError' && !video.muted && !destroyed) {
        video.muted = true
        metrics.mutedFallback = true
        emit('muted')
        try {
          await video.play()
          return true
        } catch (again) {
          if (!destroyed) emit('blocked', again)
          return false
        }
      }
      if (name !== 'AbortError' && !destroyed) emit('blocked', e)
      return false
    }
  }
  const pause = () => video.pause()
  const togglePlay = () => (video.paused || video.ended ? play() : pause())
  const duration = () => (Number.isFinite(video.duration) && video.duration > 0 ? video.duration : 0)
  /** @param {number} t */
  const seek = (t) => {
    const d = duration()
    video.currentTime = Math.max(0, d ? Math.min(d - 0.05, t) : t)
  }

  const toggleFullscreen = () => {
    const webkitVideo = /** @type {HTMLVideoElement & {webkitEnterFullscreen?: () => void}} */ (video)
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {})
    else if (root.requestFullscreen) root.requestFullscreen().catch(() => {})
    else if (webkitVideo.webkitEnterFullscreen) webkitVideo.webkitEnterFullscreen()
  }
  listen(document, 'fullscreenchange', () => {
    const on = document.fullscreenElement === root
    root.classList.toggle('is-fullscreen', on)
    emit('fullscreen', on)
  })

  /**
   * Adds an overlay layer over the picture (inside the full-screen element). A layer lets
   * pointer events through to the video unless `interactive`. Returns its removal.
   * @param {string} name
   * @param {Node} content
   * @param {{interactive?: boolean}} [opts]
   * @returns {() => void}
   */
  const addOverlay = (name, content, { interactive = false } = {}) => {
    const layer = h('div', { class: ['player-layer', interactive && 'is-interactive'], dataset: { layer: name } }, content)
    overlays.append(layer)
    return () => layer.remove()
  }

  /**
   * Loads the master playlist again at the current position (keeps playing if it was): the
   * ladder grew while the video was processing, or the signed URL changed.
   * @param {string} [source]
   */
  const reload = (source = currentSrc) => {
    if (destroyed) return
    currentSrc = source
    metrics.reloads += 1
    // An ended video starts again from the beginning on its next play anyway.
    const at = video.ended ? 0 : video.currentTime
    const wasPlaying = !video.paused && !video.ended
    const start = at > 0 ? at : video.ended ? 0 : startPosition
    if (!hls) {
      if (!video.canPlayType('application/vnd.apple.mpegurl')) return
      video.src = source
      video.addEventListener('loadedmetadata', () => (video.currentTime = Math.max(0, start)), { once: true })
      if (wasPlaying) video.play().catch(() => {})
      return
    }
    telemetry.suspend()
    clearTimeout(retryTimer)
    networkRetries = 0
    mediaRecoveries = 0
    hls.destroy()
    hls = createHls(source, start)
    // Play again once the new source can play: a play() before hls.js has given the element its
    // new MediaSource would be aborted by that. The swap is over when playback is back (or,
    // paused, when it could be).
    const settle = () => telemetry.resume()
    if (wasPlaying) {
      video.addEventListener('canplay', () => void video.play().catch(() => settle()), { once: true })
      video.addEventListener('playing', settle, { once: true })
    } else {
      video.addEventListener('canplay', settle, { once: true })
    }
  }

  /**
   * @param {CoreEvent} name
   * @param {(data: any) => void} fn
   * @returns {() => void} removes the listener
   */
  const on = (name, fn) => {
    if (!listeners.has(name)) listeners.set(name, new Set())
    listeners.get(name)?.add(fn)
    // A state reached before anyone listened is still news.
    if (name === 'fatal' && metrics.fatal) queueMicrotask(() => fn(metrics.fatal))
    return () => listeners.get(name)?.delete(fn)
  }

  listen(video, 'play', () => markStarted())
  const telemetry = watchPlayback(video, videoId, extra)

  const destroy = () => {
    if (destroyed) return
    destroyed = true
    telemetry.stop()
    clearTimeout(retryTimer)
    for (const fn of cleanups) fn()
    listeners.clear()
    if (hls) hls.destroy()
    hls = null
    video.pause()
    video.removeAttribute('src')
    video.load()
  }

  return {
    root,
    video,
    overlays,
    metrics,
    stats: telemetry.stats,
    /** The current hls.js instance (a reload makes a new one), or null. */
    get hls() {
      return hls
    },
    get started() {
      return started
    },
    play,
    pause,
    togglePlay,
    seek,
    duration,
    markStarted,
    toggleFullscreen,
    addOverlay,
    reload,
    on,
    destroy,
  }
}

/** @typedef {ReturnType<typeof createPlayerCore>} PlayerCore */
