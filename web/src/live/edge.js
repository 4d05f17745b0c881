// Pure helpers of the live pages (no DOM, no player), unit-tested in tests/unit/live.test.js.

/**
 * The health line of a stream: `854x480 · 30 fps · 2.5 Mbit/s · GOP 1.0 s · no B-frames`.
 * @param {{width: number, height: number, fps: number, bitrate_bps: number, gop_seconds: number, b_frames: boolean}} health
 */
export function healthLine(health) {
  const mbps = health.bitrate_bps / 1e6
  const rate = mbps >= 1 ? `${mbps.toFixed(1)} Mbit/s` : `${Math.round(health.bitrate_bps / 1000)} kbit/s`
  return [
    `${health.width}x${health.height}`,
    `${Math.round(health.fps)} fps`,
    rate,
    `GOP ${health.gop_seconds.toFixed(1)} s`,
    health.b_frames ? 'B-frames' : 'no B-frames',
  ].join(' · ')
}

/**
 * Seconds behind the live edge, or null before it is known.
 * @param {number | null | undefined} edge hls.js's liveSyncPosition
 * @param {number} current
 */
export function behindEdge(edge, current) {
  if (typeof edge !== 'number' || !Number.isFinite(edge)) return null
  return Math.max(0, edge - current)
}
