// The page shown when a page module fails to load or render.

import { h } from './dom.js'
import { messageOf } from './api.js'

/** A page that failed to load: the reason and a way to try again. */
export function renderError(ctx, error) {
  ctx.setTitle('Something went wrong')
  ctx.root.replaceChildren(
    h(
      'div',
      { class: 'page' },
      h(
        'div',
        { class: 'empty empty-big', role: 'alert' },
        h('h1', null, 'Something went wrong'),
        h('p', null, messageOf(error)),
        h('button', { class: 'btn btn-primary', type: 'button', onclick: () => location.reload() }, 'Reload'),
      ),
    ),
  )
}
