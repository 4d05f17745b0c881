// The hash lists on the moderation page (admins): every list (name, kind, entries, who made it
// and when) with Delete; importing a list file (`<hash> [<quality>] [<label>]` lines, sent as
// text/plain, all or nothing: the server names the first bad line); and checking one hash
// against every list.

import './moderation.css'
import { h, uid, formatAge, formatCount, formatDate, formatBytes } from '../dom.js'
import { messageOf } from '../api.js'
import { confirmDialog } from '../catalog/studio-item.js'
import { moderationApi, caseHref } from './client.js'
import { isHashHex, listNameProblem, MATCH_DISTANCE } from './rules.js'

const KINDS = [
  ['pdq', 'PDQ — perceptual hashes of pictures'],
  ['blake3', 'BLAKE3 — exact file digests'],
]

/**
 * @param {any} ctx the page context
 * @param {{onHeld?: (ids: string[]) => void}} [opts] called after an import that held videos
 * @returns {{el: HTMLElement, load: () => Promise<void>}}
 */
export function listsSection(ctx, { onHeld } = {}) {
  const dialog = confirmDialog()
  /** @type {import('./client.js').HashList[]} */
  let known = []
  const body = h('tbody')
  const table = h('table', { class: 'mod-table mod-lists', hidden: true }, h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Kind'), h('th', { scope: 'col' }, 'Entries'), h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))), body)
  const status = h('div', { class: 'mod-lists-status' })

  const load = async () => {
    try {
      const { lists } = await moderationApi.lists({ signal: ctx.signal })
      if (!ctx.isCurrent()) return
      known = lists
      body.replaceChildren(...lists.map(row))
      table.hidden = !lists.length
      status.replaceChildren(lists.length ? '' : h('p', { class: 'muted' }, 'No lists yet: import one below.'))
    } catch (e) {
      if (e && e.name === 'AbortError') return
      status.replaceChildren(h('p', { class: 'form-alert', role: 'alert' }, messageOf(e)))
    }
  }

  /** @param {import('./client.js').HashList} list */
  function row(list) {
    const del = h('button', { class: 'btn btn-ghost btn-sm btn-danger-text', type: 'button', 'aria-label': `Delete list ${list.name}` }, 'Delete')
    const tr = h(
      'tr',
      { class: 'mod-list', dataset: { list: list.name, kind: list.kind } },
      h('th', { scope: 'row', class: 'mod-list-name' }, list.name),
      h('td', null, list.kind),
      h('td', { class: 'num' }, formatCount(list.entries, 'entry', 'entries')),
      h('td', null, h('time', { datetime: list.created_at, title: formatDate(list.created_at) }, formatAge(list.created_at)), list.created_by ? ` by ${list.created_by}` : ''),
      h('td', { class: 'mod-list-actions' }, del),
    )
    del.addEventListener('click', async () => {
      if (!(await dialog.ask(`Delete the list “${list.name}”?`, `Its ${formatCount(list.entries, 'entry', 'entries')} no longer hold anything. Videos it held stay held until reviewed.`))) return
      del.disabled = true
      try {
        await moderationApi.deleteList(list.name)
        await load()
      } catch (e) {
        del.disabled = false
        status.replaceChildren(h('p', { class: 'form-alert', role: 'alert' }, messageOf(e)))
      }
    })
    return tr
  }

  // ---- import
  const ids = { file: uid('lf'), name: uid('ln'), kind: uid('lk') }
  const file = /** @type {HTMLInputElement} */ (h('input', { id: ids.file, name: 'file', type: 'file', accept: '.txt,.tsv,.list,text/plain', required: true }))
  const name = /** @type {HTMLInputElement} */ (h('input', { id: ids.name, name: 'name', type: 'text', maxlength: '64', autocomplete: 'off', required: true, placeholder: 'banned-clips', 'aria-describedby': `${ids.name}-hint` }))
  const kind = /** @type {HTMLSelectElement} */ (h('select', { id: ids.kind, name: 'kind' }, KINDS.map(([value, label]) => h('option', { value }, label))))
  const importAlert = h('div', { class: 'form-alert', role: 'alert' })
  const importResult = h('div', { class: 'mod-import-result', role: 'status' })
  const importButton = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Import')
  const importForm = h(
    'form',
    { class: 'mod-import', 'aria-label': 'Import a hash list' },
    h('h3', { class: 'mod-subtitle' }, 'Import a list'),
    h('p', { class: 'field-hint' }, 'One entry a line: ', h('code', null, '<hash> [<quality>] [<label>]'), ' — what ', h('code', null, 'spool moderation hash'), ' prints. One bad line refuses the whole file. Importing into an existing list adds to it.'),
    importAlert,
    h('div', { class: 'field' }, h('label', { for: ids.file }, 'List file'), file),
    h(
      'div',
      { class: 'field-row' },
      h('div', { class: 'field' }, h('label', { for: ids.name }, 'List name'), name, h('p', { class: 'field-hint', id: `${ids.name}-hint` }, 'Letters, digits, “-”, “_” and “.”; up to 64.')),
      h('div', { class: 'field' }, h('label', { for: ids.kind }, 'Kind'), kind),
    ),
    h('div', { class: 'row' }, importButton),
    importResult,
  )
  const syncKind = () => {
    const existing = known.find((l) => l.name === name.value.trim())
    if (existing) kind.value = existing.kind
  }
  name.addEventListener('input', syncKind)
  file.addEventListener('change', () => {
    const f = file.files && file.files[0]
    if (f && !name.value) {
      name.value = f.name.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 64)
      syncKind()
    }
  })
  importForm.addEventListener('submit', async (e) => {
    e.preventDefault()
    importAlert.replaceChildren()
    importResult.replaceChildren()
    const f = file.files && file.files[0]
    const listName = name.value.trim()
    const problem = !f ? 'Choose a list file.' : listNameProblem(listName)
    if (problem || !f) {
      importAlert.replaceChildren(h('p', null, problem))
      ;(f ? name : file).focus()
      return
    }
    importButton.disabled = true
    importResult.replaceChildren(h('p', { class: 'muted' }, `Importing ${f.name} (${formatBytes(f.size)})…`))
    try {
      const res = await moderationApi.importList(listName, /** @type {'pdq' | 'blake3'} */ (kind.value), f)
      const held = res.held || []
      importResult.replaceChildren(
        h(
          'p',
          { class: 'mod-imported', dataset: { imported: res.imported, duplicates: res.duplicates, held: held.length } },
          `Imported ${formatCount(res.imported, 'entry', 'entries')} into ${res.list?.name ?? listName}`,
          res.duplicates ? ` (${formatCount(res.duplicates, 'duplicate')} already there)` : '',
          held.length ? `; it holds ${formatCount(held.length, 'video')} already uploaded:` : '; it holds no video already uploaded.',
        ),
        held.length ? h('ul', { class: 'mod-held-links' }, held.map((id) => h('li', null, h('a', { href: caseHref(id) }, id)))) : null,
      )
      file.value = ''
      await load()
      if (held.length) onHeld?.(held)
    } catch (err) {
      importResult.replaceChildren()
      importAlert.replaceChildren(h('p', null, messageOf(err)))
    } finally {
      importButton.disabled = false
    }
  })

  // ---- check a hash
  const hashId = uid('mh')
  const distId = uid('md')
  const hash = /** @type {HTMLInputElement} */ (h('input', { id: hashId, class: 'mod-hex-input', name: 'hash', type: 'text', autocomplete: 'off', spellcheck: 'false', maxlength: '64', required: true, placeholder: '64 hex digits' }))
  const maxDistance = /** @type {HTMLInputElement} */ (h('input', { id: distId, class: 'mod-distance-input', name: 'max_distance', type: 'number', min: '0', max: String(MATCH_DISTANCE), step: '1', value: String(MATCH_DISTANCE), required: true }))
  const matchAlert = h('div', { class: 'form-alert', role: 'alert' })
  const matchResult = h('div', { class: 'mod-match-result', role: 'status' })
  const check = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Check')
  const matchForm = h(
    'form',
    { class: 'mod-check', 'aria-label': 'Check a hash' },
    h('h3', { class: 'mod-subtitle' }, 'Check a hash'),
    matchAlert,
    h('div', { class: 'mod-check-row' }, h('div', { class: 'field' }, h('label', { for: hashId }, 'PDQ hash or BLAKE3 digest'), hash), h('div', { class: 'field' }, h('label', { for: distId }, 'Max distance'), maxDistance), check),
    matchResult,
  )
  matchForm.addEventListener('submit', async (e) => {
    e.preventDefault()
    matchAlert.replaceChildren()
    matchResult.replaceChildren()
    const value = hash.value.trim()
    const distance = Number(maxDistance.value)
    if (!isHashHex(value)) {
      matchAlert.replaceChildren(h('p', null, 'A hash is 64 hex digits.'))
      hash.focus()
      return
    }
    if (!Number.isInteger(distance) || distance < 0 || distance > MATCH_DISTANCE) {
      matchAlert.replaceChildren(h('p', null, `The distance is a whole number from 0 to ${MATCH_DISTANCE}.`))
      maxDistance.focus()
      return
    }
    check.disabled = true
    try {
      const { matches } = await moderationApi.match(value, distance)
      matchResult.replaceChildren(
        matches.length
          ? h(
              'table',
              { class: 'mod-table mod-matches' },
              h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'List'), h('th', { scope: 'col' }, 'Label'), h('th', { scope: 'col' }, 'Distance'), h('th', { scope: 'col' }, 'Hash'))),
              h('tbody', null, matches.map((m) => h('tr', { class: 'mod-match-row', dataset: { list: m.list, distance: m.distance } }, h('td', null, m.list), h('td', null, m.label || '—'), h('td', { class: 'num' }, String(m.distance)), h('td', null, h('code', { class: 'mod-hex' }, m.hash))))),
            )
          : h('p', { class: 'muted mod-no-match' }, `No list has a hash within ${distance} of it.`),
      )
    } catch (err) {
      matchAlert.replaceChildren(h('p', null, messageOf(err)))
    } finally {
      check.disabled = false
    }
  })

  const el = h(
    'section',
    { class: 'mod-section mod-lists-section', 'aria-labelledby': 'mod-lists-title' },
    h('h2', { class: 'side-title', id: 'mod-lists-title' }, 'Hash lists'),
    table,
    status,
    h('div', { class: 'mod-tools' }, importForm, matchForm),
    dialog.el,
  )
  return { el, load }
}
