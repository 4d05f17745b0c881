// One held video for review (`/admin/moderation/:id`, admins): why it is held; for each list
// item it matches, every matched frame beside the frame's hash and the list entry's hash drawn
// as 16x16 bit maps with the bits they differ in marked, the distance, the list, the label and
// the shares; the reports and the video's audit trail; and the decision (approve, remove, ban,
// with a reason), which goes back to the queue.

import './moderation.css'
import { h, uid, formatAge, formatDate, formatDuration } from '../dom.js'
import { ApiError, messageOf } from '../api.js'
import { navigate } from '../router.js'
import { channelHref, watchHref, errorBox, spinner, statusBadge } from '../components.js'
import { confirmDialog } from '../catalog/studio-item.js'
import { moderationApi, QUEUE_PATH, setFlash } from './client.js'
import { hashBits, hashDiff, formatShare, reasonProblem, MATCH_DISTANCE, REASON_MAX } from './rules.js'
import { gate, decisionList } from './admin.js'

const SVG_NS = 'http://www.w3.org/2000/svg'
/** Pairs shown at first per matched item; the rest behind a button. */
const FIRST_PAIRS = 8

function svg(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  return el
}

/**
 * A PDQ hash as its 16x16 bit map (row 0 on top, column 0 on the left): set bits light, clear
 * bits dark, and a mark on each bit where `diff` is true.
 * @param {string} hex
 * @param {boolean[]} diff
 * @param {string} label
 */
export function hashGrid(hex, diff, label) {
  const bits = hashBits(hex)
  const differing = diff.filter(Boolean).length
  const grid = svg('svg', { viewBox: '0 0 16 16', class: 'mod-hash-grid', role: 'img', 'aria-label': `${label}: 16 by 16 bits, ${differing} differ` })
  grid.dataset.differing = String(differing)
  for (let k = 0; k < 256; k++) {
    const row = k >> 4
    const col = k & 15
    grid.append(svg('rect', { x: col + 0.06, y: row + 0.06, width: 0.88, height: 0.88, class: bits[k] ? 'bit bit-1' : 'bit bit-0' }))
  }
  for (let k = 0; k < 256; k++) if (diff[k]) grid.append(svg('circle', { cx: (k & 15) + 0.5, cy: (k >> 4) + 0.5, r: 0.24, class: 'bit-diff-mark' }))
  return grid
}

/** @param {import('./client.js').MatchPair} pair */
function pairRow(pair) {
  let grids
  let distance = pair.distance
  try {
    const diff = hashDiff(pair.frame_hash, pair.entry_hash)
    grids = [
      h('figure', { class: 'mod-hash' }, hashGrid(pair.frame_hash, diff.bits, 'Frame hash'), h('figcaption', null, 'Frame hash', h('code', { class: 'mod-hex' }, pair.frame_hash))),
      h('figure', { class: 'mod-hash' }, hashGrid(pair.entry_hash, diff.bits, 'List entry hash'), h('figcaption', null, 'List entry hash', h('code', { class: 'mod-hex' }, pair.entry_hash))),
    ]
    if (!Number.isFinite(distance)) distance = diff.distance
    if (diff.distance !== distance) grids.push(h('p', { class: 'form-alert' }, `The hashes differ in ${diff.distance} bits, the server says ${distance}.`))
  } catch (e) {
    grids = [h('p', { class: 'form-alert' }, messageOf(e))]
  }
  const at = Number(pair.at_s) || 0
  const near = distance <= MATCH_DISTANCE
  // No URL: the frame's picture was not kept (its hash was).
  const picture = pair.frame_url
    ? h('img', { class: 'mod-frame-img', src: pair.frame_url, alt: `The video's frame at ${formatDuration(at)}`, loading: 'lazy', decoding: 'async' })
    : h('div', { class: 'mod-frame-img mod-frame-missing' }, h('span', null, 'No picture kept for this frame'))
  return h(
    'li',
    { class: 'mod-pair', dataset: { atS: at, distance } },
    h(
      'figure',
      { class: 'mod-frame' },
      picture,
      h('figcaption', null, `Frame at ${formatDuration(at)}`),
    ),
    grids,
    h('p', { class: ['mod-pair-distance', near ? 'is-near' : 'is-far'] }, h('span', { class: 'mod-distance-label' }, 'Distance'), h('span', { class: 'mod-distance-value' }, String(distance)), h('span', { class: 'muted' }, ` of 256 bits differ${near ? ` (≤ ${MATCH_DISTANCE}: the same picture)` : ''}`)),
  )
}

/** @param {import('./client.js').CaseMatch} m */
function matchSection(m) {
  const pairs = [...(m.pairs || [])].sort((a, b) => a.at_s - b.at_s)
  const list = h('ol', { class: 'mod-pairs' }, pairs.slice(0, FIRST_PAIRS).map((p) => pairRow(p)))
  let more = null
  if (pairs.length > FIRST_PAIRS) {
    more = h('button', { class: 'btn btn-ghost', type: 'button' }, `Show all ${pairs.length} matched frames`)
    more.addEventListener('click', () => {
      list.append(...pairs.slice(FIRST_PAIRS).map((p) => pairRow(p)))
      more?.remove()
    })
  }
  return h(
    'section',
    { class: 'mod-match', dataset: { list: m.list } },
    h('h3', { class: 'mod-match-title' }, h('span', { class: 'mod-list-name' }, m.list), m.label ? [': ', h('span', { class: 'mod-label' }, m.label)] : null),
    h(
      'dl',
      { class: 'mod-facts' },
      h('dt', null, 'List item matched'),
      h('dd', { class: 'mod-query-share' }, formatShare(m.query_share), h('span', { class: 'muted' }, ' of its hashes have a frame within 31')),
      h('dt', null, 'Video matched'),
      h('dd', { class: 'mod-compared-share' }, formatShare(m.compared_share), h('span', { class: 'muted' }, ' of its distinct frames have a counterpart')),
      h('dt', null, 'Frame pairs'),
      h('dd', null, String(pairs.length)),
    ),
    list,
    more,
  )
}

/** The decision form: a reason and three actions. */
function decisionForm(c) {
  const inputId = uid('decision')
  const reason = /** @type {HTMLInputElement} */ (h('input', { id: inputId, name: 'reason', type: 'text', autocomplete: 'off', required: true, 'aria-describedby': `${inputId}-hint` }))
  const alert = h('div', { class: 'form-alert', role: 'alert' })
  const buttons = [
    h('button', { class: 'btn btn-primary', type: 'submit', value: 'approve' }, 'Approve'),
    h('button', { class: 'btn btn-danger', type: 'submit', value: 'remove' }, 'Remove'),
    h('button', { class: 'btn btn-danger', type: 'submit', value: 'ban' }, 'Ban uploader'),
  ]
  const dialog = confirmDialog()
  const form = h(
    'form',
    { class: 'mod-decision', 'aria-label': 'Decision' },
    h('h2', { class: 'side-title' }, 'Decision'),
    alert,
    h('div', { class: 'field' }, h('label', { for: inputId }, 'Reason (kept in the audit)'), reason, h('p', { class: 'field-hint', id: `${inputId}-hint` }, `Required: one line, up to ${REASON_MAX} characters.`)),
    h('div', { class: 'row' }, buttons),
    dialog.el,
  )
  reason.addEventListener('input', () => alert.replaceChildren())
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    const submitter = /** @type {SubmitEvent} */ (e).submitter
    const action = /** @type {'approve' | 'remove' | 'ban'} */ (submitter instanceof HTMLButtonElement ? submitter.value : 'approve')
    const problem = reasonProblem(reason.value)
    if (problem) {
      alert.replaceChildren(h('p', null, problem))
      reason.focus()
      return
    }
    if (action === 'remove' && !(await dialog.ask(`Remove “${c.video.title}”?`, 'The video and its files are deleted, and the same file is refused at its next upload.', 'Remove'))) return
    if (action === 'ban' && !(await dialog.ask(`Ban ${c.video.owner}?`, `“${c.video.title}” is removed, ${c.video.owner} can no longer sign in, upload or post, and their other videos are held.`, 'Ban'))) return
    for (const b of buttons) b.disabled = true
    alert.replaceChildren()
    try {
      await moderationApi.decide(c.video.id, action, reason.value.trim())
      const done = { approve: 'Approved', remove: 'Removed', ban: 'Removed and banned the uploader of' }[action]
      setFlash(`${done} “${c.video.title}”.`)
      navigate(QUEUE_PATH)
    } catch (err) {
      alert.replaceChildren(h('p', null, messageOf(err)), err instanceof ApiError && err.code === 'not_held' ? h('p', null, h('a', { href: QUEUE_PATH }, 'Back to the queue')) : null)
    } finally {
      for (const b of buttons) b.disabled = false
    }
  })
  return form
}

export default async function moderationCase(ctx) {
  ctx.setTitle('Review')
  if (gate(ctx)) return
  ctx.root.append(spinner('Loading the case'))
  /** @type {import('./client.js').Case} */
  let c
  try {
    c = await moderationApi.case(ctx.params.id, { signal: ctx.signal })
  } catch (e) {
    if (!ctx.isCurrent() || (e && e.name === 'AbortError')) return
    if (gate(ctx, e)) return
    ctx.root.replaceChildren(h('div', { class: 'page page-moderation' }, h('p', null, h('a', { href: QUEUE_PATH }, '← Moderation queue')), errorBox(e, () => location.reload())))
    return
  }
  if (!ctx.isCurrent()) return
  const v = c.video
  ctx.setTitle(`Review: ${v.title}`)
  const reports = c.reports || []
  const decisions = c.decisions || []
  const matches = c.matches || []
  ctx.root.replaceChildren(
    h(
      'div',
      { class: 'page page-moderation mod-case', dataset: { videoId: v.id } },
      h('p', { class: 'mod-back' }, h('a', { href: QUEUE_PATH }, '← Moderation queue')),
      h(
        'div',
        { class: 'page-head' },
        h(
          'div',
          null,
          h('h1', { class: 'page-title mod-case-title' }, v.title),
          h(
            'p',
            { class: 'page-sub' },
            'by ',
            h('a', { href: channelHref(v.owner) }, v.owner),
            ' · ',
            statusBadge({ ...v, renditions: [] }),
            c.held_at ? [' · held ', h('time', { datetime: c.held_at, title: formatDate(c.held_at) }, formatAge(c.held_at))] : null,
            v.duration_s ? ` · ${formatDuration(v.duration_s)}` : null,
          ),
        ),
        h('a', { class: 'btn btn-ghost', href: watchHref(v.id) }, 'Open the watch page'),
      ),
      h('div', { class: 'notice mod-reason' }, h('p', null, h('strong', null, 'Held: '), h('span', { class: 'mod-reason-text' }, c.reason || v.hold_reason || 'no reason given'))),
      decisionForm(c),
      h(
        'section',
        { class: 'mod-section', 'aria-label': 'Matches' },
        h('h2', { class: 'side-title' }, matches.length === 1 ? '1 matched list item' : `${matches.length} matched list items`),
        matches.length ? matches.map((m) => matchSection(m)) : h('p', { class: 'muted' }, 'No hash list matches: the video is held for another reason (reports, or its uploader).'),
      ),
      h(
        'section',
        { class: 'mod-section', 'aria-label': 'Reports' },
        h('h2', { class: 'side-title' }, reports.length === 1 ? '1 report' : `${reports.length} reports`),
        reports.length
          ? h(
              'ol',
              { class: 'mod-reports' },
              reports.map((r) => h('li', { class: 'mod-report' }, h('span', { class: 'mod-reporter' }, r.reporter), ' ', h('time', { class: 'muted', datetime: r.created_at, title: formatDate(r.created_at) }, formatAge(r.created_at)), h('p', { class: 'mod-report-reason' }, r.reason))),
            )
          : h('p', { class: 'muted' }, 'Nobody has reported it.'),
      ),
      h('section', { class: 'mod-section', 'aria-label': 'Audit trail' }, h('h2', { class: 'side-title' }, 'Audit trail'), decisions.length ? decisionList(decisions, { withVideo: false }) : h('p', { class: 'muted' }, 'No decision yet.')),
    ),
  )
}
