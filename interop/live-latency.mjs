// Glass-to-glass latency of a live stream, read from the picture: the publisher (bench/live.sh)
// burns the wall clock into every frame as a row of 27 black/white blocks (bit b of the
// milliseconds since midnight UTC in block b, 40 px wide on a 1280 px picture, at the top);
// hls.js in headless Chromium plays the stream, and for every frame it presents
// (requestVideoFrameCallback) the blocks are read back from a canvas and subtracted from
// Date.now(). Prints JSON: samples (seconds since start, latency seconds), unreadable frames,
// the level played, hls.js errors. Usage:
//   node live-latency.mjs <master.m3u8 URL> <seconds> <ll|plain>
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const [url, secondsArg = '60', mode = 'll'] = process.argv.slice(2);
if (!url || !['ll', 'plain'].includes(mode)) {
  console.error('usage: node live-latency.mjs URL SECONDS ll|plain');
  process.exit(2);
}
const seconds = Number(secondsArg);
const hlsSource = readFileSync(require.resolve('hls.js/dist/hls.min.js'));
const page = `<!doctype html><meta charset="utf-8"><video muted playsinline></video>
<canvas></canvas>
<script src="/hls.js"></script>
<script>
  const BITS = 27, BLOCK = 40, WIDTH = 1280, DAY = 86400000;
  window.report = { samples: [], unreadable: 0, errors: [], fatal: null, level: null };
  const started = Date.now();
  const video = document.querySelector('video');
  const canvas = document.querySelector('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const hls = new Hls({ lowLatencyMode: ${mode === 'll'}, backBufferLength: 30 });
  hls.on(Hls.Events.ERROR, (_, d) => {
    window.report.errors.push(d.details);
    if (d.fatal) window.report.fatal = d.type + ': ' + d.details;
  });
  // The source rendition (the clock's picture size), not an encoded rung.
  hls.on(Hls.Events.MANIFEST_PARSED, (_, d) => {
    let top = 0;
    d.levels.forEach((l, i) => { if (l.height > d.levels[top].height) top = i; });
    hls.currentLevel = top;
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => { window.report.level = hls.levels[d.level].height; });
  hls.loadSource(${JSON.stringify(url)});
  hls.attachMedia(video);
  video.play().catch((e) => window.report.errors.push('play: ' + e.message));
  const onFrame = () => {
    const now = Date.now();
    const w = video.videoWidth, h = video.videoHeight;
    if (w > 0) {
      if (canvas.width !== w) { canvas.width = w; canvas.height = h; }
      ctx.drawImage(video, 0, 0, w, h);
      const scale = w / WIDTH;
      const row = ctx.getImageData(0, Math.round(20 * scale), w, 1).data;
      let clock = 0;
      for (let b = 0; b < BITS; b++) {
        const x = Math.round((b * BLOCK + BLOCK / 2) * scale);
        if (row[x * 4] > 128) clock += 2 ** b;
      }
      let latency = ((now % DAY) - clock + DAY) % DAY;
      if (latency > DAY / 2) latency -= DAY;
      if (latency < -500 || latency > 60000) window.report.unreadable++;
      else window.report.samples.push([(now - started) / 1000, latency / 1000]);
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
</script>`;

const server = http.createServer((req, res) => {
  if (req.url === '/hls.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(hlsSource);
  } else {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(page);
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--autoplay-policy=no-user-gesture-required',
    // A background tab would throttle timers and frames.
    '--disable-background-timer-throttling', '--disable-renderer-backgrounding'],
});
let result;
try {
  const tab = await browser.newPage();
  await tab.goto(origin + '/');
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 1000));
    const fatal = await tab.evaluate(() => window.report.fatal);
    if (fatal) break;
  }
  result = await tab.evaluate(() => window.report);
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(result));
