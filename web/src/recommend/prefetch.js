// The feed's media side: prefetching the start of the next videos into memory, and the hls.js
// loader that serves those bytes from memory when the viewer swipes to them.
//
// Prefetch rule: for each upcoming video fetch ONLY its master playlist, the media playlist of
// one level (the lowest rung of at least 360p, else the lowest), that level's init segment and
// its FIRST media segment; when the level has a separate audio rendition, the same three for the
// audio (playlist, init, first segment), since the first frame cannot play without it. Nothing
// else, and no hls.js instance: the bytes wait in a Map until the video becomes current.

import { Hls } from '../player/core.js'
import { parseMaster, parseMedia, pickVariant } from '../player/playlist.js'

/**
 * Public metrics for tests and diagnostics.
 * @type {{prefetched: Record<string, string[]>, prefetchBytes: Record<string, number>, prefetchMs: Record<string, number>,
 *   prefetchLevel: Record<string, {name: string, height: number, width: number, url: string}>, servedFromCache: Record<string, string[]>,
 *   networkAfterSwitch: Record<string, string[]>, firstFrameMs: Record<string, number | null>, coldStart: Record<string, boolean>,
 *   startLevel: Record<string, string>, swipes: number, order: string[], current: string | null}}
 */
export const metrics = {
  prefetched: {}, // videoId → [urls]
  prefetchBytes: {}, // videoId → bytes
  prefetchMs: {}, // videoId → ms for the whole prefetch
  prefetchLevel: {}, // videoId → {name, height, url}
  servedFromCache: {}, // videoId → [urls]
  networkAfterSwitch: {}, // videoId → [urls] hls.js had to fetch itself
  firstFrameMs: {}, // videoId → ms from swipe (or feed start) to the first rendered frame
  coldStart: {}, // videoId → true when it started without prefetched data
  startLevel: {}, // videoId → level name hls.js started with
  swipes: 0,
  order: [],
  current: null,
}
window.__spoolFeedMetrics = metrics

/** The URL without hls.js's CMCD query parameter (the cache key). */
export function cacheKey(url) {
  try {
    const u = new URL(url, location.href)
    u.searchParams.delete('CMCD')
    u.hash = ''
    return u.href
  } catch {
    return url
  }
}

/**
 * In-memory media: url → {data: ArrayBuffer, ms, ttfb, bytes, videoId}. Entries are kept per
 * video and dropped when the video leaves the feed's window.
 */
export class MediaCache {
  constructor() {
    this.entries = new Map()
    this.videos = new Map() // videoId → {promise, controller, variant, urls}
  }

  get(url) {
    return this.entries.get(cacheKey(url)) || null
  }

  has(videoId) {
    return this.videos.has(videoId)
  }

  info(videoId) {
    return this.videos.get(videoId) || null
  }

  drop(videoId) {
    const v = this.videos.get(videoId)
    if (!v) return
    v.controller.abort()
    for (const url of v.urls) this.entries.delete(url)
    this.videos.delete(videoId)
  }

  async fetchInto(videoId, url, signal) {
    const key = cacheKey(url)
    const start = performance.now()
    const response = await fetch(key, { signal, credentials: 'same-origin', priority: 'low' })
    const ttfb = performance.now() - start
    if (!response.ok) throw new Error(`prefetch ${key}: HTTP ${response.status}`)
    const data = await response.arrayBuffer()
    const ms = Math.max(1, performance.now() - start)
    const entry = { data, ms, ttfb: Math.min(ttfb, ms), bytes: data.byteLength, videoId }
    this.entries.set(key, entry)
    const record = this.videos.get(videoId)
    record?.urls.push(key)
    ;(metrics.prefetched[videoId] ||= []).push(key)
    metrics.prefetchBytes[videoId] = (metrics.prefetchBytes[videoId] || 0) + data.byteLength
    return entry
  }

  /** Prefetches the start of a video (see the rule at the top). Resolves to the variant. */
  prefetch(video) {
    const existing = this.videos.get(video.id)
    if (existing) return existing.promise
    const controller = new AbortController()
    /** @type {{controller: AbortController, urls: string[], variant: import('../player/playlist.js').Variant | null, audio: import('../player/playlist.js').AudioRendition | null, promise: Promise<any>, done: boolean}} */
    const record = { controller, urls: [], variant: null, audio: null, promise: Promise.resolve(null), done: false }
    this.videos.set(video.id, record)
    const { signal } = controller
    const started = performance.now()
    const text = (entry) => new TextDecoder().decode(entry.data)
    record.promise = (async () => {
      const masterUrl = new URL(video.hls_url, location.href).href
      const master = parseMaster(text(await this.fetchInto(video.id, masterUrl, signal)), masterUrl)
      const variant = pickVariant(master.variants)
      if (!variant) throw new Error('prefetch: the master playlist lists no variant')
      record.variant = variant
      const audio = variant.audioGroup ? master.audio.filter((a) => a.group === variant.audioGroup).sort((a, b) => Number(b.isDefault) - Number(a.isDefault))[0] || null : null
      record.audio = audio
      const rendition = async (playlistUrl) => {
        const media = parseMedia(text(await this.fetchInto(video.id, playlistUrl, signal)), playlistUrl)
        await Promise.all([media.init && this.fetchInto(video.id, media.init, signal), media.first && this.fetchInto(video.id, media.first, signal)])
      }
      await Promise.all([rendition(variant.url), audio ? rendition(audio.url) : null])
      record.done = true
      metrics.prefetchMs[video.id] = Math.round(performance.now() - started)
      metrics.prefetchLevel[video.id] = { height: variant.height, width: variant.width, url: cacheKey(variant.url), name: `${Math.min(variant.width || variant.height, variant.height || variant.width)}p` }
      return variant
    })()
    record.promise.catch(() => {
      // A failed or aborted prefetch only costs the cold start; keep what did arrive.
    })
    return record.promise
  }
}

/**
 * An hls.js loader (subclass of the default XHR loader) that answers from `cache` when it holds
 * the URL, with load stats derived from the prefetch's real timing so the bandwidth estimate
 * stays honest, and otherwise loads over the network as usual.
 * @param {MediaCache} cache
 * @param {{onServed?: (url: string, entry: any) => void, onNetwork?: (url: string) => void}} [hooks]
 */
export function cachingLoader(cache, { onServed, onNetwork } = {}) {
  // The default loader's internals (loadInternal, callbacks) are not in hls.js's typings.
  const Base = /** @type {any} */ (Hls.DefaultConfig.loader)
  return class CachingLoader extends Base {
    loadInternal() {
      const context = this.context
      const entry = context && !context.rangeEnd ? cache.get(context.url) : null
      if (!entry) {
        if (context) onNetwork?.(cacheKey(context.url))
        super.loadInternal()
        return
      }
      const stats = this.stats
      const now = performance.now()
      stats.loading.start = now - entry.ms
      stats.loading.first = stats.loading.start + entry.ttfb
      stats.loading.end = now
      stats.loaded = stats.total = entry.bytes
      stats.bwEstimate = (entry.bytes * 8000) / Math.max(1, entry.ms - entry.ttfb)
      this.cacheTimer = self.setTimeout(() => {
        this.cacheTimer = 0
        const callbacks = this.callbacks
        if (!callbacks || this.stats.aborted) return
        const key = cacheKey(context.url)
        // hls.js may transfer the buffer to its worker: hand it a copy, keep ours intact.
        const data = context.responseType === 'arraybuffer' ? entry.data.slice(0) : new TextDecoder().decode(entry.data)
        onServed?.(key, entry)
        callbacks.onProgress?.(stats, context, data, null)
        callbacks.onSuccess({ url: key, data, code: 200 }, stats, context, null)
      }, 0)
    }

    abortInternal() {
      if (this.cacheTimer) {
        self.clearTimeout(this.cacheTimer)
        this.cacheTimer = 0
        this.stats.aborted = true
      }
      super.abortInternal()
    }
  }
}

/**
 * The hls.js settings and setup for the current feed video, fed from the cache: give them to
 * the player core (`hlsConfig`, `onHls`). The instance starts on the prefetched level and
 * starts loading as soon as both the manifest is parsed and the MediaSource is open (starting
 * before the media is attached would wait for hls.js's next 100 ms tick).
 * @param {{id: string}} video
 * @param {MediaCache} cache
 * @returns {{hlsConfig: Partial<import('hls.js').HlsConfig>, onHls: (hls: Hls) => void}}
 */
export function feedHlsOptions(video, cache) {
  const served = (metrics.servedFromCache[video.id] ||= [])
  const network = (metrics.networkAfterSwitch[video.id] ||= [])
  const Loader = cachingLoader(cache, {
    onServed: (url) => served.push(url),
    onNetwork: (url) => network.push(url),
  })
  const record = cache.info(video.id)
  return {
    hlsConfig: { loader: /** @type {any} */ (Loader), autoStartLoad: false },
    onHls: (hls) => {
      let parsed = false
      let attached = false
      const maybeStart = () => {
        if (parsed && attached) hls.startLoad(0)
      }
      hls.once(Hls.Events.MANIFEST_PARSED, () => {
        const prefetchedUrl = record && record.variant ? cacheKey(record.variant.url) : null
        const index = prefetchedUrl ? hls.levels.findIndex((l) => cacheKey(l.uri || (l.url && l.url[0]) || '') === prefetchedUrl) : -1
        if (index >= 0) hls.startLevel = index
        parsed = true
        maybeStart()
      })
      hls.once(Hls.Events.MEDIA_ATTACHED, () => {
        attached = true
        maybeStart()
      })
    },
  }
}
