// Lint for the web app: ESLint's recommended rules over the browser sources, the node-side
// tests and the build config. `npm run lint` (part of `npm run check`).
import js from '@eslint/js'
import globals from 'globals'

export default [
  { ignores: ['dist/', 'node_modules/'] },
  js.configs.recommended,
  {
    files: ['src/**/*.js'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.browser } },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['tests/**/*.{js,mjs}', 'eslint.config.js', 'vite.config.js'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.node } },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // The e2e script hands these functions to the browser (page.evaluate).
    files: ['tests/e2e.mjs'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
]
