// Resumable uploads with tus-js-client against /api/v1/uploads (tus 1.0.0). The fingerprint of
// each upload is kept in localStorage, so choosing the same file again after a reload (or after
// the connection dropped for good) resumes where the server's offset says, instead of starting
// over. The creation answer names the new video in `Spool-Video-Id`.

import * as tus from 'tus-js-client'
import { csrfToken } from '../api.js'

export const CHUNK_SIZE = 8 * 1024 * 1024
export const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000]

/** The server's explanation of a failed tus request, else a readable fallback. */
export function uploadErrorMessage(error) {
  const response = error && error.originalResponse
  if (response) {
    const status = response.getStatus()
    try {
      const body = JSON.parse(response.getBody() || '')
      if (body && body.error && body.error.message) return body.error.message
    } catch {
      /* not JSON */
    }
    if (status === 401) return 'Your session has ended. Sign in again, then retry.'
    if (status === 413) return 'The file is larger than this server accepts.'
    if (status) return `The server refused the upload (HTTP ${status}).`
  }
  if (error && /network|xhr|failed to fetch/i.test(String(error.message))) {
    return 'The connection to the server was lost. Retry to continue where it stopped.'
  }
  return (error && error.message) || String(error)
}

/** A rate meter: bytes per second over the last few seconds. */
function rateMeter(windowMs = 4000) {
  const samples = []
  return {
    add(bytes, at = performance.now()) {
      samples.push([at, bytes])
      while (samples.length > 2 && at - samples[0][0] > windowMs) samples.shift()
    },
    reset() {
      samples.length = 0
    },
    rate() {
      if (samples.length < 2) return 0
      const [t0, b0] = samples[0]
      const [t1, b1] = samples[samples.length - 1]
      return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0
    },
  }
}

/**
 * Starts (or resumes) uploading `file`. Callbacks:
 *   onProgress({sent, total, rate, eta}), onVideoId(id), onResumed(offset), onSuccess(id), onError(message, error)
 * Returns { pause(), resume(), abort(), get videoId() }.
 */
export function startUpload(file, { title, onProgress, onVideoId, onResumed, onSuccess, onError }) {
  let videoId = null
  const meter = rateMeter()
  const setVideoId = (id) => {
    if (id && id !== videoId) {
      videoId = id
      onVideoId?.(id)
    }
  }
  const upload = new tus.Upload(file, {
    endpoint: new URL('/api/v1/uploads', location.origin).href,
    chunkSize: CHUNK_SIZE,
    retryDelays: RETRY_DELAYS,
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    metadata: { filename: file.name, title: title || file.name },
    headers: { 'X-CSRF-Token': csrfToken() || '' },
    onAfterResponse(req, res) {
      setVideoId(res.getHeader('Spool-Video-Id'))
      if (req.getMethod() === 'HEAD') {
        const offset = Number(res.getHeader('Upload-Offset'))
        if (Number.isFinite(offset)) onResumed?.(offset)
      }
    },
    onProgress(sent, total) {
      meter.add(sent)
      const rate = meter.rate()
      onProgress?.({ sent, total, rate, eta: rate > 0 ? (total - sent) / rate : null })
    },
    onSuccess() {
      onSuccess?.(videoId)
    },
    onError(error) {
      onError?.(uploadErrorMessage(error), error)
    },
  })
  const begin = async () => {
    try {
      const previous = await upload.findPreviousUploads()
      if (previous.length) {
        // Newest first: the last attempt is the one most likely still on the server.
        previous.sort((a, b) => String(b.creationTime).localeCompare(String(a.creationTime)))
        upload.resumeFromPreviousUpload(previous[0])
      }
    } catch {
      /* no storage: start a new upload */
    }
    meter.reset()
    upload.start()
  }
  begin()
  return {
    get videoId() {
      return videoId
    },
    /** The upload's URL on the server, once created. */
    get url() {
      return upload.url
    },
    pause() {
      meter.reset()
      return upload.abort(false)
    },
    resume() {
      meter.reset()
      upload.options.headers = { ...upload.options.headers, 'X-CSRF-Token': csrfToken() || '' }
      upload.start()
    },
    abort() {
      return upload.abort(false)
    },
  }
}
