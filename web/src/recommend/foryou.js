// "For you" on the home page: the first page of this viewer's feed (GET /api/v1/feed), beside
// the latest videos. Each card shown is an impression (with its position) that the ranker
// learns from; a card's "Not interested" takes it away and tells the recommender.

import { h } from '../dom.js'
import { api } from '../api.js'
import { videoCard } from '../components.js'
import { track } from '../events/telemetry.js'

const COUNT = 8

/**
 * The row; filled once the feed answers (hidden when it has nothing).
 * @param {{signal: AbortSignal, isCurrent: () => boolean}} ctx
 */
export function forYouRow(ctx) {
  const list = h('div', { class: 'grid for-you-grid', role: 'list' })
  const row = h('section', { class: 'for-you', hidden: true, 'aria-label': 'For you' }, h('div', { class: 'page-head' }, h('h2', { class: 'page-title' }, 'For you'), h('a', { class: 'btn btn-ghost', href: '/feed' }, 'Open feed')), list)
  api
    .feed({ limit: COUNT, signal: ctx.signal })
    .then((page) => {
      if (!ctx.isCurrent() || !page.items.length) return
      list.replaceChildren(
        ...page.items.map((item, position) => {
          const card = videoCard(item.video)
          card.setAttribute('role', 'listitem')
          card.dataset.source = item.source
          const refuse = h('button', { class: 'card-refuse', type: 'button', title: 'Not interested', 'aria-label': `Not interested in ${item.video.title}` }, '×')
          refuse.addEventListener('click', async (e) => {
            e.preventDefault()
            refuse.disabled = true
            try {
              await api.notInterested(item.video.id)
              card.remove()
            } catch {
              refuse.disabled = false
            }
          })
          card.append(refuse)
          track('impression', { video_id: item.video.id, position_s: 0, properties: { surface: 'home', source: item.source, position } })
          return card
        }),
      )
      row.hidden = false
    })
    .catch(() => {
      // The latest videos below are the page; recommendations are a bonus it can do without.
    })
  return row
}
