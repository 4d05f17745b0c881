//! Who is calling, as axum extractors: an API token (`Authorization: Bearer`, for the CLI and
//! scripts) or a browser session cookie. A request authenticated by the cookie that may change
//! something (any method but GET/HEAD/OPTIONS) must echo the session's CSRF token in
//! `X-CSRF-Token`; a bearer request needs none, since browsers never attach one on their own.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use spool_metadata::User;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;

/// Name of the session cookie.
pub(crate) const SESSION_COOKIE: &str = "spool_session";
/// Header that carries the CSRF token.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// The caller, if the request carried a valid token or session (anonymous otherwise).
pub struct MaybeUser(pub Option<User>);

/// The caller; the request is refused with 401 without a valid token or session.
pub struct AuthUser(pub User);

/// The `Authorization: Bearer` token, if any; another scheme or an unreadable value is 401.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::unauthorized())?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(token.trim())),
        _ => Err(ApiError::unauthorized()),
    }
}

/// The value of cookie `name`, from every `Cookie` header of the request.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// True for methods that change nothing, which need no CSRF token.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub(crate) fn csrf_failed() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        "this request needs the session's CSRF token in the X-CSRF-Token header; reload the page",
    )
}

/// True when the header carries exactly `expected` (compared in constant time).
pub(crate) fn csrf_matches(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(CSRF_HEADER)
        .is_some_and(|given| bool::from(given.as_bytes().ct_eq(expected.as_bytes())))
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(token) = bearer_token(&parts.headers)? {
            return match state.store.user_by_token(token).await? {
                Some(user) => Ok(Self(Some(user))),
                // A wrong token is an error, not silently anonymous: the client meant to sign in.
                None => Err(ApiError::unauthorized()),
            };
        }
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(Self(None));
        };
        // A stale cookie is anonymous: the browser keeps it until told otherwise, and reading a
        // public page must not fail because of it.
        let Some(session) = state.store.session(secret).await? else {
            return Ok(Self(None));
        };
        if !is_safe(&parts.method) && !csrf_matches(&parts.headers, &session.csrf_token) {
            return Err(csrf_failed());
        }
        Ok(Self(Some(session.user)))
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match MaybeUser::from_request_parts(parts, state).await?.0 {
            Some(user) => Ok(Self(user)),
            None => Err(ApiError::unauthorized()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others_and_across_headers() {
        let mut headers = HeaderMap::new();
        headers.append(
            http::header::COOKIE,
            "a=1; spool_session=abc".parse().unwrap(),
        );
        headers.append(http::header::COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie(&headers, "spool_session"), Some("abc"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "spool"), None);
        assert_eq!(cookie(&HeaderMap::new(), "a"), None);
    }

    #[test]
    fn csrf_token_must_match_exactly() {
        let mut headers = HeaderMap::new();
        assert!(!csrf_matches(&headers, "tok"));
        headers.insert(CSRF_HEADER, "tok".parse().unwrap());
        assert!(csrf_matches(&headers, "tok"));
        assert!(!csrf_matches(&headers, "tok2"));
        assert!(!csrf_matches(&headers, "to"));
    }
}
