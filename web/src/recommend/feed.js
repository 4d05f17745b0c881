// The feed: one video at a time, full height. Swipe (touch or mouse drag), wheel, ArrowUp /
// ArrowDown / j / k move between videos; the current one autoplays muted until the viewer taps
// to unmute. Only the current video has an hls.js instance; the next two are prefetched (see
// prefetch.js) and start from memory when the viewer gets to them. The player is the shared
// core (player/core.js); its root sits above the slide's cover image, which shows only until
// the video has a picture.

import { h, icon, ICONS, formatCount, formatAge, isTypingTarget } from '../dom.js'
import { api } from '../api.js'
import { channelHref, watchHref, emptyState, errorBox, spinner } from '../components.js'
import { createPlayerCore, levelName } from '../player/core.js'
import { MediaCache, feedHlsOptions, metrics } from './prefetch.js'
import { track } from '../events/telemetry.js'

const PREFETCH_AHEAD = 2
const PAGE = 10
const WHEEL_THRESHOLD = 40
const MOVE_COOLDOWN_MS = 450
const MUTED_KEY = 'spool.feedMuted'

function slideFor(v, index, total) {
  const poster = v.covers ? h('img', { class: 'feed-poster', src: v.covers['640'], alt: '', loading: index < 3 ? 'eager' : 'lazy', decoding: 'async' }) : null
  const stage = h('div', { class: 'feed-stage' }, poster)
  const progress = h('div', { class: 'feed-progress-fill' })
  return {
    video: v,
    stage,
    progress,
    el: h(
      'section',
      {
        class: 'feed-slide',
        dataset: { index, videoId: v.id },
        'aria-roledescription': 'slide',
        'aria-label': `${index + 1} of ${total}: ${v.title}`,
      },
      stage,
      h(
        'div',
        { class: 'feed-info' },
        h('h2', { class: 'feed-title' }, h('a', { href: watchHref(v.id) }, v.title)),
        h('p', { class: 'feed-meta' }, h('a', { class: 'feed-channel', href: channelHref(v.owner) }, v.owner), ' · ', formatCount(v.views, 'view'), ' · ', formatAge(v.created_at)),
      ),
      h('div', { class: 'feed-progress', 'aria-hidden': 'true' }, progress),
    ),
  }
}

export default async function feed(ctx) {
  ctx.setTitle('Feed')
  document.body.classList.add('is-feed')
  ctx.onCleanup(() => document.body.classList.remove('is-feed'))
  ctx.root.append(h('div', { class: 'page page-feed' }, spinner('Loading the feed')))

  let firstPage
  try {
    firstPage = await api.feed({ limit: PAGE, signal: ctx.signal })
  } catch (e) {
    if (e && e.name === 'AbortError') return
    ctx.root.replaceChildren(h('div', { class: 'page' }, errorBox(e, () => location.reload())))
    return
  }
  if (!ctx.isCurrent()) return
  const playable = (v) => v.hls_url && v.renditions && v.renditions.length
  /** Where each video came from (the recommender's source), by id. */
  const sources = new Map()
  const videosOf = (page) =>
    page.items.map((item) => {
      sources.set(item.video.id, item.source)
      return item.video
    })
  const videos = videosOf(firstPage).filter(playable)
  // The feed never ends while the recommender has something new; an empty page ends it.
  let cursor = firstPage.items.length ? firstPage.next_cursor : null
  if (!videos.length) {
    ctx.root.replaceChildren(h('div', { class: 'page' }, emptyState('Nothing to watch yet', 'Videos appear here once they are published.', h('a', { class: 'btn btn-primary', href: '/upload' }, 'Upload a video'))))
    return
  }

  const cache = new MediaCache()
  metrics.order.length = 0
  /** @type {ReturnType<typeof slideFor>[]} */
  const slides = []
  const track_ = h('div', { class: 'feed-track' })
  const viewport = h('div', { class: 'feed-viewport', tabindex: '0', 'aria-label': 'Video feed: use the arrow keys or swipe to move between videos', 'aria-roledescription': 'carousel' }, track_)
  let muted = (() => {
    try {
      return localStorage.getItem(MUTED_KEY) !== '0'
    } catch {
      return true
    }
  })()
  const muteBtn = h('button', { class: 'feed-btn feed-mute', type: 'button' })
  const unmuteHint = h('button', { class: 'feed-unmute', type: 'button' }, icon(ICONS.muted), h('span', null, 'Tap to unmute'))
  const prevBtn = h('button', { class: 'feed-btn', type: 'button', 'aria-label': 'Previous video (k)' }, icon(ICONS.chevronUp))
  const nextBtn = h('button', { class: 'feed-btn', type: 'button', 'aria-label': 'Next video (j)' }, icon(ICONS.chevronDown))
  const openLink = h('a', { class: 'feed-btn feed-open', href: '#', 'aria-label': 'Open on the watch page' }, icon(ICONS.fullscreen))
  const refuseBtn = h('button', { class: 'feed-btn feed-refuse', type: 'button', 'aria-label': 'Not interested (n)', title: 'Not interested' }, '×')
  const controls = h('div', { class: 'feed-controls' }, prevBtn, nextBtn, muteBtn, openLink, refuseBtn)
  const live = h('p', { class: 'sr-only', 'aria-live': 'polite' })
  ctx.root.replaceChildren(h('div', { class: 'page page-feed' }, viewport, unmuteHint, controls, live))

  const addSlides = (list) => {
    for (const v of list) {
      const slide = slideFor(v, slides.length, 0)
      slides.push(slide)
      track_.append(slide.el)
      metrics.order.push(v.id)
    }
    slides.forEach((s, i) => s.el.setAttribute('aria-label', `${i + 1} of ${slides.length}: ${s.video.title}`))
  }
  addSlides(videos)

  let loadingMore = false
  const loadMore = async () => {
    if (loadingMore || !cursor) return
    loadingMore = true
    try {
      const page = await api.feed({ limit: PAGE, cursor, signal: ctx.signal })
      cursor = page.items.length ? page.next_cursor : null
      const known = new Set(slides.map((s) => s.video.id))
      addSlides(videosOf(page).filter((v) => playable(v) && !known.has(v.id)))
    } catch {
      /* try again on the next move */
    } finally {
      loadingMore = false
    }
  }

  // ---- the current video
  let index = -1
  let active = null // {slide, hls, video, telemetry, startedAt}
  let lastMoveAt = 0

  const setMuted = (m) => {
    muted = m
    try {
      localStorage.setItem(MUTED_KEY, m ? '1' : '0')
    } catch {
      /* ignore */
    }
    if (active) active.core.video.muted = m
    muteBtn.replaceChildren(icon(m ? ICONS.muted : ICONS.volume))
    muteBtn.setAttribute('aria-label', m ? 'Unmute (m)' : 'Mute (m)')
    unmuteHint.hidden = !m
  }

  const deactivate = (reason) => {
    if (!active) return
    const { slide, core, startedAt } = active
    const video = core.video
    const watched = video.currentTime || 0
    const duration = video.duration || slide.video.duration_s || 0
    core.destroy()
    if (reason !== 'leave' || duration === 0 || watched < duration * 0.9) {
      track('skip', {
        video_id: slide.video.id,
        position_s: watched,
        properties: { surface: 'feed', watched_s: Math.round(watched * 10) / 10, duration_s: duration, dwell_ms: Math.round(performance.now() - startedAt), index: slide.el.dataset.index },
      })
    }
    core.root.remove()
    slide.el.classList.remove('is-current', 'is-playing')
    active = null
  }

  const schedulePrefetch = (from) => {
    for (let i = from + 1; i <= from + PREFETCH_AHEAD && i < slides.length; i++) {
      const v = slides[i].video
      if (!cache.has(v.id)) {
        // One after the other, so the nearest one is ready first.
        const previous = i > from + 1 ? cache.info(slides[i - 1].video.id)?.promise : null
        if (previous) previous.finally(() => ctx.isCurrent() && index === from && cache.prefetch(v))
        else cache.prefetch(v)
      }
    }
    // Forget what is no longer ahead.
    for (const id of [...cache.videos.keys()]) {
      const at = slides.findIndex((s) => s.video.id === id)
      if (at < from || at > from + PREFETCH_AHEAD) cache.drop(id)
    }
  }

  const activate = async (next, reason) => {
    if (next < 0 || next >= slides.length || next === index) return
    const t0 = performance.now()
    if (reason !== 'initial') metrics.swipes += 1
    deactivate(reason === 'initial' ? 'initial' : 'leave')
    index = next
    track_.style.transform = `translate3d(0, ${-index * 100}%, 0)`
    const slide = slides[index]
    const v = slide.video
    metrics.current = v.id
    openLink.setAttribute('href', watchHref(v.id))
    prevBtn.disabled = index === 0
    nextBtn.disabled = index === slides.length - 1 && !cursor
    live.textContent = `Video ${index + 1} of ${slides.length}: ${v.title}`
    slide.el.classList.add('is-current')

    // A prefetch still in flight for this video is the fastest way to its start: let it land.
    const pending = cache.info(v.id)
    const prefetched = Boolean(pending && pending.done)
    if (pending && !pending.done) await Promise.race([pending.promise.catch(() => {}), new Promise((r) => setTimeout(r, 2500))])
    if (!ctx.isCurrent() || index !== next) return
    metrics.coldStart[v.id] = !(pending && pending.done)

    const video = /** @type {HTMLVideoElement} */ (h('video', { class: 'feed-video', playsinline: true, loop: true, muted, preload: 'auto', 'aria-label': v.title }))
    video.muted = muted
    video.defaultMuted = muted
    if (v.covers) video.poster = v.covers['640']
    const core = createPlayerCore({ src: v.hls_url, videoId: v.id, surface: 'feed', video, className: 'feed-player', startedAt: t0, ...feedHlsOptions(v, cache) })
    slide.stage.append(core.root)
    core.on('frame', (m) => {
      if (metrics.firstFrameMs[v.id] === undefined) metrics.firstFrameMs[v.id] = m.loadToFirstFrameMs
    })
    core.on('level', ({ level }) => {
      if (metrics.startLevel[v.id] === undefined) metrics.startLevel[v.id] = levelName(level)
    })
    core.on('fatal', () => slide.el.classList.add('has-error'))
    core.on('muted', () => setMuted(true))
    active = { slide, core, startedAt: t0 }
    window.__spoolFeedPlayer = {
      get hls() {
        return core.hls
      },
      video,
      id: v.id,
      startedAt: t0,
    }
    track('impression', { video_id: v.id, position_s: 0, properties: { surface: 'feed', index, position: index, source: sources.get(v.id) ?? null, prefetched, reason } })

    video.addEventListener('playing', () => slide.el.classList.add('is-playing'))
    video.addEventListener('timeupdate', () => {
      const d = video.duration
      if (d) slide.progress.style.width = `${(video.currentTime / d) * 100}%`
    })
    // Prefetch the next ones once this one is on screen (do not compete with its start).
    let prefetchStarted = false
    const startPrefetch = () => {
      if (prefetchStarted || !ctx.isCurrent() || index !== next) return
      prefetchStarted = true
      schedulePrefetch(next)
    }
    video.addEventListener('playing', startPrefetch, { once: true })
    setTimeout(startPrefetch, 2000)
    core.play()
    if (index >= slides.length - 3) loadMore()
  }

  const move = (delta, reason) => {
    const now = performance.now()
    if (now - lastMoveAt < MOVE_COOLDOWN_MS && reason !== 'button') return
    const target = index + delta
    if (target < 0 || target >= slides.length) {
      if (delta > 0) loadMore()
      bounce(delta)
      return
    }
    lastMoveAt = now
    activate(target, reason)
  }
  const bounce = (delta) => {
    viewport.classList.remove('bounce-up', 'bounce-down')
    void viewport.offsetWidth
    viewport.classList.add(delta > 0 ? 'bounce-down' : 'bounce-up')
  }

  const togglePlay = () => {
    if (active) active.core.togglePlay()
  }

  // ---- input
  const onKey = (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || isTypingTarget(e.target)) return
    const onControl = e.target instanceof Element && e.target.closest('button, a')
    switch (e.key) {
      case 'ArrowDown':
      case 'j':
      case 'J':
      case 'PageDown':
        e.preventDefault()
        move(1, 'key')
        break
      case 'ArrowUp':
      case 'k':
      case 'K':
      case 'PageUp':
        e.preventDefault()
        move(-1, 'key')
        break
      case ' ':
        if (onControl) return
        e.preventDefault()
        togglePlay()
        break
      case 'm':
      case 'M':
        setMuted(!muted)
        break
      case 'n':
      case 'N':
        refuse()
        break
      default:
    }
  }
  document.addEventListener('keydown', onKey)
  ctx.onCleanup(() => document.removeEventListener('keydown', onKey))

  let wheelSum = 0
  let wheelTimer = 0
  viewport.addEventListener(
    'wheel',
    (e) => {
      e.preventDefault()
      wheelSum += e.deltaY
      clearTimeout(wheelTimer)
      wheelTimer = setTimeout(() => (wheelSum = 0), 200)
      if (Math.abs(wheelSum) >= WHEEL_THRESHOLD) {
        move(wheelSum > 0 ? 1 : -1, 'wheel')
        wheelSum = 0
      }
    },
    { passive: false },
  )

  // Pointer drag (touch and mouse): the track follows the finger, then settles.
  let drag = null
  viewport.addEventListener('pointerdown', (e) => {
    if (e.button !== 0 || (e.target instanceof Element && e.target.closest('a, button'))) return
    drag = { id: e.pointerId, y: e.clientY, t: performance.now(), dy: 0 }
    viewport.setPointerCapture(e.pointerId)
    track_.classList.add('is-dragging')
  })
  viewport.addEventListener('pointermove', (e) => {
    if (!drag || e.pointerId !== drag.id) return
    drag.dy = e.clientY - drag.y
    const height = viewport.clientHeight || 1
    const atEdge = (index === 0 && drag.dy > 0) || (index === slides.length - 1 && drag.dy < 0)
    const dy = atEdge ? drag.dy / 3 : drag.dy
    track_.style.transform = `translate3d(0, calc(${-index * 100}% + ${(dy / height) * 100}%), 0)`
  })
  const endDrag = (e) => {
    if (!drag || e.pointerId !== drag.id) return
    const { dy, t } = drag
    drag = null
    track_.classList.remove('is-dragging')
    const height = viewport.clientHeight || 1
    const velocity = Math.abs(dy) / Math.max(1, performance.now() - t)
    if (Math.abs(dy) > height * 0.15 || (Math.abs(dy) > 30 && velocity > 0.5)) {
      lastMoveAt = 0
      const before = index
      move(dy < 0 ? 1 : -1, 'swipe')
      if (index === before) track_.style.transform = `translate3d(0, ${-index * 100}%, 0)`
    } else {
      track_.style.transform = `translate3d(0, ${-index * 100}%, 0)`
      if (Math.abs(dy) < 8 && e.type === 'pointerup') {
        // A tap: unmute first, then play/pause.
        if (muted) setMuted(false)
        else togglePlay()
      }
    }
  }
  viewport.addEventListener('pointerup', endDrag)
  viewport.addEventListener('pointercancel', endDrag)

  // "Not interested": the recommender hears it at once, and the feed moves on.
  const refuse = () => {
    if (!active) return
    const id = active.slide.video.id
    api.notInterested(id).catch(() => {
      /* a refusal that did not reach the server is only lost, never wrong */
    })
    move(1, 'button')
  }
  refuseBtn.addEventListener('click', refuse)
  prevBtn.addEventListener('click', () => move(-1, 'button'))
  nextBtn.addEventListener('click', () => move(1, 'button'))
  muteBtn.addEventListener('click', () => setMuted(!muted))
  unmuteHint.addEventListener('click', () => setMuted(false))

  ctx.onCleanup(() => {
    deactivate('leave')
    for (const id of [...cache.videos.keys()]) cache.drop(id)
  })

  setMuted(muted)
  viewport.focus({ preventScroll: true })
  activate(0, 'initial')
}
