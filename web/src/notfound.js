// The 404 page: an unknown route, or a video or channel that does not exist (or is not visible).

import { h } from './dom.js'

/** The "not found" view; also used by pages whose video or channel does not exist. */
export function renderNotFound(ctx, what = 'page') {
  ctx.setTitle('Not found')
  document.body.dataset.route = 'notfound'
  ctx.root.replaceChildren(
    h(
      'div',
      { class: 'page page-notfound' },
      h(
        'div',
        { class: 'empty empty-big' },
        h('p', { class: 'big-code', 'aria-hidden': 'true' }, '404'),
        h('h1', null, what === 'page' ? 'Page not found' : `This ${what} isn’t available`),
        h('p', null, what === 'page' ? 'The link may be broken, or the page may have moved.' : `The ${what} may have been removed, made private, or never existed.`),
        h('a', { class: 'btn btn-primary', href: '/' }, 'Go home'),
      ),
    ),
  )
}

export default async function notFound(ctx) {
  renderNotFound(ctx, 'page')
}
