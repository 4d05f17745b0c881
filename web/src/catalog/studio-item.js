// Studio: the owner's list of videos with status and progress, an edit form per video, the cover
// chooser, retry for failed processing, the notice of a video held for review and deletion behind
// a confirmation dialog.

import { h, uid, formatDuration, formatAge, formatCount, formatBytes } from '../dom.js'
import { api, messageOf } from '../api.js'
import { statusBadge, visibilityBadge, coverImage, watchHref } from '../components.js'
import { isFinal } from './processing.js'
import { heldNotice } from '../moderation/held.js'

const SVG_NS = 'http://www.w3.org/2000/svg'

function svg(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  return el
}

/** The retention curve: share of viewers still watching at each 1% of the video. */
export function retentionChart(retention) {
  const width = 300
  const height = 100
  const points = retention.map((share, i) => `${((i / 99) * width).toFixed(1)},${(height - share * height).toFixed(1)}`).join(' ')
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', class: 'retention-chart', role: 'img', 'aria-label': `Audience retention: ${Math.round((retention[99] ?? 0) * 100)}% of viewers reached the end` })
  for (const y of [0, 50, 100]) chart.append(svg('line', { x1: 0, x2: width, y1: y, y2: y, class: 'retention-grid' }))
  chart.append(svg('polygon', { points: `0,${height} ${points} ${width},${height}`, class: 'retention-area' }))
  chart.append(svg('polyline', { points, class: 'retention-line' }))
  return chart
}

function statsView(stats) {
  const percent = (x) => `${Math.round(x * 100)}%`
  const facts = [
    ['Views', String(stats.views)],
    ['Unique viewers', String(stats.unique_viewers)],
    ['Watch time', formatDuration(stats.watch_time_s)],
    ['Average view', formatDuration(stats.avg_view_duration_s)],
    ['Completion', percent(stats.completion_rate)],
    ['Likes', String(stats.likes)],
  ]
  const list = h('dl', { class: 'stats-facts' }, ...facts.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]))
  const chart = stats.retention.length
    ? h('figure', { class: 'retention' }, retentionChart(stats.retention), h('figcaption', null, 'Audience retention: share of viewers still watching at each point of the video'))
    : h('p', { class: 'muted' }, 'The retention curve appears once people have watched.')
  return h('div', { class: 'studio-stats-body' }, list, chart)
}

const VISIBILITIES = [
  ['public', 'Public — listed for everyone'],
  ['unlisted', 'Unlisted — anyone with the link'],
  ['private', 'Private — only you'],
]

function bar(percent, label) {
  const fill = h('div', { class: 'bar-fill' })
  fill.style.width = `${Math.max(0, Math.min(100, percent))}%`
  return h('div', { class: 'bar bar-sm', role: 'progressbar', 'aria-label': label, 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(percent) }, fill)
}

/** The confirmation dialog shared by every item; resolves true when confirmed. */
export function confirmDialog() {
  const titleEl = h('h2', { class: 'dialog-title' })
  const text = h('p')
  const cancel = h('button', { class: 'btn btn-ghost', type: 'button', value: 'cancel' }, 'Cancel')
  const ok = h('button', { class: 'btn btn-danger', type: 'button', value: 'ok' }, 'Delete')
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': uid('dlg') }, titleEl, text, h('div', { class: 'row row-end' }, cancel, ok))
  titleEl.id = dialog.getAttribute('aria-labelledby')
  let resolve = null
  const close = (value) => {
    if (dialog.open) dialog.close()
    resolve?.(value)
    resolve = null
  }
  cancel.addEventListener('click', () => close(false))
  ok.addEventListener('click', () => close(true))
  dialog.addEventListener('cancel', () => {
    resolve?.(false)
    resolve = null
  })
  return {
    el: dialog,
    ask(title, body, confirmLabel = 'Delete') {
      titleEl.textContent = title
      text.textContent = body
      ok.textContent = confirmLabel
      dialog.showModal()
      cancel.focus()
      return new Promise((r) => (resolve = r))
    },
  }
}

/** One video row of the studio. Returns { el, update(video), video }. */
export function studioItem(initial, { dialog, onDeleted }) {
  let v = initial
  const ids = { title: uid('t'), desc: uid('d'), tags: uid('g'), cat: uid('c'), vis: uid('v'), cover: uid('cv') }
  const thumb = h('a', { class: 'studio-thumb', href: watchHref(v.id), tabindex: '-1', 'aria-hidden': 'true' })
  const titleLink = h('a', { class: 'studio-title', href: watchHref(v.id) })
  const badges = h('div', { class: 'studio-badges' })
  const facts = h('p', { class: 'studio-facts' })
  const statusArea = h('div', { class: 'studio-status' })

  // ---- edit form
  const title = h('input', { id: ids.title, name: 'title', type: 'text', maxlength: '200', required: true, value: v.title })
  const description = h('textarea', { id: ids.desc, name: 'description', rows: '4', maxlength: '5000' })
  description.value = v.description || ''
  const tags = h('input', { id: ids.tags, name: 'tags', type: 'text', value: (v.tags || []).join(', '), placeholder: 'music, live, tutorial', 'aria-describedby': `${ids.tags}-hint` })
  const category = h('input', { id: ids.cat, name: 'category', type: 'text', maxlength: '64', value: v.category || '', placeholder: 'e.g. Education' })
  const visibility = h('select', { id: ids.vis, name: 'visibility' }, VISIBILITIES.map(([value, label]) => h('option', { value, selected: value === v.visibility }, label)))
  visibility.value = v.visibility
  const formAlert = h('div', { class: 'form-alert', role: 'alert' })
  const saved = h('span', { class: 'saved-note', role: 'status' })
  const save = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Save')
  const form = h(
    'form',
    { class: 'studio-form' },
    formAlert,
    h('div', { class: 'field' }, h('label', { for: ids.title }, 'Title'), title),
    h('div', { class: 'field' }, h('label', { for: ids.desc }, 'Description'), description),
    h('div', { class: 'field-row' }, h('div', { class: 'field' }, h('label', { for: ids.tags }, 'Tags'), tags, h('p', { class: 'field-hint', id: `${ids.tags}-hint` }, 'Separate tags with commas.')), h('div', { class: 'field' }, h('label', { for: ids.cat }, 'Category'), category)),
    h('div', { class: 'field' }, h('label', { for: ids.vis }, 'Visibility'), visibility),
    h('div', { class: 'row' }, save, saved),
  )
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    formAlert.replaceChildren()
    saved.textContent = ''
    save.disabled = true
    const fields = {
      title: title.value.trim(),
      description: description.value,
      tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean),
      category: category.value.trim(),
      visibility: visibility.value,
    }
    try {
      const updated = await api.updateVideo(v.id, fields)
      update(updated, true)
      saved.textContent = 'Saved'
    } catch (err) {
      formAlert.replaceChildren(h('p', null, messageOf(err)))
      const field = /title/i.test(err.message) ? title : /description/i.test(err.message) ? description : /tag/i.test(err.message) ? tags : /category/i.test(err.message) ? category : null
      field?.focus()
    } finally {
      save.disabled = false
    }
  })

  // ---- covers
  const candidates = h('div', { class: 'cover-candidates', role: 'group', 'aria-label': 'Cover candidates' })
  const coverAlert = h('div', { class: 'form-alert', role: 'alert' })
  const coverFile = h('input', { id: ids.cover, class: 'sr-only', type: 'file', accept: 'image/jpeg,image/png,image/webp' })
  const coverBox = h(
    'fieldset',
    { class: 'cover-chooser' },
    h('legend', null, 'Cover'),
    candidates,
    h('div', { class: 'row' }, h('label', { class: 'btn btn-ghost', for: ids.cover }, 'Upload cover'), coverFile),
    coverAlert,
  )
  let candidatesLoaded = false
  const refreshVideo = async () => {
    try {
      update(await api.video(v.id), false)
    } catch {
      /* keep the old row */
    }
  }
  const loadCandidates = async () => {
    if (candidatesLoaded || !(v.renditions && v.renditions.length)) {
      if (!(v.renditions && v.renditions.length)) candidates.replaceChildren(h('p', { class: 'muted' }, 'Cover choices appear once the video is processed.'))
      return
    }
    candidatesLoaded = true
    candidates.replaceChildren(h('p', { class: 'muted' }, 'Loading…'))
    try {
      const { candidates: list } = await api.coverCandidates(v.id)
      if (!list.length) {
        candidates.replaceChildren(h('p', { class: 'muted' }, 'No suggested frames for this video.'))
        return
      }
      candidates.replaceChildren(
        ...list.map((c) => {
          const btn = h('button', { class: 'cover-candidate', type: 'button', 'aria-label': `Use frame ${c.index + 1} as the cover` }, h('img', { src: c.url, alt: '', loading: 'lazy' }))
          btn.addEventListener('click', async () => {
            coverAlert.replaceChildren()
            for (const b of candidates.querySelectorAll('button')) b.disabled = true
            try {
              await api.chooseCover(v.id, c.index)
              for (const b of candidates.querySelectorAll('button')) b.setAttribute('aria-pressed', 'false')
              btn.setAttribute('aria-pressed', 'true')
              await refreshVideo()
            } catch (err) {
              coverAlert.replaceChildren(h('p', null, messageOf(err)))
            } finally {
              for (const b of candidates.querySelectorAll('button')) b.disabled = false
            }
          })
          return btn
        }),
      )
    } catch (err) {
      candidatesLoaded = false
      candidates.replaceChildren(h('p', { class: 'muted' }, messageOf(err)))
    }
  }
  coverFile.addEventListener('change', async () => {
    const f = coverFile.files && coverFile.files[0]
    if (!f) return
    coverAlert.replaceChildren(h('p', { class: 'muted' }, `Uploading ${f.name} (${formatBytes(f.size)})…`))
    try {
      await api.uploadCover(v.id, f)
      coverAlert.replaceChildren()
      await refreshVideo()
    } catch (err) {
      coverAlert.replaceChildren(h('p', null, messageOf(err)))
    } finally {
      coverFile.value = ''
    }
  })

  const details = h('details', { class: 'studio-edit' }, h('summary', null, 'Edit details'), h('div', { class: 'studio-edit-body' }, form, coverBox))
  details.addEventListener('toggle', () => {
    if (details.open) loadCandidates()
  })

  const statsBody = h('div', { class: 'studio-stats-panel' }, h('p', { class: 'muted' }, 'Loading…'))
  const statsBox = h('details', { class: 'studio-edit studio-stats' }, h('summary', null, 'Stats'), statsBody)
  statsBox.addEventListener('toggle', async () => {
    if (!statsBox.open) return
    try {
      statsBody.replaceChildren(statsView(await api.stats(v.id)))
    } catch (err) {
      statsBody.replaceChildren(h('p', { class: 'form-alert', role: 'alert' }, messageOf(err)))
    }
  })

  const del = h('button', { class: 'btn btn-ghost btn-danger-text', type: 'button' }, 'Delete')
  del.addEventListener('click', async () => {
    const ok = await dialog.ask(`Delete “${v.title}”?`, 'The video, its renditions and its cover are removed for good. This cannot be undone.')
    if (!ok) return
    del.disabled = true
    try {
      await api.deleteVideo(v.id)
      el.remove()
      onDeleted?.(v)
    } catch (err) {
      del.disabled = false
      statusArea.append(h('p', { class: 'notice notice-error', role: 'alert' }, messageOf(err)))
    }
  })

  const el = h(
    'article',
    { class: 'studio-item', dataset: { videoId: v.id } },
    thumb,
    h('div', { class: 'studio-main' }, h('h2', { class: 'studio-title-wrap' }, titleLink), h('div', { class: 'studio-actions' }, del), badges, facts, statusArea),
    details,
    statsBox,
  )

  function update(next, fromEdit) {
    const before = v
    v = next
    el.dataset.status = v.status
    el.dataset.visibility = v.visibility
    titleLink.textContent = v.title
    badges.replaceChildren(statusBadge(v), visibilityBadge(v))
    facts.replaceChildren(
      [v.duration_s ? formatDuration(v.duration_s) : null, v.size_bytes ? formatBytes(v.size_bytes) : null, formatCount(v.views, 'view'), formatCount(v.likes, 'like'), `uploaded ${formatAge(v.created_at)}`]
        .filter(Boolean)
        .join(' · '),
    )
    if (!before || before.cover_url !== v.cover_url || !thumb.firstChild) thumb.replaceChildren(coverImage(v, '160px'), v.duration_s ? h('span', { class: 'duration' }, formatDuration(v.duration_s)) : null)
    statusArea.replaceChildren()
    if (v.status === 'failed') {
      const retry = h('button', { class: 'btn btn-primary btn-sm', type: 'button' }, 'Retry processing')
      retry.addEventListener('click', async () => {
        retry.disabled = true
        try {
          update(await api.retry(v.id), false)
          onChange?.()
        } catch (err) {
          retry.disabled = false
          statusArea.append(h('p', { class: 'form-alert', role: 'alert' }, messageOf(err)))
        }
      })
      statusArea.append(h('div', { class: 'notice notice-error' }, h('p', null, h('strong', null, 'Processing failed: '), v.error || 'unknown error'), retry))
    } else if (v.status === 'held') {
      statusArea.append(heldNotice(v))
    } else if (!isFinal(v)) {
      const label = v.status === 'uploading' ? 'Upload not finished — choose the same file on the Upload page to resume' : v.renditions.length ? `Playable; finishing other qualities · ${v.progress}%` : `Processing · ${v.progress}%`
      statusArea.append(h('p', { class: 'studio-progress-label' }, label), bar(v.progress, 'Processing progress'))
    }
    if (fromEdit) {
      // The form already shows what was saved.
    } else if (before && before.title !== v.title && document.activeElement !== title) {
      title.value = v.title
    }
    if (!candidatesLoaded && details.open) loadCandidates()
  }
  let onChange = null
  update(v, false)
  return {
    el,
    update: (next) => update(next, false),
    get video() {
      return v
    },
    set onChange(fn) {
      onChange = fn
    },
  }
}
