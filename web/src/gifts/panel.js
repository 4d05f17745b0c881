// Gifts on the watch page and in the live room: the viewer's coins, a picker that sends a gift
// (one Idempotency-Key per click, reused by its retries), the top gifters, and an overlay
// that plays a gift's animation when the page's socket dispatches a `spool:gift` event (or
// when the viewer's own send is answered). Also the studio's earnings panel. Text goes in
// through textContent only.

import './gifts.css'
import { h } from '../dom.js'
import { get, request, currentUser, messageOf } from '../api.js'
import { watchHref } from '../components.js'
import { formatCoins, giftNotice, sendOnce } from './sending.js'

/** How long a gift stays on screen when its animation end is never reported. */
const SHOW_MS = 4000

/**
 * @typedef {{video_id: string} | {room_id: string}} GiftTarget
 */

/**
 * The gifts panel for a video or a room owned by `owner`.
 * @param {any} ctx the page's context (signal, isCurrent, onCleanup)
 * @param {GiftTarget} target
 * @param {string} owner the creator's user name
 */
export function giftPanel(ctx, target, owner) {
  const user = currentUser()
  const balance = h('span', { class: 'gift-balance' }, '…')
  const status = h('p', { class: 'gift-status', role: 'status' })
  const picker = h('div', { class: 'gift-picker', role: 'group', 'aria-label': 'Send a gift' })
  const leaders = h('ol', { class: 'gift-leaders', 'aria-label': 'Top gifters' })
  const overlay = h('div', { class: 'gift-overlay', 'aria-hidden': 'true' })
  const played = new Set()
  const leaderboardPath = 'video_id' in target ? `/api/v1/videos/${encodeURIComponent(target.video_id)}/gifts/leaderboard` : `/api/v1/live/${encodeURIComponent(target.room_id)}/gifts/leaderboard`

  let wallet
  if (!user) wallet = h('p', { class: 'gift-wallet' }, h('a', { href: `/signin?next=${encodeURIComponent(location.pathname)}` }, 'Sign in'), ' to send gifts.')
  else if (user.name === owner) wallet = h('p', { class: 'gift-wallet muted' }, 'Gifts viewers send you appear here.')
  else wallet = h('p', { class: 'gift-wallet' }, 'Your coins: ', balance)

  const el = h('section', { class: 'gift-panel', 'aria-label': 'Gifts' }, h('h2', { class: 'side-title' }, 'Gifts'), wallet, user && user.name !== owner ? picker : null, status, h('h3', { class: 'gift-leaders-title' }, 'Top gifters'), leaders, overlay)

  /** @param {import('./sending.js').GiftNotice} notice */
  const play = (notice) => {
    if (played.has(notice.id)) return
    played.add(notice.id)
    const burst = h('div', { class: ['gift-burst', `gift-anim-${notice.animation}`] }, `${notice.from} sent ${notice.count > 1 ? `${notice.count} × ` : ''}${notice.giftName}`)
    const done = () => burst.remove()
    burst.addEventListener('animationend', done, { once: true })
    window.setTimeout(done, SHOW_MS)
    overlay.append(burst)
  }

  const loadLeaders = async () => {
    try {
      const board = await get(leaderboardPath, { signal: ctx.signal })
      if (!ctx.isCurrent()) return
      leaders.replaceChildren(
        ...(board.leaders.length
          ? board.leaders.map((/** @type {{name: string, amount: number, gifts: number}} */ l) => h('li', { class: 'gift-leader', dataset: { name: l.name } }, h('span', { class: 'gift-leader-name' }, l.name), ' ', h('span', { class: 'gift-leader-amount' }, formatCoins(l.amount))))
          : [h('li', { class: 'muted' }, 'No gifts yet. Be the first!')]),
      )
    } catch (e) {
      if (e && e.name !== 'AbortError' && ctx.isCurrent()) leaders.replaceChildren(h('li', { class: 'muted' }, 'Top gifters could not be loaded.'))
    }
  }

  const loadWallet = async () => {
    try {
      const w = await get('/api/v1/me/wallet', { signal: ctx.signal })
      if (ctx.isCurrent()) balance.textContent = formatCoins(w.balance)
    } catch (e) {
      if (e && e.name !== 'AbortError') balance.textContent = '?'
    }
  }

  /** @param {{id: string, name: string, price: number}} gift */
  const send = async (gift) => {
    const buttons = [...picker.querySelectorAll('button')]
    for (const b of buttons) b.disabled = true
    status.textContent = `Sending ${gift.name}…`
    try {
      const sent = await sendOnce((key) => request('POST', '/api/v1/gifts/send', { json: { gift: gift.id, ...target, count: 1 }, headers: { 'Idempotency-Key': key } }))
      if (!ctx.isCurrent()) return
      balance.textContent = formatCoins(sent.balance)
      status.textContent = `You sent ${sent.gift.name}.`
      const notice = giftNotice({ type: 'gift', id: sent.id, from: user ? user.name : '', gift: sent.gift, count: sent.count, amount: sent.amount })
      if (notice) play(notice)
      loadLeaders()
    } catch (e) {
      if (ctx.isCurrent()) status.textContent = messageOf(e)
    } finally {
      for (const b of buttons) b.disabled = false
    }
  }

  const loadCatalog = async () => {
    try {
      const { gifts } = await get('/api/v1/gifts/catalog', { signal: ctx.signal })
      if (!ctx.isCurrent()) return
      picker.replaceChildren(
        ...gifts.map((/** @type {{id: string, name: string, price: number, animation: string}} */ g) =>
          h('button', { class: 'btn btn-ghost btn-sm gift-btn', type: 'button', dataset: { gift: g.id }, 'aria-label': `Send ${g.name} (${formatCoins(g.price)})`, onclick: () => send(g) }, h('span', { class: `gift-icon gift-icon-${g.animation}`, 'aria-hidden': 'true' }), g.name, ' ', h('span', { class: 'gift-price' }, String(g.price))),
        ),
      )
    } catch (e) {
      if (e && e.name !== 'AbortError' && ctx.isCurrent()) picker.replaceChildren(h('p', { class: 'muted' }, 'Gifts could not be loaded.'))
    }
  }

  // Gifts others send arrive through the page's socket as DOM events.
  let refresh = 0
  const onGift = (/** @type {Event} */ event) => {
    const notice = giftNotice(/** @type {CustomEvent} */ (event).detail)
    if (!notice || !ctx.isCurrent()) return
    play(notice)
    clearTimeout(refresh)
    refresh = window.setTimeout(loadLeaders, 500)
  }
  document.addEventListener('spool:gift', onGift)
  ctx.onCleanup(() => {
    document.removeEventListener('spool:gift', onGift)
    clearTimeout(refresh)
  })

  loadLeaders()
  if (user && user.name !== owner) {
    loadWallet()
    loadCatalog()
  }
  return el
}

/**
 * The studio's "Gift earnings": the total and what each video and room earned.
 * @param {any} ctx
 */
export function earningsPanel(ctx) {
  const total = h('p', { class: 'gift-earned-total' }, '…')
  const list = h('ul', { class: 'gift-earnings' })
  const el = h('section', { class: 'gift-earnings-panel', 'aria-label': 'Gift earnings' }, h('h2', { class: 'side-title' }, 'Gift earnings'), total, list)
  get('/api/v1/me/earnings', { signal: ctx.signal })
    .then((earnings) => {
      if (!ctx.isCurrent()) return
      total.textContent = `${formatCoins(earnings.total)} earned from gifts`
      list.replaceChildren(
        ...earnings.items.map((/** @type {{video_id: string | null, room_id: string | null, amount: number, gifts: number}} */ item) =>
          h('li', { class: 'gift-earning' }, item.video_id ? h('a', { href: watchHref(item.video_id) }, `Video ${item.video_id}`) : h('a', { href: `/live/${encodeURIComponent(item.room_id || '')}` }, `Live room ${item.room_id}`), ': ', formatCoins(item.amount), ` from ${item.gifts} ${item.gifts === 1 ? 'gift' : 'gifts'}`),
        ),
      )
    })
    .catch((e) => {
      if (e && e.name !== 'AbortError' && ctx.isCurrent()) total.textContent = `Earnings could not be loaded: ${messageOf(e)}`
    })
  return el
}
