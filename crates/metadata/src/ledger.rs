//! The double-entry ledger behind gifts: accounts with a balance, immutable transfers keyed
//! by the client's idempotency key, and their entries (one signed row per leg).
//!
//! A transfer, its entries and the balances of the accounts it touches are written in one
//! transaction, so a balance is always the sum of its account's entries (`ledger_audit`
//! checks it). Every leg is applied by a conditional `UPDATE ... WHERE balance + leg >= 0`
//! (the issuance account excepted): MariaDB takes the row lock and re-checks the current
//! balance, SQLite runs writers one at a time (`BEGIN IMMEDIATE`), so a balance is never
//! driven below zero by racing transfers. What the legs mean (who pays, the platform's share)
//! is the gifts crate's decision; this only writes them.

use spool_model::{UserId, now_millis};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Backend, MetadataError, Result, Store, is_unique_violation, with_retry};

/// The platform's account: its share of every gift.
pub const PLATFORM_ACCOUNT: i64 = -1;
/// The issuance account: grants are transfers from it, so the ledger sums to zero; the only
/// account whose balance goes below zero.
pub const ISSUANCE_ACCOUNT: i64 = -2;

/// A gift one can send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GiftRow {
    /// Stable id, e.g. `rocket`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Price of one, in minor units.
    pub price: i64,
    /// The player animation it plays.
    pub animation: String,
}

/// What a transfer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferKind {
    /// A viewer's gift to a creator.
    Gift,
    /// Coins issued to a wallet (an admin's or the CLI's top-up).
    Grant,
}

impl TransferKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gift => "gift",
            Self::Grant => "grant",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "gift" => Ok(Self::Gift),
            "grant" => Ok(Self::Grant),
            other => Err(MetadataError::Corrupt(format!("transfer kind `{other}`"))),
        }
    }
}

/// A transfer to write: its legs must sum to zero.
#[derive(Clone, Debug)]
pub struct NewTransfer {
    /// A fresh id for it.
    pub id: String,
    /// The account the idempotency key belongs to (the sender, or issuance for grants).
    pub scope_account: i64,
    /// The client's key.
    pub idempotency_key: String,
    /// Fingerprint of the request, to tell a replay from a reused key.
    pub fingerprint: String,
    /// What it is for.
    pub kind: TransferKind,
    /// The account that pays.
    pub from_account: i64,
    /// The account it is for (the creator, or the granted wallet).
    pub to_account: i64,
    /// What `from_account` pays, > 0.
    pub amount: i64,
    /// The account whose balance right after is recorded as the answer's (the sender's for
    /// a gift, the wallet's for a grant).
    pub reported_account: i64,
    /// `(account, signed amount)`, one per leg, summing to zero; no zero legs.
    pub legs: Vec<(i64, i64)>,
    /// The gift and how many, for gifts.
    pub gift: Option<(String, i64)>,
    /// The video it was sent on.
    pub video_id: Option<String>,
    /// The live room it was sent in.
    pub room_id: Option<String>,
}

/// A stored transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRow {
    /// Its id.
    pub id: String,
    /// The request fingerprint it was written for.
    pub fingerprint: String,
    /// What it is for.
    pub kind: TransferKind,
    /// Who paid.
    pub from_account: i64,
    /// Who it was for.
    pub to_account: i64,
    /// What was paid.
    pub amount: i64,
    /// Gift id and count, for gifts.
    pub gift: Option<(String, i64)>,
    /// Video it was sent on.
    pub video_id: Option<String>,
    /// Room it was sent in.
    pub room_id: Option<String>,
    /// The reported account's balance right after it.
    pub balance_after: i64,
    /// Unix ms.
    pub created_at: i64,
}

/// What posting a transfer did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Posted {
    /// Written now.
    Applied(TransferRow),
    /// A transfer with this key already exists in its scope (written earlier, or by a
    /// concurrent request that won): nothing was written now.
    Existing(TransferRow),
    /// A leg would have taken `account` below zero: nothing was written.
    Insufficient {
        /// The account that could not pay.
        account: i64,
        /// Its balance when refused.
        balance: i64,
    },
}

/// A wallet's movement, as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Movement {
    /// The transfer.
    pub transfer: TransferRow,
    /// This account's leg: negative when it paid.
    pub amount: i64,
}

/// One sender on a leaderboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderRow {
    /// The sender's user name.
    pub name: String,
    /// What they spent there in total.
    pub amount: i64,
    /// Gifts sent (counts summed).
    pub gifts: i64,
}

/// A creator's earnings on one video or room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarningRow {
    /// The video, when on a video.
    pub video_id: Option<String>,
    /// The room, when in a live room.
    pub room_id: Option<String>,
    /// The creator's credited share in total.
    pub amount: i64,
    /// Gifts received (counts summed).
    pub gifts: i64,
}

/// The ledger's consistency, for tests and benchmarks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerAudit {
    /// The sum of every entry: zero in a consistent ledger.
    pub entries_sum: i64,
    /// Accounts whose balance differs from the sum of their entries.
    pub mismatched_balances: i64,
    /// Transfers whose legs do not sum to zero.
    pub unbalanced_transfers: i64,
    /// Accounts other than issuance below zero.
    pub negative_balances: i64,
    /// Transfers written.
    pub transfers: i64,
}

impl Store {
    /// SUM as a 64-bit integer on every engine (MariaDB's SUM is a DECIMAL, PostgreSQL's a
    /// NUMERIC, which the `Any` driver cannot decode).
    fn sum(&self, expr: &str) -> String {
        let integer = match self.backend() {
            Backend::Postgres => "BIGINT",
            Backend::Sqlite | Backend::MySql => "SIGNED INTEGER",
        };
        format!("CAST(COALESCE(SUM({expr}), 0) AS {integer})")
    }
}

const TRANSFER_COLUMNS: &str = "t.id, t.fingerprint, t.kind, t.from_account, t.to_account, \
    t.amount, t.gift_id, t.gift_count, t.video_id, t.room_id, t.balance_after, t.created_at";

fn transfer_from_row(row: &AnyRow) -> Result<TransferRow> {
    let gift_id: Option<String> = row.try_get("gift_id")?;
    let gift_count: Option<i64> = row.try_get("gift_count")?;
    Ok(TransferRow {
        id: row.try_get::<String, _>("id")?.trim_end().to_owned(),
        fingerprint: row.try_get("fingerprint")?,
        kind: TransferKind::parse(&row.try_get::<String, _>("kind")?)?,
        from_account: row.try_get("from_account")?,
        to_account: row.try_get("to_account")?,
        amount: row.try_get("amount")?,
        gift: gift_id.zip(gift_count),
        video_id: row.try_get("video_id")?,
        room_id: row.try_get("room_id")?,
        balance_after: row.try_get("balance_after")?,
        created_at: row.try_get("created_at")?,
    })
}

fn gift_from_row(row: &AnyRow) -> Result<GiftRow> {
    Ok(GiftRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        price: row.try_get("price")?,
        animation: row.try_get("animation")?,
    })
}

impl Store {
    /// The gift catalogue, cheapest first.
    pub async fn gift_catalog(&self) -> Result<Vec<GiftRow>> {
        let rows = sqlx::query(
            &self.sql("SELECT id, name, price, animation FROM gift_catalog ORDER BY price, id"),
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(gift_from_row).collect()
    }

    /// One gift by id.
    pub async fn gift(&self, id: &str) -> Result<Option<GiftRow>> {
        let row = sqlx::query(
            &self.sql("SELECT id, name, price, animation FROM gift_catalog WHERE id = ?"),
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(gift_from_row).transpose()
    }

    /// A wallet's balance: 0 before its first transfer.
    pub async fn wallet_balance(&self, user: UserId) -> Result<i64> {
        self.account_balance(user).await
    }

    /// The balance of any account (a user's id, [`PLATFORM_ACCOUNT`], [`ISSUANCE_ACCOUNT`]).
    pub async fn account_balance(&self, account: i64) -> Result<i64> {
        let row = sqlx::query(&self.sql("SELECT balance FROM ledger_accounts WHERE id = ?"))
            .bind(account)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(row) => row.try_get("balance")?,
            None => 0,
        })
    }

    /// The sum of an account's entries: what its balance must equal.
    pub async fn account_entries_sum(&self, account: i64) -> Result<i64> {
        let row = sqlx::query(&self.sql(&format!(
            "SELECT {} AS total FROM ledger_entries WHERE account_id = ?",
            self.sum("amount")
        )))
        .bind(account)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("total")?)
    }

    /// Opens the wallets of `users` that have none yet (idempotent, safe under races).
    async fn open_wallets(&self, users: &[i64]) -> Result<()> {
        for &user in users.iter().filter(|&&id| id > 0) {
            let exists = sqlx::query(&self.sql("SELECT id FROM ledger_accounts WHERE id = ?"))
                .bind(user)
                .fetch_optional(self.pool())
                .await?;
            if exists.is_some() {
                continue;
            }
            let inserted = sqlx::query(
                &self.sql("INSERT INTO ledger_accounts (id, kind, balance, created_at) VALUES (?, 'user', 0, ?)"),
            )
            .bind(user)
            .bind(now_millis())
            .execute(self.pool())
            .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Writes `transfer` with its entries and balances in one transaction, unless its key is
    /// already used in its scope ([`Posted::Existing`]: the caller compares fingerprints) or
    /// a leg would take an account below zero ([`Posted::Insufficient`]: nothing written).
    pub async fn post_transfer(&self, transfer: &NewTransfer) -> Result<Posted> {
        if transfer.legs.iter().map(|(_, amount)| amount).sum::<i64>() != 0
            || transfer.legs.iter().any(|(_, amount)| *amount == 0)
            || transfer.amount <= 0
        {
            return Err(MetadataError::InvalidInput(
                "a transfer's legs must be non-zero and sum to zero".into(),
            ));
        }
        let accounts: Vec<i64> = transfer.legs.iter().map(|(account, _)| *account).collect();
        self.open_wallets(&accounts).await?;
        let posted = with_retry(|| self.try_post_transfer(transfer)).await?;
        match posted {
            // Lost a race on the key: the winner's row is committed (the unique index made
            // this one wait for it), read it outside the failed transaction.
            None => match self
                .transfer_by_key(transfer.scope_account, &transfer.idempotency_key)
                .await?
            {
                Some(row) => Ok(Posted::Existing(row)),
                None => Err(MetadataError::Corrupt(
                    "an idempotency key collided but its transfer is gone".into(),
                )),
            },
            Some(posted) => Ok(posted),
        }
    }

    /// None when the transfer row's insert hit the unique key (a concurrent identical key).
    async fn try_post_transfer(&self, transfer: &NewTransfer) -> Result<Option<Posted>> {
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query(&self.sql(&format!(
            "SELECT {TRANSFER_COLUMNS} FROM ledger_transfers t \
             WHERE t.scope_account = ? AND t.idempotency_key = ?"
        )))
        .bind(transfer.scope_account)
        .bind(&transfer.idempotency_key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            tx.rollback().await?;
            return Ok(Some(Posted::Existing(transfer_from_row(&row)?)));
        }
        // In account order, so two transfers between the same accounts lock them in the same
        // order (no deadlock on MariaDB).
        let mut legs = transfer.legs.clone();
        legs.sort_unstable();
        for &(account, amount) in &legs {
            let applied = sqlx::query(&self.sql(
                "UPDATE ledger_accounts SET balance = balance + ? \
                 WHERE id = ? AND (kind = 'issuance' OR balance + ? >= 0)",
            ))
            .bind(amount)
            .bind(account)
            .bind(amount)
            .execute(&mut *tx)
            .await?;
            if applied.rows_affected() != 1 {
                tx.rollback().await?;
                let balance = self.account_balance(account).await?;
                return Ok(Some(Posted::Insufficient { account, balance }));
            }
        }
        let balance_after: i64 =
            sqlx::query(&self.sql("SELECT balance FROM ledger_accounts WHERE id = ?"))
                .bind(transfer.reported_account)
                .fetch_one(&mut *tx)
                .await?
                .try_get("balance")?;
        let created_at = now_millis();
        let (gift_id, gift_count) = transfer.gift.clone().unzip();
        let inserted = sqlx::query(&self.sql(
            "INSERT INTO ledger_transfers (id, scope_account, idempotency_key, fingerprint, kind, \
             from_account, to_account, amount, gift_id, gift_count, video_id, room_id, \
             balance_after, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(&transfer.id)
        .bind(transfer.scope_account)
        .bind(&transfer.idempotency_key)
        .bind(&transfer.fingerprint)
        .bind(transfer.kind.as_str())
        .bind(transfer.from_account)
        .bind(transfer.to_account)
        .bind(transfer.amount)
        .bind(gift_id.clone())
        .bind(gift_count)
        .bind(transfer.video_id.clone())
        .bind(transfer.room_id.clone())
        .bind(balance_after)
        .bind(created_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                tx.rollback().await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
        let placeholders = vec!["(?, ?, ?)"; legs.len()].join(", ");
        let sql = format!(
            "INSERT INTO ledger_entries (transfer_id, account_id, amount) VALUES {placeholders}"
        );
        let sql = self.sql(&sql);
        let mut insert = sqlx::query(&sql);
        for &(account, amount) in &legs {
            insert = insert.bind(&transfer.id).bind(account).bind(amount);
        }
        insert.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(Posted::Applied(TransferRow {
            id: transfer.id.clone(),
            fingerprint: transfer.fingerprint.clone(),
            kind: transfer.kind,
            from_account: transfer.from_account,
            to_account: transfer.to_account,
            amount: transfer.amount,
            gift: gift_id.zip(gift_count),
            video_id: transfer.video_id.clone(),
            room_id: transfer.room_id.clone(),
            balance_after,
            created_at,
        })))
    }

    /// The transfer with `key` in `scope`.
    pub async fn transfer_by_key(&self, scope: i64, key: &str) -> Result<Option<TransferRow>> {
        let row = sqlx::query(&self.sql(&format!(
            "SELECT {TRANSFER_COLUMNS} FROM ledger_transfers t \
             WHERE t.scope_account = ? AND t.idempotency_key = ?"
        )))
        .bind(scope)
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(transfer_from_row).transpose()
    }

    /// An account's latest movements, newest first.
    pub async fn movements(&self, account: i64, limit: u32) -> Result<Vec<Movement>> {
        let rows = sqlx::query(&self.sql(&format!(
            "SELECT {TRANSFER_COLUMNS}, e.amount AS leg FROM ledger_entries e \
             JOIN ledger_transfers t ON t.id = e.transfer_id \
             WHERE e.account_id = ? ORDER BY e.id DESC LIMIT ?"
        )))
        .bind(account)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Movement {
                    transfer: transfer_from_row(row)?,
                    amount: row.try_get("leg")?,
                })
            })
            .collect()
    }

    /// Top senders of gifts on a video (`room` false) or in a live room (`room` true), by
    /// what their entries paid there.
    pub async fn gift_leaders(
        &self,
        room: bool,
        target: &str,
        limit: u32,
    ) -> Result<Vec<LeaderRow>> {
        let column = if room { "room_id" } else { "video_id" };
        let rows = sqlx::query(&self.sql(&format!(
            "SELECT u.name AS name, {paid} AS paid, {gifts} AS gifts \
             FROM ledger_transfers t \
             JOIN ledger_entries e ON e.transfer_id = t.id AND e.account_id = t.from_account \
             JOIN users u ON u.id = t.from_account \
             WHERE t.kind = 'gift' AND t.{column} = ? \
             GROUP BY u.name ORDER BY paid DESC, u.name LIMIT ?",
            paid = self.sum("-e.amount"),
            gifts = self.sum("t.gift_count"),
        )))
        .bind(target)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LeaderRow {
                    name: row.try_get("name")?,
                    amount: row.try_get("paid")?,
                    gifts: row.try_get("gifts")?,
                })
            })
            .collect()
    }

    /// A creator's gift earnings per video and room (from their credit entries), largest
    /// first.
    pub async fn gift_earnings(&self, creator: UserId, limit: u32) -> Result<Vec<EarningRow>> {
        let rows = sqlx::query(&self.sql(&format!(
            "SELECT t.video_id AS video_id, t.room_id AS room_id, {earned} AS earned, \
             {gifts} AS gifts FROM ledger_entries e \
             JOIN ledger_transfers t ON t.id = e.transfer_id \
             WHERE e.account_id = ? AND t.kind = 'gift' AND t.to_account = e.account_id \
             GROUP BY t.video_id, t.room_id ORDER BY earned DESC, t.video_id, t.room_id LIMIT ?",
            earned = self.sum("e.amount"),
            gifts = self.sum("t.gift_count"),
        )))
        .bind(creator)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(EarningRow {
                    video_id: row.try_get("video_id")?,
                    room_id: row.try_get("room_id")?,
                    amount: row.try_get("earned")?,
                    gifts: row.try_get("gifts")?,
                })
            })
            .collect()
    }

    /// What a creator earned from gifts in total (the sum of their gift credit entries).
    pub async fn gift_earned_total(&self, creator: UserId) -> Result<i64> {
        let row = sqlx::query(&self.sql(&format!(
            "SELECT {} AS earned FROM ledger_entries e \
             JOIN ledger_transfers t ON t.id = e.transfer_id \
             WHERE e.account_id = ? AND t.kind = 'gift' AND t.to_account = e.account_id",
            self.sum("e.amount")
        )))
        .bind(creator)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("earned")?)
    }

    /// Checks the whole ledger (a full scan: tests and benchmarks, not requests).
    pub async fn ledger_audit(&self) -> Result<LedgerAudit> {
        let one = |sql: String| async move {
            let row = sqlx::query(&self.sql(&sql)).fetch_one(self.pool()).await?;
            Ok::<i64, MetadataError>(row.try_get("n")?)
        };
        Ok(LedgerAudit {
            entries_sum: one(format!("SELECT {} AS n FROM ledger_entries", self.sum("amount"))).await?,
            mismatched_balances: one(format!(
                "SELECT COUNT(*) AS n FROM ledger_accounts a WHERE a.balance <> \
                 (SELECT {} FROM ledger_entries e WHERE e.account_id = a.id)",
                self.sum("e.amount")
            ))
            .await?,
            unbalanced_transfers: one(format!(
                "SELECT COUNT(*) AS n FROM ledger_transfers t WHERE 0 <> \
                 (SELECT {} FROM ledger_entries e WHERE e.transfer_id = t.id) \
                 OR NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.transfer_id = t.id)",
                self.sum("e.amount")
            ))
            .await?,
            negative_balances: one(
                "SELECT COUNT(*) AS n FROM ledger_accounts WHERE kind <> 'issuance' AND balance < 0"
                    .into(),
            )
            .await?,
            transfers: one("SELECT COUNT(*) AS n FROM ledger_transfers".into()).await?,
        })
    }
}
