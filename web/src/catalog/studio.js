// The studio page (`/studio`): the signed-in owner's videos with edit, cover, retry, delete and
// stats (rows in studio-item.js), following processing while it runs.

import { h } from '../dom.js'
import { api, currentUser } from '../api.js'
import { studioItem, confirmDialog } from './studio-item.js'
import { isFinal } from './processing.js'
import { emptyState, errorBox, spinner } from '../components.js'
import { goLivePanel } from '../live/golive.js'
import { earningsPanel } from '../gifts/panel.js'

const POLL_MS = 3000

export default async function studio(ctx) {
  ctx.setTitle('Studio')
  const user = currentUser()
  if (!user) {
    ctx.root.append(
      h(
        'div',
        { class: 'page page-studio' },
        h('div', { class: 'auth-card' }, h('h1', null, 'Studio'), h('p', null, 'Sign in to manage your videos.'), h('a', { class: 'btn btn-primary', href: '/signin?next=%2Fstudio' }, 'Sign in')),
      ),
    )
    return
  }
  const list = h('div', { class: 'studio-list' })
  const dialog = confirmDialog()
  const count = h('p', { class: 'page-sub' })
  const more = h('div', { class: 'grid-status' })
  const page = h(
    'div',
    { class: 'page page-studio' },
    h('div', { class: 'page-head' }, h('div', null, h('h1', { class: 'page-title' }, 'Studio'), count), h('a', { class: 'btn btn-primary', href: '/upload' }, 'Upload')),
    goLivePanel(ctx),
    earningsPanel(ctx),
    list,
    more,
    dialog.el,
  )
  ctx.root.append(page)
  list.append(spinner('Loading your videos'))

  const items = new Map()
  let cursor = null
  const setCount = () => {
    count.textContent = items.size === 1 ? '1 video' : `${items.size} videos`
    if (!items.size) list.replaceChildren(emptyState('No videos yet', 'Videos you upload appear here, with their processing status.', h('a', { class: 'btn btn-primary', href: '/upload' }, 'Upload a video')))
  }
  const add = (v) => {
    const item = studioItem(v, {
      dialog,
      onDeleted: () => {
        items.delete(v.id)
        setCount()
      },
    })
    item.onChange = () => schedule()
    items.set(v.id, item)
    list.append(item.el)
  }
  const loadPage = async () => {
    const res = await api.myVideos({ cursor, signal: ctx.signal })
    if (!ctx.isCurrent()) return
    if (!cursor) list.replaceChildren()
    for (const v of res.videos) if (!items.has(v.id)) add(v)
    cursor = res.next_cursor
    more.replaceChildren(cursor ? h('button', { class: 'btn btn-ghost', type: 'button', onclick: () => loadPage().catch(showError) }, 'Load more') : '')
    setCount()
    schedule()
  }
  const showError = (e) => {
    if (e && e.name === 'AbortError') return
    more.replaceChildren(errorBox(e, () => loadPage().catch(showError)))
  }

  // While something is processing, poll for status and progress.
  let timer = 0
  const schedule = () => {
    clearTimeout(timer)
    const busy = [...items.values()].some((i) => !isFinal(i.video))
    if (busy) timer = setTimeout(poll, POLL_MS)
  }
  const poll = async () => {
    try {
      const res = await api.myVideos({ limit: 100, signal: ctx.signal })
      if (!ctx.isCurrent()) return
      for (const v of res.videos) {
        const item = items.get(v.id)
        if (item && (item.video.updated_at !== v.updated_at || item.video.progress !== v.progress || item.video.status !== v.status)) item.update(v)
      }
    } catch {
      /* try again next time */
    }
    if (ctx.isCurrent()) schedule()
  }
  ctx.onCleanup(() => clearTimeout(timer))

  try {
    await loadPage()
  } catch (e) {
    if (e && e.name === 'AbortError') return
    list.replaceChildren(errorBox(e, () => location.reload()))
  }
}
