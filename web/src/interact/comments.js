// The comment section under the watch page's player: newest/top order, "load more", replies
// (one level), likes, delete (author, the video's owner, admins), pin (owner) and report (the
// moderation service's Report control, `POST /api/v1/reports` with kind "comment").
// Text goes in through textContent only (h() never parses HTML), so markup in a comment
// shows as the characters it is. New comments from others arrive as a `spool:comment` DOM
// event (from the page's socket): the section offers to show them instead of jumping.

import { h, formatAge, formatCount, formatDate } from '../dom.js'
import { request, get, currentUser, messageOf } from '../api.js'
import { channelHref } from '../components.js'
import { reportControl } from '../moderation/report.js'

const enc = encodeURIComponent
const PAGE = 20

/**
 * @typedef {{id: string, video_id: string, parent_id: string | null, author: string, text: string,
 *   deleted: boolean, pinned: boolean, likes: number, liked: boolean, reply_count: number,
 *   created_at: string, replies?: Comment[]}} Comment
 * @typedef {{pinned: Comment | null, comments: Comment[], next_cursor: string | null}} CommentPage
 */

/** @param {Record<string, string | number | null | undefined>} params */
function qs(params) {
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') search.set(k, String(v))
  const s = search.toString()
  return s ? `?${s}` : ''
}

export const commentsApi = {
  /**
   * @param {string} videoId
   * @param {{order?: string, cursor?: string | null, limit?: number, signal?: AbortSignal}} [opts]
   * @returns {Promise<CommentPage>}
   */
  list: (videoId, { order = 'newest', cursor = null, limit = PAGE, signal } = {}) => get(`/api/v1/videos/${enc(videoId)}/comments${qs({ order, cursor, limit })}`, { signal }),
  /**
   * @param {string} id
   * @param {{cursor?: string | null, limit?: number}} [opts]
   * @returns {Promise<{replies: Comment[], next_cursor: string | null}>}
   */
  replies: (id, { cursor = null, limit = PAGE } = {}) => get(`/api/v1/comments/${enc(id)}/replies${qs({ cursor, limit })}`),
  /**
   * @param {string} videoId
   * @param {string} text
   * @param {string | null} [parentId]
   * @returns {Promise<Comment>}
   */
  post: (videoId, text, parentId = null) => request('POST', `/api/v1/videos/${enc(videoId)}/comments`, { json: parentId ? { text, parent_id: parentId } : { text } }),
  remove: (id) => request('DELETE', `/api/v1/comments/${enc(id)}`),
  pin: (id) => request('POST', `/api/v1/comments/${enc(id)}/pin`),
  unpin: (id) => request('DELETE', `/api/v1/comments/${enc(id)}/pin`),
  like: (id) => request('POST', `/api/v1/comments/${enc(id)}/like`),
  unlike: (id) => request('DELETE', `/api/v1/comments/${enc(id)}/like`),
}

/**
 * The comment section of video `v`.
 * @param {{signal: AbortSignal, isCurrent: () => boolean, onCleanup: (fn: () => void) => void}} ctx
 * @param {{id: string, owner: string}} v
 */
export function commentSection(ctx, v) {
  const me = currentUser()
  const ownsVideo = Boolean(me && (me.name === v.owner || me.is_admin))
  let order = 'newest'
  /** @type {string | null} */
  let cursor = null
  let arrived = 0

  const list = h('ol', { class: 'comment-list' })
  const pinnedSlot = h('div', { class: 'comment-pinned-slot' })
  const status = h('p', { class: 'comment-status muted', role: 'status' })
  const more = h('button', { class: 'btn btn-ghost comment-more', type: 'button', hidden: true }, 'Load more comments')
  const fresh = h('button', { class: 'btn btn-ghost comment-fresh', type: 'button', hidden: true })
  const orderButtons = ['newest', 'top'].map((o) => h('button', { class: 'btn btn-ghost btn-sm comment-order', type: 'button', dataset: { order: o }, 'aria-pressed': String(o === order) }, o === 'newest' ? 'Newest' : 'Top'))

  const section = h(
    'section',
    { class: 'comments', 'aria-label': 'Comments' },
    h('div', { class: 'comments-head' }, h('h2', { class: 'side-title' }, 'Comments'), h('div', { class: 'comment-orders', role: 'group', 'aria-label': 'Order' }, orderButtons)),
    me ? composer((text) => commentsApi.post(v.id, text).then((c) => list.prepend(item(c)))) : h('p', { class: 'muted' }, h('a', { href: `/signin?next=${enc(location.pathname)}` }, 'Sign in'), ' to comment.'),
    fresh,
    pinnedSlot,
    list,
    status,
    more,
  )

  /**
   * A text box with a submit button; `send` gets the text and resolves once posted.
   * @param {(text: string) => Promise<unknown>} send
   */
  function composer(send, { label = 'Add a comment', button = 'Comment' } = {}) {
    const input = h('textarea', { class: 'comment-input', rows: '2', maxlength: '2000', 'aria-label': label, placeholder: label })
    const error = h('p', { class: 'comment-error', role: 'alert', hidden: true })
    const submit = h('button', { class: 'btn btn-primary btn-sm comment-submit', type: 'submit' }, button)
    const form = h('form', { class: 'comment-form' }, input, h('div', { class: 'comment-form-row' }, error, submit))
    form.addEventListener('submit', async (e) => {
      e.preventDefault()
      const text = input.value.trim()
      if (!text) return
      submit.disabled = true
      error.hidden = true
      try {
        await send(text)
        input.value = ''
      } catch (err) {
        error.textContent = messageOf(err)
        error.hidden = false
      } finally {
        submit.disabled = false
      }
    })
    return form
  }

  /** @param {Comment} c */
  function item(c) {
    const body = h('p', { class: ['comment-text', c.deleted && 'comment-deleted'] }, c.deleted ? 'Comment deleted' : c.text)
    const likeCount = h('span', { class: 'comment-likes' }, formatCount(c.likes, 'like'))
    const actions = h('div', { class: 'comment-actions' })
    const replies = h('ol', { class: 'comment-replies' })
    const li = h(
      'li',
      { class: ['comment', c.pinned && 'comment-is-pinned'], dataset: { commentId: c.id } },
      h(
        'div',
        { class: 'comment-head' },
        h('a', { class: 'comment-author', href: channelHref(c.author) }, c.author),
        h('time', { class: 'comment-age', datetime: c.created_at, title: formatDate(c.created_at) }, formatAge(c.created_at)),
        c.pinned ? h('span', { class: 'comment-pin-badge' }, 'Pinned') : null,
      ),
      body,
      actions,
      replies,
    )
    if (!c.deleted) {
      actions.append(likeCount)
      if (me) {
        let liked = c.liked
        const like = h('button', { class: 'btn btn-ghost btn-sm comment-like', type: 'button', 'aria-pressed': String(liked) }, liked ? 'Liked' : 'Like')
        like.addEventListener('click', async () => {
          like.disabled = true
          try {
            const r = liked ? await commentsApi.unlike(c.id) : await commentsApi.like(c.id)
            liked = r.liked
            likeCount.textContent = formatCount(r.likes, 'like')
            like.textContent = liked ? 'Liked' : 'Like'
            like.setAttribute('aria-pressed', String(liked))
          } catch (e) {
            like.title = messageOf(e)
          } finally {
            like.disabled = false
          }
        })
        actions.append(like)
        const threadId = c.parent_id || c.id
        const reply = h('button', { class: 'btn btn-ghost btn-sm comment-reply', type: 'button' }, 'Reply')
        reply.addEventListener('click', () => {
          reply.disabled = true
          const form = composer(
            (text) =>
              commentsApi.post(v.id, text, threadId).then((r) => {
                const thread = c.parent_id ? li.parentElement : replies
                thread?.append(item(r))
                form.remove()
                reply.disabled = false
              }),
            { label: `Reply to ${c.author}`, button: 'Reply' },
          )
          li.insertBefore(form, replies)
          form.querySelector('textarea')?.focus()
        })
        actions.append(reply)
        if (me.name === c.author || ownsVideo) actions.append(actionButton('Delete', 'comment-delete', () => commentsApi.remove(c.id).then(() => reload())))
        if (ownsVideo && !c.parent_id) actions.append(actionButton(c.pinned ? 'Unpin' : 'Pin', 'comment-pin', () => (c.pinned ? commentsApi.unpin(c.id) : commentsApi.pin(c.id)).then(() => reload())))
        if (me.name !== c.author) actions.append(reportControl({ kind: 'comment', id: c.id, subject: `“${c.text}” by ${c.author}`, className: 'btn-sm comment-report' }))
      }
    }
    for (const r of c.replies || []) replies.append(item(r))
    const shown = (c.replies || []).length
    if (!c.parent_id && c.reply_count > shown) {
      /** @type {string | null} */
      let replyCursor = null
      let skip = shown
      const more = h('button', { class: 'btn btn-ghost btn-sm comment-more-replies', type: 'button' }, `Show ${formatCount(c.reply_count - shown, 'more reply', 'more replies')}`)
      more.addEventListener('click', async () => {
        more.disabled = true
        try {
          // The first replies are already shown: page past them.
          const page = await commentsApi.replies(c.id, { cursor: replyCursor })
          for (const r of page.replies) {
            if (skip > 0) skip -= 1
            else replies.append(item(r))
          }
          replyCursor = page.next_cursor
          if (!replyCursor) more.remove()
        } catch (e) {
          more.title = messageOf(e)
        } finally {
          more.disabled = false
        }
      })
      li.append(more)
    }
    return li
  }

  /**
   * @param {string} label
   * @param {string} cls
   * @param {() => Promise<unknown>} act
   */
  function actionButton(label, cls, act) {
    const button = /** @type {HTMLButtonElement} */ (h('button', { class: `btn btn-ghost btn-sm ${cls}`, type: 'button' }, label))
    button.addEventListener('click', async () => {
      button.disabled = true
      try {
        await act()
      } catch (e) {
        button.title = messageOf(e)
      } finally {
        button.disabled = false
      }
    })
    return button
  }

  async function load(reset) {
    more.disabled = true
    try {
      const page = await commentsApi.list(v.id, { order, cursor: reset ? null : cursor, signal: ctx.signal })
      if (!ctx.isCurrent()) return
      if (reset) {
        list.replaceChildren()
        pinnedSlot.replaceChildren(...(page.pinned ? [h('ol', { class: 'comment-list comment-list-pinned' }, item(page.pinned))] : []))
      }
      list.append(...page.comments.map(item))
      cursor = page.next_cursor
      more.hidden = !cursor
      const none = !list.children.length && !pinnedSlot.children.length
      status.textContent = none ? 'No comments yet.' : ''
    } catch (e) {
      if (e && e.name === 'AbortError') return
      status.textContent = `Comments could not be loaded: ${messageOf(e)}`
    } finally {
      more.disabled = false
    }
  }

  function reload() {
    arrived = 0
    fresh.hidden = true
    return load(true)
  }

  more.addEventListener('click', () => load(false))
  fresh.addEventListener('click', () => reload())
  for (const button of orderButtons) {
    button.addEventListener('click', () => {
      order = button.dataset.order || 'newest'
      for (const b of orderButtons) b.setAttribute('aria-pressed', String(b === button))
      reload()
    })
  }
  /** @param {Event} e */
  const onComment = (e) => {
    const detail = /** @type {CustomEvent} */ (e).detail || {}
    if (detail.video_id !== v.id || (me && detail.author === me.name)) return
    arrived += 1
    fresh.textContent = `Show ${formatCount(arrived, 'new comment')}`
    fresh.hidden = false
  }
  document.addEventListener('spool:comment', onComment)
  ctx.onCleanup(() => document.removeEventListener('spool:comment', onComment))
  load(true)
  return section
}
