// Unit tests of the pure HLS playlist parsing (src/player/playlist.js): the master playlists
// the server writes (crates/media/src/manifest.rs), portrait ladders, and malformed input.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseAttributes, parseMaster, parseMedia, pickVariant, levelName } from '../../src/player/playlist.js'

const BASE = 'https://spool.example/media/v1/master.m3u8'

// The server's master playlist (as in manifest.rs's `master` test), the start rendition first.
const MASTER = [
  '#EXTM3U',
  '#EXT-X-VERSION:7',
  '#EXT-X-INDEPENDENT-SEGMENTS',
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="g7Xk2/audio/index.m3u8"',
  '#EXT-X-STREAM-INF:BANDWIDTH=1040000,AVERAGE-BANDWIDTH=730000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=30.000,AUDIO="audio"',
  'g7Xk2/360p/index.m3u8',
  '#EXT-X-STREAM-INF:BANDWIDTH=3140000,AVERAGE-BANDWIDTH=2130000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO="audio"',
  'g7Xk2/720p/index.m3u8',
  '#EXT-X-STREAM-INF:BANDWIDTH=590000,AVERAGE-BANDWIDTH=430000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=426x240,FRAME-RATE=30.000,AUDIO="audio"',
  'g7Xk2/240p/index.m3u8',
  '',
].join('\n')

test('attributes: quoted values keep their commas, bare values end at a comma', () => {
  const cases = [
    ['BANDWIDTH=1,CODECS="a,b",RESOLUTION=2x3', { BANDWIDTH: '1', CODECS: 'a,b', RESOLUTION: '2x3' }],
    ['URI="x/y.m3u8"', { URI: 'x/y.m3u8' }],
    ['TYPE=AUDIO,DEFAULT=YES', { TYPE: 'AUDIO', DEFAULT: 'YES' }],
    ['', {}],
    ['lower=case', {}],
  ]
  for (const [input, want] of cases) assert.deepEqual(parseAttributes(input), want, input)
})

test('master: variants in playlist order with resolved URIs, and the audio rendition', () => {
  const { variants, audio } = parseMaster(MASTER, BASE)
  assert.deepEqual(
    variants.map((v) => [v.url, v.bandwidth, v.width, v.height, v.audioGroup]),
    [
      ['https://spool.example/media/v1/g7Xk2/360p/index.m3u8', 1040000, 640, 360, 'audio'],
      ['https://spool.example/media/v1/g7Xk2/720p/index.m3u8', 3140000, 1280, 720, 'audio'],
      ['https://spool.example/media/v1/g7Xk2/240p/index.m3u8', 590000, 426, 240, 'audio'],
    ],
  )
  assert.deepEqual(audio, [{ group: 'audio', url: 'https://spool.example/media/v1/g7Xk2/audio/index.m3u8', isDefault: true }])
})

test('master: CRLF, blank lines and comments between the tag and its URI, a signed query kept', () => {
  const text = '#EXTM3U\r\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=480x854\r\n\r\n# a comment\r\n480p/index.m3u8?exp=1&sig=abc\r\n'
  const { variants, audio } = parseMaster(text, 'https://h/media/v/master.m3u8?exp=1&sig=abc')
  assert.deepEqual(variants, [{ url: 'https://h/media/v/480p/index.m3u8?exp=1&sig=abc', bandwidth: 800000, width: 480, height: 854, audioGroup: null }])
  assert.deepEqual(audio, [])
})

test('master: malformed or empty input yields no variants, never throws', () => {
  const cases = ['', '#EXTM3U\n', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n', 'not a playlist', '#EXT-X-MEDIA:TYPE=SUBTITLES,URI="s.m3u8"']
  for (const text of cases) {
    const { variants, audio } = parseMaster(text, BASE)
    assert.deepEqual(variants, [], JSON.stringify(text))
    assert.deepEqual(audio, [], JSON.stringify(text))
  }
  const noNumbers = parseMaster('#EXT-X-STREAM-INF:RESOLUTION=axb\nx.m3u8', BASE).variants[0]
  assert.deepEqual([noNumbers.bandwidth, noNumbers.width, noNumbers.height], [0, 0, 0])
})

test('media playlist: the init segment and the first media segment', () => {
  const text = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    '#EXT-X-TARGETDURATION:4',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-MAP:URI="init.mp4"',
    '#EXTINF:4.000,',
    'seg_1.m4s',
    '#EXTINF:4.000,',
    'seg_2.m4s',
    '#EXT-X-ENDLIST',
  ].join('\n')
  assert.deepEqual(parseMedia(text, 'https://h/media/v/g/360p/index.m3u8'), {
    init: 'https://h/media/v/g/360p/init.mp4',
    first: 'https://h/media/v/g/360p/seg_1.m4s',
  })
  const cases = [
    ['', { init: null, first: null }],
    ['#EXTM3U\nseg_0.m4s\n', { init: null, first: null }], // a URI before any EXTINF is not a segment
    ['#EXTM3U\n#EXTINF:2,\nonly.ts\n', { init: null, first: 'https://h/only.ts' }],
  ]
  for (const [input, want] of cases) assert.deepEqual(parseMedia(input, 'https://h/index.m3u8'), want, JSON.stringify(input))
})

test('pickVariant: the lowest rung of at least 360p (short side), else the lowest', () => {
  const v = (width, height, bandwidth) => ({ url: `${width}x${height}`, width, height, bandwidth, audioGroup: null })
  const cases = [
    ['landscape ladder', [v(1280, 720, 3e6), v(640, 360, 1e6), v(426, 240, 5e5)], '640x360'],
    ['portrait ladder', [v(720, 1280, 3e6), v(480, 854, 1.5e6), v(360, 640, 1e6), v(240, 426, 5e5)], '360x640'],
    ['all below 360p', [v(426, 240, 5e5), v(256, 144, 2e5)], '256x144'],
    ['no resolutions', [v(0, 0, 9e5), v(0, 0, 4e5)], '0x0'],
    ['one rung', [v(1920, 1080, 6e6)], '1920x1080'],
  ]
  for (const [name, variants, want] of cases) assert.equal(pickVariant(variants)?.url, want, name)
  assert.equal(pickVariant([]), null)
})

test('levelName: the short side, else the height, else the bitrate', () => {
  const cases = [
    [{ width: 1280, height: 720 }, '720p'],
    [{ width: 720, height: 1280 }, '720p'],
    [{ height: 480 }, '480p'],
    [{ bitrate: 800000 }, '800 kbps'],
    [{}, '?'],
    [null, ''],
  ]
  for (const [level, want] of cases) assert.equal(levelName(level), want, JSON.stringify(level))
})
