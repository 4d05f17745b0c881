#!/usr/bin/env node
// Upload one file with tus-js-client (Node.js), optionally interrupting and resuming it.
//
//   node tus_js_upload.mjs --endpoint URL --token T --file PATH
//                          [--chunk-size N] [--interrupt-after BYTES]
//
// Prints one JSON line on stdout:
//   {"upload_url": ..., "video_id": <Spool-Video-Id or null>, "resumed_from": N}
// resumed_from is 0 for an uninterrupted upload, else the offset the second
// tus.Upload found on the server (HEAD) and resumed from. Exits non-zero on any error.
//
// --token is optional (a peer tus server ignores it); with it every request
// carries `Authorization: Bearer T`.
import { createReadStream, statSync } from 'node:fs'
import { basename, extname } from 'node:path'
import { parseArgs } from 'node:util'
import * as tus from 'tus-js-client'

const DEFAULT_INTERRUPT_CHUNK = 256 * 1024

function die(msg) {
  console.error(`tus_js_upload: ${msg}`)
  process.exit(1)
}

let values
try {
  ;({ values } = parseArgs({
    options: {
      endpoint: { type: 'string' },
      token: { type: 'string' },
      file: { type: 'string' },
      'chunk-size': { type: 'string' },
      'interrupt-after': { type: 'string' },
    },
    strict: true,
  }))
} catch (err) {
  die(err.message)
}
if (!values.endpoint || !values.file) {
  console.error(
    'usage: node tus_js_upload.mjs --endpoint URL --token T --file PATH [--chunk-size N] [--interrupt-after BYTES]',
  )
  process.exit(2)
}

function parsePositiveInt(name, s) {
  if (s === undefined) return undefined
  if (!/^[0-9]+$/.test(s) || Number(s) <= 0) die(`--${name} must be a positive integer, got ${s}`)
  return Number(s)
}

const filePath = values.file
const size = statSync(filePath).size
const interruptAfter = parsePositiveInt('interrupt-after', values['interrupt-after'])
let chunkSize = parsePositiveInt('chunk-size', values['chunk-size'])
if (interruptAfter !== undefined) {
  if (interruptAfter >= size) die(`--interrupt-after (${interruptAfter}) must be below the file size (${size})`)
  // Small chunks, so that the abort lands between two acknowledged PATCHes.
  chunkSize ??= DEFAULT_INTERRUPT_CHUNK
}
chunkSize ??= Infinity // one PATCH for the whole file

// tus-js-client's URL storage in Node is a no-op by default. This in-memory one lives as
// long as the process, so the second tus.Upload finds what the first one stored.
class MemoryUrlStorage {
  constructor() {
    this.items = new Map()
    this.next = 0
  }
  async findAllUploads() {
    return [...this.items.entries()].map(([key, v]) => ({ ...v, urlStorageKey: key }))
  }
  async findUploadsByFingerprint(fingerprint) {
    return (await this.findAllUploads()).filter((u) => u.urlStorageKey.startsWith(`tus::${fingerprint}::`))
  }
  async removeUpload(key) {
    this.items.delete(key)
  }
  async addUpload(fingerprint, upload) {
    const key = `tus::${fingerprint}::${this.next++}`
    this.items.set(key, upload)
    return key
  }
}
const urlStorage = new MemoryUrlStorage()

const name = basename(filePath)
const state = { videoId: null, headOffset: null }

function baseOptions(extra) {
  return {
    endpoint: values.endpoint,
    chunkSize,
    retryDelays: null, // fail loudly instead of retrying silently
    headers: values.token ? { Authorization: `Bearer ${values.token}` } : {},
    metadata: { filename: name, title: basename(name, extname(name)) },
    urlStorage,
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: false,
    onAfterResponse(req, res) {
      const method = req.getMethod()
      const vid = res.getHeader('Spool-Video-Id')
      if ((method === 'POST' || method === 'HEAD') && vid && state.videoId === null) state.videoId = vid
      if (method === 'HEAD') state.headOffset = Number(res.getHeader('Upload-Offset'))
    },
    ...extra,
  }
}

// Runs one tus.Upload. Resolves with {upload, finished}; `finished` is false when we
// aborted it ourselves after `interruptAfter` acknowledged bytes.
function run(prepare, interruptAt) {
  return new Promise((resolve, reject) => {
    let settled = false
    const upload = new tus.Upload(
      createReadStream(filePath),
      baseOptions({
        onError: (err) => {
          if (!settled) {
            settled = true
            reject(err)
          }
        },
        onSuccess: () => {
          if (!settled) {
            settled = true
            resolve({ upload, finished: true })
          }
        },
        onChunkComplete: (_chunk, accepted, _total) => {
          if (interruptAt !== undefined && accepted >= interruptAt && !settled) {
            settled = true
            upload.abort(false).then(
              () => resolve({ upload, finished: false, accepted }),
              reject,
            )
          }
        },
      }),
    )
    prepare(upload).then(() => upload.start(), reject)
  })
}

try {
  let resumedFrom = 0
  let result
  if (interruptAfter === undefined) {
    result = await run(async () => {})
  } else {
    const first = await run(async () => {}, interruptAfter)
    if (first.finished) die('upload finished before it could be interrupted')
    const firstUrl = first.upload.url
    state.headOffset = null
    result = await run(async (upload) => {
      const previous = await upload.findPreviousUploads()
      if (previous.length === 0) throw new Error('findPreviousUploads() found nothing to resume')
      upload.resumeFromPreviousUpload(previous[0])
    })
    if (result.upload.url !== firstUrl) die(`resumed a different upload: ${result.upload.url} != ${firstUrl}`)
    if (state.headOffset === null) die('resumed upload sent no HEAD')
    resumedFrom = state.headOffset
    if (!(resumedFrom > 0)) die(`resumed upload started at offset ${resumedFrom}, expected > 0`)
    if (resumedFrom < first.accepted) die(`server offset ${resumedFrom} < acknowledged ${first.accepted}`)
  }
  if (!result.finished) die('upload did not finish')
  console.log(JSON.stringify({ upload_url: result.upload.url, video_id: state.videoId, resumed_from: resumedFrom }))
  process.exit(0)
} catch (err) {
  die(err && err.stack ? err.stack : String(err))
}
