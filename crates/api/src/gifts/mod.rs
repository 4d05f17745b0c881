//! Gifts as HTTP: the wallet, the catalogue, sending (with an `Idempotency-Key`),
//! leaderboards, earnings and the admin's grant. The gifts crate decides and keeps the
//! ledger; this maps, and after a committed send announces it to the room or video's
//! viewers (the hub) and to the recommender (the event log): both only hear about money.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use spool_events::tracking::EventType;
use spool_gifts::{IdempotencyKey, SendRequest, Sent, Target};
use spool_metadata::{GiftRow, LeaderRow, Movement, User};
use spool_model::{RoomId, VideoId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ApiJson, ApiResult, ErrorBody};
use crate::{AppState, rfc3339};

/// What wallets count in.
const CURRENCY: &str = "coins";
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The gifts service's routes with their OpenAPI entries.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(wallet))
        .routes(routes!(catalog))
        .routes(routes!(send))
        .routes(routes!(video_leaderboard))
        .routes(routes!(room_leaderboard))
        .routes(routes!(earnings))
        .routes(routes!(grant))
}

/// A gift of the catalogue.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GiftJson {
    /// Stable id, e.g. `rocket`.
    id: String,
    name: String,
    /// Price of one, in coins.
    price: i64,
    /// The player animation it plays: `float`, `spin`, `launch` or `burst`.
    animation: String,
}

impl From<GiftRow> for GiftJson {
    fn from(gift: GiftRow) -> Self {
        Self {
            id: gift.id,
            name: gift.name,
            price: gift.price,
            animation: gift.animation,
        }
    }
}

/// The gift catalogue, cheapest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CatalogJson {
    gifts: Vec<GiftJson>,
}

/// One movement of a wallet.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MovementJson {
    /// The transfer's id.
    id: String,
    /// `gift` or `grant`.
    kind: String,
    /// This wallet's side: negative when it paid.
    amount: i64,
    /// The gift's id, for gifts.
    gift: Option<String>,
    count: Option<i64>,
    video_id: Option<String>,
    room_id: Option<String>,
    at: String,
}

impl From<Movement> for MovementJson {
    fn from(m: Movement) -> Self {
        let (gift, count) = m.transfer.gift.unzip();
        Self {
            id: m.transfer.id,
            kind: m.transfer.kind.as_str().to_owned(),
            amount: m.amount,
            gift,
            count,
            video_id: m.transfer.video_id,
            room_id: m.transfer.room_id,
            at: rfc3339(m.transfer.created_at),
        }
    }
}

/// The caller's wallet.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WalletJson {
    /// What it holds, in coins.
    balance: i64,
    /// Always `coins`.
    currency: &'static str,
    /// Earned from gifts, ever.
    earned: i64,
    /// The latest movements, newest first.
    recent: Vec<MovementJson>,
}

/// A gift to send: exactly one of `video_id` and `room_id`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    /// A gift id from the catalogue.
    gift: String,
    /// A video whose creator receives it.
    video_id: Option<String>,
    /// A live room whose owner receives it.
    room_id: Option<String>,
    /// How many, 1 to 9999 (default 1).
    #[schema(minimum = 1, maximum = 9999)]
    count: Option<i64>,
}

/// A gift sent: the first answer again when the same request is repeated with the same key.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SentJson {
    /// The transfer's id.
    id: String,
    gift: GiftJson,
    count: i64,
    /// What it cost, in coins.
    amount: i64,
    /// The sender's balance right after this transfer (not now, for a replay).
    balance: i64,
    video_id: Option<String>,
    room_id: Option<String>,
    at: String,
    /// True when this repeats the answer to an earlier request with the same key.
    replayed: bool,
}

/// One sender on a leaderboard.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LeaderJson {
    /// The sender's user name.
    name: String,
    /// Coins spent there.
    amount: i64,
    /// Gifts sent there.
    gifts: i64,
}

/// Top senders, largest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LeaderboardJson {
    leaders: Vec<LeaderJson>,
}

impl From<Vec<LeaderRow>> for LeaderboardJson {
    fn from(rows: Vec<LeaderRow>) -> Self {
        Self {
            leaders: rows
                .into_iter()
                .map(|l| LeaderJson {
                    name: l.name,
                    amount: l.amount,
                    gifts: l.gifts,
                })
                .collect(),
        }
    }
}

/// What a video or room earned its creator.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EarningJson {
    video_id: Option<String>,
    room_id: Option<String>,
    /// The creator's share, in coins.
    amount: i64,
    gifts: i64,
}

/// The caller's earnings from gifts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EarningsJson {
    /// In coins, ever.
    total: i64,
    currency: &'static str,
    /// Per video and room, largest first.
    items: Vec<EarningJson>,
}

/// Coins to grant.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// 1 to 1000000000000 coins.
    #[schema(minimum = 1, maximum = 1000000000000.0)]
    amount: i64,
}

/// Coins granted.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GrantedJson {
    /// The transfer's id.
    id: String,
    user: String,
    amount: i64,
    /// The wallet's balance right after the grant.
    balance: i64,
    replayed: bool,
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<IdempotencyKey> {
    let value = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::from(spool_gifts::GiftError::IdempotencyKeyRequired(
                "it must be visible ASCII characters, without spaces".into(),
            ))
        })?),
    };
    Ok(IdempotencyKey::parse(value)?)
}

/// The caller's wallet: balance, gift earnings and latest movements.
#[utoipa::path(get, path = "/api/v1/me/wallet", tag = "gifts",
    security(("bearer" = [])),
    responses((status = 200, body = WalletJson), (status = 401, body = ErrorBody)))]
pub async fn wallet(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> ApiResult<Json<WalletJson>> {
    let wallet = state.gifts.wallet(&user).await?;
    Ok(Json(WalletJson {
        balance: wallet.balance,
        currency: CURRENCY,
        earned: wallet.earned,
        recent: wallet.recent.into_iter().map(Into::into).collect(),
    }))
}

/// The gifts one can send, cheapest first.
#[utoipa::path(get, path = "/api/v1/gifts/catalog", tag = "gifts",
    responses((status = 200, body = CatalogJson)))]
pub async fn catalog(State(state): State<AppState>) -> ApiResult<Json<CatalogJson>> {
    let gifts = state.gifts.catalogue().await?;
    Ok(Json(CatalogJson {
        gifts: gifts.into_iter().map(Into::into).collect(),
    }))
}

/// Sends a gift to the creator of a video or live room, paid from the caller's wallet, once
/// per `Idempotency-Key`: repeating the same request with the same key answers the first
/// transfer again (200, `replayed`), another request with it is refused.
#[utoipa::path(post, path = "/api/v1/gifts/send", tag = "gifts",
    request_body = SendBody,
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "1 to 255 visible ASCII characters (no spaces), chosen by the client per send; a retry reuses it")),
    security(("bearer" = [])),
    responses((status = 200, body = SentJson, description = "sent now, or the first answer to this key"),
              (status = 400, body = ErrorBody, description = "`idempotency_key_required`: no, or a malformed, `Idempotency-Key`"),
              (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "`csrf_failed`"),
              (status = 404, body = ErrorBody, description = "`not_found`: no such video or room, or it is private"),
              (status = 409, body = ErrorBody, description = "`insufficient_funds`: the wallet holds less than the gifts cost; nothing was written"),
              (status = 422, body = ErrorBody, description = "`unknown_gift`, `gift_to_self`, `invalid_count`, `idempotency_key_reused`, or `invalid_input` (not exactly one of video_id and room_id)")))]
pub async fn send(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SendBody>,
) -> ApiResult<Json<SentJson>> {
    let key = idempotency_key(&headers)?;
    // A malformed id names nothing that exists.
    let video = body
        .video_id
        .as_deref()
        .map(|id| {
            id.parse::<VideoId>()
                .map_err(|_| ApiError::not_found("video"))
        })
        .transpose()?;
    let room = body
        .room_id
        .as_deref()
        .map(|id| {
            id.parse::<RoomId>()
                .map_err(|_| ApiError::not_found("live room"))
        })
        .transpose()?;
    let request = SendRequest {
        gift: body.gift,
        target: Target::from_ids(video, room)?,
        count: body.count.unwrap_or(1),
    };
    let sent = state.gifts.send(&user, &key, &request).await?;
    if !sent.replayed {
        announce(&state, &user, &sent).await;
    }
    let (video_id, room_id) = match &sent.target {
        Target::Video(id) => (Some(id.to_string()), None),
        Target::Room(id) => (None, Some(id.to_string())),
    };
    Ok(Json(SentJson {
        id: sent.transfer_id,
        gift: sent.gift.into(),
        count: sent.count,
        amount: sent.amount,
        balance: sent.balance,
        video_id,
        room_id,
        at: rfc3339(sent.at),
        replayed: sent.replayed,
    }))
}

/// Tells the viewers (the hub's chat topic: the player plays the animation) and the
/// recommender (a `gift` event, for videos) about a committed gift. Neither is the record of
/// the money: a lost announcement loses nothing but the animation.
async fn announce(state: &AppState, sender: &User, sent: &Sent) {
    let message = serde_json::json!({
        "type": "gift",
        "id": sent.transfer_id,
        "from": sender.name,
        "gift": { "id": sent.gift.id, "name": sent.gift.name, "animation": sent.gift.animation },
        "count": sent.count,
        "amount": sent.amount,
        "at": sent.at,
    });
    let topic = match &sent.target {
        Target::Video(id) => spool_hub::Topic::video_chat(id),
        Target::Room(id) => spool_hub::Topic::room_chat(id),
    };
    match serde_json::to_vec(&message) {
        Ok(bytes) => state.hub.publish(&topic, bytes::Bytes::from(bytes)),
        Err(e) => tracing::warn!("gift announcement not encoded: {e}"),
    }
    if let Target::Video(id) = &sent.target {
        let mut properties = serde_json::Map::new();
        properties.insert("gift".into(), sent.gift.id.clone().into());
        properties.insert("count".into(), sent.count.into());
        let recorded = state
            .tracking
            .ingestion()
            .record_for_viewer(
                EventType::Gift,
                id.as_str(),
                Some(&sender.name),
                None,
                properties,
            )
            .await;
        if let Err(e) = recorded {
            // The gift is committed; only the recommender misses it.
            tracing::warn!("gift event not recorded: {e}");
        }
    }
}

/// Top senders of gifts on a video.
#[utoipa::path(get, path = "/api/v1/videos/{id}/gifts/leaderboard", tag = "gifts",
    params(("id" = String, Path, description = "Video id")),
    responses((status = 200, body = LeaderboardJson), (status = 404, body = ErrorBody)))]
pub async fn video_leaderboard(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Json<LeaderboardJson>> {
    let id: VideoId = id.parse().map_err(|_| ApiError::not_found("video"))?;
    let leaders = state.gifts.video_leaderboard(user.as_ref(), &id).await?;
    Ok(Json(leaders.into()))
}

/// Top senders of gifts in a live room.
#[utoipa::path(get, path = "/api/v1/live/{id}/gifts/leaderboard", tag = "gifts",
    params(("id" = String, Path, description = "Room id")),
    responses((status = 200, body = LeaderboardJson), (status = 404, body = ErrorBody)))]
pub async fn room_leaderboard(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Json<LeaderboardJson>> {
    let id: RoomId = id.parse().map_err(|_| ApiError::not_found("live room"))?;
    let leaders = state.gifts.room_leaderboard(user.as_ref(), &id).await?;
    Ok(Json(leaders.into()))
}

/// What the caller earned from gifts: in total, and per video and live room.
#[utoipa::path(get, path = "/api/v1/me/earnings", tag = "gifts",
    security(("bearer" = [])),
    responses((status = 200, body = EarningsJson), (status = 401, body = ErrorBody)))]
pub async fn earnings(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> ApiResult<Json<EarningsJson>> {
    let earnings = state.gifts.earnings(&user).await?;
    Ok(Json(EarningsJson {
        total: earnings.total,
        currency: CURRENCY,
        items: earnings
            .by_target
            .into_iter()
            .map(|e| EarningJson {
                video_id: e.video_id,
                room_id: e.room_id,
                amount: e.amount,
                gifts: e.gifts,
            })
            .collect(),
    }))
}

/// Grants coins to a user's wallet (admins only), once per `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/admin/wallets/{name}/grant", tag = "gifts",
    request_body = GrantBody,
    params(("name" = String, Path, description = "User name"),
           ("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
            description = "1 to 255 visible ASCII characters (no spaces); a retry reuses it")),
    security(("bearer" = [])),
    responses((status = 200, body = GrantedJson, description = "granted now, or the first answer to this key"),
              (status = 400, body = ErrorBody, description = "`idempotency_key_required`"),
              (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "`not_admin` or `csrf_failed`"),
              (status = 404, body = ErrorBody, description = "`not_found`: no such user"),
              (status = 422, body = ErrorBody, description = "`invalid_amount` or `idempotency_key_reused`")))]
pub async fn grant(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<GrantBody>,
) -> ApiResult<Json<GrantedJson>> {
    let key = idempotency_key(&headers)?;
    let granted = state
        .gifts
        .grant_as(&user, &name, body.amount, &key)
        .await?;
    Ok(Json(GrantedJson {
        id: granted.transfer_id,
        user: granted.user,
        amount: granted.amount,
        balance: granted.balance,
        replayed: granted.replayed,
    }))
}
