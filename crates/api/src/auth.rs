//! Bearer-token authentication as axum extractors.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use spool_metadata::User;

use crate::AppState;
use crate::error::ApiError;

/// The caller, if the request carried a valid token (anonymous otherwise).
pub struct MaybeUser(pub Option<User>);

/// The caller; the request is refused with 401 without a valid token.
pub struct AuthUser(pub User);

fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::unauthorized())?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(token.trim())),
        _ => Err(ApiError::unauthorized()),
    }
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match bearer(parts)? {
            None => Ok(Self(None)),
            Some(token) => match state.store.user_by_token(token).await? {
                Some(user) => Ok(Self(Some(user))),
                // A wrong token is an error, not silently anonymous: the client meant to sign in.
                None => Err(ApiError::unauthorized()),
            },
        }
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
