// What the admin pages share: who may see them, and a list of decisions (the audit).
//
// The server decides who is an admin (`401` without a session, `403 not_admin` otherwise): a
// signed-in user who is not one is told at once; anyone else is asked to sign in only when the
// server says so, so a client the server knows by other means (an API token) is served too.

import './moderation.css'
import { h, formatAge, formatDate } from '../dom.js'
import { ApiError, currentUser } from '../api.js'
import { emptyState } from '../components.js'
import { caseHref } from './client.js'

const ACTIONS = { hold: 'Held', approve: 'Approved', remove: 'Removed', ban: 'Banned' }

/**
 * Renders the page's refusal and returns true when the moderation pages are not for this
 * visitor: a signed-in non-admin, or the server's 401 / 403 answer `error`.
 * @param {any} ctx the page context
 * @param {unknown} [error]
 */
export function gate(ctx, error) {
  const user = currentUser()
  const status = error instanceof ApiError ? error.status : user && !user.is_admin ? 403 : 0
  if (status === 401) {
    const next = encodeURIComponent(location.pathname)
    ctx.root.replaceChildren(h('div', { class: 'page page-studio' }, h('div', { class: 'auth-card' }, h('h1', null, 'Moderation'), h('p', null, 'Sign in as an admin to review held videos.'), h('a', { class: 'btn btn-primary', href: `/signin?next=${next}` }, 'Sign in'))))
    return true
  }
  if (status === 403) {
    ctx.root.replaceChildren(h('div', { class: 'page' }, emptyState('Admins only', error instanceof ApiError ? error.message : 'The moderation queue is for admins.', h('a', { class: 'btn btn-primary', href: '/' }, 'Home'))))
    return true
  }
  return false
}

/**
 * Decisions, newest first as given: when, who (or the system), what, on which video, why.
 * @param {import('./client.js').Decision[]} decisions
 * @param {{withVideo?: boolean}} [opts]
 */
export function decisionList(decisions, { withVideo = true } = {}) {
  return h('ol', { class: 'mod-audit' }, decisions.map((d) => decisionItem(d, withVideo)))
}

/** @param {import('./client.js').Decision} d @param {boolean} withVideo */
export function decisionItem(d, withVideo = true) {
  // A removed video has no case any more: its title only.
  const video = d.action === 'remove' || d.action === 'ban' ? h('span', { class: 'mod-audit-video' }, d.video_title) : h('a', { class: 'mod-audit-video', href: caseHref(d.video_id) }, d.video_title)
  return h(
    'li',
    { class: ['mod-audit-item', `mod-action-${d.action}`], dataset: { action: d.action, videoId: d.video_id, decisionId: d.id } },
    h('span', { class: ['badge', `badge-action-${d.action}`] }, ACTIONS[d.action] || d.action),
    ' ',
    withVideo ? [video, ' '] : null,
    h('span', { class: 'mod-audit-actor' }, d.actor ? `by ${d.actor}` : 'by the system'),
    ' · ',
    h('time', { class: 'muted', datetime: d.created_at, title: formatDate(d.created_at) }, formatAge(d.created_at)),
    h('p', { class: 'mod-audit-reason' }, d.reason),
  )
}
