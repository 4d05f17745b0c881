//! Sign-up, sign-in and sign-out for browsers. Passwords are hashed with argon2id (the
//! `argon2` crate's defaults: 19 MiB, 2 passes, the OWASP minimum) on the blocking pool. A
//! wrong password and an unknown user get the same answer after the same work, so the answer
//! does not reveal who has an account; repeated failures per (user name, address) and per
//! address are refused for a while that doubles with each failure ([`LoginThrottle`]), so a
//! guesser slows down only themselves: the owner of the name, from another address, still
//! signs in.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use spool_metadata::{MetadataError, User};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{SESSION_COOKIE, cookie, csrf_failed, csrf_matches};
use crate::error::{ApiError, ApiResult};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (hashing is deliberately slow; do not let it be fed megabytes).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest throttling pause.
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Failures are forgotten this long after the last one.
const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);
/// Throttle entries kept before old ones are pruned.
const MAX_THROTTLE_ENTRIES: usize = 100_000;

/// Passwords people pick first; refused whatever their length.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password123",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "qwerty123",
    "iloveyou",
    "11111111",
    "00000000",
    "abcd1234",
    "abc12345",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "letmein1",
    "passw0rd",
    "p@ssw0rd",
    "admin123",
    "trustno1",
    "1q2w3e4r",
    "qwertyui",
    "asdfghjk",
    "zxcvbnm1",
    "superman",
    "starwars",
    "dragon12",
    "monkey12",
    "whatever",
    "changeme",
    "spoolspool",
];

/// Body of sign-up and sign-in.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Credentials {
    /// User name: 1-64 letters, digits, `_`, `-` or `.`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.-]+$")]
    name: String,
    /// Password: at least 8 characters and at most 1024 bytes, not a common one, not
    /// containing the user name.
    #[schema(min_length = 8)]
    password: String,
}

/// The signed-in user and the token unsafe requests must send as `X-CSRF-Token`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionJson {
    user: UserJson,
    csrf_token: String,
}

/// The browser's session as `GET /api/v1/auth/session` shows it: both fields are null when
/// nobody is signed in.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionState {
    user: Option<UserJson>,
    csrf_token: Option<String>,
}

/// A user as the API shows them.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserJson {
    name: String,
    is_admin: bool,
}

impl From<&User> for UserJson {
    fn from(user: &User) -> Self {
        Self {
            name: user.name.clone(),
            is_admin: user.is_admin,
        }
    }
}

/// Why a password is refused, or None when it is acceptable.
pub fn password_problem(name: &str, password: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Some(format!(
            "the password is too short: use at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Some(format!(
            "the password is too long: at most {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    let lower = password.to_lowercase();
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Some("this password is among the most common ones; choose another".into());
    }
    if !name.is_empty() && lower.contains(&name.to_lowercase()) {
        return Some("the password must not contain the user name".into());
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 4 {
        return Some(
            "the password repeats too few characters; use at least 4 different ones".into(),
        );
    }
    None
}

fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// A hash of nothing anyone knows, verified against when the user does not exist so that the
/// answer takes as long as for a real account.
static DECOY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password(&format!("{:032x}", rand::random::<u128>())).expect("hash"));

fn verify_password(password: &str, hash: Option<&str>) -> bool {
    let decoy = hash.is_none();
    let hash = hash.unwrap_or(DECOY_HASH.as_str());
    let ok = PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    });
    ok && !decoy
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format_args!("password task failed: {e}")))
}

fn parse_credentials(body: &[u8]) -> ApiResult<Credentials> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("expected {{\"name\": \"...\", \"password\": \"...\"}}: {e}"),
        )
    })
}

/// Refuses a sign-in or sign-up posted from another site (login CSRF): when the browser says
/// where the request comes from (`Origin`), it must be this server.
pub(crate) fn check_origin(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        return Ok(());
    };
    if origin.as_bytes() == crate::base_url(state, headers).as_bytes() {
        Ok(())
    } else {
        Err(csrf_failed())
    }
}

/// The answer to a successful sign-in or sign-up: the session cookie and the CSRF token.
async fn start_session(state: &AppState, user: &User, status: StatusCode) -> ApiResult<Response> {
    let ttl_s = state.config.web.session_ttl_s;
    let session = state
        .store
        .create_session(
            user.id,
            i64::try_from(ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX),
        )
        .await?;
    let secure = if state.config.web.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; Max-Age={ttl_s}; HttpOnly; SameSite=Lax{secure}",
        session.secret
    );
    let body = SessionJson {
        user: user.into(),
        csrf_token: session.csrf_token,
    };
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        http::header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("cookie is ASCII"),
    );
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// Create an account and sign in.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = Credentials,
    responses((status = 201, body = SessionJson, description = "signed up; sets the session cookie"),
        (status = 409, body = crate::error::ErrorBody, description = "already_exists: the name is taken"),
        (status = 422, body = crate::error::ErrorBody, description = "weak_password or invalid_input (bad name)")))]
pub async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    check_origin(&state, &headers)?;
    let Credentials { name, password } = parse_credentials(&body)?;
    spool_metadata::validate_user_name(&name)?;
    if let Some(problem) = password_problem(&name, &password) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            problem,
        ));
    }
    let hash = blocking(move || hash_password(&password))
        .await?
        .map_err(|e| ApiError::internal(format_args!("hashing a password failed: {e}")))?;
    let user = match state.store.create_user_with_password(&name, &hash).await {
        Err(MetadataError::AlreadyExists(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_exists",
                format!("the user name `{name}` is taken; choose another"),
            ));
        }
        other => other?,
    };
    start_session(&state, &user, StatusCode::CREATED).await
}

/// Sign in with a password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = SessionJson, description = "signed in; sets the session cookie"),
        (status = 401, body = crate::error::ErrorBody, description = "wrong_credentials (the same for an unknown user)"),
        (status = 429, body = crate::error::ErrorBody, description = "too_many_attempts; see Retry-After")))]
pub async fn login(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    check_origin(&state, &headers)?;
    let Credentials { name, password } = parse_credentials(&body)?;
    let throttle = &state.logins;
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    // Never by name alone: that would let anyone lock the owner of a name out.
    let mut keys = vec![ThrottleKey::NameFrom(name.to_lowercase(), peer)];
    keys.extend(peer.map(ThrottleKey::Addr));
    if let Some(wait) = keys.iter().filter_map(|k| throttle.locked_for(k)).max() {
        return Err(too_many_attempts(wait));
    }
    let found = state.store.user_with_password(&name).await?;
    let hash = found.as_ref().and_then(|(_, hash)| hash.clone());
    let ok = blocking(move || verify_password(&password, hash.as_deref())).await?;
    match found {
        Some((user, _)) if ok => {
            throttle.forget(&keys[0]);
            start_session(&state, &user, StatusCode::OK).await
        }
        _ => {
            for key in keys {
                throttle.record_failure(key);
            }
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "wrong_credentials",
                "wrong user name or password",
            ))
        }
    }
}

fn too_many_attempts(wait: Duration) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!(
            "too many failed sign-ins; try again in {} seconds",
            wait.as_secs().max(1)
        ),
    )
    .with_retry_after(wait)
}

/// Sign out: ends the session and clears the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "signed out"), (status = 403, body = crate::error::ErrorBody, description = "csrf_failed")))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        if let Some(session) = state.store.session(secret).await?
            && !csrf_matches(&headers, &session.csrf_token)
        {
            return Err(csrf_failed());
        }
        state.store.delete_session(secret).await?;
    }
    let secure = if state.config.web.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let clear = format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}");
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        http::header::SET_COOKIE,
        HeaderValue::from_str(&clear).expect("cookie is ASCII"),
    );
    Ok(response)
}

/// The browser's session: who is signed in and the CSRF token.
#[utoipa::path(get, path = "/api/v1/auth/session", tag = "auth",
    responses((status = 200, body = SessionState, description = "the signed-in user, or `{\"user\": null, \"csrf_token\": null}` when anonymous")))]
pub async fn session(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    // Anonymous is an answer, not an error: browsers log every 4xx to the console.
    let session = match cookie(&headers, SESSION_COOKIE) {
        Some(secret) => state.store.session(secret).await?,
        None => None,
    };
    let body = match session {
        Some(session) => SessionState {
            user: Some((&session.user).into()),
            csrf_token: Some(session.csrf_token),
        },
        None => SessionState {
            user: None,
            csrf_token: None,
        },
    };
    Ok(([(http::header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// What failed sign-ins are counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// A user name (lowercased, whether or not it exists) as tried from one address (None
    /// when the connection's address is unknown).
    NameFrom(String, Option<IpAddr>),
    /// The client's address.
    Addr(IpAddr),
}

struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Counts failed sign-ins in memory (per process: several nodes each count their own, which
/// still bounds guessing to a small multiple). After `max_failures` for a name from one address
/// (four times as many for an address, which many people may share), each further failure locks the key for
/// 1, 2, 4 … seconds, up to 15 minutes.
pub struct LoginThrottle {
    max_failures: u32,
    failures: Mutex<HashMap<ThrottleKey, Failures>>,
}

impl LoginThrottle {
    /// A throttle that starts refusing after `max_failures` failures for one name.
    pub fn new(max_failures: u32) -> Self {
        Self {
            max_failures: max_failures.max(1),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn limit(&self, key: &ThrottleKey) -> u32 {
        match key {
            ThrottleKey::NameFrom(..) => self.max_failures,
            ThrottleKey::Addr(_) => self.max_failures.saturating_mul(4),
        }
    }

    /// How long the key is still locked, if it is.
    pub fn locked_for(&self, key: &ThrottleKey) -> Option<Duration> {
        let map = self.failures.lock().expect("throttle lock");
        let until = map.get(key)?.locked_until?;
        until.checked_duration_since(Instant::now())
    }

    /// Counts a failure and locks the key once it has too many.
    pub fn record_failure(&self, key: ThrottleKey) {
        let now = Instant::now();
        let limit = self.limit(&key);
        let mut map = self.failures.lock().expect("throttle lock");
        if map.len() >= MAX_THROTTLE_ENTRIES {
            map.retain(|_, f| now.duration_since(f.last) < FAILURE_MEMORY);
        }
        let entry = map.entry(key).or_insert(Failures {
            count: 0,
            last: now,
            locked_until: None,
        });
        if now.duration_since(entry.last) >= FAILURE_MEMORY {
            entry.count = 0;
        }
        entry.count += 1;
        entry.last = now;
        if entry.count >= limit {
            let doublings = (entry.count - limit).min(20);
            let wait = Duration::from_secs(1u64 << doublings).min(MAX_LOCKOUT);
            entry.locked_until = Some(now + wait);
        }
    }

    /// Forgets a key's failures (after a successful sign-in).
    pub fn forget(&self, key: &ThrottleKey) {
        self.failures.lock().expect("throttle lock").remove(key);
    }
}

/// Sign-up, sign-in, sign-out and the session, with their OpenAPI entries.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(session))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        for (name, password, fragment) in [
            ("alice", "short", "too short"),
            ("alice", "password123", "most common"),
            ("alice", "PassWord1", "most common"),
            ("alice", "my-alice-pass", "user name"),
            ("alice", "aaaaaaaaaaaa", "too few"),
            ("alice", "abababab", "too few"),
        ] {
            let problem = password_problem(name, password).unwrap_or_default();
            assert!(problem.contains(fragment), "{password}: {problem}");
        }
        assert!(password_problem("alice", &"x1y2".repeat(300)).is_some());
        assert_eq!(password_problem("alice", "correct horse battery"), None);
        assert_eq!(password_problem("alice", "Tr0ub4dor&3"), None);
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", Some(&hash)));
        assert!(!verify_password("correct horse batter", Some(&hash)));
        assert!(!verify_password("correct horse battery", None));
        assert!(!verify_password("x", Some("not a hash")));
    }

    #[test]
    fn throttle_locks_after_the_limit_and_doubles() {
        let throttle = LoginThrottle::new(3);
        let key = ThrottleKey::NameFrom("bob".into(), Some(IpAddr::from([127, 0, 0, 2])));
        throttle.record_failure(key.clone());
        throttle.record_failure(key.clone());
        assert_eq!(throttle.locked_for(&key), None);
        throttle.record_failure(key.clone());
        let first = throttle.locked_for(&key).expect("locked after 3");
        assert!(first <= Duration::from_secs(1));
        throttle.record_failure(key.clone());
        throttle.record_failure(key.clone());
        let later = throttle.locked_for(&key).expect("still locked");
        assert!(later > Duration::from_secs(3), "{later:?}");
        // An address gets four times the allowance.
        let addr = ThrottleKey::Addr(IpAddr::from([127, 0, 0, 1]));
        for _ in 0..11 {
            throttle.record_failure(addr.clone());
        }
        assert_eq!(throttle.locked_for(&addr), None);
        throttle.record_failure(addr.clone());
        assert!(throttle.locked_for(&addr).is_some());
        throttle.forget(&key);
        assert_eq!(throttle.locked_for(&key), None);
    }
}
