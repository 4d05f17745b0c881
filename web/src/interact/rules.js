// The pure rules of danmaku in the browser: how one becomes the renderer's comment, what
// each density setting shows. Kept apart from the DOM so node's test runner checks them.

/** One slice of history is 6 minutes (the server's `slice_ms`). */
export const SLICE_MS = 6 * 60 * 1000
/** Pixel sizes of the three sizes, at a 640 px wide player (scaled with the player). */
const SIZES = { small: 18, normal: 24, large: 32 }
/** Density: the lowest weight shown (the server weighs 1-10; hosts 10). */
export const DENSITY = { low: 6, normal: 3, all: 1 }

/**
 * @typedef {{id: number, text: string, time_ms: number, mode: string, color: string, size: string, weight: number, author: string, deleted?: boolean}} DanmakuItem
 */

/**
 * The library's comment for one of ours: scroll is right-to-left.
 * @param {DanmakuItem} d
 * @param {number} scale
 * @param {boolean} withTime
 * @returns {{text: string, mode: 'top' | 'bottom' | 'rtl', style: any, time?: number}}
 */
export function toComment(d, scale, withTime) {
  const px = Math.round((SIZES[/** @type {keyof typeof SIZES} */ (d.size)] || SIZES.normal) * scale)
  /** @type {any} */
  const style = {
    fontSize: `${px}px`,
    color: /^#[0-9a-f]{6}$/i.test(d.color) ? d.color : '#ffffff',
    fontWeight: '600',
    textShadow: '0 0 2px #000, 0 0 2px #000, 1px 1px 2px #000',
    fontFamily: 'system-ui, "PingFang SC", "Microsoft YaHei", sans-serif',
  }
  /** @type {'top' | 'bottom' | 'rtl'} */
  const mode = d.mode === 'top' || d.mode === 'bottom' ? d.mode : 'rtl'
  return withTime ? { text: d.text, mode, style, time: d.time_ms / 1000 } : { text: d.text, mode, style }
}

