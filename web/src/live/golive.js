// "Go live" in the studio: the owner's live rooms, a form that creates one, the RTMP URL and
// stream key to paste into OBS (the key is shown once, after creating or rotating it), and
// while a stream comes in, its health as the server measures it (size, fps, bit rate, GOP,
// B-frames, and what to change).

import { h } from '../dom.js'
import { api, messageOf } from '../api.js'
import { healthLine } from './edge.js'

/** How often the rooms (status and health) are read again. */
const POLL_MS = 3000

function copyField(label, value, { secret = false } = {}) {
  const input = h('input', { class: 'input copy-input', type: secret ? 'password' : 'text', readonly: true, value, 'aria-label': label })
  const copy = h('button', { class: 'btn btn-ghost btn-sm', type: 'button' }, 'Copy')
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(value)
      copy.textContent = 'Copied'
    } catch {
      input.type = 'text'
      input.select()
    }
  })
  const reveal = secret ? h('button', { class: 'btn btn-ghost btn-sm', type: 'button' }, 'Show') : null
  reveal?.addEventListener('click', () => {
    input.type = input.type === 'password' ? 'text' : 'password'
    reveal.textContent = input.type === 'password' ? 'Show' : 'Hide'
  })
  return h('label', { class: 'copy-field' }, h('span', { class: 'copy-label' }, label), input, reveal, copy)
}

/** One room in the list; `key` is its stream key when just made or rotated. */
function roomRow(room, key, onKey) {
  const status = h('span', { class: ['status-badge', room.status === 'live' && 'is-live'] }, room.status === 'live' ? (room.publishing ? 'LIVE' : 'reconnecting') : room.status)
  const rotate = h('button', { class: 'btn btn-ghost btn-sm', type: 'button' }, 'Rotate key')
  const error = h('p', { class: 'form-error', role: 'alert' })
  rotate.addEventListener('click', async () => {
    if (!window.confirm('Make a new stream key? The old one stops working (a stream on air stays).')) return
    rotate.disabled = true
    try {
      const fresh = await api.rotateKey(room.id)
      onKey(room.id, fresh.stream_key)
    } catch (e) {
      error.textContent = messageOf(e)
    } finally {
      rotate.disabled = false
    }
  })
  const health = room.health
    ? h(
        'div',
        { class: 'live-health' },
        h('p', { class: 'health-line' }, healthLine(room.health)),
        room.health.warnings.length ? h('ul', { class: 'health-warnings' }, room.health.warnings.map((w) => h('li', null, w))) : null,
      )
    : null
  return h(
    'li',
    { class: 'live-room-row', dataset: { roomId: room.id } },
    h('div', { class: 'live-room-head' }, h('a', { class: 'live-room-title', href: `/live/${room.id}` }, room.title), status, room.status === 'live' ? h('span', { class: 'live-viewers' }, `${room.viewers} watching`) : null),
    room.rtmp_url ? copyField('RTMP server', room.rtmp_url) : null,
    key ? h('div', { class: 'key-once' }, copyField('Stream key', key, { secret: true }), h('p', { class: 'hint' }, 'Shown once: paste it into OBS now (Settings → Stream → Custom).')) : null,
    health,
    room.video_id && room.status === 'ended' ? h('a', { class: 'btn btn-ghost btn-sm', href: `/watch/${room.video_id}` }, 'Watch the recording') : null,
    h('div', { class: 'live-room-actions' }, rotate),
    error,
  )
}

/**
 * The studio's "Go live" panel.
 * @param {{signal: AbortSignal, isCurrent: () => boolean, onCleanup: (fn: () => void) => void}} ctx
 */
export function goLivePanel(ctx) {
  const list = h('ul', { class: 'live-room-list' })
  const title = h('input', { class: 'input', name: 'title', required: true, maxlength: '200', placeholder: 'What is this stream about?', 'aria-label': 'Stream title' })
  const create = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Go live')
  const error = h('p', { class: 'form-error', role: 'alert' })
  const form = h('form', { class: 'go-live-form' }, title, create)
  /** @type {Map<string, string>} keys shown once, by room */
  const keys = new Map()
  let rooms = []
  const render = () => list.replaceChildren(...rooms.map((r) => roomRow(r, keys.get(r.id), showKey)))
  const showKey = (id, key) => {
    keys.set(id, key)
    render()
  }
  const refresh = async () => {
    try {
      rooms = (await api.myRooms({ signal: ctx.signal })).rooms
      if (ctx.isCurrent()) render()
    } catch (e) {
      if (ctx.isCurrent()) error.textContent = messageOf(e)
    }
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    create.disabled = true
    error.textContent = ''
    try {
      const made = await api.createRoom({ title: title.value })
      keys.set(made.room.id, made.stream_key)
      title.value = ''
      await refresh()
    } catch (err) {
      error.textContent = messageOf(err)
    } finally {
      create.disabled = false
    }
  })
  refresh()
  const timer = window.setInterval(refresh, POLL_MS)
  ctx.onCleanup(() => clearInterval(timer))
  return h('section', { class: 'go-live', 'aria-label': 'Go live' }, h('h2', { class: 'side-title' }, 'Live'), form, error, list)
}
