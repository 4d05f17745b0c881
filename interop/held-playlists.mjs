// The floor of the blocking-viewers measurement: a server that does nothing but hold LL-HLS
// blocking playlist requests and answer all of them at once when the next "part" lands (a
// timer, every PART_MS), with a fixed small playlist naming the next part in its preload
// hint. `live-viewers.mjs` against it measures what the client machine itself adds to the
// fan-out (one Node.js process parsing a thousand answers). Prints its port on stdout.
//   node held-playlists.mjs [PART_MS]
import http from 'node:http';

const partMs = Number(process.argv[2] || '250');
let msn = 0;
let part = 0;
const waiting = [];
const playlist = () => `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.750
#EXT-X-PART-INF:PART-TARGET=0.250
#EXT-X-MEDIA-SEQUENCE:${msn}
#EXT-X-MAP:URI="init-0.mp4"
#EXT-X-PART:DURATION=0.25000,URI="${msn}.${part}.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${msn}.${part + 1}.m4s"
`;
setInterval(() => {
  part += 1;
  if (part === 4) { msn += 1; part = 0; }
  const body = playlist();
  for (const res of waiting.splice(0)) res.end(body);
}, partMs);
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' });
  if (req.url.includes('_HLS_msn=')) waiting.push(res);
  else res.end(playlist());
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
