// Test and diagnostics hooks the app hangs on `window` (see web/README.md, "Test hooks").
export {}

declare global {
  interface Window {
    /** The watch page's player: hls.js instance, video, metrics, playback stats, seek, play. */
    __spoolLive?: { readonly hls: import('hls.js').default | null; video: HTMLVideoElement; metrics: any }
    __spoolPlayer?: { readonly hls: import('hls.js').default | null; video: HTMLVideoElement; metrics: any; stats: any; seek: (t: number) => void; play: () => void }
    /** The feed's current player. */
    __spoolFeedPlayer?: { readonly hls: import('hls.js').default | null; video: HTMLVideoElement; id: string; startedAt: number }
    /** The feed's prefetch and first-frame metrics. */
    __spoolFeedMetrics?: any
    /** The last tracked events and what was sent. */
    __spoolTelemetry?: any
  }
}
