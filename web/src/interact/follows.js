// Follows: the Follow button (channel and watch pages) and the home page's "Following" row,
// the latest videos of the channels the signed-in viewer follows.

import { h, formatCount } from '../dom.js'
import { request, get, currentUser, messageOf } from '../api.js'
import { videoCard } from '../components.js'

const enc = encodeURIComponent

export const followsApi = {
  /** @returns {Promise<{following: boolean, follower_count: number}>} */
  follow: (name) => request('PUT', `/api/v1/channels/${enc(name)}/follow`),
  /** @returns {Promise<{following: boolean, follower_count: number}>} */
  unfollow: (name) => request('DELETE', `/api/v1/channels/${enc(name)}/follow`),
  /**
   * @param {{limit?: number, signal?: AbortSignal}} [opts]
   * @returns {Promise<{channels: {name: string, followed_at: string}[], videos: any[]}>}
   */
  following: ({ limit = 8, signal } = {}) => get(`/api/v1/me/following?limit=${limit}`, { signal }),
  /** @returns {Promise<{follower_count: number, following: boolean | null}>} */
  channel: (name, opts) => get(`/api/v1/channels/${enc(name)}`, opts),
}

/**
 * A Follow button for channel `name` with its follower count; nothing for one's own channel,
 * a sign-in link when signed out. `info` is the channel JSON when the caller has it.
 * @param {string} name
 * @param {{follower_count?: number, following?: boolean | null} | null} [info]
 */
export function followButton(name, info = null) {
  const me = currentUser()
  const count = h('span', { class: 'follower-count' })
  const wrap = h('span', { class: 'follow' }, count)
  let followers = info?.follower_count ?? 0
  let following = Boolean(info?.following)
  const render = () => {
    count.textContent = formatCount(followers, 'follower')
  }
  render()
  if (me && me.name === name) return wrap
  if (!me) {
    wrap.prepend(h('a', { class: 'btn btn-ghost follow-btn', href: `/signin?next=${enc(location.pathname)}` }, 'Follow'))
    return wrap
  }
  const button = h('button', { class: 'btn btn-primary btn-sm follow-btn', type: 'button', 'aria-pressed': String(following) })
  const label = () => {
    button.textContent = following ? 'Following' : 'Follow'
    button.setAttribute('aria-pressed', String(following))
  }
  label()
  button.addEventListener('click', async () => {
    button.disabled = true
    try {
      const r = following ? await followsApi.unfollow(name) : await followsApi.follow(name)
      following = r.following
      followers = r.follower_count
      label()
      render()
    } catch (e) {
      button.title = messageOf(e)
    } finally {
      button.disabled = false
    }
  })
  wrap.prepend(button)
  if (!info) {
    // Asked for when the page did not have the channel's JSON (the watch page).
    followsApi
      .channel(name)
      .then((c) => {
        followers = c.follower_count
        following = Boolean(c.following)
        label()
        render()
      })
      .catch(() => {})
  }
  return wrap
}

/**
 * The home page's "Following" row (hidden when signed out or following nobody with videos).
 * @param {{signal: AbortSignal, isCurrent: () => boolean}} ctx
 */
export function followingRow(ctx) {
  const list = h('div', { class: 'grid following-grid', role: 'list' })
  const row = h('section', { class: 'following', hidden: true, 'aria-label': 'Following' }, h('div', { class: 'page-head' }, h('h2', { class: 'page-title' }, 'Following')), list)
  if (!currentUser()) return row
  followsApi
    .following({ signal: ctx.signal })
    .then((found) => {
      if (!ctx.isCurrent() || !found.videos.length) return
      list.replaceChildren(
        ...found.videos.map((v) => {
          const card = videoCard(v)
          card.setAttribute('role', 'listitem')
          return card
        }),
      )
      row.hidden = false
    })
    .catch(() => {
      // The rest of the home page does without it.
    })
  return row
}
