// The moderation API (docs/moderation.md): the admins' queue, cases, decisions, hash lists,
// matching and audit, and everyone's reports. Errors are the common envelope, thrown as
// ApiError by api.js.

import { request, get } from '../api.js'

const enc = encodeURIComponent

/**
 * @typedef {{id: string, video_id: string, video_title: string, actor: string | null,
 *   action: 'hold' | 'approve' | 'remove' | 'ban', reason: string, created_at: string}} Decision
 * @typedef {{at_s: number, frame_hash: string, entry_hash: string, distance: number, frame_url?: string | null}} MatchPair
 *   (no `frame_url`: the frame's picture was not kept)
 * @typedef {{list: string, label: string | null, query_share: number, compared_share: number, pairs: MatchPair[]}} CaseMatch
 *   (shares: percentages 0-100)
 * @typedef {{video: {id: string, title: string, owner: string, status: string, hold_reason: string | null,
 *   cover_url?: string | null, duration_s: number | null}, held_at: string | null, reason: string | null, matches: CaseMatch[],
 *   reports: {reporter: string, reason: string, created_at: string}[], decisions: Decision[]}} Case
 * @typedef {{name: string, kind: 'pdq' | 'blake3', entries: number, created_at: string, created_by: string | null}} HashList
 * @typedef {{list: string, hash: string, label: string | null, distance: number}} HashMatch
 */

/** @param {Record<string, string | number | null | undefined>} params */
function qs(params) {
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') search.set(k, String(v))
  const s = search.toString()
  return s ? `?${s}` : ''
}

export const moderationApi = {
  /**
   * @param {{cursor?: string | null, limit?: number, signal?: AbortSignal}} [opts]
   * @returns {Promise<{items: Case[], next_cursor: string | null}>}
   */
  queue: ({ cursor, limit = 20, signal } = {}) => get(`/api/v1/moderation/queue${qs({ cursor, limit })}`, { signal }),
  /** @returns {Promise<Case>} */
  case: (id, opts) => get(`/api/v1/moderation/videos/${enc(id)}`, opts),
  /**
   * @param {string} id
   * @param {'approve' | 'remove' | 'ban'} action
   * @param {string} reason
   * @returns {Promise<{decision: Decision}>}
   */
  decide: (id, action, reason) => request('POST', `/api/v1/moderation/videos/${enc(id)}/decision`, { json: { action, reason } }),
  /**
   * @param {{cursor?: string | null, limit?: number, signal?: AbortSignal}} [opts]
   * @returns {Promise<{decisions: Decision[], next_cursor: string | null}>}
   */
  audit: ({ cursor, limit = 20, signal } = {}) => get(`/api/v1/moderation/audit${qs({ cursor, limit })}`, { signal }),
  /** @returns {Promise<{lists: HashList[]}>} */
  lists: (opts) => get('/api/v1/moderation/lists', opts),
  /**
   * Imports a list file (sent as it is, as text/plain) into list `name`, creating it.
   * @param {string} name
   * @param {'pdq' | 'blake3'} kind
   * @param {Blob} file
   * @returns {Promise<{list: HashList, imported: number, duplicates: number, held: string[]}>}
   */
  importList: (name, kind, file) => request('POST', `/api/v1/moderation/lists/${enc(name)}${qs({ kind })}`, { body: file, headers: { 'Content-Type': 'text/plain' } }),
  deleteList: (name) => request('DELETE', `/api/v1/moderation/lists/${enc(name)}`),
  /**
   * @param {string} hash
   * @param {number} maxDistance 0-31
   * @returns {Promise<{matches: HashMatch[]}>}
   */
  match: (hash, maxDistance) => request('POST', '/api/v1/moderation/match', { json: { hash, max_distance: maxDistance } }),
  /**
   * Any signed-in user: report a video, a comment or a danmaku (204).
   * @param {'video' | 'comment' | 'danmaku'} kind
   * @param {string} id
   * @param {string} reason
   */
  report: (kind, id, reason) => request('POST', '/api/v1/reports', { json: { kind, id, reason } }),
}

/** Admin paths. */
export const QUEUE_PATH = '/admin/moderation'
export const caseHref = (id) => `${QUEUE_PATH}/${enc(id)}`

// One line the queue shows after a decision sent the admin back to it.
let flash = ''
export function setFlash(text) {
  flash = text
}
export function takeFlash() {
  const text = flash
  flash = ''
  return text
}
