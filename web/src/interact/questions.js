// Live Q&A beside the player: viewers ask, others upvote, the host pins one and marks it
// answered. Every change arrives on the room's socket (`question` messages), so everyone
// sees the same list at once; the list is sorted as the server sorts it (pinned, then
// unanswered by votes, then answered).

import { h } from '../dom.js'
import { api, currentUser, messageOf } from '../api.js'
import { subscribe } from './socket.js'
import { questionOrder } from './order.js'

/**
 * @typedef {{id: number, author: string, text: string, votes: number, pinned: boolean, answered: boolean, voted: boolean, deleted?: boolean, created_at: number}} Question
 */

/**
 * The Q&A panel of a live room.
 * @param {{id: string, owner: string}} room
 * @param {AbortSignal} signal
 * @returns {{el: HTMLElement, destroy: () => void}}
 */
export function questionsPanel(room, signal) {
  const me = currentUser()
  const host = Boolean(me && (me.name === room.owner || me.is_admin))
  /** @type {Map<number, Question>} */
  const questions = new Map()
  const list = h('ol', { class: 'qa-list', 'aria-live': 'polite' })
  const status = h('p', { class: 'qa-status', role: 'status' })

  const render = () => {
    const sorted = [...questions.values()].sort(questionOrder)
    list.replaceChildren(...sorted.map(item))
    if (sorted.length === 0) list.append(h('li', { class: 'qa-empty' }, 'No questions yet.'))
  }
  /**
   * @param {() => Promise<any>} act
   * @param {boolean} [voted] what the action made of this viewer's vote, if it changed it
   */
  const run = async (act, voted) => {
    status.textContent = ''
    try {
      const q = await act()
      if (q && typeof q.id === 'number') upsert(q, voted)
    } catch (e) {
      status.textContent = messageOf(e)
    }
  }
  /**
   * @param {Question} q
   * @param {boolean} [voted] this viewer's vote; kept as it was when not given (the socket's
   *   messages go to everyone and say nothing of it)
   */
  const upsert = (q, voted) => {
    if (q.deleted) questions.delete(q.id)
    else questions.set(q.id, { ...q, voted: voted ?? questions.get(q.id)?.voted ?? false })
    render()
  }
  /** @param {Question} q */
  const item = (q) => {
    const vote = h('button', { class: ['btn', 'btn-ghost', 'btn-sm', 'qa-vote', q.voted && 'is-on'], type: 'button', 'aria-pressed': String(q.voted), disabled: !me, title: me ? 'Upvote' : 'Sign in to vote' }, `▲ ${q.votes}`)
    vote.addEventListener('click', () => run(() => api.vote(q.id, !q.voted), !q.voted))
    const actions = []
    if (host) {
      const pin = h('button', { class: 'btn btn-ghost btn-sm', type: 'button' }, q.pinned ? 'Unpin' : 'Pin')
      pin.addEventListener('click', () => run(() => api.pinQuestion(q.id, !q.pinned)))
      actions.push(pin)
      if (!q.answered) {
        const done = h('button', { class: 'btn btn-ghost btn-sm', type: 'button' }, 'Answered')
        done.addEventListener('click', () => run(() => api.answerQuestion(q.id)))
        actions.push(done)
      }
      const remove = h('button', { class: 'btn btn-ghost btn-sm', type: 'button' }, 'Remove')
      remove.addEventListener('click', () => run(async () => ({ ...(await api.removeQuestion(q.id)), deleted: true })))
      actions.push(remove)
    }
    return h(
      'li',
      { class: ['qa-item', q.pinned && 'is-pinned', q.answered && 'is-answered'], dataset: { questionId: String(q.id) } },
      vote,
      h('div', { class: 'qa-body' }, h('p', { class: 'qa-text' }, q.text), h('p', { class: 'qa-meta' }, q.author, q.pinned ? ' · pinned' : '', q.answered ? ' · answered' : '')),
      actions.length ? h('div', { class: 'qa-actions' }, ...actions) : null,
    )
  }

  const form = me
    ? (() => {
        const input = h('input', { class: 'qa-input', type: 'text', maxlength: '300', placeholder: 'Ask the host a question…', 'aria-label': 'Your question' })
        const f = h('form', { class: 'qa-ask' }, input, h('button', { class: 'btn btn-primary btn-sm', type: 'submit' }, 'Ask'))
        f.addEventListener('submit', (event) => {
          event.preventDefault()
          const text = input.value.trim()
          if (!text) return
          void run(async () => {
            const q = await api.ask(room.id, text)
            input.value = ''
            return q
          })
        })
        return f
      })()
    : h('p', { class: 'qa-signin' }, h('a', { href: `/signin?next=${encodeURIComponent(location.pathname)}` }, 'Sign in'), ' to ask a question')

  const unsubscribe = subscribe(`room:${room.id}`, (message) => {
    if (message.type !== 'question') return
    upsert(/** @type {Question} */ (/** @type {unknown} */ (message)))
  })
  api
    .questions(room.id, { signal })
    .then((page) => {
      for (const q of page.questions) upsert(q, q.voted)
    })
    .catch((e) => {
      if (e && e.name !== 'AbortError') status.textContent = messageOf(e)
    })
  render()
  const el = h('section', { class: 'qa-panel', 'aria-label': 'Questions for the host' }, h('h2', { class: 'side-title' }, 'Q&A'), form, status, list)
  return { el, destroy: unsubscribe }
}
