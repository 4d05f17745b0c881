#!/usr/bin/env node
// Peer tus 1.0.0 server: @tus/server + @tus/file-store, uploads under /files.
// Used (1) to validate the interop clients before Spool's server exists and
// (2) as the peer in bench/upload.sh. It ignores Authorization.
//
//   node peer_server.mjs --port P --dir D [--host 127.0.0.1] [--path /files]
//                        [--require-token T] [--fake-video-id]
//
// Prints one line `listening http://HOST:PORT/PATH` on stdout once it accepts
// connections (--port 0 picks a free port). Note: @tus/file-store does not fsync
// written bytes.
//
// Validation-only options (off by default, never used by the benchmark):
//   --require-token T  answer 401 to any non-OPTIONS request lacking
//                      `Authorization: Bearer T`, as Spool does;
//   --fake-video-id    add a `Spool-Video-Id: vid-<upload id>` header to the POST
//                      (creation) and HEAD answers, as Spool does, so clients'
//                      header handling is exercised before Spool exists.
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'
import { Server } from '@tus/server'
import { FileStore } from '@tus/file-store'

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    dir: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    path: { type: 'string', default: '/files' },
    'require-token': { type: 'string' },
    'fake-video-id': { type: 'boolean', default: false },
  },
  strict: true,
})
if (!values.port || !values.dir) {
  console.error('usage: node peer_server.mjs --port P --dir D [--host 127.0.0.1] [--path /files] [--require-token T] [--fake-video-id]')
  process.exit(2)
}

const fakeVideoId = (uploadId) => `vid-${uploadId}`
const server = new Server({
  path: values.path,
  datastore: new FileStore({ directory: values.dir }),
  async onUploadCreate(req, upload) {
    if (values['fake-video-id']) {
      const res = req.runtime?.node?.res ?? req.node?.res
      if (!res) throw new Error('peer_server: no node response to set Spool-Video-Id on')
      res.setHeader('Spool-Video-Id', fakeVideoId(upload.id))
    }
    return {}
  },
})
const http = createServer((req, res) => {
  if (values['require-token'] && req.method !== 'OPTIONS') {
    if (req.headers.authorization !== `Bearer ${values['require-token']}`) {
      res.writeHead(401, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ error: { code: 'unauthorized', message: 'missing or wrong bearer token' } }))
      return
    }
  }
  if (values['fake-video-id'] && req.method === 'HEAD') {
    const prefix = `${values.path.replace(/\/$/, '')}/`
    if (req.url.startsWith(prefix)) {
      const id = req.url.slice(prefix.length).split(/[/?]/)[0]
      if (id) res.setHeader('Spool-Video-Id', fakeVideoId(id))
    }
  }
  server.handle(req, res).catch((err) => {
    console.error(`peer_server: ${err.stack}`)
    if (!res.headersSent) res.writeHead(500)
    res.end()
  })
})
http.listen({ host: values.host, port: Number(values.port) }, () => {
  const addr = http.address()
  console.log(`listening http://${values.host}:${addr.port}${values.path}`)
})
// Large single-PATCH uploads take longer than Node's default request timeout (300 s).
http.requestTimeout = 0
http.headersTimeout = 60_000
http.on('error', (err) => {
  console.error(`peer_server: ${err.message}`)
  process.exit(1)
})
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    http.close()
    process.exit(0)
  })
}
