// The search page (`/search?q=…`): results from GET /api/v1/search with the duration and
// upload-date filters, suggestions as you type (GET /api/v1/search/suggest), and each search
// a `search` tracking event.

import { h } from '../dom.js'
import { api } from '../api.js'
import { videoCard, emptyState, errorBox, spinner } from '../components.js'
import { track } from '../events/telemetry.js'
import { navigate } from '../router.js'

const DURATIONS = [
  ['', 'Any length'],
  ['short', 'Under 4 minutes'],
  ['medium', '4–20 minutes'],
  ['long', 'Over 20 minutes'],
]
const UPLOADED = [
  ['', 'Any time'],
  ['hour', 'Last hour'],
  ['day', 'Today'],
  ['week', 'This week'],
  ['month', 'This month'],
  ['year', 'This year'],
]

function select(name, options, value) {
  return h(
    'select',
    { name, class: 'search-filter', 'aria-label': name === 'duration' ? 'Length' : 'Upload date' },
    options.map(([v, label]) => h('option', { value: v, selected: v === value ? true : undefined }, label)),
  )
}

/** The URL of a search. */
export function searchHref(q, filters = {}) {
  const params = new URLSearchParams({ q })
  for (const [k, v] of Object.entries(filters)) if (v) params.set(k, v)
  return `/search?${params}`
}

/**
 * A search box with suggestions (the top bar's).
 * @param {string} [initial]
 */
export function searchBox(initial = '') {
  const input = /** @type {HTMLInputElement} */ (h('input', { class: 'search-input', type: 'search', name: 'q', value: initial, placeholder: 'Search', 'aria-label': 'Search videos', autocomplete: 'off', maxlength: '200', list: 'search-suggestions' }))
  const list = h('datalist', { id: 'search-suggestions' })
  const form = h('form', { class: 'search-form', role: 'search' }, input, list, h('button', { class: 'btn btn-ghost search-go', type: 'submit' }, 'Search'))
  let timer = 0
  let controller = null
  input.addEventListener('input', () => {
    clearTimeout(timer)
    const q = input.value.trim()
    if (!q) return list.replaceChildren()
    timer = setTimeout(async () => {
      controller?.abort()
      controller = new AbortController()
      try {
        const { suggestions } = await api.suggest(q, { signal: controller.signal })
        list.replaceChildren(...suggestions.map((s) => h('option', { value: s.text })))
      } catch {
        /* suggestions are a convenience */
      }
    }, 150)
  })
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const q = input.value.trim()
    if (q) navigate(searchHref(q))
  })
  return form
}

export default async function search(ctx) {
  const params = new URLSearchParams(location.search)
  const q = (params.get('q') || '').trim()
  const duration = params.get('duration') || ''
  const uploaded = params.get('uploaded') || ''
  ctx.setTitle(q ? `${q} — search` : 'Search')
  const filters = h('form', { class: 'search-filters' }, select('duration', DURATIONS, duration), select('uploaded', UPLOADED, uploaded))
  filters.addEventListener('change', () => {
    const data = new FormData(filters)
    navigate(searchHref(q, { duration: String(data.get('duration') || ''), uploaded: String(data.get('uploaded') || '') }))
  })
  const results = h('div', { class: 'search-results' })
  ctx.root.append(h('div', { class: 'page page-search' }, h('div', { class: 'page-head' }, h('h1', { class: 'page-title' }, q ? `Results for “${q}”` : 'Search'), searchBox(q)), filters, results))
  if (!q) {
    results.append(emptyState('Search Spool', 'Titles, descriptions, tags and channel names, in any language.'))
    return
  }
  results.append(spinner('Searching'))
  track('search', { properties: { query: q.slice(0, 200), duration: duration || null, uploaded: uploaded || null } })
  try {
    const page = await api.search({ q, duration, uploaded, signal: ctx.signal })
    if (!ctx.isCurrent()) return
    if (!page.videos.length) {
      results.replaceChildren(emptyState('No results', 'Try other words, or fewer filters.'))
      return
    }
    const grid = h('div', { class: 'grid', role: 'list' })
    for (const v of page.videos) {
      const card = videoCard(v)
      card.setAttribute('role', 'listitem')
      grid.append(card)
    }
    results.replaceChildren(grid)
  } catch (e) {
    if (e && e.name === 'AbortError') return
    results.replaceChildren(errorBox(e, () => navigate(location.pathname + location.search)))
  }
}
