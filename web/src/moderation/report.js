// The Report control, one for everything a signed-in user can report (a video, a comment, a
// danmaku): a button that opens a dialog asking why (1-500 characters, one line), sends
// `POST /api/v1/reports` and says "Reported, thank you" (or what the server refused). One
// dialog serves every button of the page. Also the danmaku bar's "Report…" button, which
// lists the danmaku on screen lately, each with its Report control.

import './moderation.css'
import { h, uid, formatDuration } from '../dom.js'
import { currentUser, messageOf } from '../api.js'
import { moderationApi } from './client.js'
import { reasonProblem, REASON_MAX } from './rules.js'

/** @typedef {'video' | 'comment' | 'danmaku'} ReportKind */
/** @typedef {{kind: ReportKind, id: string | number, subject?: string}} ReportTarget */

const NOUN = { video: 'video', comment: 'comment', danmaku: 'danmaku' }
/** What this page reported already (kind:id), so a second button for it says so. */
const reported = new Set()
const key = (/** @type {ReportTarget} */ t) => `${t.kind}:${t.id}`

/** @type {{el: HTMLDialogElement, open: (t: ReportTarget) => Promise<boolean>} | null} */
let shared = null

function reportDialog() {
  if (shared && shared.el.isConnected) return shared
  const titleId = uid('report')
  const inputId = uid('reason')
  const title = h('h2', { class: 'dialog-title', id: titleId })
  const subject = h('p', { class: 'report-subject' })
  const input = /** @type {HTMLInputElement} */ (h('input', { id: inputId, class: 'report-reason', type: 'text', autocomplete: 'off', required: true, 'aria-describedby': `${inputId}-hint` }))
  const hint = h('p', { class: 'field-hint', id: `${inputId}-hint` }, `One line, up to ${REASON_MAX} characters.`)
  const alert = h('div', { class: 'form-alert', role: 'alert' })
  const cancel = h('button', { class: 'btn btn-ghost', type: 'button' }, 'Cancel')
  const send = /** @type {HTMLButtonElement} */ (h('button', { class: 'btn btn-danger', type: 'submit' }, 'Report'))
  const form = h('form', { class: 'report-form', method: 'dialog' }, alert, h('div', { class: 'field' }, h('label', { for: inputId }, 'Why should the moderators look at it?'), input, hint), h('div', { class: 'row row-end' }, cancel, send))
  const done = h('p', { class: 'report-done', role: 'status' })
  const close = h('button', { class: 'btn btn-primary', type: 'button' }, 'Close')
  const doneBox = h('div', { class: 'report-done-box', hidden: true }, done, h('div', { class: 'row row-end' }, close))
  const el = /** @type {HTMLDialogElement} */ (h('dialog', { class: 'dialog report-dialog', 'aria-labelledby': titleId }, title, subject, form, doneBox))
  document.body.append(el)

  /** @type {ReportTarget | null} */
  let target = null
  /** @type {((ok: boolean) => void) | null} */
  let resolve = null
  let ok = false
  const finish = () => {
    if (el.open) el.close()
  }
  el.addEventListener('close', () => {
    resolve?.(ok)
    resolve = null
    target = null
  })
  cancel.addEventListener('click', finish)
  close.addEventListener('click', finish)
  input.addEventListener('input', () => alert.replaceChildren())
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    if (!target) return
    const problem = reasonProblem(input.value)
    if (problem) {
      alert.replaceChildren(h('p', null, problem))
      input.focus()
      return
    }
    const sending = target
    send.disabled = true
    alert.replaceChildren()
    try {
      await moderationApi.report(sending.kind, String(sending.id), input.value.trim())
      reported.add(key(sending))
      ok = true
      form.hidden = true
      done.textContent = 'Reported, thank you'
      doneBox.hidden = false
      close.focus()
    } catch (err) {
      alert.replaceChildren(h('p', null, messageOf(err)))
    } finally {
      send.disabled = false
    }
  })

  shared = {
    el,
    open(t) {
      resolve?.(false)
      target = t
      ok = false
      title.textContent = `Report this ${NOUN[t.kind]}`
      const text = t.subject || ''
      subject.textContent = [...text].length > 200 ? `${[...text].slice(0, 200).join('')}…` : text
      subject.hidden = !t.subject
      input.value = ''
      alert.replaceChildren()
      form.hidden = false
      doneBox.hidden = true
      el.showModal()
      input.focus()
      return new Promise((r) => (resolve = r))
    },
  }
  return shared
}

/**
 * Opens the report dialog for `target`; resolves true once it is reported.
 * @param {ReportTarget} target
 */
export function openReport(target) {
  return reportDialog().open(target)
}

/**
 * A Report button for `target`, or for someone signed out a link to sign in (`signedOut:
 * 'link'`) or nothing (`'hide'`, the default).
 * @param {ReportTarget & {className?: string, signedOut?: 'link' | 'hide'}} target
 * @returns {HTMLElement | null}
 */
export function reportControl({ className = '', signedOut = 'hide', ...target }) {
  if (!currentUser()) {
    if (signedOut === 'hide') return null
    return h('a', { class: `btn btn-ghost report-btn ${className}`, href: `/signin?next=${encodeURIComponent(location.pathname)}`, title: `Sign in to report this ${NOUN[target.kind]}` }, 'Report')
  }
  const button = /** @type {HTMLButtonElement} */ (h('button', { class: `btn btn-ghost report-btn ${className}`, type: 'button', 'aria-haspopup': 'dialog' }, 'Report'))
  const markReported = () => {
    button.textContent = 'Reported'
    button.disabled = true
  }
  if (reported.has(key(target))) markReported()
  button.addEventListener('click', async () => {
    if (await openReport(target)) markReported()
    else button.focus()
  })
  return button
}

/**
 * The danmaku bar's "Report…" button: a dialog listing `recent()` (the danmaku on screen
 * lately, newest first), each with its Report control. Nothing for someone signed out.
 * @param {() => import('../interact/rules.js').DanmakuItem[]} recent
 * @param {{live?: boolean}} [opts]
 * @returns {HTMLElement | null}
 */
export function danmakuReportButton(recent, { live = false } = {}) {
  if (!currentUser()) return null
  const titleId = uid('dmreport')
  const list = h('ol', { class: 'danmaku-report-list' })
  const closeButton = h('button', { class: 'btn btn-ghost', type: 'button' }, 'Close')
  const dialog = /** @type {HTMLDialogElement} */ (
    h('dialog', { class: 'dialog danmaku-report-dialog', 'aria-labelledby': titleId }, h('h2', { class: 'dialog-title', id: titleId }, 'Report a danmaku'), h('p', null, live ? 'The latest danmaku in this room:' : 'The danmaku of the last 20 seconds of the video:'), list, h('div', { class: 'row row-end' }, closeButton))
  )
  closeButton.addEventListener('click', () => dialog.close())
  const button = h('button', { class: 'btn btn-ghost btn-sm danmaku-report', type: 'button', 'aria-haspopup': 'dialog' }, 'Report…')
  button.addEventListener('click', () => {
    const items = recent()
    list.replaceChildren(
      ...(items.length
        ? items.map((d) => {
            const target = { kind: /** @type {const} */ ('danmaku'), id: d.id, subject: `“${d.text}” by ${d.author}` }
            const report = h('button', { class: 'btn btn-ghost btn-sm', type: 'button', disabled: reported.has(key(target)) }, reported.has(key(target)) ? 'Reported' : 'Report')
            report.addEventListener('click', async () => {
              // One modal at a time: the list closes while the reason is asked.
              dialog.close()
              await openReport(target)
              button.focus()
            })
            return h(
              'li',
              { class: 'danmaku-report-item', dataset: { danmakuId: d.id } },
              h('span', { class: 'danmaku-report-text' }, d.text),
              h('span', { class: 'muted' }, live ? d.author : `${d.author} · ${formatDuration(d.time_ms / 1000)}`),
              report,
            )
          })
        : [h('li', { class: 'muted' }, live ? 'No danmaku from others yet.' : 'No danmaku from others on screen lately.')]),
    )
    dialog.showModal()
    closeButton.focus()
  })
  // The list lives (and goes) with the bar; open, it is in the top layer all the same.
  return h('span', { class: 'danmaku-report-wrap' }, button, dialog)
}
