// The home page (`/`): the public videos, newest first, as an infinitely scrolling grid.

import { h } from '../dom.js'
import { api } from '../api.js'
import { infiniteGrid, emptyState } from '../components.js'
import { liveNowRow } from '../live/now.js'

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
    h('div', { class: 'page page-home' }, liveNowRow(ctx), h('div', { class: 'page-head' }, h('h1', { class: 'page-title' }, 'Latest videos'), h('a', { class: 'btn btn-ghost', href: '/feed' }, 'Open feed')), grid.el),
  )
}
