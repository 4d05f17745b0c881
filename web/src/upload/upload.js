// The upload page (`/upload`): pick a file, title it, upload it resumably (tus.js: pause,
// resume, resume after a reload), then follow processing until the video can be watched.

import { h, uid, icon, ICONS, formatBytes } from '../dom.js'
import { api, currentUser, messageOf } from '../api.js'
import { startUpload } from './tus.js'
import { watchProcessing } from '../catalog/processing.js'
import { watchHref } from '../components.js'

function signInCard(ctx) {
  ctx.root.append(
    h(
      'div',
      { class: 'page page-upload' },
      h(
        'div',
        { class: 'auth-card' },
        h('h1', null, 'Upload a video'),
        h('p', null, 'Sign in to upload videos to your channel.'),
        h('div', { class: 'row' }, h('a', { class: 'btn btn-primary', href: '/signin?next=%2Fupload' }, 'Sign in'), h('a', { class: 'btn btn-ghost', href: '/signup?next=%2Fupload' }, 'Create an account')),
      ),
    ),
  )
}

function fmtEta(seconds) {
  if (!Number.isFinite(seconds) || seconds === null) return ''
  if (seconds < 1) return 'less than a second left'
  if (seconds < 90) return `${Math.ceil(seconds)} s left`
  return `${Math.ceil(seconds / 60)} min left`
}

function titleFromName(name) {
  return name.replace(/\.[^.]+$/, '').replace(/[_]+/g, ' ').trim() || name
}

export default async function uploadPage(ctx) {
  ctx.setTitle('Upload')
  if (!currentUser()) return signInCard(ctx)

  const fileId = uid('file')
  const titleId = uid('title')
  let file = null
  let titleTouched = false
  let job = null
  let stopProcessing = null

  const fileInput = h('input', { id: fileId, class: 'sr-only file-input', type: 'file', accept: 'video/*,.mkv,.mov,.mp4,.webm', name: 'file' })
  const fileName = h('span', { class: 'drop-file' }, '')
  const drop = h(
    'label',
    { class: 'dropzone', for: fileId },
    icon(ICONS.upload, 'icon icon-xl'),
    h('span', { class: 'drop-title' }, 'Drag a video here'),
    h('span', { class: 'drop-sub' }, 'or ', h('span', { class: 'fake-link' }, 'choose a file'), ' from your device'),
    fileName,
  )
  const title = h('input', { id: titleId, type: 'text', name: 'title', maxlength: '200', required: true, autocomplete: 'off', placeholder: 'Defaults to the file name' })
  const startBtn = h('button', { class: 'btn btn-primary', type: 'submit', disabled: true }, 'Upload')
  const formAlert = h('div', { class: 'form-alert', role: 'alert' })
  const form = h(
    'form',
    { class: 'upload-form' },
    fileInput,
    drop,
    h('div', { class: 'field' }, h('label', { for: titleId }, 'Title'), title),
    formAlert,
    h('div', { class: 'row' }, startBtn),
  )

  // Progress / processing panel.
  const bar = h('div', { class: 'bar-fill' })
  const barWrap = h('div', { class: 'bar', role: 'progressbar', 'aria-label': 'Upload progress', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, bar)
  const pct = h('span', { class: 'upload-pct' }, '0%')
  const detail = h('span', { class: 'upload-detail' }, '')
  const pauseBtn = h('button', { class: 'btn btn-ghost', type: 'button' }, 'Pause')
  const retryBtn = h('button', { class: 'btn btn-primary', type: 'button', hidden: true }, 'Retry')
  const message = h('div', { class: 'upload-message', role: 'status', 'aria-live': 'polite' })
  const stage = h('h2', { class: 'upload-stage' }, 'Uploading')
  const uploadName = h('p', { class: 'upload-name' })
  const actions = h('div', { class: 'row upload-actions' }, pauseBtn, retryBtn)
  const panel = h('section', { class: 'upload-panel', hidden: true, 'aria-labelledby': 'upload-stage' }, stage, uploadName, h('div', { class: 'upload-progress-row' }, pct, detail), barWrap, message, actions)
  stage.id = 'upload-stage'
  const root = h('div', { class: 'page page-upload', dataset: { uploadState: 'idle' } }, h('div', { class: 'upload-card' }, h('h1', null, 'Upload a video'), form, panel))
  ctx.root.append(root)

  const setState = (s) => (root.dataset.uploadState = s)
  const setBar = (percent, label) => {
    const p = Math.max(0, Math.min(100, percent))
    bar.style.width = `${p}%`
    barWrap.setAttribute('aria-valuenow', String(Math.round(p)))
    if (label) barWrap.setAttribute('aria-label', label)
    pct.textContent = `${Math.floor(p)}%`
  }

  const choose = (f) => {
    if (!f) return
    file = f
    fileName.textContent = `${f.name} · ${formatBytes(f.size)}`
    drop.classList.add('has-file')
    if (!titleTouched) title.value = titleFromName(f.name)
    startBtn.disabled = false
    formAlert.replaceChildren()
  }
  fileInput.addEventListener('change', () => choose(fileInput.files && fileInput.files[0]))
  title.addEventListener('input', () => (titleTouched = true))
  for (const name of ['dragenter', 'dragover']) {
    drop.addEventListener(name, (e) => {
      e.preventDefault()
      drop.classList.add('is-over')
    })
  }
  for (const name of ['dragleave', 'drop']) drop.addEventListener(name, () => drop.classList.remove('is-over'))
  drop.addEventListener('drop', (e) => {
    e.preventDefault()
    const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0]
    if (f && !(f.type.startsWith('video/') || /\.(mkv|mov|mp4|webm|avi|m4v)$/i.test(f.name))) {
      formAlert.replaceChildren(h('p', null, `“${f.name}” does not look like a video file.`))
      return
    }
    choose(f)
  })

  const followProcessing = (id) => {
    stopProcessing?.()
    setState('processing')
    stage.textContent = 'Processing'
    pauseBtn.hidden = true
    retryBtn.hidden = true
    setBar(0, 'Processing progress')
    detail.textContent = 'Preparing the video for streaming…'
    let watchLink = null
    stopProcessing = watchProcessing(id, {
      render: (s) => {
        if (!ctx.isCurrent()) return
        if (s.status === 'failed') return
        setBar(s.progress, 'Processing progress')
        const qualities = s.renditions && s.renditions.length ? `Ready to play in ${s.renditions.join(', ')}` : 'Not playable yet'
        detail.textContent = s.processing_complete ? `Done · ${s.renditions.join(', ')}` : `${qualities}`
      },
      onPlayable: () => {
        if (!ctx.isCurrent()) return
        setState('playable')
        stage.textContent = 'Playable — finishing the other qualities'
        watchLink = h('a', { class: 'btn btn-primary watch-now', href: watchHref(id) }, 'Watch now')
        actions.replaceChildren(watchLink, h('a', { class: 'btn btn-ghost', href: '/studio' }, 'Edit in Studio'), anotherBtn())
      },
      onFinal: (s) => {
        if (!ctx.isCurrent()) return
        if (s.status === 'failed') {
          setState('failed')
          stage.textContent = 'Processing failed'
          message.replaceChildren(h('p', { class: 'notice notice-error' }, s.error || 'The video could not be processed.'))
          const retry = h('button', { class: 'btn btn-primary', type: 'button' }, 'Retry processing')
          retry.addEventListener('click', async () => {
            retry.disabled = true
            try {
              await api.retry(id)
              message.replaceChildren()
              actions.replaceChildren()
              followProcessing(id)
            } catch (e) {
              retry.disabled = false
              message.replaceChildren(h('p', { class: 'notice notice-error' }, messageOf(e)))
            }
          })
          actions.replaceChildren(retry, anotherBtn())
          return
        }
        setState('complete')
        stage.textContent = 'Ready'
        setBar(100)
        if (!watchLink) actions.replaceChildren(h('a', { class: 'btn btn-primary watch-now', href: watchHref(id) }, 'Watch now'), anotherBtn())
      },
      onDeleted: () => {
        setState('error')
        message.replaceChildren(h('p', { class: 'notice notice-error' }, 'The video was deleted.'))
      },
    })
  }

  const anotherBtn = () => h('button', { class: 'btn btn-ghost', type: 'button', onclick: () => reset() }, 'Upload another')

  const reset = () => {
    stopProcessing?.()
    job?.abort()
    job = null
    file = null
    titleTouched = false
    fileInput.value = ''
    title.value = ''
    fileName.textContent = ''
    drop.classList.remove('has-file')
    startBtn.disabled = true
    panel.hidden = true
    form.hidden = false
    message.replaceChildren()
    actions.replaceChildren(pauseBtn, retryBtn)
    setState('idle')
  }

  let paused = false
  pauseBtn.addEventListener('click', async () => {
    if (!job) return
    if (paused) {
      paused = false
      pauseBtn.textContent = 'Pause'
      setState('uploading')
      stage.textContent = 'Uploading'
      job.resume()
    } else {
      paused = true
      pauseBtn.textContent = 'Resume'
      setState('paused')
      stage.textContent = 'Paused'
      detail.textContent = 'Paused — resume any time, even after reloading the page'
      await job.pause()
    }
  })
  retryBtn.addEventListener('click', () => {
    if (!job) return
    retryBtn.hidden = true
    pauseBtn.hidden = false
    message.replaceChildren()
    setState('uploading')
    stage.textContent = 'Uploading'
    job.resume()
  })

  form.addEventListener('submit', (e) => {
    e.preventDefault()
    if (!file) {
      formAlert.replaceChildren(h('p', null, 'Choose a video file first.'))
      return
    }
    const chosen = file
    form.hidden = true
    panel.hidden = false
    uploadName.textContent = title.value.trim() || chosen.name
    setState('uploading')
    stage.textContent = 'Uploading'
    setBar(0, 'Upload progress')
    detail.textContent = `0 B of ${formatBytes(chosen.size)}`
    job = startUpload(chosen, {
      title: title.value.trim() || chosen.name,
      onResumed: (offset) => {
        if (offset > 0) message.replaceChildren(h('p', { class: 'muted' }, `Resuming from ${formatBytes(offset)} already on the server.`))
      },
      onVideoId: (id) => (root.dataset.videoId = id),
      onProgress: ({ sent, total, rate, eta }) => {
        if (!ctx.isCurrent() || paused) return
        if (job?.url) root.dataset.uploadUrl = job.url
        setBar(total ? (sent / total) * 100 : 0, 'Upload progress')
        const parts = [`${formatBytes(sent)} of ${formatBytes(total)}`]
        if (rate > 0) parts.push(`${(rate / 1e6).toFixed(1)} MB/s`)
        const left = fmtEta(eta)
        if (left && sent < total) parts.push(left)
        detail.textContent = parts.join(' · ')
      },
      onSuccess: (id) => {
        if (!ctx.isCurrent()) return
        setBar(100)
        if (!id) {
          setState('error')
          message.replaceChildren(h('p', { class: 'notice notice-error' }, 'Uploaded, but the server did not say which video it became. Find it in Studio.'))
          return
        }
        followProcessing(id)
      },
      onError: (text) => {
        if (!ctx.isCurrent()) return
        setState('error')
        stage.textContent = 'Upload interrupted'
        message.replaceChildren(h('p', { class: 'notice notice-error' }, text))
        retryBtn.hidden = false
        pauseBtn.hidden = true
      },
    })
  })

  ctx.onCleanup(() => {
    stopProcessing?.()
    // Leaving the page pauses the upload; choosing the same file later resumes it.
    job?.abort()
  })
}
