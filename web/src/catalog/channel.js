// A channel page (`/c/:name`): the owner's public videos.

import { h, formatDate, formatCount } from '../dom.js'
import { api, ApiError, currentUser } from '../api.js'
import { infiniteGrid, emptyState, spinner, errorBox } from '../components.js'
import { renderNotFound } from '../notfound.js'
import { followButton } from '../interact/follows.js'

export default async function channel(ctx) {
  const name = ctx.params.name
  ctx.setTitle(name)
  ctx.root.append(spinner('Loading channel'))
  let info
  try {
    info = await api.channel(name, { signal: ctx.signal })
  } catch (e) {
    if (!ctx.isCurrent()) return
    if (e instanceof ApiError && e.status === 404) return renderNotFound(ctx, 'channel')
    ctx.root.replaceChildren(errorBox(e, () => location.reload()))
    return
  }
  if (!ctx.isCurrent()) return
  ctx.setTitle(info.name)
  const mine = currentUser()?.name === info.name
  const grid = infiniteGrid(ctx, (cursor, signal) => api.listVideos({ cursor, channel: info.name, signal }), {
    cardOptions: { showChannel: false },
    empty: emptyState(
      'No public videos',
      mine ? 'Videos you publish show up here.' : `${info.name} has not published anything yet.`,
      mine ? h('a', { class: 'btn btn-primary', href: '/upload' }, 'Upload a video') : null,
    ),
  })
  const initial = (info.name[0] || '?').toUpperCase()
  ctx.root.replaceChildren(
    h(
      'div',
      { class: 'page page-channel' },
      h(
        'header',
        { class: 'channel-head' },
        h('div', { class: 'avatar avatar-lg', 'aria-hidden': 'true' }, initial),
        h(
          'div',
          { class: 'channel-info' },
          h('h1', { class: 'channel-name' }, info.name),
          h(
            'p',
            { class: 'channel-meta' },
            h('span', { class: 'channel-count' }, formatCount(info.video_count, 'video')),
            h('span', { class: 'dot', 'aria-hidden': 'true' }, ' · '),
            h('span', null, 'Joined ', h('time', { datetime: info.created_at }, formatDate(info.created_at))),
          ),
        ),
        followButton(info.name, info),
        mine ? h('a', { class: 'btn btn-ghost', href: '/studio' }, 'Manage videos') : null,
      ),
      grid.el,
    ),
  )
}
