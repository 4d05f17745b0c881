//! `POST /api/v1/events`: tracking (埋点) batches into the durable event log.
//!
//! The contract (limits, types, validation, all-or-nothing batches) is
//! [`spool_events::tracking`], and what ingestion does with a batch (rate limit, visibility,
//! dedup, append) is [`spool_events::ingest`]. Here: the body, who sent it, and the answer.
//!
//! Who: a bearer token or a session cookie names the user. Browsers flush with
//! `navigator.sendBeacon`, which cannot set headers, so a cookie-authenticated batch may carry
//! the session's CSRF token in the body (`csrf_token`) instead of `X-CSRF-Token`; without a
//! matching token the batch is still taken, as anonymous: a forged beacon from another site can
//! then not put events in someone's history, and a real one is never lost.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use serde::Serialize;
use spool_events::ingest::{IngestError, Sender, SenderUser};
use spool_events::tracking::{Batch, BatchError, MAX_BATCH_BYTES};
use spool_metadata::User;
use subtle::ConstantTimeEq;

pub use spool_events::Tracking;

use crate::AppState;
use crate::auth::{SESSION_COOKIE, bearer_token, cookie, csrf_matches};
use crate::error::{ApiError, ApiResult};

fn ingest_error(e: IngestError) -> ApiError {
    match e {
        IngestError::Batch(e) => batch_error(e),
        IngestError::RateLimited(wait) => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string())
                .with_retry_after(wait)
        }
        IngestError::LogUnavailable(_) | IngestError::AccessUnavailable(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string())
        }
    }
}

fn log_unavailable(e: spool_events::LogError) -> ApiError {
    tracing::error!("event log: {e}");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "event_log_unavailable",
        "events cannot be stored right now; retry the same batch later",
    )
}

/// The answer to an accepted batch.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IngestResult {
    /// Events taken: appended to the log, or dropped because the sender may not see their
    /// video (private, or no such video); the answer does not tell the two apart.
    accepted: usize,
    /// Events dropped because their `event_id` was accepted recently (a retry).
    duplicates: usize,
}

fn batch_error(e: BatchError) -> ApiError {
    ApiError::coded(e.code(), e.to_string())
}

/// Record a batch of tracking events.
#[utoipa::path(post, path = "/api/v1/events", tag = "events",
    request_body(content = String, description = "{\"events\": [ ... ], \"csrf_token\"?: \"...\"}: at most 500 KB, 1000 events, 32 KB per event; see docs/events.md"),
    responses((status = 200, body = IngestResult, description = "every event is durable (or was already, or was dropped: its video is not one the sender may see)"),
        (status = 400, body = crate::error::ErrorBody, description = "invalid_json, empty_batch or invalid_event (names the event and field); nothing is stored"),
        (status = 413, body = crate::error::ErrorBody, description = "batch_too_large or event_too_large"),
        (status = 429, body = crate::error::ErrorBody, description = "rate_limited; see Retry-After"),
        (status = 503, body = crate::error::ErrorBody, description = "event_log_unavailable: retry the same batch")))]
pub async fn ingest(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<IngestResult>> {
    let body = axum::body::to_bytes(body, MAX_BATCH_BYTES + 1)
        .await
        .map_err(|_| {
            batch_error(BatchError::BatchTooLarge {
                len: MAX_BATCH_BYTES + 1,
            })
        })?;
    let batch = Batch::parse(&body).map_err(batch_error)?;
    let address = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let ingestion = state.tracking.ingestion();
    if let Some(address) = address {
        ingestion
            .admit(address, batch.len())
            .map_err(ingest_error)?;
    }
    let user = sender(&state, &headers, batch.csrf_token.as_deref()).await?;
    let sender = Sender {
        user: user.map(|u| SenderUser {
            id: u.id,
            name: u.name,
            is_admin: u.is_admin,
        }),
        address,
    };
    let accepted = ingestion
        .accept(batch, &sender)
        .await
        .map_err(ingest_error)?;
    Ok(Json(IngestResult {
        accepted: accepted.accepted,
        duplicates: accepted.duplicates,
    }))
}

/// The user a batch is attributed to: the bearer token's, or the session's when the CSRF token
/// matches (in the header or the body); anonymous otherwise. A wrong bearer token is 401.
async fn sender(
    state: &AppState,
    headers: &HeaderMap,
    body_csrf: Option<&str>,
) -> ApiResult<Option<User>> {
    if let Some(token) = bearer_token(headers)? {
        return match state.store.user_by_token(token).await? {
            Some(user) => Ok(Some(user)),
            None => Err(ApiError::unauthorized()),
        };
    }
    let Some(secret) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = state.store.session(secret).await? else {
        return Ok(None);
    };
    let in_body = body_csrf
        .is_some_and(|given| bool::from(given.as_bytes().ct_eq(session.csrf_token.as_bytes())));
    Ok((in_body || csrf_matches(headers, &session.csrf_token)).then_some(session.user))
}

/// Query of `GET /api/v1/events/tail`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TailParams {
    /// First log offset wanted; default: the end of the log (only new events).
    from: Option<u64>,
    /// Most events per answer, 1 to 1000 (default 100).
    limit: Option<usize>,
    /// How long to wait for new events before answering empty, ms (default 25000, at most 60000).
    wait_ms: Option<u64>,
}

/// Logged events, as `GET /api/v1/events/tail` answers them.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TailPage {
    /// Each with its `offset` and the log's `logged_at` (Unix ms) added.
    events: Vec<serde_json::Value>,
    /// Pass as `from` to continue.
    next: u64,
}

/// The live event stream, for debugging (admins only): long-polls for events from `from` on.
#[utoipa::path(get, path = "/api/v1/events/tail", tag = "events", params(TailParams),
    responses((status = 200, body = TailPage), (status = 403, body = crate::error::ErrorBody, description = "not_admin")),
    security(("bearer" = [])))]
pub async fn tail(
    State(state): State<AppState>,
    crate::auth::AuthUser(user): crate::auth::AuthUser,
    crate::error::ApiQuery(params): crate::error::ApiQuery<TailParams>,
) -> ApiResult<Json<TailPage>> {
    if !user.is_admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_admin",
            "only admins may read the event stream",
        ));
    }
    let limit = params.limit.unwrap_or(100).clamp(1, 1000);
    let wait = Duration::from_millis(params.wait_ms.unwrap_or(25_000).min(60_000));
    let page = state
        .tracking
        .shared_log()
        .tail(params.from, limit, wait, &state.stop)
        .await
        .map_err(log_unavailable)?;
    let events = page
        .records
        .iter()
        .map(|r| {
            let mut event: serde_json::Value =
                serde_json::from_slice(&r.payload).unwrap_or(serde_json::Value::Null);
            if let Some(map) = event.as_object_mut() {
                map.insert("offset".into(), r.offset.into());
                map.insert("logged_at".into(), r.timestamp_ms.into());
            }
            event
        })
        .collect();
    Ok(Json(TailPage {
        events,
        next: page.next,
    }))
}
