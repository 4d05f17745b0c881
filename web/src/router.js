// Client-side routing over the History API. The server answers every page path with the same
// index.html; this picks the page module by path, renders it into <main>, and intercepts clicks
// on same-origin links so moving around never reloads the app.

/** @typedef {() => Promise<{default: (ctx: any) => unknown}>} PageLoader */

/** @type {{regex: RegExp, keys: string[], load: PageLoader}[]} */
const routes = []
let outlet = null
let current = null // { cleanups: [], controller }
let navCount = 0
const afterNavigate = new Set()

/**
 * A route pattern compiled to a regular expression: `/watch/:id` matches `/watch/abc` and
 * `/watch/abc/` and names the part `id`; everything else in the pattern is literal.
 * @param {string} pattern
 * @returns {{regex: RegExp, keys: string[]}}
 */
export function compileRoute(pattern) {
  /** @type {string[]} */
  const keys = []
  const source = pattern
    .split('/')
    .map((part) => {
      if (part.startsWith(':')) {
        keys.push(part.slice(1))
        return '([^/]+)'
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    })
    .join('/')
  return { regex: new RegExp(`^${source}/?$`), keys }
}

/**
 * The first route matching `pathname`, with its parameters percent-decoded (kept as they are
 * when they do not decode), or null.
 * @template T
 * @param {{regex: RegExp, keys: string[], load: T}[]} table
 * @param {string} pathname
 * @returns {{load: T, params: Record<string, string>} | null}
 */
export function matchRoute(table, pathname) {
  for (const r of table) {
    const m = r.regex.exec(pathname)
    if (m) {
      /** @type {Record<string, string>} */
      const params = {}
      r.keys.forEach((k, i) => {
        try {
          params[k] = decodeURIComponent(m[i + 1])
        } catch {
          params[k] = m[i + 1]
        }
      })
      return { load: r.load, params }
    }
  }
  return null
}

/**
 * route('/watch/:id', () => import('./catalog/watch.js'))
 * @param {string} pattern
 * @param {PageLoader} load
 */
export function route(pattern, load) {
  routes.push({ ...compileRoute(pattern), load })
}

let fallback = null
/** The page shown when no route matches (404). */
export function notFound(load) {
  fallback = load
}

/** Calls fn(url) after each navigation (the top bar highlights the current link). */
export function onNavigate(fn) {
  afterNavigate.add(fn)
}

/**
 * A path within this app that is safe to redirect to (`?next=`), else fallback: it starts with
 * one `/`, has no backslash, and resolves to this origin.
 * @param {unknown} next
 * @param {string} [fallbackPath]
 * @param {string} [origin] this app's origin (default: the page's)
 * @returns {string}
 */
export function safeNext(next, fallbackPath = '/', origin = location.origin) {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.includes('\\')) {
    return fallbackPath
  }
  try {
    const url = new URL(next, origin)
    return url.origin === origin ? url.pathname + url.search + url.hash : fallbackPath
  } catch {
    return fallbackPath
  }
}

export function navigate(to, { replace = false } = {}) {
  const url = new URL(to, location.href)
  if (url.origin !== location.origin) {
    location.assign(url.href)
    return
  }
  const target = url.pathname + url.search + url.hash
  if (replace) history.replaceState({}, '', target)
  else if (target !== location.pathname + location.search + location.hash) history.pushState({}, '', target)
  render()
}

function teardown() {
  if (!current) return
  current.controller.abort()
  for (const fn of current.cleanups.reverse()) {
    try {
      fn()
    } catch (e) {
      // A page's cleanup failing must not break navigation; report it without a console error.
      queueMicrotask(() => {
        throw e
      })
    }
  }
  current = null
}

export async function render() {
  const seq = ++navCount
  teardown()
  const url = new URL(location.href)
  const found = matchRoute(routes, url.pathname)
  const load = found ? found.load : fallback
  const controller = new AbortController()
  /** @type {{cleanups: (() => void)[], controller: AbortController}} */
  const page = { cleanups: [], controller }
  current = page
  outlet.replaceChildren()
  outlet.removeAttribute('aria-busy')
  document.body.dataset.route = found ? routeName(url.pathname) : 'notfound'
  const ctx = {
    root: outlet,
    params: found ? found.params : {},
    query: url.searchParams,
    url,
    signal: controller.signal,
    onCleanup: (fn) => page.cleanups.push(fn),
    setTitle: (t) => {
      document.title = t ? `${t} · Spool` : 'Spool'
    },
    isCurrent: () => current === page && seq === navCount,
  }
  ctx.setTitle('')
  for (const fn of afterNavigate) fn(url)
  try {
    const mod = await load()
    if (!ctx.isCurrent()) return
    await mod.default(ctx)
  } catch (e) {
    if (e && e.name === 'AbortError') return
    if (!ctx.isCurrent()) return
    const { renderError } = await import('./error.js')
    renderError(ctx, e)
  }
}

function routeName(pathname) {
  const first = pathname.split('/')[1]
  return first || 'home'
}

function onClick(event) {
  if (event.defaultPrevented || event.button !== 0) return
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
  const a = event.target instanceof Element ? event.target.closest('a[href]') : null
  if (!a || a.target || a.hasAttribute('download') || a.dataset.external !== undefined) return
  const url = new URL(a.href, location.href)
  if (url.origin !== location.origin) return
  if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/media/')) return
  // A link to the same page with only a hash: let the browser scroll.
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return
  event.preventDefault()
  navigate(url.href)
  window.scrollTo(0, 0)
  outlet.focus({ preventScroll: true })
}

export function start(mainElement) {
  outlet = mainElement
  document.addEventListener('click', onClick)
  window.addEventListener('popstate', () => render())
  return render()
}
