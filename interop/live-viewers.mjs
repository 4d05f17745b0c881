// Many LL-HLS viewers on one media playlist, each doing what hls.js does at the live edge:
// a blocking reload for the part the last answer's EXT-X-PRELOAD-HINT named
// (`?_HLS_msn=M&_HLS_part=P`), then the next. All of them wait for the same part, so the
// first answer for a part is (within loopback noise) when it landed; the others' delay
// after it is the fan-out time. Prints JSON: requests, requests per second, p50/p99/max
// answer delay after the part landed (ms), errors. Usage:
//   node live-viewers.mjs <media playlist URL> <viewers> <seconds>
import http from 'node:http';

const [url, viewersArg = '1000', secondsArg = '30'] = process.argv.slice(2);
if (!url) {
  console.error('usage: node live-viewers.mjs URL VIEWERS SECONDS');
  process.exit(2);
}
const viewers = Number(viewersArg);
const seconds = Number(secondsArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

function get(target) {
  return new Promise((resolve, reject) => {
    const req = http.get(target, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.setTimeout(30000, () => req.destroy(new Error('timeout')));
  });
}

function hint(body) {
  const m = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\d+)\.(\d+)\.m4s"/.exec(body);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

const answers = new Map(); // "msn.part" -> answer times (ms)
let requests = 0;
let errors = 0;
const errorKinds = {};
const started = performance.now();
const until = started + seconds * 1000;

async function viewer() {
  let next = null;
  while (performance.now() < until) {
    const target = next ? `${url}?_HLS_msn=${next[0]}&_HLS_part=${next[1]}` : url;
    try {
      const { status, body } = await get(target);
      const at = performance.now();
      requests++;
      if (status !== 200) { errors++; errorKinds[status] = (errorKinds[status] || 0) + 1; next = null; continue; }
      if (next) {
        const key = `${next[0]}.${next[1]}`;
        if (!answers.has(key)) answers.set(key, []);
        answers.get(key).push(at);
      }
      next = hint(body);
      if (!next) break; // the broadcast ended
    } catch (e) {
      errors++;
      errorKinds[e.code || e.message] = (errorKinds[e.code || e.message] || 0) + 1;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

await Promise.all(Array.from({ length: viewers }, viewer));
const elapsed = (performance.now() - started) / 1000;
const delays = [];
for (const times of answers.values()) {
  // Parts all viewers waited for (not the ones some joined late).
  if (times.length < viewers / 2) continue;
  const landed = Math.min(...times);
  for (const t of times) delays.push(t - landed);
}
delays.sort((a, b) => a - b);
const pick = (q) => (delays.length ? delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] : null);
console.log(JSON.stringify({
  viewers,
  seconds: elapsed,
  requests,
  requestsPerSecond: requests / elapsed,
  parts: answers.size,
  p50Ms: pick(0.5),
  p99Ms: pick(0.99),
  maxMs: delays.length ? delays[delays.length - 1] : null,
  errors,
  errorKinds,
}));
agent.destroy();
