// Plays an HLS URL with hls.js in real (headless) Chromium and reports what happened as JSON on
// stdout: { currentTime, fatal, errors, requests, level }. Usage:
//   node play-hls.mjs <master.m3u8 URL> [startPosition seconds] [play seconds]
// The page is served from its own loopback origin, so the media requests are cross-origin and
// exercise Spool's CORS exactly as a site embedding the player would.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const [url, startArg = '-1', playArg = '2'] = process.argv.slice(2);
if (!url) {
  console.error('usage: node play-hls.mjs URL [startPosition] [seconds]');
  process.exit(2);
}
const startPosition = Number(startArg);
const playSeconds = Number(playArg);
const hlsSource = readFileSync(require.resolve('hls.js/dist/hls.min.js'));
const page_html = `<!doctype html><meta charset="utf-8"><video muted playsinline></video>
<script src="/hls.js"></script>
<script>
  window.report = { errors: [], fatal: null, level: null };
  const video = document.querySelector('video');
  const hls = new Hls({ startPosition: ${startPosition}, maxBufferLength: 30 });
  hls.on(Hls.Events.ERROR, (_, d) => {
    window.report.errors.push(d.details);
    if (d.fatal) window.report.fatal = d.type + ': ' + d.details;
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => { window.report.level = hls.levels[d.level].height; });
  window.hlsInstance = hls;
  hls.loadSource(${JSON.stringify(url)});
  hls.attachMedia(video);
  video.play().catch((e) => window.report.errors.push('play: ' + e.message));
</script>`;

const server = http.createServer((req, res) => {
  if (req.url === '/hls.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(hlsSource);
  } else {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(page_html);
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--autoplay-policy=no-user-gesture-required'],
});
let result;
try {
  const page = await browser.newPage();
  const requests = [];
  page.on('request', (r) => { if (r.url() !== origin + '/' && !r.url().endsWith('/hls.js')) requests.push(r.url()); });
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  await page.goto(origin + '/');
  const started = Date.now();
  let state;
  let playedFrom = null;
  for (;;) {
    state = await page.evaluate(() => ({
      currentTime: document.querySelector('video').currentTime,
      readyState: document.querySelector('video').readyState,
      // Seconds behind the live edge (live streams only; hls.js measures it from the playlist).
      latency: Number.isFinite(window.hlsInstance.latency) ? window.hlsInstance.latency : null,
      lowLatencyMode: window.hlsInstance.config.lowLatencyMode,
      ...window.report,
    }));
    if (state.fatal) break;
    if (playedFrom === null && state.currentTime > 0) playedFrom = state.currentTime;
    if (playedFrom !== null && state.currentTime - playedFrom >= playSeconds) break;
    if (Date.now() - started > 45000) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  result = { ...state, playedFrom, requests, consoleErrors };
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(result));
