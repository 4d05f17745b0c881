// The sign-in page (`/signin`), on the shared auth form.

import { signIn } from '../api.js'
import { authPage } from './authform.js'

export default async function signin(ctx) {
  authPage(ctx, {
    mode: 'signin',
    title: 'Sign in',
    submitLabel: 'Sign in',
    action: signIn,
    altText: 'New to Spool?',
    altLabel: 'Create an account',
    altHref: '/signup',
  })
}
