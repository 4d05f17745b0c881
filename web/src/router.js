// Client-side routing over the History API. The server answers every page path with the same
// index.html; this picks the page module by path, renders it into <main>, and intercepts clicks
// on same-origin links so moving around never reloads the app.

const routes = []
let outlet = null
let current = null // { cleanups: [], controller }
let navCount = 0
const afterNavigate = new Set()

/** route('/watch/:id', () => import('./pages/watch.js')) */
export function route(pattern, load) {
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
  routes.push({ regex: new RegExp(`^${source}/?$`), keys, load })
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

function match(pathname) {
  for (const r of routes) {
    const m = r.regex.exec(pathname)
    if (m) {
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

/** A path within this app that is safe to redirect to (`?next=`), else fallback. */
export function safeNext(next, fallbackPath = '/') {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.includes('\\')) {
    return fallbackPath
  }
  try {
    const url = new URL(next, location.origin)
    return url.origin === location.origin ? url.pathname + url.search + url.hash : fallbackPath
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
  const found = match(url.pathname)
  const load = found ? found.load : fallback
  const controller = new AbortController()
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
    const { renderError } = await import('./pages/error.js')
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
