//! Passwords and browser sessions. The store keeps only a password's PHC string (hashing and
//! verifying is the API's job) and only the SHA-256 of a session's secret, like API tokens: a
//! leaked database holds no working cookie.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use spool_model::{UserId, now_millis};
use sqlx::Row;

use crate::users::{USER_COLUMNS, user_from_row};
use crate::{Result, Store, User};

/// A signed-in browser: who, and the token its unsafe requests must echo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The user.
    pub user: User,
    /// Synchronizer token against cross-site request forgery.
    pub csrf_token: String,
}

/// A new session as handed to the browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession {
    /// The cookie's secret (only its hash is stored).
    pub secret: String,
    /// Synchronizer token against cross-site request forgery.
    pub csrf_token: String,
}

/// Longest session secret accepted from a cookie; anything longer is not ours.
const MAX_SECRET_LEN: usize = 64;

pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Store {
    /// Creates a user who signs in with a password (the PHC string of its hash); fails with
    /// [`MetadataError::AlreadyExists`] when the name is taken. The name is checked as in
    /// [`Store::create_user`].
    pub async fn create_user_with_password(&self, name: &str, password_hash: &str) -> Result<User> {
        self.insert_user(name, false, Some(password_hash)).await
    }

    /// Sets (or replaces) a user's password hash. False when the user does not exist.
    pub async fn set_password_hash(&self, user: UserId, password_hash: &str) -> Result<bool> {
        let done = sqlx::query(&self.sql("UPDATE users SET password_hash = ? WHERE id = ?"))
            .bind(password_hash)
            .bind(user)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A user and their password hash (None for token-only accounts), by name.
    pub async fn user_with_password(&self, name: &str) -> Result<Option<(User, Option<String>)>> {
        let row = sqlx::query(&self.sql(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE name = ? AND banned_at IS NULL"
        )))
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| Ok((user_from_row(&row)?, row.try_get("password_hash")?)))
            .transpose()
    }

    /// Starts a session for `user` that lasts `ttl_ms`.
    pub async fn create_session(&self, user: UserId, ttl_ms: i64) -> Result<NewSession> {
        let session = NewSession {
            secret: random_token(),
            csrf_token: random_token(),
        };
        let now = now_millis();
        sqlx::query(&self.sql(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        ))
        .bind(secret_hash(&session.secret))
        .bind(user)
        .bind(&session.csrf_token)
        .bind(now)
        .bind(now.saturating_add(ttl_ms))
        .execute(self.pool())
        .await?;
        Ok(session)
    }

    /// The live session a cookie's secret names, if any.
    pub async fn session(&self, secret: &str) -> Result<Option<Session>> {
        if secret.is_empty() || secret.len() > MAX_SECRET_LEN {
            return Ok(None);
        }
        let row = sqlx::query(&self.sql(
            "SELECT u.id, u.name, u.is_admin, u.used_bytes, s.csrf_token FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND s.expires_at > ? \
             AND u.banned_at IS NULL",
        ))
        .bind(secret_hash(secret))
        .bind(now_millis())
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(Session {
                user: user_from_row(&row)?,
                csrf_token: row.try_get("csrf_token")?,
            })
        })
        .transpose()
    }

    /// Ends a session (signing out). Idempotent.
    pub async fn delete_session(&self, secret: &str) -> Result<()> {
        sqlx::query(&self.sql("DELETE FROM sessions WHERE id_hash = ?"))
            .bind(secret_hash(secret))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Removes sessions that expired before `now`; returns how many.
    pub async fn delete_expired_sessions(&self, now: i64) -> Result<u64> {
        let done = sqlx::query(&self.sql("DELETE FROM sessions WHERE expires_at <= ?"))
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
