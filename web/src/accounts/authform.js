// Sign-in and sign-up share one form: labelled fields, autocomplete hints, and the server's
// reason in a role=alert box when it refuses.

import { h, uid } from '../dom.js'
import { ApiError, messageOf, currentUser } from '../api.js'
import { navigate, safeNext } from '../router.js'

function sentence(message) {
  const text = String(message || '').trim()
  return text ? text[0].toUpperCase() + text.slice(1) : text
}

/** The message to show for a refused sign-in or sign-up. */
export function authErrorMessage(error, mode) {
  if (error instanceof ApiError) {
    if (error.code === 'already_exists' || (mode === 'signup' && error.status === 409)) return 'That user name is taken. Choose another one.'
    if (error.status === 429 || error.code === 'too_many_attempts') {
      const seconds = error.retryAfter ?? (/(\d+)\s*seconds?/.exec(error.message)?.[1] || '')
      return seconds ? `Too many attempts, try again in ${seconds} s.` : 'Too many attempts, try again in a moment.'
    }
    return sentence(error.message)
  }
  return sentence(messageOf(error))
}

/** The centred card both auth pages are drawn in. */
function authCard(title, ...content) {
  return h('div', { class: 'page page-auth' }, h('div', { class: 'auth-card' }, h('h1', null, title), ...content))
}

export function authPage(ctx, { mode, title, submitLabel, action, altText, altLabel, altHref }) {
  ctx.setTitle(title)
  const next = safeNext(ctx.query.get('next') || '/', '/')
  const signedIn = currentUser()
  if (signedIn) {
    ctx.root.append(
      authCard(title, h('p', null, 'You are signed in as ', h('strong', null, signedIn.name), '.'), h('a', { class: 'btn btn-primary', href: next }, 'Continue')),
    )
    return
  }
  const nameId = uid('name')
  const passId = uid('password')
  const hintId = uid('hint')
  const alertBox = h('div', { class: 'form-alert', role: 'alert', 'aria-live': 'assertive' })
  const name = h('input', {
    id: nameId,
    name: 'username',
    type: 'text',
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
    maxlength: '64',
    'aria-describedby': mode === 'signup' ? `${hintId}-name` : undefined,
  })
  const password = h('input', {
    id: passId,
    name: 'password',
    type: 'password',
    autocomplete: mode === 'signup' ? 'new-password' : 'current-password',
    required: true,
    minlength: mode === 'signup' ? '8' : undefined,
    'aria-describedby': mode === 'signup' ? hintId : undefined,
  })
  const submit = h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, submitLabel)
  const form = h(
    'form',
    { class: 'auth-form', method: 'post' },
    alertBox,
    h(
      'div',
      { class: 'field' },
      h('label', { for: nameId }, 'User name'),
      name,
      mode === 'signup' ? h('p', { class: 'field-hint', id: `${hintId}-name` }, 'Letters, digits, “_”, “-” or “.”; this is your channel name.') : null,
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: passId }, 'Password'),
      password,
      mode === 'signup' ? h('p', { class: 'field-hint', id: hintId }, 'At least 8 characters. Not a common password, and not containing your user name.') : null,
    ),
    submit,
  )
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    alertBox.replaceChildren()
    form.classList.remove('has-error')
    submit.disabled = true
    form.setAttribute('aria-busy', 'true')
    try {
      await action(name.value.trim(), password.value)
      navigate(next, { replace: true })
    } catch (err) {
      if (!ctx.isCurrent()) return
      form.classList.add('has-error')
      alertBox.replaceChildren(h('p', null, authErrorMessage(err, mode)))
      if (err instanceof ApiError && (err.code === 'weak_password' || err.code === 'wrong_credentials')) {
        password.select()
        password.focus()
      } else name.focus()
    } finally {
      submit.disabled = false
      form.removeAttribute('aria-busy')
    }
  })
  const altLink = `${altHref}${ctx.query.get('next') ? `?next=${encodeURIComponent(next)}` : ''}`
  ctx.root.append(authCard(title, form, h('p', { class: 'auth-alt' }, altText, ' ', h('a', { href: altLink }, altLabel))))
  name.focus()
}
