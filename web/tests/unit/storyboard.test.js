// Unit tests of the storyboard WebVTT parsing (src/player/storyboard.js): sprite regions
// relative to the VTT's URL, both timestamp forms, cues out of order, malformed cues skipped.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseStoryboard, cueAt } from '../../src/player/storyboard.js'

const VTT_URL = 'https://spool.example/media/v1/g7/storyboard/storyboard.vtt'

test('cues: times, sprite URL resolved against the VTT, region from #xywh', () => {
  const text = [
    'WEBVTT',
    '',
    '00:00:00.000 --> 00:00:02.000',
    'sb_0.jpg#xywh=0,0,160,90',
    '',
    '00:00:02.000 --> 00:00:04.000',
    'sb_0.jpg#xywh=160,0,160,90',
    '',
    '01:00:04.500 --> 01:00:06.000 align:start',
    '../other/sb_1.jpg#xywh=0,90,160,90',
    '',
  ].join('\n')
  assert.deepEqual(parseStoryboard(text, VTT_URL), [
    { start: 0, end: 2, url: 'https://spool.example/media/v1/g7/storyboard/sb_0.jpg', x: 0, y: 0, w: 160, h: 90 },
    { start: 2, end: 4, url: 'https://spool.example/media/v1/g7/storyboard/sb_0.jpg', x: 160, y: 0, w: 160, h: 90 },
    { start: 3604.5, end: 3606, url: 'https://spool.example/media/v1/g7/other/sb_1.jpg', x: 0, y: 90, w: 160, h: 90 },
  ])
})

test('cues: mm:ss timestamps, CRLF, sorted by start, a payload without a region kept without one', () => {
  const text = 'WEBVTT\r\n\r\n00:04.000 --> 00:06.000\r\nsb_2.jpg#xywh=1,2,3,4\r\n\r\n00:00.000 --> 00:04.000\r\nsb_1.jpg\r\n'
  const cues = parseStoryboard(text, VTT_URL)
  assert.deepEqual(
    cues.map((c) => [c.start, c.end, c.url.split('/').pop(), c.w]),
    [
      [0, 4, 'sb_1.jpg', 0],
      [4, 6, 'sb_2.jpg', 3],
    ],
  )
})

test('malformed cues are skipped, never thrown', () => {
  const cases = [
    '',
    'WEBVTT\n',
    'WEBVTT\n\nxx:yy --> 00:01.000\nsb.jpg\n',
    'WEBVTT\n\n00:00.000 --> 00:01.000\n\n',
    'WEBVTT\n\n00:00.000 --> \nsb.jpg\n',
  ]
  for (const text of cases) assert.deepEqual(parseStoryboard(text, VTT_URL), [], JSON.stringify(text))
})

test('cueAt: the cue covering t, the nearest before it, the first before every cue', () => {
  const cues = [0, 2, 4, 6].map((start) => ({ start, end: start + 2, url: `u${start}`, x: 0, y: 0, w: 1, h: 1 }))
  const cases = [
    [0, 'u0'],
    [1.99, 'u0'],
    [2, 'u2'],
    [5, 'u4'],
    [7.5, 'u6'],
    [100, 'u6'],
    [-1, 'u0'],
  ]
  for (const [t, want] of cases) assert.equal(cueAt(cues, t)?.url, want, `t=${t}`)
  assert.equal(cueAt([], 1), null)
})
