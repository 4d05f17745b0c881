// The notice a held video carries on its watch page and in the studio. The server shows a held
// video only to its owner and to admins (404 for anyone else), so whoever gets one sees why.

import './moderation.css'
import { h } from '../dom.js'

/**
 * A notice for a held video, or null for any other.
 * @param {{status: string, hold_reason?: string | null}} v
 * @returns {HTMLElement | null}
 */
export function heldNotice(v) {
  if (v.status !== 'held') return null
  return h(
    'div',
    { class: 'notice notice-held', role: 'status' },
    h('p', null, h('strong', null, 'Held for review. '), 'Nobody else can see this video until a moderator has reviewed it; it is in no listing, feed or search result meanwhile.'),
    v.hold_reason ? h('p', { class: 'held-reason' }, 'Reason: ', h('span', { class: 'held-reason-text' }, v.hold_reason)) : null,
  )
}
