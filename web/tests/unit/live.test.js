import { test } from 'node:test'
import assert from 'node:assert/strict'
import { healthLine, behindEdge } from '../../src/live/edge.js'

test('healthLine: size, rate, bit rate in the unit that reads, GOP, B-frames', () => {
  const cases = [
    [{ width: 854, height: 480, fps: 29.97, bitrate_bps: 2_512_000, gop_seconds: 1, b_frames: false }, '854x480 · 30 fps · 2.5 Mbit/s · GOP 1.0 s · no B-frames'],
    [{ width: 640, height: 360, fps: 25, bitrate_bps: 640_400, gop_seconds: 3.04, b_frames: true }, '640x360 · 25 fps · 640 kbit/s · GOP 3.0 s · B-frames'],
    [{ width: 0, height: 0, fps: 0, bitrate_bps: 0, gop_seconds: 0, b_frames: false }, '0x0 · 0 fps · 0 kbit/s · GOP 0.0 s · no B-frames'],
  ]
  for (const [health, want] of cases) assert.equal(healthLine(health), want)
})

test('behindEdge: seconds behind, never negative, null before the edge is known', () => {
  const cases = [
    [10, 7.5, 2.5],
    [10, 10.2, 0],
    [null, 3, null],
    [undefined, 3, null],
    [Number.NaN, 3, null],
  ]
  for (const [edge, current, want] of cases) assert.equal(behindEdge(edge, current), want)
})
