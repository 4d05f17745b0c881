// The Spool API (same origin, JSON). Errors come back as {"error":{"code","message"}} with a
// status; they are thrown as ApiError carrying both, plus Retry-After when the server sent it.
// Requests that change something carry the session's CSRF token in X-CSRF-Token.

import { getAnonymousId } from './events/telemetry.js'

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {number | null} [retryAfter] seconds
   */
  constructor(status, code, message, retryAfter = null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.retryAfter = retryAfter
  }
}

/** @type {{user: {name: string, is_admin: boolean} | null, csrf: string | null, loaded: boolean}} */
const session = {
  user: null,
  csrf: null,
  loaded: false,
}
const listeners = new Set()

export function currentUser() {
  return session.user
}

export function csrfToken() {
  return session.csrf
}

/** Calls fn(user) whenever who is signed in changes; returns an unsubscribe function. */
export function onAuthChange(fn) {
  listeners.add(fn)
  return () => listeners.delete(fn)
}

function setSession(json) {
  const before = session.user?.name ?? null
  session.user = json ? json.user : null
  session.csrf = json ? json.csrf_token : null
  session.loaded = true
  if ((session.user?.name ?? null) !== before) for (const fn of listeners) fn(session.user)
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

async function errorFrom(response) {
  let code = 'http_' + response.status
  let message = `The server answered ${response.status} ${response.statusText}`.trim()
  try {
    const body = await response.json()
    if (body && body.error) {
      code = body.error.code || code
      message = body.error.message || message
    }
  } catch {
    /* not JSON */
  }
  const retry = Number(response.headers.get('Retry-After'))
  return new ApiError(response.status, code, message, Number.isFinite(retry) && retry > 0 ? retry : null)
}

/**
 * request('GET', '/api/v1/videos') → parsed JSON (or null for 204).
 * opts: { json, body, headers, signal, retryCsrf }
 */
export async function request(method, path, opts = {}) {
  const headers = new Headers(opts.headers || {})
  let body = opts.body
  if (opts.json !== undefined) {
    headers.set('Content-Type', 'application/json')
    body = JSON.stringify(opts.json)
  }
  headers.set('Accept', 'application/json')
  if (UNSAFE.has(method) && session.csrf) headers.set('X-CSRF-Token', session.csrf)
  let response
  try {
    response = await fetch(path, { method, headers, body, credentials: 'same-origin', signal: opts.signal })
  } catch (e) {
    if (e && e.name === 'AbortError') throw e
    throw new ApiError(0, 'network', 'Could not reach the server. Check your connection and try again.')
  }
  if (!response.ok) {
    const error = await errorFrom(response)
    // The session changed under us (signed in or out in another tab): refresh it and retry once.
    if (error.code === 'csrf_failed' && opts.retryCsrf !== false && UNSAFE.has(method)) {
      await loadSession(true)
      return request(method, path, { ...opts, retryCsrf: false })
    }
    if (error.status === 401 && session.user && !path.startsWith('/api/v1/auth/')) setSession(null)
    throw error
  }
  if (response.status === 204) return null
  const type = response.headers.get('Content-Type') || ''
  return type.includes('json') ? response.json() : response.text()
}

export const get = (path, opts) => request('GET', path, opts)

/** Who is signed in (the server answers `{user: null}` for anonymous visitors). */
export async function loadSession(force = false) {
  if (session.loaded && !force) return session.user
  try {
    const json = await get('/api/v1/auth/session')
    setSession(json && json.user ? json : null)
  } catch (e) {
    session.loaded = true
    throw e
  }
  return session.user
}

export async function signUp(name, password) {
  const json = await request('POST', '/api/v1/auth/signup', { json: { name, password } })
  setSession(json)
  return json.user
}

export async function signIn(name, password) {
  const json = await request('POST', '/api/v1/auth/login', { json: { name, password } })
  setSession(json)
  return json.user
}

export async function signOut() {
  try {
    await request('POST', '/api/v1/auth/logout')
  } finally {
    setSession(null)
  }
}

function qs(params) {
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') search.set(k, v)
  const s = search.toString()
  return s ? `?${s}` : ''
}

const enc = encodeURIComponent

/** @typedef {{cursor?: string | null, limit?: number, channel?: string, signal?: AbortSignal}} PageOptions */

export const api = {
  /** @param {PageOptions} [opts] */
  listVideos: ({ cursor, limit = 24, channel, signal } = {}) =>
    get(`/api/v1/videos${qs({ limit, cursor, channel })}`, { signal }),
  /** @param {PageOptions} [opts] */
  myVideos: ({ cursor, limit = 50, signal } = {}) => get(`/api/v1/me/videos${qs({ limit, cursor })}`, { signal }),
  video: (id, opts) => get(`/api/v1/videos/${enc(id)}`, opts),
  related: (id, opts) => get(`/api/v1/videos/${enc(id)}/related${qs({ anonymous_id: getAnonymousId() })}`, opts),
  /** The feed for this viewer (signed in, or this browser's anonymous id). @param {PageOptions} [opts] */
  feed: ({ cursor, limit = 10, signal } = {}) =>
    get(`/api/v1/feed${qs({ limit, cursor, anonymous_id: getAnonymousId() })}`, { signal }),
  notInterested: (id) => request('POST', `/api/v1/videos/${enc(id)}/not-interested`, { json: { anonymous_id: getAnonymousId() } }),
  hideCreator: (id) => request('POST', `/api/v1/videos/${enc(id)}/hide-creator`, { json: { anonymous_id: getAnonymousId() } }),
  /** @param {{q: string, duration?: string, uploaded?: string, category?: string, limit?: number, offset?: number, signal?: AbortSignal}} opts */
  search: ({ q, duration, uploaded, category, limit = 20, offset, signal }) =>
    get(`/api/v1/search${qs({ q, duration, uploaded, category, limit, offset, anonymous_id: getAnonymousId() })}`, { signal }),
  suggest: (q, opts) => get(`/api/v1/search/suggest${qs({ q })}`, opts),
  updateVideo: (id, fields) => request('PATCH', `/api/v1/videos/${enc(id)}`, { json: fields }),
  deleteVideo: (id) => request('DELETE', `/api/v1/videos/${enc(id)}`),
  retry: (id) => request('POST', `/api/v1/videos/${enc(id)}/retry`),
  stats: (id) => get(`/api/v1/videos/${enc(id)}/stats`),
  history: (opts) => get('/api/v1/me/history', opts),
  like: (id) => request('PUT', `/api/v1/videos/${enc(id)}/like`),
  unlike: (id) => request('DELETE', `/api/v1/videos/${enc(id)}/like`),
  channel: (name, opts) => get(`/api/v1/channels/${enc(name)}`, opts),
  coverCandidates: (id) => get(`/api/v1/videos/${enc(id)}/cover/candidates`),
  chooseCover: (id, index) => request('POST', `/api/v1/videos/${enc(id)}/cover/candidates/${enc(index)}`),
  uploadCover: (id, file) =>
    request('PUT', `/api/v1/videos/${enc(id)}/cover`, {
      body: file,
      headers: { 'Content-Type': file.type || 'application/octet-stream' },
    }),
  eventsUrl: (id) => `/api/v1/videos/${enc(id)}/events`,
  liveNow: (opts) => get('/api/v1/live', opts),
  liveRoom: (id, opts) => get(`/api/v1/live/${enc(id)}`, opts),
  myRooms: (opts) => get('/api/v1/live/mine', opts),
  createRoom: (fields) => request('POST', '/api/v1/live', { json: fields }),
  rotateKey: (id) => request('POST', `/api/v1/live/${enc(id)}/key`),
  danmakuSlice: (id, fromMs, toMs) => get(`/api/v1/videos/${enc(id)}/danmaku${qs({ from_ms: fromMs, to_ms: toMs })}`),
  questions: (roomId, opts) => get(`/api/v1/live/${enc(roomId)}/questions`, opts),
  ask: (roomId, text) => request('POST', `/api/v1/live/${enc(roomId)}/questions`, { json: { text } }),
  vote: (id, on) => request(on ? 'PUT' : 'DELETE', `/api/v1/questions/${enc(id)}/vote`),
  pinQuestion: (id, on) => request(on ? 'PUT' : 'DELETE', `/api/v1/questions/${enc(id)}/pin`),
  answerQuestion: (id) => request('POST', `/api/v1/questions/${enc(id)}/answered`),
  removeQuestion: (id) => request('DELETE', `/api/v1/questions/${enc(id)}`),
}

/** A message for the user from any error. */
export function messageOf(error) {
  if (error instanceof ApiError) return error.message
  if (error && error.message) return error.message
  return String(error)
}
