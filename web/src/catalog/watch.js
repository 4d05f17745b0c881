// The watch page (`/watch/:id`): the player (player/controls.js over the player core), title,
// channel (with its Follow button), likes, Report, description, comments and related videos; a processing box until the video is playable,
// and, while processing goes on, a ladder reload when more renditions are published. A held video (which only its owner and
// admins are shown) carries the reason it is held.

import { h, icon, ICONS, formatAge, formatCount, formatDate, formatDuration } from '../dom.js'
import { api, ApiError, currentUser, messageOf } from '../api.js'
import { channelHref, watchHref, coverImage, errorBox, spinner } from '../components.js'
import { createPlayer } from '../player/controls.js'
import { watchProcessing } from './processing.js'
import { track } from '../events/telemetry.js'
import { renderNotFound } from '../notfound.js'
import { mountDanmaku } from '../interact/danmaku.js'
import { giftPanel } from '../gifts/panel.js'
import { commentSection } from '../interact/comments.js'
import { followButton } from '../interact/follows.js'
import { heldNotice } from '../moderation/held.js'
import { reportControl } from '../moderation/report.js'

function relatedItem(v) {
  const href = watchHref(v.id)
  return h(
    'li',
    { class: 'related-item', dataset: { videoId: v.id } },
    h('a', { class: 'related-thumb', href, tabindex: '-1', 'aria-hidden': 'true' }, coverImage(v, '168px'), v.duration_s ? h('span', { class: 'duration' }, formatDuration(v.duration_s)) : null),
    h(
      'div',
      { class: 'related-body' },
      h('a', { class: 'related-title', href }, v.title),
      h('a', { class: 'related-channel', href: channelHref(v.owner) }, v.owner),
      h('p', { class: 'related-meta' }, formatCount(v.views, 'view'), ' · ', formatAge(v.created_at)),
    ),
  )
}

function likeButton(ctx, v) {
  const user = currentUser()
  const count = h('span', { class: 'like-count' }, formatCount(v.likes, 'like'))
  if (!user) {
    return h(
      'a',
      { class: 'btn btn-ghost like-btn', href: `/signin?next=${encodeURIComponent(location.pathname)}`, title: 'Sign in to like this video' },
      icon(ICONS.heart),
      count,
    )
  }
  let liked = Boolean(v.liked)
  let likes = v.likes
  const btn = h('button', { class: 'btn btn-ghost like-btn', type: 'button', 'aria-pressed': String(liked), 'aria-label': liked ? 'Unlike' : 'Like' }, icon(ICONS.heart), count)
  const render = () => {
    btn.setAttribute('aria-pressed', String(liked))
    btn.setAttribute('aria-label', `${liked ? 'Unlike' : 'Like'} (${formatCount(likes, 'like')})`)
    count.textContent = formatCount(likes, 'like')
  }
  render()
  btn.addEventListener('click', async () => {
    btn.disabled = true
    const want = !liked
    // Optimistic: flip at once, settle with the server's answer.
    liked = want
    likes += want ? 1 : -1
    render()
    try {
      const result = want ? await api.like(v.id) : await api.unlike(v.id)
      liked = result.liked
      likes = result.likes
      track(want ? 'like' : 'unlike', { video_id: v.id, position_s: window.__spoolPlayer?.video?.currentTime ?? null, properties: { surface: 'watch' } })
    } catch (e) {
      liked = !want
      likes += want ? -1 : 1
      btn.title = messageOf(e)
    } finally {
      btn.disabled = false
      if (ctx.isCurrent()) render()
    }
  })
  return btn
}

/**
 * Where a signed-in viewer left off in `v` (their watch history), or -1: not when the URL
 * names a start (`?t=`), nor in the first or last 10 seconds.
 */
async function resumePosition(v, ctx) {
  if (ctx.query.has('t') || !currentUser() || !v.duration_s) return -1
  try {
    const { history } = await api.history({ signal: ctx.signal })
    const entry = history.find((e) => e.video_id === v.id)
    if (entry && entry.position_s >= 10 && entry.position_s <= v.duration_s - 10) return entry.position_s
  } catch {
    // The history only saves a viewer some seeking; the page works without it.
  }
  return -1
}

export default async function watch(ctx) {
  const id = ctx.params.id
  ctx.root.append(spinner('Loading video'))
  let v
  try {
    v = await api.video(id, { signal: ctx.signal })
  } catch (e) {
    if (!ctx.isCurrent()) return
    if (e instanceof ApiError && e.status === 404) return renderNotFound(ctx, 'video')
    ctx.root.replaceChildren(errorBox(e, () => location.reload()))
    return
  }
  if (!ctx.isCurrent()) return
  ctx.setTitle(v.title)
  const resumeAt = await resumePosition(v, ctx)
  if (!ctx.isCurrent()) return

  const playerSlot = h('div', { class: 'player-slot' })
  const related = h('ol', { class: 'related-list' })
  const tags = v.tags && v.tags.length ? h('ul', { class: 'chips', 'aria-label': 'Tags' }, v.tags.map((t) => h('li', { class: 'chip' }, t))) : null
  const me = currentUser()
  const mine = me && (me.name === v.owner || me.is_admin)
  const details = h(
    'section',
    { class: 'watch-details' },
    heldNotice(v),
    h('h1', { class: 'watch-title' }, v.title),
    h(
      'div',
      { class: 'watch-row' },
      h(
        'div',
        { class: 'watch-channel' },
        h('div', { class: 'avatar', 'aria-hidden': 'true' }, (v.owner[0] || '?').toUpperCase()),
        h('div', null, h('a', { class: 'watch-owner', href: channelHref(v.owner) }, v.owner), h('p', { class: 'watch-stats' }, formatCount(v.views, 'view'), ' · ', h('time', { datetime: v.created_at, title: formatDate(v.created_at) }, formatAge(v.created_at)))),
      ),
      h('div', { class: 'watch-actions' }, followButton(v.owner), likeButton(ctx, v), mine ? h('a', { class: 'btn btn-ghost', href: '/studio' }, 'Edit in Studio') : reportControl({ kind: 'video', id: v.id, subject: v.title, signedOut: 'link' })),
    ),
    v.description || tags
      ? h('div', { class: 'watch-description' }, v.description ? h('p', { class: 'description' }, v.description) : null, v.category ? h('p', { class: 'category' }, 'Category: ', v.category) : null, tags)
      : null,
  )
  ctx.root.replaceChildren(
    h(
      'div',
      { class: 'page page-watch' },
      h('div', { class: 'watch-layout' }, h('div', { class: 'watch-main' }, playerSlot, details, giftPanel(ctx, { video_id: v.id }, v.owner), commentSection(ctx, v)), h('aside', { class: 'watch-related', 'aria-label': 'Related videos' }, h('h2', { class: 'side-title' }, 'Up next'), related)),
    ),
  )

  const mountPlayer = (meta) => {
    const start = Number(ctx.query.get('t'))
    const startPosition = Number.isFinite(start) && start > 0 ? start : resumeAt
    const player = createPlayer(meta, { startPosition })
    playerSlot.replaceChildren(player.el)
    const danmaku = mountDanmaku(player.core, { videoId: meta.id })
    playerSlot.append(danmaku.controls)
    ctx.onCleanup(danmaku.destroy)
    if (resumeAt > 0 && startPosition === resumeAt) {
      const again = h('button', { class: 'btn btn-ghost btn-sm', type: 'button' }, 'Start over')
      const note = h('p', { class: 'resume-note', role: 'status' }, `Resuming where you left off, at ${formatDuration(resumeAt)}. `, again)
      again.addEventListener('click', () => {
        player.seek(0)
        note.remove()
      })
      playerSlot.append(note)
    }
    window.__spoolPlayer = {
      get hls() {
        return player.hls
      },
      video: player.video,
      metrics: player.metrics,
      stats: player.stats,
      seek: player.seek,
      play: player.play,
    }
    ctx.onCleanup(() => {
      player.destroy()
      if (window.__spoolPlayer && window.__spoolPlayer.video === player.video) window.__spoolPlayer = undefined
    })
    if (!meta.processing_complete) followLadder(meta, player)
  }

  /**
   * Opened while the video is still processing: when more renditions are published (or the
   * ladder completes), reload the master playlist at the current position, so Auto can climb
   * to the renditions that did not exist when the page loaded.
   */
  const followLadder = (meta, player) => {
    let loaded = meta.renditions.length
    // The growing master playlist may be cached for 2 s: a reload that still sees the old
    // ladder tries again a little later.
    let retries = 0
    let retryTimer = 0
    const offManifest = player.core.on('manifest', (levels) => {
      if (player.core.metrics.reloads === 0 || levels.length >= loaded || retries >= 3) return
      retries += 1
      retryTimer = window.setTimeout(() => ctx.isCurrent() && player.reload(), 2500)
    })
    const stop = watchProcessing(meta.id, {
      render: (state) => {
        const published = state.renditions ? state.renditions.length : 0
        if (state.status === 'failed' || published <= loaded || !ctx.isCurrent()) return
        loaded = published
        retries = 0
        player.reload()
      },
    })
    ctx.onCleanup(() => {
      stop()
      offManifest()
      clearTimeout(retryTimer)
    })
  }

  if (v.hls_url && v.renditions.length) {
    mountPlayer(v)
  } else if (v.status === 'held') {
    // Nothing to play and nothing to wait for until a moderator decides.
    playerSlot.replaceChildren(h('div', { class: 'player player-pending' }, v.cover_url ? coverImage(v, '100vw') : null, h('div', { class: 'processing-box', role: 'status' }, h('p', { class: 'processing-title' }, 'Held for review'), h('p', { class: 'processing-note' }, 'It plays here once a moderator approves it.'))))
  } else {
    // Not playable yet: show progress until the first renditions are published.
    const box = h('div', { class: 'processing-box', role: 'status' })
    playerSlot.replaceChildren(h('div', { class: 'player player-pending' }, v.cover_url ? coverImage(v, '100vw') : null, box))
    const stop = watchProcessing(v.id, {
      render: (state) => {
        box.replaceChildren(
          h('p', { class: 'processing-title' }, state.status === 'failed' ? 'Processing failed' : state.status === 'uploading' ? 'Upload not finished' : 'Processing…'),
          state.status === 'failed'
            ? h('p', { class: 'processing-error' }, state.error || 'Unknown error', mine ? h('span', null, ' — ', h('a', { href: '/studio' }, 'retry in Studio')) : null)
            : h('div', { class: 'bar', role: 'progressbar', 'aria-label': 'Processing', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(state.progress) }, barFill(state.progress)),
          state.status === 'failed' ? null : h('p', { class: 'processing-note' }, `${state.progress}% — this page will start the video as soon as it can be played.`),
        )
      },
      onPlayable: async () => {
        try {
          const fresh = await api.video(id, { signal: ctx.signal })
          if (ctx.isCurrent() && fresh.hls_url && fresh.renditions.length) {
            stop()
            mountPlayer(fresh)
          }
        } catch (e) {
          if (e && e.name !== 'AbortError') box.append(h('p', { class: 'processing-error' }, messageOf(e)))
        }
      },
    })
    ctx.onCleanup(stop)
  }

  try {
    const page = await api.related(id, { signal: ctx.signal })
    if (!ctx.isCurrent()) return
    if (page.videos.length) related.replaceChildren(...page.videos.map(relatedItem))
    else related.replaceChildren(h('li', { class: 'muted' }, 'Nothing related yet.'))
  } catch (e) {
    if (e && e.name === 'AbortError') return
    if (ctx.isCurrent()) related.replaceChildren(h('li', { class: 'muted' }, 'Related videos could not be loaded.'))
  }
}

function barFill(percent) {
  const fill = h('div', { class: 'bar-fill' })
  fill.style.width = `${Math.max(0, Math.min(100, percent))}%`
  return fill
}
