//! Gift endpoints through the router, on SQLite and MariaDB: the JSON of the wallet, the
//! catalogue, a send and its replay, leaderboards and earnings; every refusal's status and
//! code (and that it wrote nothing); the admin's grant; the announcement to the room.

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use spool_hub::{Received, Topic};
use spool_metadata::Store;
use spool_metadata::testing::{ENGINES, Engine};
use spool_model::{VideoId, Visibility};
use support::Reply;
use tower::ServiceExt;

mod support;

struct Harness {
    app: Router,
    store: Store,
    state: spool_api::AppState,
    _test: support::TestState,
}

async fn harness(engine: Engine) -> Harness {
    let test = support::test_state(engine, |_| {}).await;
    Harness {
        app: test.app(),
        store: test.store.clone(),
        state: test.state.clone(),
        _test: test,
    }
}

impl Harness {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if !token.is_empty() {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        Reply::read(self.app.clone().oneshot(request.unwrap()).await.unwrap()).await
    }

    async fn send(&self, token: &str, key: Option<&str>, body: Value) -> Reply {
        self.call("POST", "/api/v1/gifts/send", token, key, Some(body))
            .await
    }

    async fn balance(&self, token: &str) -> i64 {
        let wallet = self
            .call("GET", "/api/v1/me/wallet", token, None, None)
            .await;
        wallet.assert_status(StatusCode::OK, "wallet");
        wallet.json()["balance"].as_i64().unwrap()
    }

    async fn video(&self, owner: &spool_metadata::User, visibility: Visibility) -> VideoId {
        support::ready_video(&self.store, owner.id, &owner.name, &[], "", visibility).await
    }
}

#[tokio::test]
async fn a_gift_through_the_api() {
    for engine in ENGINES {
        let h = harness(engine).await;
        let (_, root) = h._test.user("root", true).await;
        let (_alice, alice) = h._test.user("alice", false).await;
        let (bob_user, bob) = h._test.user("bob", false).await;
        let video = h.video(&bob_user, Visibility::Public).await;

        let catalog = h.call("GET", "/api/v1/gifts/catalog", "", None, None).await;
        catalog.assert_status(StatusCode::OK, "catalog");
        let first = &catalog.json()["gifts"][0];
        assert_eq!(
            first,
            &json!({"id": "heart", "name": "Heart", "price": 1, "animation": "float"})
        );

        let granted = h
            .call(
                "POST",
                "/api/v1/admin/wallets/alice/grant",
                &root,
                Some("g1"),
                Some(json!({"amount": 100})),
            )
            .await;
        granted.assert_status(StatusCode::OK, "grant");
        assert_eq!(
            (
                granted.json()["balance"].as_i64(),
                granted.json()["replayed"].as_bool()
            ),
            (Some(100), Some(false))
        );

        let mut room_viewers = h.state.hub.subscribe(&Topic::video_chat(&video));
        let body = json!({"gift": "rose", "video_id": video.as_str(), "count": 2});
        let sent = h.send(&alice, Some("send-1"), body.clone()).await;
        sent.assert_status(StatusCode::OK, "send");
        let sent = sent.json();
        assert_eq!(
            (
                sent["amount"].as_i64(),
                sent["balance"].as_i64(),
                sent["count"].as_i64()
            ),
            (Some(20), Some(80), Some(2))
        );
        assert_eq!(sent["gift"]["animation"], "float");
        assert_eq!(sent["video_id"], video.as_str());
        assert_eq!(sent["replayed"], false);
        let Some(Received::Message(announced)) = room_viewers.recv().await else {
            panic!("no announcement");
        };
        let announced: Value = serde_json::from_slice(&announced).unwrap();
        assert_eq!(announced["type"], "gift");
        assert_eq!(announced["id"], sent["id"]);
        assert_eq!(announced["from"], "alice");
        assert_eq!(announced["gift"]["id"], "rose");
        assert_eq!(
            (announced["count"].as_i64(), announced["amount"].as_i64()),
            (Some(2), Some(20))
        );
        assert!(announced["at"].as_i64().unwrap() > 0);

        // The same request again: the first answer, nothing spent, nothing announced.
        let again = h.send(&alice, Some("send-1"), body.clone()).await;
        again.assert_status(StatusCode::OK, "replay");
        let again = again.json();
        assert_eq!(
            (
                again["id"].clone(),
                again["balance"].clone(),
                again["replayed"].clone()
            ),
            (sent["id"].clone(), json!(80), json!(true))
        );
        assert_eq!(h.balance(&alice).await, 80);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), room_viewers.recv())
                .await
                .is_err()
        );

        let wallet = h
            .call("GET", "/api/v1/me/wallet", &alice, None, None)
            .await
            .json();
        assert_eq!(wallet["currency"], "coins");
        assert_eq!(wallet["recent"][0]["amount"], -20);
        assert_eq!(wallet["recent"][0]["kind"], "gift");
        assert_eq!(wallet["recent"][1]["kind"], "grant");
        let board = h
            .call(
                "GET",
                &format!("/api/v1/videos/{video}/gifts/leaderboard"),
                "",
                None,
                None,
            )
            .await;
        board.assert_status(StatusCode::OK, "leaderboard");
        assert_eq!(
            board.json(),
            json!({"leaders": [{"name": "alice", "amount": 20, "gifts": 2}]})
        );
        let earnings = h.call("GET", "/api/v1/me/earnings", &bob, None, None).await;
        earnings.assert_status(StatusCode::OK, "earnings");
        assert_eq!(
            earnings.json(),
            json!({"total": 14, "currency": "coins", "items": [{"video_id": video.as_str(), "room_id": null, "amount": 14, "gifts": 2}]})
        );
        assert_eq!(
            h.call("GET", "/api/v1/me/wallet", &bob, None, None)
                .await
                .json()["earned"],
            14
        );
        let audit = h.store.ledger_audit().await.unwrap();
        assert_eq!(
            (
                audit.entries_sum,
                audit.mismatched_balances,
                audit.negative_balances
            ),
            (0, 0, 0)
        );
    }
}

#[tokio::test]
async fn refusals_have_a_status_a_code_and_write_nothing() {
    for engine in ENGINES {
        let h = harness(engine).await;
        let (alice_user, alice) = h._test.user("alice", false).await;
        let (bob_user, _) = h._test.user("bob", false).await;
        let video = h.video(&bob_user, Visibility::Public).await;
        let own = h.video(&alice_user, Visibility::Public).await;
        let private = h.video(&bob_user, Visibility::Private).await;
        spool_gifts::grant(&h.store, "alice", 5, &spool_gifts::IdempotencyKey::random())
            .await
            .unwrap();
        let ok = h
            .send(
                &alice,
                Some("used"),
                json!({"gift": "heart", "video_id": video.as_str()}),
            )
            .await;
        ok.assert_status(StatusCode::OK, "a first send");
        let long_key = "k".repeat(256);
        let cases: &[(Option<&str>, Value, StatusCode, &str)] = &[
            (
                None,
                json!({"gift": "heart", "video_id": video.as_str()}),
                StatusCode::BAD_REQUEST,
                "idempotency_key_required",
            ),
            (
                Some(""),
                json!({"gift": "heart", "video_id": video.as_str()}),
                StatusCode::BAD_REQUEST,
                "idempotency_key_required",
            ),
            (
                Some(&long_key),
                json!({"gift": "heart", "video_id": video.as_str()}),
                StatusCode::BAD_REQUEST,
                "idempotency_key_required",
            ),
            (
                Some("a"),
                json!({"gift": "rocket", "video_id": video.as_str()}),
                StatusCode::CONFLICT,
                "insufficient_funds",
            ),
            (
                Some("b"),
                json!({"gift": "heart", "video_id": own.as_str()}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "gift_to_self",
            ),
            (
                Some("c"),
                json!({"gift": "diamond", "video_id": video.as_str()}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_gift",
            ),
            (
                Some("d"),
                json!({"gift": "heart", "video_id": video.as_str(), "count": 0}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_count",
            ),
            (
                Some("e"),
                json!({"gift": "heart", "video_id": video.as_str(), "count": -2}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_count",
            ),
            (
                Some("f"),
                json!({"gift": "heart", "video_id": video.as_str(), "count": 10000}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_count",
            ),
            (
                Some("used"),
                json!({"gift": "heart", "video_id": video.as_str(), "count": 2}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
            ),
            (
                Some("g"),
                json!({"gift": "heart"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                Some("h"),
                json!({"gift": "heart", "video_id": video.as_str(), "room_id": "abcdefghijk"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                Some("i"),
                json!({"gift": "heart", "video_id": private.as_str()}),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                Some("j"),
                json!({"gift": "heart", "video_id": "nope"}),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                Some("k"),
                json!({"gift": "heart", "room_id": "abcdefghijk"}),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                Some("l"),
                json!({"gift": "heart", "video_id": video.as_str(), "tip": 1}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
        ];
        for (key, body, status, code) in cases {
            let refused = h.send(&alice, *key, body.clone()).await;
            assert_eq!(
                (refused.status, refused.code().as_str()),
                (*status, *code),
                "{key:?} {body}"
            );
        }
        assert_eq!(h.balance(&alice).await, 4);
        assert_eq!(h.store.ledger_audit().await.unwrap().transfers, 2);

        let unsigned = h
            .send(
                "",
                Some("z"),
                json!({"gift": "heart", "video_id": video.as_str()}),
            )
            .await;
        assert_eq!(
            (unsigned.status, unsigned.code().as_str()),
            (StatusCode::UNAUTHORIZED, "unauthorized")
        );
        for (path, token) in [("/api/v1/me/wallet", ""), ("/api/v1/me/earnings", "")] {
            let refused = h.call("GET", path, token, None, None).await;
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{path}");
        }
        let hidden = h
            .call(
                "GET",
                &format!("/api/v1/videos/{private}/gifts/leaderboard"),
                &alice,
                None,
                None,
            )
            .await;
        assert_eq!(
            (hidden.status, hidden.code().as_str()),
            (StatusCode::NOT_FOUND, "not_found")
        );
        let no_room = h
            .call(
                "GET",
                "/api/v1/live/abcdefghijk/gifts/leaderboard",
                "",
                None,
                None,
            )
            .await;
        assert_eq!(
            (no_room.status, no_room.code().as_str()),
            (StatusCode::NOT_FOUND, "not_found")
        );

        let grants: &[(&str, Option<&str>, Value, StatusCode, &str)] = &[(
            &alice,
            Some("x"),
            json!({"amount": 10}),
            StatusCode::FORBIDDEN,
            "not_admin",
        )];
        for (token, key, body, status, code) in grants {
            let refused = h
                .call(
                    "POST",
                    "/api/v1/admin/wallets/alice/grant",
                    token,
                    *key,
                    Some(body.clone()),
                )
                .await;
            assert_eq!(
                (refused.status, refused.code().as_str()),
                (*status, *code),
                "{body}"
            );
        }
        let (_, root) = h._test.user("root", true).await;
        h.call(
            "POST",
            "/api/v1/admin/wallets/alice/grant",
            &root,
            Some("g"),
            Some(json!({"amount": 10})),
        )
        .await
        .assert_status(StatusCode::OK, "grant");
        let admin_refusals: &[(&str, Option<&str>, Value, StatusCode, &str)] = &[
            (
                "alice",
                None,
                json!({"amount": 10}),
                StatusCode::BAD_REQUEST,
                "idempotency_key_required",
            ),
            (
                "alice",
                Some("g"),
                json!({"amount": 11}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
            ),
            (
                "alice",
                Some("y"),
                json!({"amount": 0}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_amount",
            ),
            (
                "alice",
                Some("y"),
                json!({"amount": -1}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_amount",
            ),
            (
                "nobody",
                Some("y"),
                json!({"amount": 1}),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
        ];
        for (name, key, body, status, code) in admin_refusals {
            let path = format!("/api/v1/admin/wallets/{name}/grant");
            let refused = h.call("POST", &path, &root, *key, Some(body.clone())).await;
            assert_eq!(
                (refused.status, refused.code().as_str()),
                (*status, *code),
                "{name} {body}"
            );
        }
        assert_eq!(h.balance(&alice).await, 14);
        let audit = h.store.ledger_audit().await.unwrap();
        assert_eq!(
            (
                audit.entries_sum,
                audit.mismatched_balances,
                audit.transfers
            ),
            (0, 0, 3)
        );
    }
}

#[tokio::test]
async fn the_document_states_the_key_and_count_rules() {
    let h = harness(Engine::Sqlite).await;
    let document = h
        .call("GET", "/api/openapi.json", "", None, None)
        .await
        .json();
    for path in ["/api/v1/gifts/send", "/api/v1/admin/wallets/{name}/grant"] {
        let parameters = document["paths"][path]["post"]["parameters"]
            .as_array()
            .unwrap();
        let key = parameters
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .unwrap();
        assert_eq!(
            (key["in"].as_str(), key["required"].as_bool()),
            (Some("header"), Some(true)),
            "{path}"
        );
        assert_eq!(key["schema"]["pattern"], "^[!-~]+$", "{path}");
        assert_eq!(
            (
                key["schema"]["minLength"].as_u64(),
                key["schema"]["maxLength"].as_u64()
            ),
            (Some(1), Some(255))
        );
    }
    let count = &document["components"]["schemas"]["SendBody"]["properties"]["count"];
    assert_eq!(
        (count["minimum"].as_f64(), count["maximum"].as_f64()),
        (Some(1.0), Some(9999.0)),
        "{count}"
    );
}
