//! Danmaku, moderation and Q&A through the router on SQLite and MariaDB: statuses, codes and
//! JSON shapes, including every refusal (a table of requests and what each must answer).

use http::StatusCode;
use serde_json::{Value, json};
use spool_metadata::NewRoom;
use spool_metadata::testing::ENGINES;
use spool_model::Visibility;
use support::call;

mod support;

/// A refusal: what is asked (name, path, token, body) and the status and code it must get.
type Case<'a> = (
    &'a str,
    String,
    Option<&'a str>,
    Option<Value>,
    StatusCode,
    &'a str,
);

#[tokio::test]
async fn danmaku_moderation_and_questions_answer_as_documented() {
    for engine in ENGINES {
        let t = support::test_state(engine, |_| {}).await;
        let app = t.app();
        let (ann, ann_token) = t.user("ann", false).await;
        let (_, bob) = t.user("bob", false).await;
        let (_, carl) = t.user("carl", false).await;
        let (_, admin) = t.user("root", true).await;
        let video =
            support::ready_video(&t.store, ann.id, "talk", &[], "", Visibility::Public).await;
        let private =
            support::ready_video(&t.store, ann.id, "secret", &[], "", Visibility::Private).await;
        let (room, _) = t
            .store
            .create_room(&NewRoom {
                owner_id: ann.id,
                title: "show",
                description: "",
                visibility: Visibility::Public,
            })
            .await
            .unwrap();
        let (v, p, r) = (video.as_str(), private.as_str(), room.id.as_str());

        // One good danmaku, its shape.
        let sent = call(&app, "POST", &format!("/api/v1/videos/{v}/danmaku"), Some(&bob),
            Some(json!({"text": "<i>nice</i>", "time_ms": 4200, "mode": "bottom", "color": "#FFCC00", "size": "large"}))).await;
        sent.assert_status(StatusCode::CREATED, "send");
        let d = sent.json();
        assert_eq!(
            (
                d["type"].as_str(),
                d["text"].as_str(),
                d["time_ms"].as_i64()
            ),
            (Some("danmaku"), Some("<i>nice</i>"), Some(4200))
        );
        assert_eq!(
            (
                d["mode"].as_str(),
                d["color"].as_str(),
                d["size"].as_str(),
                d["author"].as_str()
            ),
            (Some("bottom"), Some("#ffcc00"), Some("large"), Some("bob"))
        );
        let id = d["id"].as_i64().unwrap();

        let cases: Vec<Case> = vec![
            (
                "anonymous send",
                format!("/api/v1/videos/{v}/danmaku"),
                None,
                Some(json!({"text": "hi", "time_ms": 0})),
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            ),
            (
                "unknown video",
                "/api/v1/videos/AAAAAAAAAAA/danmaku".into(),
                Some(&carl),
                Some(json!({"text": "hi", "time_ms": 0})),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                "someone's private video",
                format!("/api/v1/videos/{p}/danmaku"),
                Some(&carl),
                Some(json!({"text": "hi", "time_ms": 0})),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                "too long",
                format!("/api/v1/videos/{v}/danmaku"),
                Some(&carl),
                Some(json!({"text": "x".repeat(101), "time_ms": 0})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                "a bad colour",
                format!("/api/v1/videos/{v}/danmaku"),
                Some(&carl),
                Some(json!({"text": "hi", "time_ms": 0, "color": "red"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                "an unknown mode",
                format!("/api/v1/videos/{v}/danmaku"),
                Some(&carl),
                Some(json!({"text": "hi", "time_ms": 0, "mode": "diagonal"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                "no time",
                format!("/api/v1/videos/{v}/danmaku"),
                Some(&carl),
                Some(json!({"text": "hi"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                "a window over 6 minutes",
                format!("/api/v1/videos/{v}/danmaku?from_ms=0&to_ms=360001"),
                None,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                "a room not on air",
                format!("/api/v1/live/{r}/danmaku"),
                Some(&carl),
                Some(json!({"text": "hi"})),
                StatusCode::CONFLICT,
                "room_not_live",
            ),
            (
                "a stranger deletes",
                format!("/api/v1/danmaku/{id}"),
                Some(&carl),
                None,
                StatusCode::FORBIDDEN,
                "not_moderator",
            ),
            (
                "an unknown danmaku",
                "/api/v1/danmaku/999999".into(),
                Some(&carl),
                None,
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                "a stranger mutes",
                format!("/api/v1/videos/{v}/mutes"),
                Some(&carl),
                Some(json!({"user": "bob", "minutes": 5})),
                StatusCode::FORBIDDEN,
                "not_moderator",
            ),
            (
                "mute for a year",
                format!("/api/v1/videos/{v}/mutes"),
                Some(&ann_token),
                Some(json!({"user": "bob", "minutes": 525600})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                "block oneself",
                "/api/v1/me/blocks/carl".into(),
                Some(&carl),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                "block nobody",
                "/api/v1/me/blocks/nobody".into(),
                Some(&carl),
                None,
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                "the filter, not an admin",
                "/api/v1/admin/chat-filter".into(),
                Some(&carl),
                None,
                StatusCode::FORBIDDEN,
                "not_admin",
            ),
            (
                "a question too long",
                format!("/api/v1/live/{r}/questions"),
                Some(&carl),
                Some(json!({"text": "?".repeat(301)})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                "vote for nothing",
                "/api/v1/questions/999999/vote".into(),
                Some(&carl),
                None,
                StatusCode::NOT_FOUND,
                "not_found",
            ),
        ];
        for (name, path, token, body, status, code) in cases {
            let method = match (name, &body) {
                ("a window over 6 minutes", _) | ("the filter, not an admin", _) => "GET",
                (_, _) if path.starts_with("/api/v1/danmaku/") => "DELETE",
                (_, _) if path.starts_with("/api/v1/me/blocks/") || path.ends_with("/vote") => {
                    "PUT"
                }
                _ => "POST",
            };
            let reply = call(&app, method, &path, token, body).await;
            reply.assert_status(status, name);
            assert_eq!(reply.code(), code, "{name}");
        }

        // The slice: the one that was sent, by time; a moderator deletes it.
        let slice = call(
            &app,
            "GET",
            &format!("/api/v1/videos/{v}/danmaku"),
            None,
            None,
        )
        .await;
        slice.assert_status(StatusCode::OK, "slice");
        let s = slice.json();
        assert_eq!(
            (
                s["from_ms"].as_i64(),
                s["to_ms"].as_i64(),
                s["slice_ms"].as_i64(),
                s["total"].as_i64(),
                s["capped"].as_bool()
            ),
            (Some(0), Some(360_000), Some(360_000), Some(1), Some(false))
        );
        call(
            &app,
            "PUT",
            "/api/v1/me/moderators/carl",
            Some(&ann_token),
            None,
        )
        .await
        .assert_status(StatusCode::NO_CONTENT, "appoint");
        assert_eq!(
            call(&app, "GET", "/api/v1/me/moderators", Some(&ann_token), None)
                .await
                .json()["names"],
            json!(["carl"])
        );
        call(
            &app,
            "DELETE",
            &format!("/api/v1/danmaku/{id}"),
            Some(&carl),
            None,
        )
        .await
        .assert_status(StatusCode::NO_CONTENT, "a moderator deletes");
        assert_eq!(
            call(
                &app,
                "GET",
                &format!("/api/v1/videos/{v}/danmaku"),
                None,
                None
            )
            .await
            .json()["total"],
            0
        );

        // The filter, as an admin; then a filtered word is refused.
        let set = call(
            &app,
            "PUT",
            "/api/v1/admin/chat-filter",
            Some(&admin),
            Some(json!({"words": ["Spam", "spam", "刷屏"]})),
        )
        .await;
        set.assert_status(StatusCode::OK, "filter");
        assert_eq!(set.json()["words"], json!(["spam", "刷屏"]));
        let filtered = call(
            &app,
            "POST",
            &format!("/api/v1/videos/{v}/danmaku"),
            Some(&carl),
            Some(json!({"text": "no 刷屏 here", "time_ms": 0})),
        )
        .await;
        filtered.assert_status(StatusCode::UNPROCESSABLE_ENTITY, "filtered");
        assert_eq!(filtered.code(), "text_filtered");

        // A flood: the sender's fourth message in two seconds is refused with Retry-After.
        let mut last = None;
        for i in 0..4 {
            last = Some(
                call(
                    &app,
                    "POST",
                    &format!("/api/v1/videos/{v}/danmaku"),
                    Some(&ann_token),
                    Some(json!({"text": format!("m{i}"), "time_ms": i})),
                )
                .await,
            );
        }
        let flood = last.unwrap();
        flood.assert_status(StatusCode::TOO_MANY_REQUESTS, "flood");
        assert_eq!(flood.code(), "chat_rate_limited");
        assert_eq!(flood.header("retry-after"), "10");

        // Q&A: ask, vote, the host pins; a viewer may not.
        let asked = call(
            &app,
            "POST",
            &format!("/api/v1/live/{r}/questions"),
            Some(&bob),
            Some(json!({"text": "which lens?"})),
        )
        .await;
        asked.assert_status(StatusCode::CREATED, "ask");
        let qid = asked.json()["id"].as_i64().unwrap();
        let voted = call(
            &app,
            "PUT",
            &format!("/api/v1/questions/{qid}/vote"),
            Some(&carl),
            None,
        )
        .await;
        assert_eq!(
            (
                voted.json()["votes"].as_i64(),
                voted.json()["voted"].as_bool()
            ),
            (Some(1), Some(true))
        );
        let refused = call(
            &app,
            "PUT",
            &format!("/api/v1/questions/{qid}/pin"),
            Some(&bob),
            None,
        )
        .await;
        refused.assert_status(StatusCode::FORBIDDEN, "a viewer pins");
        assert_eq!(refused.code(), "not_host");
        let pinned = call(
            &app,
            "PUT",
            &format!("/api/v1/questions/{qid}/pin"),
            Some(&ann_token),
            None,
        )
        .await;
        assert_eq!(pinned.json()["pinned"], true);
        let listed = call(
            &app,
            "GET",
            &format!("/api/v1/live/{r}/questions"),
            Some(&carl),
            None,
        )
        .await
        .json();
        assert_eq!(listed["questions"][0]["voted"], true);
        let answered = call(
            &app,
            "POST",
            &format!("/api/v1/questions/{qid}/answered"),
            Some(&ann_token),
            None,
        )
        .await
        .json();
        assert_eq!(
            (answered["answered"].as_bool(), answered["pinned"].as_bool()),
            (Some(true), Some(false))
        );
        t.store.close().await;
    }
}
