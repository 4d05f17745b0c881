// Playback telemetry of one <video>: play, pause, seek, ended, rebuffers and heartbeats (every
// 10 s of playback, with the intervals watched since the last one). Every event carries the
// same properties shape: the page's `extra()` ({surface, level}) plus the event's own fields.
// The player core owns one of these per video; a page never builds its own.

import { track } from '../events/telemetry.js'

const HEARTBEAT_S = 10

/** @param {number} n */
function round(n) {
  return Math.round(n * 1000) / 1000
}

/**
 * @typedef {object} PlaybackStats
 * @property {number} rebuffers
 * @property {number} waitingAfterStart
 * @property {number | null} firstPlayingAt performance.now() of the first `playing`
 * @property {number} stalledMs
 * @property {number} heartbeats
 */

/**
 * Watches `video` and tracks its playback for `videoId`. Between `suspend()` and `resume()`
 * (the core swapping sources under the viewer) media events are ignored: what was watched
 * until the swap is kept, a stall the swap ends is forgotten, and counting goes on from where
 * the video is when it resumes.
 * @param {HTMLVideoElement} video
 * @param {string} videoId
 * @param {() => Record<string, unknown>} extra properties added to every event
 * @returns {{stats: PlaybackStats, flush: () => void, stop: () => void, suspend: () => void, resume: () => void}}
 */
export function watchPlayback(video, videoId, extra = () => ({})) {
  /** @type {PlaybackStats} */
  const stats = { rebuffers: 0, waitingAfterStart: 0, firstPlayingAt: null, stalledMs: 0, heartbeats: 0 }
  let lastPos = 0
  /** @type {number | null} */
  let seekFrom = null
  /** @type {number | null} */
  let rebufferAt = null
  /** @type {[number, number][]} */
  let intervals = []
  /** @type {number | null} */
  let segmentStart = null
  let watched = 0
  let suspended = false
  const pos = () => video.currentTime

  const closeSegment = () => {
    if (segmentStart !== null && lastPos > segmentStart) intervals.push([round(segmentStart), round(lastPos)])
    segmentStart = null
  }
  /** @param {boolean} final */
  const heartbeat = (final) => {
    closeSegment()
    if (watched <= (final ? 0.5 : 0)) return
    if (!intervals.length) {
      // Playback that no stretch covers (the server refuses such a heartbeat): start afresh.
      watched = 0
      if (!video.paused && !video.seeking) segmentStart = pos()
      return
    }
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
  /** @type {Record<string, () => void>} */
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
  /** @type {Record<string, () => void>} */
  const guarded = {}
  for (const [name, fn] of Object.entries(on)) guarded[name] = () => (suspended ? undefined : fn())
  for (const [name, fn] of Object.entries(guarded)) video.addEventListener(name, fn)
  return {
    stats,
    flush: () => heartbeat(true),
    suspend: () => {
      if (suspended) return
      closeSegment()
      rebufferAt = null
      seekFrom = null
      suspended = true
    },
    resume: () => {
      if (!suspended) return
      suspended = false
      lastPos = pos()
      segmentStart = video.paused ? null : pos()
    },
    stop: () => {
      heartbeat(true)
      for (const [name, fn] of Object.entries(guarded)) video.removeEventListener(name, fn)
    },
  }
}
