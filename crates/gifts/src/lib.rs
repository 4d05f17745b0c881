//! Gifts: a wallet per user, the gift catalogue, sending gifts to a video's or a live room's
//! creator, leaderboards and creators' earnings, on a double-entry ledger (the store's
//! `ledger` tables). Knows nothing of HTTP; the api crate maps it, and broadcasts what it
//! answers.
//!
//! A send is one transfer, written in one transaction with its entries: the sender's debit,
//! the creator's credit and the platform's share ([`rules::split`]). Its id is chosen here,
//! its idempotency key by the client (scoped per sender): the same key with the same request
//! answers the first transfer again, with another request it is refused. Top-ups are
//! transfers from the issuance account ([`grant`]).
//!
//! Architecture Invariant: money never moves except by a transfer whose entries sum to zero,
//! written in one transaction with the balances it changes; no balance is ever below zero
//! except the issuance account's, and no balance is computed from anything but ledger
//! entries (the event log only hears about gifts, it is never their record).

mod error;
pub mod rules;

use spool_catalog::Catalog;
use spool_live::Live;
use spool_metadata::{
    EarningRow, GiftRow, ISSUANCE_ACCOUNT, LeaderRow, Movement, NewTransfer, PLATFORM_ACCOUNT,
    Posted, Store, TransferKind, TransferRow, User,
};
use spool_model::{RoomId, VideoId};

pub use error::{GiftError, Result};
pub use rules::IdempotencyKey;

/// Senders shown on a leaderboard.
pub const LEADERBOARD_SIZE: u32 = 10;
/// Movements shown with a wallet.
pub const RECENT_MOVEMENTS: u32 = 20;
/// Videos and rooms listed with a creator's earnings.
pub const EARNINGS_LISTED: u32 = 100;

/// Where a gift goes: the creator of a video or of a live room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A video.
    Video(VideoId),
    /// A live room.
    Room(RoomId),
}

impl Target {
    /// From the two optional ids of a request: exactly one must be given.
    pub fn from_ids(video: Option<VideoId>, room: Option<RoomId>) -> Result<Self> {
        match (video, room) {
            (Some(video), None) => Ok(Self::Video(video)),
            (None, Some(room)) => Ok(Self::Room(room)),
            _ => Err(GiftError::InvalidTarget),
        }
    }

    fn parts(&self) -> (&'static str, &str) {
        match self {
            Self::Video(id) => ("video", id.as_str()),
            Self::Room(id) => ("room", id.as_str()),
        }
    }
}

/// A gift to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendRequest {
    /// The gift's id in the catalogue.
    pub gift: String,
    /// Whose creator receives it.
    pub target: Target,
    /// How many, 1..=9999.
    pub count: i64,
}

/// A gift sent (now, or earlier with the same key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The transfer's id.
    pub transfer_id: String,
    /// The gift.
    pub gift: GiftRow,
    /// How many.
    pub count: i64,
    /// What the sender paid.
    pub amount: i64,
    /// The sender's balance right after this transfer.
    pub balance: i64,
    /// Where it went.
    pub target: Target,
    /// When it was written, Unix ms.
    pub at: i64,
    /// True when this answers an earlier request with the same key (nothing was written now;
    /// nothing should be announced again).
    pub replayed: bool,
}

/// Coins granted to a wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    /// The transfer's id.
    pub transfer_id: String,
    /// The wallet's owner.
    pub user: String,
    /// What was granted.
    pub amount: i64,
    /// The wallet's balance right after it.
    pub balance: i64,
    /// True when this answers an earlier grant with the same key.
    pub replayed: bool,
}

/// A user's wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wallet {
    /// What it holds.
    pub balance: i64,
    /// What its owner earned from gifts, ever.
    pub earned: i64,
    /// Its latest movements, newest first.
    pub recent: Vec<Movement>,
}

/// A creator's earnings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Earnings {
    /// Credited to them from gifts, ever.
    pub total: i64,
    /// Per video and room, largest first.
    pub by_target: Vec<EarningRow>,
}

/// The gifts service; cheap to clone.
#[derive(Clone)]
pub struct Gifts {
    store: Store,
    catalog: Catalog,
    live: Live,
}

impl Gifts {
    /// Gifts over the store, asking the catalog and the live service who may see what.
    pub fn new(store: Store, catalog: Catalog, live: Live) -> Self {
        Self {
            store,
            catalog,
            live,
        }
    }

    /// The gift catalogue, cheapest first.
    pub async fn catalogue(&self) -> Result<Vec<GiftRow>> {
        Ok(self.store.gift_catalog().await?)
    }

    /// `user`'s wallet.
    pub async fn wallet(&self, user: &User) -> Result<Wallet> {
        Ok(Wallet {
            balance: self.store.wallet_balance(user.id).await?,
            earned: self.store.gift_earned_total(user.id).await?,
            recent: self.store.movements(user.id, RECENT_MOVEMENTS).await?,
        })
    }

    /// What `user` earned from gifts, in total and per video and room.
    pub async fn earnings(&self, user: &User) -> Result<Earnings> {
        Ok(Earnings {
            total: self.store.gift_earned_total(user.id).await?,
            by_target: self.store.gift_earnings(user.id, EARNINGS_LISTED).await?,
        })
    }

    /// Top senders on a video `viewer` may see.
    pub async fn video_leaderboard(
        &self,
        viewer: Option<&User>,
        video: &VideoId,
    ) -> Result<Vec<LeaderRow>> {
        self.catalog.visible(viewer, video).await?;
        Ok(self
            .store
            .gift_leaders(false, video.as_str(), LEADERBOARD_SIZE)
            .await?)
    }

    /// Top senders in a live room `viewer` may see.
    pub async fn room_leaderboard(
        &self,
        viewer: Option<&User>,
        room: &RoomId,
    ) -> Result<Vec<LeaderRow>> {
        self.live.room(viewer, room).await?;
        Ok(self
            .store
            .gift_leaders(true, room.as_str(), LEADERBOARD_SIZE)
            .await?)
    }

    /// Sends a gift from `sender` to the creator of a video or room they may see, paid from
    /// their wallet, once per `key`.
    pub async fn send(
        &self,
        sender: &User,
        key: &IdempotencyKey,
        request: &SendRequest,
    ) -> Result<Sent> {
        if !(1..=rules::MAX_COUNT).contains(&request.count) {
            return Err(GiftError::InvalidCount(request.count));
        }
        let gift = self
            .store
            .gift(&request.gift)
            .await?
            .ok_or_else(|| GiftError::UnknownGift(request.gift.clone()))?;
        let amount = rules::gift_amount(gift.price, request.count)?;
        let creator = match &request.target {
            Target::Video(id) => self.catalog.visible(Some(sender), id).await?.owner_id,
            Target::Room(id) => self.live.room(Some(sender), id).await?.row.owner_id,
        };
        if creator == sender.id {
            return Err(GiftError::GiftToSelf);
        }
        let (kind, target_id) = request.target.parts();
        let count = request.count.to_string();
        let fingerprint = rules::fingerprint(&["gift", &gift.id, kind, target_id, &count]);
        let (creator_share, platform_share) = rules::split(amount);
        let mut legs = vec![(sender.id, -amount), (creator, creator_share)];
        if platform_share > 0 {
            legs.push((PLATFORM_ACCOUNT, platform_share));
        }
        let transfer = NewTransfer {
            id: new_transfer_id(),
            scope_account: sender.id,
            idempotency_key: key.as_str().to_owned(),
            fingerprint,
            kind: TransferKind::Gift,
            from_account: sender.id,
            to_account: creator,
            amount,
            reported_account: sender.id,
            legs,
            gift: Some((gift.id.clone(), request.count)),
            video_id: matches!(request.target, Target::Video(_)).then(|| target_id.to_owned()),
            room_id: matches!(request.target, Target::Room(_)).then(|| target_id.to_owned()),
        };
        let (row, replayed) = match self.store.post_transfer(&transfer).await? {
            Posted::Applied(row) => (row, false),
            Posted::Existing(row) if row.fingerprint == transfer.fingerprint => (row, true),
            Posted::Existing(_) => return Err(GiftError::IdempotencyKeyReused),
            Posted::Insufficient { balance, .. } => {
                return Err(GiftError::InsufficientFunds {
                    balance,
                    needed: amount,
                });
            }
        };
        Ok(sent(row, gift, request, replayed))
    }

    /// Grants `amount` coins to the wallet of the user named `name`, as `admin`.
    pub async fn grant_as(
        &self,
        admin: &User,
        name: &str,
        amount: i64,
        key: &IdempotencyKey,
    ) -> Result<Granted> {
        if !admin.is_admin {
            return Err(GiftError::NotAdmin);
        }
        grant(&self.store, name, amount, key).await
    }
}

/// Grants `amount` coins to the wallet of the user named `name`: a transfer from the issuance
/// account, once per `key` (grants share one key scope, whoever grants). For admins (through
/// [`Gifts::grant_as`]) and the `spool wallet grant` command.
pub async fn grant(
    store: &Store,
    name: &str,
    amount: i64,
    key: &IdempotencyKey,
) -> Result<Granted> {
    let amount = rules::grant_amount(amount)?;
    let user = store
        .user_by_name(name)
        .await?
        .ok_or(GiftError::NotFound("user"))?;
    let fingerprint = rules::fingerprint(&["grant", &user.id.to_string(), &amount.to_string()]);
    let transfer = NewTransfer {
        id: new_transfer_id(),
        scope_account: ISSUANCE_ACCOUNT,
        idempotency_key: key.as_str().to_owned(),
        fingerprint,
        kind: TransferKind::Grant,
        from_account: ISSUANCE_ACCOUNT,
        to_account: user.id,
        amount,
        reported_account: user.id,
        legs: vec![(ISSUANCE_ACCOUNT, -amount), (user.id, amount)],
        gift: None,
        video_id: None,
        room_id: None,
    };
    let (row, replayed) = match store.post_transfer(&transfer).await? {
        Posted::Applied(row) => (row, false),
        Posted::Existing(row) if row.fingerprint == transfer.fingerprint => (row, true),
        Posted::Existing(_) => return Err(GiftError::IdempotencyKeyReused),
        // Issuance may go below zero, and a credit cannot fail: not reachable.
        Posted::Insufficient { balance, .. } => {
            return Err(GiftError::InsufficientFunds {
                balance,
                needed: amount,
            });
        }
    };
    Ok(Granted {
        transfer_id: row.id,
        user: user.name,
        amount: row.amount,
        balance: row.balance_after,
        replayed,
    })
}

fn sent(row: TransferRow, gift: GiftRow, request: &SendRequest, replayed: bool) -> Sent {
    Sent {
        transfer_id: row.id,
        gift,
        count: row.gift.map_or(request.count, |(_, count)| count),
        amount: row.amount,
        balance: row.balance_after,
        target: request.target.clone(),
        at: row.created_at,
        replayed,
    }
}

/// A fresh transfer id: `tr_` and 21 random id characters (24 in all, the column's width).
fn new_transfer_id() -> String {
    format!("tr_{}", &spool_model::UploadId::random().as_str()[..21])
}
