import { defineConfig } from 'vite'

// The server serves dist/index.html for every page route and dist/assets/* under /assets/,
// with a CSP that forbids inline scripts and styles: keep every asset a file (no data: URLs
// for scripts, no inlined CSS) and the base at the root.
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
    // hls.js alone is ~400 kB; it is split into its own chunk, loaded by the pages that play.
    chunkSizeWarningLimit: 700,
  },
  server: {
    // `npm run dev` proxies the API and media to a running `spool serve`.
    proxy: {
      '/api': process.env.SPOOL_URL || 'http://127.0.0.1:8080',
      '/media': process.env.SPOOL_URL || 'http://127.0.0.1:8080',
    },
  },
})
