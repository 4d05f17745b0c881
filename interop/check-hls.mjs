// Parses every HLS playlist named on the command line with npm `hls-parser` in strict mode
// (a third-party parser that rejects anything the HLS spec does not allow) and exits non-zero
// on the first one that fails. Prints one JSON line per file with what it found.
//
//   node check-hls.mjs master.m3u8 720p/index.m3u8 audio/index.m3u8
//
// Used by crates/media/tests to check the playlists Spool writes.

import { readFileSync } from 'node:fs';
import HLS from 'hls-parser';

HLS.setOptions({ strictMode: true });

const files = process.argv.slice(2);
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
      if (!playlist.endlist) throw new Error('VOD media playlist without #EXT-X-ENDLIST');
      console.log(JSON.stringify({
        file,
        master: false,
        targetDuration: playlist.targetDuration,
        segments: playlist.segments.map((s) => ({ uri: s.uri, duration: s.duration })),
      }));
    }
  } catch (err) {
    console.error(`${file}: ${err && err.message ? err.message : err}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
