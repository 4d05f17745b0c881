// "Live now" on the home page: the public rooms on air, each a card with its live badge and
// viewer count, linking to the room. Nothing shows when nobody is live.

import { h, formatCount } from '../dom.js'
import { api } from '../api.js'

/** A room card. */
function roomCard(room) {
  return h(
    'li',
    { class: 'live-card', dataset: { roomId: room.id } },
    h(
      'a',
      { class: 'live-card-link', href: `/live/${room.id}` },
      h('span', { class: 'live-badge' }, 'LIVE'),
      h('span', { class: 'live-card-title' }, room.title),
      h('span', { class: 'live-card-meta' }, room.owner, ' · ', formatCount(room.viewers, 'viewer')),
    ),
  )
}

/**
 * The row; filled once the rooms are loaded (empty and hidden when none is live).
 * @param {{signal: AbortSignal, isCurrent: () => boolean}} ctx
 */
export function liveNowRow(ctx) {
  const list = h('ul', { class: 'live-now-list' })
  const row = h('section', { class: 'live-now', hidden: true, 'aria-label': 'Live now' }, h('h2', { class: 'side-title' }, 'Live now'), list)
  api
    .liveNow({ signal: ctx.signal })
    .then(({ rooms }) => {
      if (!ctx.isCurrent() || !rooms.length) return
      list.replaceChildren(...rooms.map(roomCard))
      row.hidden = false
    })
    .catch(() => {
      // The home page is the videos; live rooms are a bonus it can do without.
    })
  return row
}
