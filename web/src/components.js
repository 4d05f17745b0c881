// Pieces several pages share: video cards, the infinite grid, badges, empty states.

import { h, formatDuration, formatAge, formatCount, formatDate } from './dom.js'
import { messageOf } from './api.js'

export function watchHref(id) {
  return `/watch/${encodeURIComponent(id)}`
}

export function channelHref(name) {
  return `/c/${encodeURIComponent(name)}`
}

/** A cover <img> with srcset over the three cover widths, or a placeholder. */
export function coverImage(v, sizes = '(max-width: 640px) 100vw, 320px') {
  if (v.covers && v.covers['320']) {
    return h('img', {
      class: 'cover-img',
      src: v.covers['640'] || v.cover_url,
      srcset: `${v.covers['320']} 320w, ${v.covers['640']} 640w, ${v.covers['1280']} 1280w`,
      sizes,
      loading: 'lazy',
      decoding: 'async',
      alt: '',
    })
  }
  return h('div', { class: 'cover-placeholder', 'aria-hidden': 'true' }, h('span', null, statusText(v)))
}

export function statusText(v) {
  switch (v.status) {
    case 'uploading':
      return 'Uploading'
    case 'uploaded':
      return 'Queued'
    case 'processing':
      return `Processing ${v.progress}%`
    case 'ready':
      return v.processing_complete ? 'Ready' : 'Playable · finishing'
    case 'failed':
      return 'Failed'
    case 'held':
      return 'Held for review'
    default:
      return v.status || ''
  }
}

export function statusBadge(v) {
  const playable = v.renditions && v.renditions.length > 0
  const kind = v.status === 'failed' ? 'failed' : v.status === 'held' ? 'held' : v.status === 'ready' && v.processing_complete ? 'ready' : playable ? 'playable' : 'working'
  return h('span', { class: ['badge', `badge-${kind}`], dataset: { status: v.status } }, statusText(v))
}

export function visibilityBadge(v) {
  return h('span', { class: ['badge', `badge-vis-${v.visibility}`] }, v.visibility)
}

/** A card for grids: cover, duration, title, channel, views and age. */
export function videoCard(v, { showChannel = true } = {}) {
  const href = watchHref(v.id)
  const meta = [formatCount(v.views, 'view'), h('time', { datetime: v.created_at, title: formatDate(v.created_at) }, formatAge(v.created_at))]
  return h(
    'article',
    { class: 'card', dataset: { videoId: v.id } },
    h(
      'a',
      { class: 'card-thumb', href, tabindex: '-1', 'aria-hidden': 'true' },
      coverImage(v),
      v.duration_s ? h('span', { class: 'duration' }, formatDuration(v.duration_s)) : null,
    ),
    h(
      'div',
      { class: 'card-body' },
      h('h3', { class: 'card-title' }, h('a', { href, class: 'card-link' }, v.title)),
      showChannel ? h('a', { class: 'card-channel', href: channelHref(v.owner) }, v.owner) : null,
      h('p', { class: 'card-meta' }, meta[0], h('span', { class: 'dot', 'aria-hidden': 'true' }, ' · '), meta[1]),
    ),
  )
}

export function emptyState(title, text, action) {
  return h('div', { class: 'empty' }, h('h2', null, title), text ? h('p', null, text) : null, action || null)
}

export function errorBox(error, retry) {
  return h(
    'div',
    { class: 'notice notice-error', role: 'alert' },
    h('p', null, messageOf(error)),
    retry ? h('button', { class: 'btn', type: 'button', onclick: retry }, 'Try again') : null,
  )
}

export function spinner(label = 'Loading') {
  return h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', { class: 'sr-only' }, label))
}

/** Skeleton cards shown while the first page loads. */
export function skeletonGrid(n = 8) {
  return h('div', { class: 'grid', 'aria-hidden': 'true' }, Array.from({ length: n }, () => h('div', { class: 'card skeleton' }, h('div', { class: 'card-thumb' }), h('div', { class: 'sk-line' }), h('div', { class: 'sk-line short' }))))
}

/**
 * An infinitely scrolling grid: fetchPage(cursor, signal) → {videos, next_cursor}. The next page
 * loads when a sentinel below the grid comes near the viewport.
 * @param {any} ctx the page context (router.js)
 * @param {(cursor: string | null, signal: AbortSignal) => Promise<{videos: any[], next_cursor: string | null}>} fetchPage
 * @param {{empty?: Node, cardOptions?: {showChannel?: boolean}}} [opts]
 */
export function infiniteGrid(ctx, fetchPage, { empty, cardOptions } = {}) {
  const grid = h('div', { class: 'grid', role: 'list' })
  const sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' })
  const status = h('div', { class: 'grid-status' })
  const wrap = h('section', { class: 'grid-wrap', 'aria-busy': 'true' }, skeletonGrid(), grid, status, sentinel)
  let cursor = null
  let done = false
  let loading = false
  let count = 0
  const seen = new Set()

  const load = async () => {
    if (loading || done) return
    loading = true
    status.replaceChildren(count ? spinner('Loading more videos') : '')
    try {
      const page = await fetchPage(cursor, ctx.signal)
      if (!ctx.isCurrent()) return
      wrap.querySelector(':scope > .grid[aria-hidden]')?.remove()
      for (const v of page.videos) {
        if (seen.has(v.id)) continue
        seen.add(v.id)
        const card = videoCard(v, cardOptions)
        card.setAttribute('role', 'listitem')
        grid.append(card)
        count += 1
      }
      cursor = page.next_cursor
      done = !cursor
      status.replaceChildren()
      if (!count && done) status.replaceChildren(empty || emptyState('No videos yet', 'Nothing has been published here yet.'))
      wrap.setAttribute('aria-busy', 'false')
      loading = false
      // Keep going while the sentinel is still visible (tall screens, short pages).
      if (!done && nearViewport(sentinel)) queueMicrotask(load)
    } catch (e) {
      loading = false
      if (e && e.name === 'AbortError') return
      wrap.querySelector(':scope > .grid[aria-hidden]')?.remove()
      wrap.setAttribute('aria-busy', 'false')
      status.replaceChildren(errorBox(e, () => load()))
    }
  }

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) load()
  }, { rootMargin: '600px 0px' })
  observer.observe(sentinel)
  ctx.onCleanup(() => observer.disconnect())
  load()
  return { el: wrap, reload: load, count: () => count }
}

function nearViewport(el) {
  const rect = el.getBoundingClientRect()
  return rect.top < window.innerHeight + 600
}
