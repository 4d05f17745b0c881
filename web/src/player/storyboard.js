// Storyboard thumbnails: a WebVTT file whose cues name a sprite region,
// e.g. "sb_0.jpg#xywh=160,0,160,90", relative to the VTT's own URL.

/**
 * Seconds of a WebVTT timestamp (hh:mm:ss.ttt or mm:ss.ttt), NaN for anything else.
 * @param {string} text
 */
function parseTimestamp(text) {
  const raw = text.trim().split(':')
  if (raw.length < 2 || raw.length > 3 || raw.some((p) => !/^\d+(\.\d+)?$/.test(p))) return NaN
  return raw.map(Number).reduce((acc, n) => acc * 60 + n, 0)
}

/**
 * @typedef {{start: number, end: number, url: string, x: number, y: number, w: number, h: number}} StoryboardCue
 */

/**
 * Parses the VTT text into cues sorted by start; cues that do not parse are skipped.
 * @param {string} text
 * @param {string} vttUrl what relative sprite URLs resolve against
 * @returns {StoryboardCue[]}
 */
export function parseStoryboard(text, vttUrl) {
  const cues = []
  const lines = text.replace(/\r\n?/g, '\n').split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (!line.includes('-->')) continue
    const [from, rest] = line.split('-->')
    const to = rest.trim().split(/\s+/)[0]
    const start = parseTimestamp(from)
    const end = parseTimestamp(to)
    const payload = (lines[i + 1] || '').trim()
    if (!payload || !Number.isFinite(start) || !Number.isFinite(end)) continue
    let url
    try {
      url = new URL(payload, vttUrl)
    } catch {
      continue
    }
    const m = /^xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(url.hash.slice(1))
    url.hash = ''
    const cue = { start, end, url: url.href, x: 0, y: 0, w: 0, h: 0 }
    if (m) [cue.x, cue.y, cue.w, cue.h] = m.slice(1).map(Number)
    cues.push(cue)
  }
  cues.sort((a, b) => a.start - b.start)
  return cues
}

/**
 * The cue covering time t (binary search), or the nearest one.
 * @param {StoryboardCue[]} cues sorted by start
 * @param {number} t
 * @returns {StoryboardCue | null}
 */
export function cueAt(cues, t) {
  if (!cues.length) return null
  let lo = 0
  let hi = cues.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (cues[mid].start <= t) lo = mid
    else hi = mid - 1
  }
  return cues[lo]
}

/**
 * @param {string} vttUrl
 * @param {AbortSignal} [signal]
 */
export async function loadStoryboard(vttUrl, signal) {
  const response = await fetch(vttUrl, { signal, credentials: 'same-origin' })
  if (!response.ok) throw new Error(`storyboard: HTTP ${response.status}`)
  const base = response.url || new URL(vttUrl, location.href).href
  return parseStoryboard(await response.text(), base)
}
