// The app shell: the top bar and the routes.

import { h } from './dom.js'
import { loadSession, currentUser, onAuthChange, signOut, messageOf } from './api.js'
import { route, notFound, start, onNavigate, navigate } from './router.js'
import './events/telemetry.js'
import { searchBox } from './search/search.js'

route('/', () => import('./catalog/home.js'))
route('/watch/:id', () => import('./catalog/watch.js'))
route('/live/:id', () => import('./live/room.js'))
route('/upload', () => import('./upload/upload.js'))
route('/studio', () => import('./catalog/studio.js'))
route('/feed', () => import('./recommend/feed.js'))
route('/c/:name', () => import('./catalog/channel.js'))
route('/search', () => import('./search/search.js'))
route('/signin', () => import('./accounts/signin.js'))
route('/signup', () => import('./accounts/signup.js'))
route('/admin/moderation', () => import('./moderation/queue.js'))
route('/admin/moderation/:id', () => import('./moderation/case.js'))
notFound(() => import('./notfound.js'))

const NAV = [
  ['/', 'Home'],
  ['/feed', 'Feed'],
  ['/upload', 'Upload'],
  ['/studio', 'Studio'],
]
// Admins also get the moderation queue ("Mod" on phones, where the bar is full).
const MODERATION = '/admin/moderation'

const topbar = /** @type {HTMLElement} */ (document.getElementById('topbar'))
const main = /** @type {HTMLElement} */ (document.getElementById('main'))

function isActive(path, pathname) {
  return path === '/' ? pathname === '/' : pathname === path || pathname.startsWith(path + '/')
}

function renderTopbar() {
  const pathname = location.pathname
  const user = currentUser()
  const next = encodeURIComponent(location.pathname + location.search)
  const onAuthPage = pathname === '/signin' || pathname === '/signup'
  const account = user
    ? h(
        'div',
        { class: 'account' },
        h('a', { class: 'account-name', href: `/c/${encodeURIComponent(user.name)}`, title: 'Your channel' }, user.name),
        h('span', { class: 'dot', 'aria-hidden': 'true' }, '·'),
        h(
          'button',
          {
            class: 'link-button',
            type: 'button',
            onclick: async (e) => {
              e.currentTarget.disabled = true
              try {
                await signOut()
              } catch (err) {
                // Signed out locally either way; tell why the server did not confirm.
                window.alert(messageOf(err))
              }
              navigate('/')
            },
          },
          'Sign out',
        ),
      )
    : h(
        'div',
        { class: 'account' },
        h('a', { class: 'btn btn-ghost', href: onAuthPage ? '/signin' : `/signin?next=${next}` }, 'Sign in'),
        h('a', { class: 'btn btn-primary', href: onAuthPage ? '/signup' : `/signup?next=${next}` }, 'Sign up'),
      )
  topbar.replaceChildren(
    h(
      'div',
      { class: 'topbar-inner' },
      h('a', { class: 'logo', href: '/', 'aria-label': 'Spool home' }, h('span', { class: 'logo-mark', 'aria-hidden': 'true' }), h('span', { class: 'logo-text' }, 'Spool')),
      h(
        'nav',
        { class: 'nav', 'aria-label': 'Main' },
        NAV.map(([path, label]) => h('a', { href: path, class: 'nav-link', 'aria-current': isActive(path, pathname) ? 'page' : undefined }, label)),
        user && user.is_admin
          ? h('a', { href: MODERATION, class: 'nav-link', 'aria-current': isActive(MODERATION, pathname) ? 'page' : undefined, title: 'Moderation' }, h('span', { class: 'nav-long' }, 'Moderation'), h('span', { class: 'nav-short', 'aria-hidden': 'true' }, 'Mod'))
          : null,
        // On phones the box does not fit the bar: the search page has its own.
        h('a', { href: '/search', class: 'nav-link nav-search', 'aria-current': isActive('/search', pathname) ? 'page' : undefined }, 'Search'),
      ),
      pathname === '/search' ? null : searchBox(),
      account,
    ),
  )
}

onNavigate(() => renderTopbar())
onAuthChange(() => renderTopbar())

async function boot() {
  try {
    await loadSession()
  } catch {
    /* offline or server error: carry on signed out; pages show their own errors */
  }
  renderTopbar()
  await start(main)
}

boot()
