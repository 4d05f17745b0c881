// Parses every HLS playlist named on the command line with npm `hls-parser` in strict mode
// (a third-party parser that rejects anything the HLS spec does not allow) and exits non-zero
// on the first one that fails. Prints one JSON line per file with what it found.
//
//   node check-hls.mjs master.m3u8 720p/index.m3u8 audio/index.m3u8
//   node check-hls.mjs --live master.m3u8 ll.m3u8   (live: no ENDLIST, LL-HLS parts)
//
// Used by crates/media/tests to check the playlists Spool writes.

import { readFileSync } from 'node:fs';
import HLS from 'hls-parser';

HLS.setOptions({ strictMode: true });

const live = process.argv[2] === '--live';
const files = process.argv.slice(live ? 3 : 2);
if (files.length === 0) {
  console.error('usage: node check-hls.mjs PLAYLIST...');
  process.exit(2);
}

let failed = false;
for (const file of files) {
  try {
    const playlist = HLS.parse(readFileSync(file, 'utf8'));
    if (playlist.isMasterPlaylist) {
      if (playlist.variants.length === 0) throw new Error('master playlist without variants');
      console.log(JSON.stringify({
        file,
        master: true,
        variants: playlist.variants.map((v) => ({
          uri: v.uri,
          bandwidth: v.bandwidth,
          averageBandwidth: v.averageBandwidth,
          codecs: v.codecs,
          resolution: v.resolution,
          frameRate: v.frameRate,
          audio: v.audio.map((a) => a.uri),
        })),
      }));
    } else {
      if (playlist.segments.length === 0) throw new Error('media playlist without segments');
      if (!live && !playlist.endlist) throw new Error('VOD media playlist without #EXT-X-ENDLIST');
      if (live && playlist.endlist) throw new Error('live media playlist with #EXT-X-ENDLIST');
      console.log(JSON.stringify({
        file,
        master: false,
        targetDuration: playlist.targetDuration,
        segments: playlist.segments.map((s) => ({ uri: s.uri, duration: s.duration })),
        parts: playlist.segments.reduce((n, s) => n + (s.parts ? s.parts.length : 0), 0)
          + (playlist.prefetchSegments ? playlist.prefetchSegments.length : 0),
        lowLatency: playlist.lowLatencyCompatibility ?? null,
      }));
    }
  } catch (err) {
    console.error(`${file}: ${err && err.message ? err.message : err}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
