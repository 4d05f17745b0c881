// DOM helpers. Every node is built with createElement and every piece of text goes in through
// textContent / text nodes: user data (titles, descriptions, names) never passes through an HTML
// parser, so `<script>` or `<img onerror>` in a title shows as the characters it is.
// Inline `style` attributes are refused too (the CSP forbids them); use classes or CSSOM.

const SVG_NS = 'http://www.w3.org/2000/svg'

/**
 * h('a', { href: '/x', class: 'link', onclick: fn }, 'text', child, [more])
 * - `class` / `className`: class list (string or array, falsy entries dropped)
 * - `on<event>`: listener
 * - `dataset`: object of data-* values
 * - boolean `true` sets an empty attribute, `false`/null/undefined skips it
 * - a few properties are set as properties: value, checked, selected, muted, disabled
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag)
  applyAttrs(el, attrs)
  append(el, children)
  return el
}

const PROPS = new Set(['value', 'checked', 'selected', 'muted', 'disabled', 'indeterminate'])

function applyAttrs(el, attrs) {
  if (!attrs) return
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (key === 'style') throw new Error('inline style attributes are forbidden by the CSP; use a class')
    if (key === 'class' || key === 'className') {
      const list = Array.isArray(value) ? value.filter(Boolean) : String(value).split(/\s+/).filter(Boolean)
      if (list.length) el.classList.add(...list)
    } else if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) if (v !== undefined && v !== null) el.dataset[k] = String(v)
    } else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value)
    } else if (PROPS.has(key)) {
      el[key] = value
    } else {
      el.setAttribute(key, value === true ? '' : String(value))
    }
  }
}

/** Appends children: nodes, strings/numbers (as text), arrays, falsy ones skipped. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false || child === true) continue
    el.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return el
}

/** Removes every child. */
export function clear(el) {
  el.replaceChildren()
  return el
}

/** An SVG icon from path data (24x24 viewBox), hidden from assistive tech. */
export function icon(paths, cls = 'icon') {
  const svg = document.createElementNS(SVG_NS, 'svg')
  svg.setAttribute('viewBox', '0 0 24 24')
  svg.setAttribute('aria-hidden', 'true')
  svg.setAttribute('focusable', 'false')
  svg.setAttribute('class', cls)
  for (const d of [].concat(paths)) {
    const p = document.createElementNS(SVG_NS, 'path')
    p.setAttribute('d', d)
    svg.append(p)
  }
  return svg
}

export const ICONS = {
  play: 'M8 5.14v13.72a1 1 0 0 0 1.5.86l11-6.86a1 1 0 0 0 0-1.72l-11-6.86A1 1 0 0 0 8 5.14z',
  pause: 'M7 5h3.5v14H7zM13.5 5H17v14h-3.5z',
  volume: 'M4 9v6h4l5 4V5L8 9H4zm12.5 3a4.5 4.5 0 0 0-2.5-4.03v8.05A4.48 4.48 0 0 0 16.5 12zM14 3.23v2.06a7 7 0 0 1 0 13.42v2.06a9 9 0 0 0 0-17.54z',
  muted: 'M4 9v6h4l5 4V5L8 9H4zm12.59 3L19 9.59 17.59 8.17 15.17 10.6 12.76 8.17 11.34 9.59 13.76 12l-2.42 2.41 1.42 1.42 2.41-2.42 2.42 2.42L19 14.41 16.59 12z',
  fullscreen: 'M5 5h5v2H7v3H5V5zm9 0h5v5h-2V7h-3V5zM5 14h2v3h3v2H5v-5zm12 3v-3h2v5h-5v-2h3z',
  exitFullscreen: 'M8 5h2v5H5V8h3V5zm6 0h2v3h3v2h-5V5zM5 14h5v5H8v-3H5v-2zm9 0h5v2h-3v3h-2v-5z',
  settings: 'M19.4 13a7.5 7.5 0 0 0 0-2l2.1-1.6-2-3.4-2.5 1a7.6 7.6 0 0 0-1.7-1L15 3.3h-4L10.7 6a7.6 7.6 0 0 0-1.7 1l-2.5-1-2 3.4L6.6 11a7.5 7.5 0 0 0 0 2l-2.1 1.6 2 3.4 2.5-1a7.6 7.6 0 0 0 1.7 1l.3 2.7h4l.3-2.7a7.6 7.6 0 0 0 1.7-1l2.5 1 2-3.4L19.4 13zM13 15.5a3.5 3.5 0 1 1 0-7 3.5 3.5 0 0 1 0 7z',
  heart: 'M12 21s-7.5-4.6-10-9.3C.4 8.4 2.4 4.5 6.2 4.5c2.1 0 3.6 1.1 4.3 2.4h3c.7-1.3 2.2-2.4 4.3-2.4 3.8 0 5.8 3.9 4.2 7.2C19.5 16.4 12 21 12 21z',
  upload: 'M12 3l5 5h-3v6h-4V8H7l5-5zM5 17h14v3H5z',
  chevronUp: 'M7.4 15.4L12 10.8l4.6 4.6L18 14l-6-6-6 6z',
  chevronDown: 'M7.4 8.6L12 13.2l4.6-4.6L18 10l-6 6-6-6z',
  trash: 'M9 3h6l1 2h4v2H4V5h4l1-2zM6 8h12l-1 13H7L6 8z',
}

/** m:ss or h:mm:ss. */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '0:00'
  const s = Math.floor(seconds)
  const hours = Math.floor(s / 3600)
  const minutes = Math.floor((s % 3600) / 60)
  const secs = String(s % 60).padStart(2, '0')
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${secs}` : `${minutes}:${secs}`
}

const RTF = new Intl.RelativeTimeFormat('en', { numeric: 'always' })
/** @type {[Intl.RelativeTimeFormatUnit, number][]} */
const UNITS = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
]

/** "3 minutes ago", "just now". */
export function formatAge(iso, now = Date.now()) {
  const then = Date.parse(iso)
  if (!Number.isFinite(then)) return ''
  const secs = Math.max(0, (now - then) / 1000)
  for (const [unit, size] of UNITS) {
    if (secs >= size) return RTF.format(-Math.floor(secs / size), unit)
  }
  return 'just now'
}

const COMPACT = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 })

/** "1 view", "1.2K views". */
export function formatCount(n, singular, plural = `${singular}s`) {
  const value = Number(n) || 0
  return `${COMPACT.format(value)} ${value === 1 ? singular : plural}`
}

/** "12.3 MB". */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return ''
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let value = bytes
  let i = 0
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000
    i++
  }
  return `${value.toFixed(value < 10 && i > 0 ? 1 : 0)} ${units[i]}`
}

/** Full date for tooltips and the channel header. */
export function formatDate(iso) {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return ''
  return d.toLocaleDateString('en', { year: 'numeric', month: 'long', day: 'numeric' })
}

/** True when keyboard shortcuts must leave the key alone (typing in a field). */
export function isTypingTarget(target) {
  if (!(target instanceof Element)) return false
  if (target instanceof HTMLElement && target.isContentEditable) return true
  const tag = target.tagName
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true
  if (tag === 'INPUT') {
    const type = (target.getAttribute('type') || 'text').toLowerCase()
    return !['button', 'checkbox', 'radio', 'range', 'submit', 'reset', 'file'].includes(type)
  }
  return false
}

/** A unique id for label/for pairs. */
let nextId = 0
export function uid(prefix = 'id') {
  nextId += 1
  return `${prefix}-${nextId}`
}
