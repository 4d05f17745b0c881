//! Comments and follows through the router (no socket), on SQLite and MariaDB: statuses, error
//! codes and the JSON clients read.

use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use spool_metadata::testing::ENGINES;
use spool_model::Visibility;
use support::{Reply, TestState, ready_video};
use tower::ServiceExt;

mod support;

async fn call(
    t: &TestState,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut r = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        r = r.header("authorization", format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => r
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => r.body(Body::empty()),
    };
    Reply::read(t.app().oneshot(request.unwrap()).await.unwrap()).await
}

/// A refused request: method, path, token, body, and the status and code it answers.
type Case<'a> = (
    &'a str,
    String,
    Option<&'a str>,
    Option<Value>,
    StatusCode,
    &'a str,
);

/// Asserts status and error code of an error answer.
fn refused(reply: &Reply, status: StatusCode, code: &str, context: &str) {
    reply.assert_status(status, context);
    assert_eq!(reply.code(), code, "{context}");
}

#[tokio::test]
async fn comments_answer_with_their_statuses_codes_and_json() {
    for engine in ENGINES {
        let t = support::test_state(engine, |_| {}).await;
        let (ann, ann_t) = t.user("ann", false).await;
        let (_, bob_t) = t.user("bob", false).await;
        let (_, admin_t) = t.user("root", true).await;
        let video = ready_video(&t.store, ann.id, "clip", &[], "", Visibility::Public).await;
        let private = ready_video(&t.store, ann.id, "mine", &[], "", Visibility::Private).await;
        let comments = format!("/api/v1/videos/{video}/comments");

        let html = "<script>alert('x')</script>";
        let posted = call(
            &t,
            "POST",
            &comments,
            Some(&bob_t),
            Some(json!({ "text": html })),
        )
        .await;
        posted.assert_status(StatusCode::CREATED, "post");
        let top = posted.json();
        assert_eq!(
            top["text"], html,
            "text is answered as given, for clients to show as text"
        );
        assert_eq!(top["author"], "bob");
        assert_eq!(top["video_id"], video.as_str());
        assert!(top["parent_id"].is_null() && top["deleted"] == false && top["reply_count"] == 0);
        let top_id = top["id"].as_str().unwrap().to_owned();
        let reply = call(
            &t,
            "POST",
            &comments,
            Some(&ann_t),
            Some(json!({ "text": "hi", "parent_id": top_id })),
        )
        .await;
        reply.assert_status(StatusCode::CREATED, "reply");
        let reply_id = reply.json()["id"].as_str().unwrap().to_owned();

        let page = call(
            &t,
            "GET",
            &format!("{comments}?order=top&limit=5"),
            None,
            None,
        )
        .await;
        page.assert_status(StatusCode::OK, "list");
        let page = page.json();
        assert!(page["pinned"].is_null() && page["next_cursor"].is_null());
        assert_eq!(page["comments"][0]["id"], top_id.as_str());
        assert_eq!(page["comments"][0]["reply_count"], 1);
        assert_eq!(page["comments"][0]["replies"][0]["id"], reply_id.as_str());
        let replies = call(
            &t,
            "GET",
            &format!("/api/v1/comments/{top_id}/replies"),
            None,
            None,
        )
        .await;
        assert_eq!(replies.json()["replies"][0]["text"], "hi");

        // Refusals, each with its status and code.
        let cases: Vec<Case> = vec![
            (
                "POST",
                comments.clone(),
                None,
                Some(json!({ "text": "x" })),
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            ),
            (
                "POST",
                comments.clone(),
                Some(&bob_t),
                Some(json!({ "text": "  " })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                "POST",
                comments.clone(),
                Some(&bob_t),
                Some(json!({ "text": "a\u{0}b" })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                "POST",
                comments.clone(),
                Some(&bob_t),
                Some(json!({ "text": "x".repeat(2001) })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                "POST",
                comments.clone(),
                Some(&bob_t),
                Some(json!({ "text": 5 })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                "POST",
                comments.clone(),
                Some(&bob_t),
                Some(json!({ "text": "x", "parent_id": "nope" })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                "POST",
                format!("/api/v1/videos/{private}/comments"),
                Some(&bob_t),
                Some(json!({ "text": "x" })),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                "GET",
                format!("/api/v1/videos/{private}/comments"),
                None,
                None,
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                "GET",
                "/api/v1/videos/bad/comments".into(),
                None,
                None,
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                "GET",
                format!("{comments}?cursor=zz"),
                None,
                None,
                StatusCode::BAD_REQUEST,
                "invalid_cursor",
            ),
            (
                "GET",
                format!("{comments}?order=best"),
                None,
                None,
                StatusCode::BAD_REQUEST,
                "invalid_query",
            ),
            (
                "GET",
                "/api/v1/comments/bad/replies".into(),
                None,
                None,
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                "DELETE",
                format!("/api/v1/comments/{reply_id}"),
                Some(&bob_t),
                None,
                StatusCode::FORBIDDEN,
                "not_comment_author",
            ),
            (
                "POST",
                format!("/api/v1/comments/{top_id}/pin"),
                Some(&bob_t),
                None,
                StatusCode::FORBIDDEN,
                "not_owner",
            ),
            (
                "POST",
                format!("/api/v1/comments/{reply_id}/pin"),
                Some(&ann_t),
                None,
                StatusCode::CONFLICT,
                "comment_is_reply",
            ),
            (
                "POST",
                format!("/api/v1/comments/{top_id}/report"),
                Some(&bob_t),
                Some(json!({ "reason": "" })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
            ),
            (
                "GET",
                "/api/v1/admin/comment-reports".into(),
                Some(&bob_t),
                None,
                StatusCode::FORBIDDEN,
                "not_admin",
            ),
            (
                "GET",
                "/api/v1/admin/comment-reports".into(),
                None,
                None,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            ),
        ];
        for (method, path, token, body, status, code) in cases {
            let answer = call(&t, method, &path, token, body).await;
            refused(
                &answer,
                status,
                code,
                &format!("{engine:?} {method} {path}"),
            );
        }

        // Pin, like, report, delete.
        call(
            &t,
            "POST",
            &format!("/api/v1/comments/{top_id}/pin"),
            Some(&ann_t),
            None,
        )
        .await
        .assert_status(StatusCode::NO_CONTENT, "pin");
        let page = call(&t, "GET", &comments, None, None).await.json();
        assert_eq!(page["pinned"]["id"], top_id.as_str());
        assert_eq!(page["comments"].as_array().unwrap().len(), 0);
        let liked = call(
            &t,
            "POST",
            &format!("/api/v1/comments/{top_id}/like"),
            Some(&ann_t),
            None,
        )
        .await;
        assert_eq!(liked.json(), json!({ "likes": 1, "liked": true }));
        let mine = call(&t, "GET", &comments, Some(&ann_t), None).await.json();
        assert_eq!(mine["pinned"]["liked"], true);
        call(
            &t,
            "POST",
            &format!("/api/v1/comments/{top_id}/report"),
            Some(&ann_t),
            Some(json!({ "reason": "spam" })),
        )
        .await
        .assert_status(StatusCode::NO_CONTENT, "report");
        let reports = call(
            &t,
            "GET",
            "/api/v1/admin/comment-reports",
            Some(&admin_t),
            None,
        )
        .await;
        reports.assert_status(StatusCode::OK, "reports");
        let reports = reports.json();
        assert_eq!(reports["reports"][0]["reporter"], "ann");
        assert_eq!(reports["reports"][0]["reason"], "spam");
        assert_eq!(reports["reports"][0]["comment"]["id"], top_id.as_str());
        call(
            &t,
            "DELETE",
            &format!("/api/v1/comments/{top_id}"),
            Some(&bob_t),
            None,
        )
        .await
        .assert_status(StatusCode::NO_CONTENT, "delete");
        let page = call(&t, "GET", &comments, None, None).await.json();
        let placeholder = &page["comments"][0];
        assert!(page["pinned"].is_null(), "a deleted comment is unpinned");
        assert_eq!(
            (placeholder["deleted"].clone(), placeholder["text"].clone()),
            (json!(true), json!(""))
        );
        refused(
            &call(
                &t,
                "POST",
                &format!("/api/v1/comments/{top_id}/like"),
                Some(&ann_t),
                None,
            )
            .await,
            StatusCode::CONFLICT,
            "comment_deleted",
            "like a deleted comment",
        );
        refused(
            &call(
                &t,
                "POST",
                &comments,
                Some(&ann_t),
                Some(json!({ "text": "x", "parent_id": top_id })),
            )
            .await,
            StatusCode::CONFLICT,
            "comment_deleted",
            "reply to a deleted comment",
        );
    }
}

#[tokio::test]
async fn follows_answer_with_counts_and_the_following_listing() {
    for engine in ENGINES {
        let t = support::test_state(engine, |_| {}).await;
        let (ann, ann_t) = t.user("ann", false).await;
        let (_, bob_t) = t.user("bob", false).await;
        let video = ready_video(&t.store, ann.id, "clip", &[], "", Visibility::Public).await;
        let follow = call(&t, "PUT", "/api/v1/channels/ann/follow", Some(&bob_t), None).await;
        follow.assert_status(StatusCode::OK, "follow");
        assert_eq!(
            follow.json(),
            json!({ "following": true, "follower_count": 1 })
        );
        let again = call(&t, "PUT", "/api/v1/channels/ann/follow", Some(&bob_t), None).await;
        assert_eq!(
            again.json(),
            json!({ "following": true, "follower_count": 1 })
        );
        let channel = call(&t, "GET", "/api/v1/channels/ann", Some(&bob_t), None)
            .await
            .json();
        assert_eq!(
            (
                channel["follower_count"].clone(),
                channel["following"].clone()
            ),
            (json!(1), json!(true))
        );
        let anonymous = call(&t, "GET", "/api/v1/channels/ann", None, None)
            .await
            .json();
        assert!(anonymous["following"].is_null());
        let following = call(&t, "GET", "/api/v1/me/following", Some(&bob_t), None).await;
        following.assert_status(StatusCode::OK, "following");
        let following = following.json();
        assert_eq!(following["channels"][0]["name"], "ann");
        assert_eq!(following["videos"][0]["id"], video.as_str());
        let cases = [
            (
                "PUT",
                "/api/v1/channels/ann/follow",
                Some(ann_t.as_str()),
                StatusCode::CONFLICT,
                "cannot_follow_self",
            ),
            (
                "PUT",
                "/api/v1/channels/nobody/follow",
                Some(bob_t.as_str()),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                "PUT",
                "/api/v1/channels/ann/follow",
                None,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            ),
            (
                "GET",
                "/api/v1/me/following",
                None,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            ),
            (
                "GET",
                "/api/v1/me/following?limit=x",
                Some(bob_t.as_str()),
                StatusCode::BAD_REQUEST,
                "invalid_query",
            ),
        ];
        for (method, path, token, status, code) in cases {
            refused(
                &call(&t, method, path, token, None).await,
                status,
                code,
                &format!("{engine:?} {method} {path}"),
            );
        }
        let gone = call(
            &t,
            "DELETE",
            "/api/v1/channels/ann/follow",
            Some(&bob_t),
            None,
        )
        .await;
        assert_eq!(
            gone.json(),
            json!({ "following": false, "follower_count": 0 })
        );
        let empty = call(&t, "GET", "/api/v1/me/following", Some(&bob_t), None)
            .await
            .json();
        assert_eq!(empty, json!({ "channels": [], "videos": [] }));
    }
}
