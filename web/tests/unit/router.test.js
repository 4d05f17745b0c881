// Unit tests of the router's pure parts (src/router.js): route patterns, parameter decoding,
// and which `?next=` targets are safe to redirect to.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { compileRoute, matchRoute, safeNext } from '../../src/router.js'

const TABLE = ['/', '/watch/:id', '/upload', '/c/:name', '/a.b/:x'].map((pattern) => ({ ...compileRoute(pattern), load: pattern }))

test('routes: the first matching pattern and its decoded parameters', () => {
  const cases = [
    ['/', '/', {}],
    ['//', '/', {}], // the optional trailing slash
    ['/watch/abc123', '/watch/:id', { id: 'abc123' }],
    ['/watch/abc123/', '/watch/:id', { id: 'abc123' }],
    ['/c/%E5%BC%A0%E4%B8%89', '/c/:name', { name: '张三' }],
    ['/c/100%25', '/c/:name', { name: '100%' }],
    ['/c/%E0%A4%A', '/c/:name', { name: '%E0%A4%A' }], // not decodable: kept as it is
    ['/upload', '/upload', {}],
    ['/a.b/1', '/a.b/:x', { x: '1' }],
  ]
  for (const [path, pattern, params] of cases) assert.deepEqual(matchRoute(TABLE, path), { load: pattern, params }, path)
})

test('routes: no match', () => {
  for (const path of ['/watch', '/watch/', '/watch/a/b', '/uploads', '/axb/1', '/c/']) {
    assert.equal(matchRoute(TABLE, path), null, path)
  }
})

test('safeNext: only paths of this origin', () => {
  const origin = 'https://spool.example'
  const cases = [
    ['/studio', '/studio'],
    ['/watch/x?t=10#c', '/watch/x?t=10#c'],
    ['/a/../b', '/b'],
    ['//evil.example/x', '/'],
    ['/\\evil.example', '/'],
    ['https://evil.example/', '/'],
    ['javascript:alert(1)', '/'],
    ['studio', '/'],
    ['', '/'],
    [null, '/'],
    [42, '/'],
  ]
  for (const [next, want] of cases) assert.equal(safeNext(next, '/', origin), want, JSON.stringify(next))
  assert.equal(safeNext('//x', '/home', origin), '/home')
})
