// The sign-up page (`/signup`), on the shared auth form.

import { signUp } from '../api.js'
import { authPage } from './authform.js'

export default async function signup(ctx) {
  authPage(ctx, {
    mode: 'signup',
    title: 'Create your account',
    submitLabel: 'Sign up',
    action: signUp,
    altText: 'Already have an account?',
    altLabel: 'Sign in',
    altHref: '/signin',
  })
}
