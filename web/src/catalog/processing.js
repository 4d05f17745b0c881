// Follows a video's processing through the server-sent events feed
// (GET /api/v1/videos/{id}/events, event `progress`): {status, progress, renditions,
// processing_complete, error}. The server ends the stream after the final state; we close it
// ourselves at that point so EventSource does not reconnect. If the stream cannot be used, the
// video is polled instead.

import { api } from '../api.js'

export function isFinal(state) {
  return state.status === 'failed' || (state.status === 'ready' && state.processing_complete)
}

/**
 * @typedef {{status: string, progress: number, renditions: string[], processing_complete: boolean, error?: string | null}} ProcessingState
 */

/**
 * watchProcessing(id, { render(state), onPlayable(state), onFinal(state), onDeleted() }) → stop()
 * onPlayable fires once, when the first renditions exist.
 * @param {string} id
 * @param {{render?: (state: ProcessingState) => void, onPlayable?: (state: ProcessingState) => void, onFinal?: (state: ProcessingState) => void, onDeleted?: () => void}} [handlers]
 * @returns {() => void} stop
 */
export function watchProcessing(id, { render = () => {}, onPlayable = () => {}, onFinal = () => {}, onDeleted = () => {} } = {}) {
  let stopped = false
  let playable = false
  let source = null
  let pollTimer = 0
  let failures = 0

  const handle = (state) => {
    if (stopped) return
    render(state)
    if (!playable && state.renditions && state.renditions.length && state.status !== 'failed') {
      playable = true
      onPlayable(state)
    }
    if (isFinal(state)) {
      stop()
      onFinal(state)
    }
  }

  const poll = async () => {
    if (stopped) return
    try {
      const v = await api.video(id)
      failures = 0
      handle({
        status: v.status,
        progress: v.progress,
        renditions: v.renditions.map((r) => r.name),
        processing_complete: v.processing_complete,
        error: v.error,
      })
    } catch (e) {
      if (e && e.status === 404) {
        stop()
        onDeleted()
        return
      }
      failures += 1
    }
    if (!stopped) pollTimer = setTimeout(poll, Math.min(10000, 2000 * (1 + failures)))
  }

  const stop = () => {
    stopped = true
    clearTimeout(pollTimer)
    if (source) {
      source.close()
      source = null
    }
  }

  if (typeof EventSource === 'function') {
    source = new EventSource(api.eventsUrl(id))
    source.addEventListener('progress', (e) => {
      try {
        handle(JSON.parse(e.data))
      } catch {
        /* a malformed event: wait for the next */
      }
    })
    source.addEventListener('deleted', () => {
      stop()
      onDeleted()
    })
    source.addEventListener('error', () => {
      // CONNECTING: the browser reconnects by itself. CLOSED: fall back to polling.
      if (!stopped && source && source.readyState === EventSource.CLOSED) {
        source = null
        poll()
      }
    })
  } else {
    poll()
  }
  return stop
}
