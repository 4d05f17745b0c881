//! Users and API tokens. Tokens are random 256-bit secrets; only their SHA-256 is stored, so a
//! leaked database does not leak working tokens (a slow hash is not needed for random secrets).

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use spool_model::{UserId, now_millis};
use sqlx::Row;

use crate::{MetadataError, Result, Store, is_unique_violation};

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Numeric id.
    pub id: UserId,
    /// Unique login name.
    pub name: String,
    /// Admins may change and delete anything.
    pub is_admin: bool,
    /// Bytes charged against the quota (finished videos plus reservations of unfinished uploads).
    pub used_bytes: i64,
}

const TOKEN_PREFIX: &str = "spool_";

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Checks a user name: 1 to 64 characters of letters, digits, `_`, `-` or `.`.
pub fn validate_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(MetadataError::InvalidInput(format!(
            "user name `{}` must be 1-64 letters, digits, `_`, `-` or `.`",
            name.chars().take(80).collect::<String>()
        )))
    }
}

/// The columns [`user_from_row`] reads.
pub(crate) const USER_COLUMNS: &str = "id, name, is_admin, used_bytes";

pub(crate) fn user_from_row(row: &sqlx::any::AnyRow) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        used_bytes: row.try_get("used_bytes")?,
    })
}

impl Store {
    /// Creates a user; fails with [`MetadataError::AlreadyExists`] when the name is taken.
    pub async fn create_user(&self, name: &str, is_admin: bool) -> Result<User> {
        self.insert_user(name, is_admin, None).await
    }

    /// Inserts a user (with a password hash for browser sign-in, or without); a taken name is
    /// [`MetadataError::AlreadyExists`].
    pub(crate) async fn insert_user(
        &self,
        name: &str,
        is_admin: bool,
        password_hash: Option<&str>,
    ) -> Result<User> {
        validate_user_name(name)?;
        let result = sqlx::query(&self.sql(
            "INSERT INTO users (name, is_admin, used_bytes, created_at, password_hash) \
             VALUES (?, ?, 0, ?, ?)",
        ))
        .bind(name)
        .bind(i64::from(is_admin))
        .bind(now_millis())
        .bind(password_hash)
        .execute(self.pool())
        .await;
        match result {
            Ok(_) => self
                .user_by_name(name)
                .await?
                .ok_or_else(|| MetadataError::Corrupt("user vanished after insert".into())),
            Err(e) if is_unique_violation(&e) => Err(MetadataError::AlreadyExists("user")),
            Err(e) => Err(e.into()),
        }
    }

    /// Looks a user up by name.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        let row =
            sqlx::query(&self.sql(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?")))
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// A user and when they signed up (Unix ms), by name.
    pub async fn user_created_at(&self, name: &str) -> Result<Option<(User, i64)>> {
        let row = sqlx::query(&self.sql(&format!(
            "SELECT {USER_COLUMNS}, created_at FROM users WHERE name = ?"
        )))
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| Ok((user_from_row(&row)?, row.try_get("created_at")?)))
            .transpose()
    }

    /// Looks a user up by id.
    pub async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        let row = sqlx::query(&self.sql(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?")))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Issues a new API token for the user and returns it; only its hash is stored.
    pub async fn create_token(&self, user: UserId) -> Result<String> {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        sqlx::query(
            &self.sql("INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES (?, ?, ?)"),
        )
        .bind(user)
        .bind(token_hash(&token))
        .bind(now_millis())
        .execute(self.pool())
        .await?;
        Ok(token)
    }

    /// The user a token belongs to, if the token is valid.
    pub async fn user_by_token(&self, token: &str) -> Result<Option<User>> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        let row = sqlx::query(&self.sql(
            "SELECT u.id, u.name, u.is_admin, u.used_bytes FROM api_tokens t \
             JOIN users u ON u.id = t.user_id WHERE t.token_hash = ? AND u.banned_at IS NULL",
        ))
        .bind(token_hash(token))
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }
}
