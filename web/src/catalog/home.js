// The home page (`/`): live rooms on air, "Following" (signed in), "For you" (the viewer's feed), and the public videos,
// newest first, as an infinitely scrolling grid.

import { h } from '../dom.js'
import { api } from '../api.js'
import { infiniteGrid, emptyState } from '../components.js'
import { liveNowRow } from '../live/now.js'
import { forYouRow } from '../recommend/foryou.js'
import { followingRow } from '../interact/follows.js'

export default async function home(ctx) {
  ctx.setTitle('')
  const grid = infiniteGrid(ctx, (cursor, signal) => api.listVideos({ cursor, signal }), {
    empty: emptyState(
      'No videos yet',
      'Be the first to share something.',
      h('a', { class: 'btn btn-primary', href: '/upload' }, 'Upload a video'),
    ),
  })
  ctx.root.append(
    h('div', { class: 'page page-home' }, liveNowRow(ctx), followingRow(ctx), forYouRow(ctx), h('section', { class: 'latest', 'aria-label': 'Latest videos' }, h('div', { class: 'page-head' }, h('h1', { class: 'page-title' }, 'Latest videos')), grid.el)),
  )
}
