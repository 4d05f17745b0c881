// The live room page (`/live/:id`): the low-latency player (hls.js in LL mode over the player
// core, catching up by playing a little faster when it falls behind), a live badge that is
// also the live-edge button, a DVR scrub bar over what the broadcast keeps, the viewer count,
// and the overlay slot the danmaku layer fills. Before the broadcast starts the page waits for
// it; when it ends, it points at the recording.

import { h, formatCount } from '../dom.js'
import { api, ApiError } from '../api.js'
import { channelHref, watchHref, errorBox, spinner } from '../components.js'
import { createPlayerCore } from '../player/core.js'
import { renderNotFound } from '../notfound.js'
import { behindEdge } from './edge.js'
import { mountDanmaku } from '../interact/danmaku.js'
import { questionsPanel } from '../interact/questions.js'
import { giftPanel } from '../gifts/panel.js'

/** How often the room (status, viewers) is read again. */
const POLL_MS = 5000
/** Behind the live edge by more than this, the badge turns into "Go live". */
const EDGE_SLACK_S = 3

/** The hls.js settings of a live room. */
export const LIVE_HLS_CONFIG = {
  lowLatencyMode: true,
  // Catch up (up to 1.5x) instead of jumping when the player falls behind the target.
  maxLiveSyncPlaybackRate: 1.5,
  // What the viewer may scrub back over without reloading (the server keeps more).
  backBufferLength: 300,
  maxBufferLength: 10,
  maxMaxBufferLength: 20,
}

function badge() {
  return h('span', { class: 'live-badge' }, 'LIVE')
}

/** The player with its live controls. */
function livePlayer(ctx, room) {
  const core = createPlayerCore({
    src: room.hls_url,
    videoId: room.recording_id,
    surface: 'live',
    className: 'live-player',
    hlsConfig: LIVE_HLS_CONFIG,
    properties: { room_id: room.id },
  })
  const danmaku = mountDanmaku(core, { videoId: room.recording_id, roomId: room.id, live: true, latency: () => core.hls?.latency ?? null })
  const playBtn = h('button', { class: 'btn btn-ghost btn-sm', type: 'button', 'aria-label': 'Pause' }, 'Pause')
  const muteBtn = h('button', { class: 'btn btn-ghost btn-sm', type: 'button' }, 'Unmute')
  const edgeBtn = h('button', { class: 'live-edge is-live', type: 'button', title: 'Jump to the live edge' }, 'LIVE')
  const scrub = h('input', { class: 'live-scrub', type: 'range', min: '0', max: '0', step: '0.1', value: '0', 'aria-label': 'Seek back in the broadcast' })
  const behind = h('span', { class: 'live-behind', role: 'status' })
  const bar = h('div', { class: 'live-controls' }, playBtn, muteBtn, edgeBtn, scrub, behind)
  core.root.append(bar)
  core.video.muted = true

  const toEdge = () => {
    const edge = core.hls?.liveSyncPosition
    if (typeof edge === 'number' && Number.isFinite(edge)) core.video.currentTime = edge
    core.play()
  }
  edgeBtn.addEventListener('click', toEdge)
  playBtn.addEventListener('click', () => core.togglePlay())
  muteBtn.addEventListener('click', () => {
    core.video.muted = !core.video.muted
  })
  let scrubbing = false
  scrub.addEventListener('input', () => {
    scrubbing = true
    core.video.currentTime = Number(scrub.value)
  })
  scrub.addEventListener('change', () => {
    scrubbing = false
  })
  const update = () => {
    const video = core.video
    playBtn.textContent = video.paused ? 'Play' : 'Pause'
    playBtn.setAttribute('aria-label', video.paused ? 'Play' : 'Pause')
    muteBtn.textContent = video.muted ? 'Unmute' : 'Mute'
    const seekable = video.seekable
    if (seekable.length && !scrubbing) {
      scrub.min = String(seekable.start(0))
      scrub.max = String(seekable.end(seekable.length - 1))
      scrub.value = String(video.currentTime)
    }
    const late = behindEdge(core.hls?.liveSyncPosition, video.currentTime)
    const atEdge = late !== null && late <= EDGE_SLACK_S
    edgeBtn.classList.toggle('is-live', atEdge)
    edgeBtn.textContent = atEdge ? 'LIVE' : 'Go live'
    behind.textContent = late !== null && !atEdge ? `${Math.round(late)} s behind` : ''
  }
  const timer = window.setInterval(update, 500)
  let destroyed = false
  const destroy = () => {
    if (destroyed) return
    destroyed = true
    clearInterval(timer)
    danmaku.destroy()
    core.destroy()
  }
  ctx.onCleanup(destroy)
  core.play()
  window.__spoolLive = {
    get hls() {
      return core.hls
    },
    video: core.video,
    metrics: core.metrics,
  }
  return { root: core.root, controls: danmaku.controls, destroy }
}

export default async function room(ctx) {
  const id = ctx.params.id
  ctx.root.append(spinner('Loading the live room'))
  let r
  try {
    r = await api.liveRoom(id, { signal: ctx.signal })
  } catch (e) {
    if (!ctx.isCurrent()) return
    if (e instanceof ApiError && e.status === 404) return renderNotFound(ctx, 'live room')
    ctx.root.replaceChildren(errorBox(e, () => location.reload()))
    return
  }
  if (!ctx.isCurrent()) return
  ctx.setTitle(r.title)
  const stage = h('div', { class: 'player-slot live-stage' })
  // The danmaku bar goes under the stage, outside its fixed-ratio box.
  const danmakuSlot = h('div', { class: 'live-danmaku' })
  const liveBadge = badge()
  const viewers = h('span', { class: 'live-viewers' })
  const state = h('p', { class: 'live-state', role: 'status' })
  const qa = questionsPanel(r, ctx.signal)
  ctx.root.replaceChildren(
    h(
      'div',
      { class: 'page page-live' },
      stage,
      danmakuSlot,
      h(
        'section',
        { class: 'watch-details' },
        h('h1', { class: 'watch-title' }, liveBadge, ' ', r.title),
        h('p', { class: 'watch-stats' }, h('a', { class: 'watch-owner', href: channelHref(r.owner) }, r.owner), ' · ', viewers),
        state,
        r.description ? h('p', { class: 'description' }, r.description) : null,
      ),
      qa.el,
      giftPanel(ctx, { room_id: r.id }, r.owner),
    ),
  )
  ctx.onCleanup(qa.destroy)
  let player = null
  const show = (now) => {
    liveBadge.hidden = now.status !== 'live'
    viewers.textContent = now.status === 'live' ? formatCount(now.viewers, 'viewer') + ' watching' : ''
    if (now.status === 'live' && now.hls_url && !player) {
      state.textContent = ''
      player = livePlayer(ctx, now)
      stage.replaceChildren(player.root)
      danmakuSlot.replaceChildren(player.controls)
    } else if (now.status === 'ended') {
      if (player) {
        player.destroy()
        player = null
      }
      danmakuSlot.replaceChildren()
      stage.replaceChildren(h('div', { class: 'live-ended' }, h('p', null, 'This broadcast has ended.')))
      state.replaceChildren(now.video_id ? h('a', { class: 'btn btn-primary', href: watchHref(now.video_id) }, 'Watch the recording') : 'Nothing was recorded.')
    } else if (now.status === 'idle') {
      stage.replaceChildren(h('div', { class: 'live-ended' }, h('p', null, 'The broadcast has not started yet.')))
      state.textContent = 'This page starts playing when it does.'
    }
  }
  show(r)
  const timer = window.setInterval(async () => {
    try {
      const now = await api.liveRoom(id, { signal: ctx.signal })
      if (ctx.isCurrent()) show(now)
    } catch {
      // The next poll tries again; the player keeps playing meanwhile.
    }
  }, POLL_MS)
  ctx.onCleanup(() => clearInterval(timer))
}
