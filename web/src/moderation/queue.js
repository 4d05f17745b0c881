// The moderation queue (`/admin/moderation`, admins): the held videos, oldest hold first (title,
// owner, why, held since, reports) with "load more", each opening its case (case.js); the hash
// lists (lists.js); and the latest decisions (the audit).

import './moderation.css'
import { h, formatAge, formatDate, formatDuration } from '../dom.js'
import { channelHref, errorBox, spinner } from '../components.js'
import { moderationApi, caseHref, takeFlash } from './client.js'
import { gate, decisionItem } from './admin.js'
import { listsSection } from './lists.js'

/** @param {import('./client.js').Case} c */
function queueItem(c) {
  const v = c.video
  const href = caseHref(v.id)
  const reports = (c.reports || []).length
  return h(
    'li',
    { class: 'mod-queue-item', dataset: { videoId: v.id } },
    h(
      'a',
      { class: 'mod-queue-thumb', href, tabindex: '-1', 'aria-hidden': 'true' },
      v.cover_url ? h('img', { class: 'cover-img', src: v.cover_url, alt: '', loading: 'lazy', decoding: 'async' }) : h('div', { class: 'cover-placeholder' }, h('span', null, 'Held')),
      v.duration_s ? h('span', { class: 'duration' }, formatDuration(v.duration_s)) : null,
    ),
    h(
      'div',
      { class: 'mod-queue-body' },
      h('h3', { class: 'mod-queue-title' }, h('a', { href }, v.title)),
      h(
        'p',
        { class: 'mod-queue-meta' },
        h('a', { class: 'mod-queue-owner', href: channelHref(v.owner) }, v.owner),
        c.held_at ? [' · held ', h('time', { class: 'mod-queue-held', datetime: c.held_at, title: formatDate(c.held_at) }, formatAge(c.held_at))] : null,
        ' · ',
        h('span', { class: 'mod-queue-reports' }, reports === 1 ? '1 report' : `${reports} reports`),
      ),
      h('p', { class: 'mod-queue-reason' }, c.reason || v.hold_reason || ''),
    ),
    h('a', { class: 'btn btn-ghost btn-sm', href }, 'Review'),
  )
}

/**
 * A list paged by cursor with a "Load more" button: fetchPage(cursor) → {items, next}.
 * @template T
 * @param {any} ctx
 * @param {HTMLElement} list
 * @param {(cursor: string | null) => Promise<{items: T[], next: string | null}>} fetchPage
 * @param {(item: T) => HTMLElement} render
 * @param {{empty: string, more: string, onCount?: (n: number, done: boolean) => void}} text
 */
function pagedList(ctx, list, fetchPage, render, text) {
  const status = h('div', { class: 'grid-status' })
  let cursor = null
  let count = 0
  const load = async () => {
    status.replaceChildren(spinner())
    try {
      const page = await fetchPage(cursor)
      if (!ctx.isCurrent()) return
      list.append(...page.items.map(render))
      count += page.items.length
      cursor = page.next
      status.replaceChildren(
        !count ? h('p', { class: 'muted' }, text.empty) : '',
        cursor ? h('button', { class: 'btn btn-ghost mod-more', type: 'button', onclick: () => load() }, text.more) : '',
      )
      text.onCount?.(count, !cursor)
    } catch (e) {
      if (e && e.name === 'AbortError') return
      if (!count && gate(ctx, e)) return
      status.replaceChildren(errorBox(e, () => load()))
    }
  }
  const reload = () => {
    cursor = null
    count = 0
    list.replaceChildren()
    return load()
  }
  return { status, load, reload }
}

export default async function moderationQueue(ctx) {
  ctx.setTitle('Moderation')
  if (gate(ctx)) return
  const flash = takeFlash()
  const sub = h('p', { class: 'page-sub' })
  const queue = h('ol', { class: 'mod-queue', 'aria-label': 'Held videos' })
  const held = pagedList(
    ctx,
    queue,
    async (cursor) => {
      const page = await moderationApi.queue({ cursor, signal: ctx.signal })
      return { items: page.items, next: page.next_cursor }
    },
    queueItem,
    {
      empty: 'Nothing is held: the queue is empty.',
      more: 'Load more held videos',
      onCount: (n, done) => (sub.textContent = `${n}${done ? '' : '+'} held ${n === 1 ? 'video' : 'videos'}, oldest hold first`),
    },
  )
  const audit = h('ol', { class: 'mod-audit' })
  const decisions = pagedList(
    ctx,
    audit,
    async (cursor) => {
      const page = await moderationApi.audit({ cursor, signal: ctx.signal })
      return { items: page.decisions, next: page.next_cursor }
    },
    (d) => decisionItem(d),
    { empty: 'No decision yet.', more: 'Older decisions' },
  )
  const lists = listsSection(ctx, { onHeld: () => held.reload() })
  ctx.root.replaceChildren(
    h(
      'div',
      { class: 'page page-moderation mod-queue-page' },
      h('div', { class: 'page-head' }, h('div', null, h('h1', { class: 'page-title' }, 'Moderation'), sub)),
      flash ? h('p', { class: 'notice mod-flash', role: 'status' }, flash) : null,
      h('section', { class: 'mod-section', 'aria-labelledby': 'mod-held-title' }, h('h2', { class: 'side-title', id: 'mod-held-title' }, 'Held videos'), queue, held.status),
      lists.el,
      h('section', { class: 'mod-section', 'aria-labelledby': 'mod-audit-title' }, h('h2', { class: 'side-title', id: 'mod-audit-title' }, 'Recent decisions'), audit, decisions.status),
    ),
  )
  await held.load()
  // A 401/403 replaced the page: nothing more to ask the server.
  if (!ctx.isCurrent() || !queue.isConnected) return
  await Promise.all([lists.load(), decisions.load()])
}
