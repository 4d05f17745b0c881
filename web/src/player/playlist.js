// Pure HLS playlist parsing for the player and the feed's prefetch (no DOM, no network):
// the variants and audio renditions of a master playlist, the init and first segment of a
// media playlist, the rung the feed prefetches, and the name of a level ("720p").
// Unit-tested by tests/unit/playlist.test.js.

/** The lowest short side the feed prefetches and starts on, when the ladder has it. */
export const PREFETCH_MIN_HEIGHT = 360

/**
 * @typedef {object} Variant
 * @property {string} url the media playlist, resolved against the master's URL
 * @property {number} bandwidth BANDWIDTH in bits per second (0 when absent)
 * @property {number} width from RESOLUTION (0 when absent)
 * @property {number} height from RESOLUTION (0 when absent)
 * @property {string | null} audioGroup the AUDIO group it plays with
 */

/**
 * @typedef {object} AudioRendition
 * @property {string} group GROUP-ID
 * @property {string} url the media playlist, resolved
 * @property {boolean} isDefault DEFAULT=YES
 */

/**
 * The attributes of a tag line after its colon: `BANDWIDTH=1,CODECS="a,b"` → {BANDWIDTH: '1', CODECS: 'a,b'}.
 * @param {string} text
 * @returns {Record<string, string>}
 */
export function parseAttributes(text) {
  /** @type {Record<string, string>} */
  const attrs = {}
  const re = /([A-Z0-9-]+)=("[^"]*"|[^,]*)/g
  let m
  while ((m = re.exec(text))) attrs[m[1]] = m[2].startsWith('"') ? m[2].slice(1, -1) : m[2]
  return attrs
}

/**
 * The variants and audio renditions of a master playlist, URIs resolved against `baseUrl`.
 * @param {string} text
 * @param {string} baseUrl
 * @returns {{variants: Variant[], audio: AudioRendition[]}}
 */
export function parseMaster(text, baseUrl) {
  const lines = text.split(/\r?\n/).map((l) => l.trim())
  /** @type {Variant[]} */
  const variants = []
  /** @type {AudioRendition[]} */
  const audio = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (line.startsWith('#EXT-X-STREAM-INF:')) {
      const attrs = parseAttributes(line.slice('#EXT-X-STREAM-INF:'.length))
      let j = i + 1
      while (j < lines.length && (!lines[j] || lines[j].startsWith('#'))) j++
      if (j >= lines.length) continue
      const [w, hgt] = (attrs.RESOLUTION || '').split('x').map(Number)
      variants.push({
        url: new URL(lines[j], baseUrl).href,
        bandwidth: Number(attrs.BANDWIDTH) || 0,
        width: w || 0,
        height: hgt || 0,
        audioGroup: attrs.AUDIO || null,
      })
      i = j
    } else if (line.startsWith('#EXT-X-MEDIA:')) {
      const attrs = parseAttributes(line.slice('#EXT-X-MEDIA:'.length))
      if (attrs.TYPE === 'AUDIO' && attrs.URI) {
        audio.push({ group: attrs['GROUP-ID'], url: new URL(attrs.URI, baseUrl).href, isDefault: attrs.DEFAULT === 'YES' })
      }
    }
  }
  return { variants, audio }
}

/**
 * The init segment (EXT-X-MAP) and the first media segment of a media playlist, resolved.
 * @param {string} text
 * @param {string} baseUrl
 * @returns {{init: string | null, first: string | null}}
 */
export function parseMedia(text, baseUrl) {
  const lines = text.split(/\r?\n/).map((l) => l.trim())
  /** @type {string | null} */
  let init = null
  /** @type {string | null} */
  let first = null
  let sawInf = false
  for (const line of lines) {
    if (line.startsWith('#EXT-X-MAP:')) {
      const attrs = parseAttributes(line.slice('#EXT-X-MAP:'.length))
      if (attrs.URI && !init) init = new URL(attrs.URI, baseUrl).href
    } else if (line.startsWith('#EXTINF')) sawInf = true
    else if (line && !line.startsWith('#') && sawInf) {
      first = new URL(line, baseUrl).href
      break
    }
  }
  return { init, first }
}

/**
 * The rung to prefetch and start on: the lowest of at least 360p (short side), else the lowest.
 * @param {Variant[]} variants
 * @returns {Variant | null}
 */
export function pickVariant(variants) {
  /** @param {Variant} v */
  const short = (v) => Math.min(v.width || Infinity, v.height || Infinity)
  const byBandwidth = [...variants].sort((a, b) => a.bandwidth - b.bandwidth)
  return byBandwidth.find((v) => Number.isFinite(short(v)) && short(v) >= PREFETCH_MIN_HEIGHT) || byBandwidth[0] || null
}

/**
 * "720p": the short side, as the ladder names rungs; "800 kbps" without a resolution.
 * @param {{width?: number, height?: number, bitrate?: number} | null | undefined} level
 * @returns {string}
 */
export function levelName(level) {
  if (!level) return ''
  const { width, height } = level
  if (width && height) return `${Math.min(width, height)}p`
  if (height) return `${height}p`
  return level.bitrate ? `${Math.round(level.bitrate / 1000)} kbps` : '?'
}
