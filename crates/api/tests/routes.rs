//! The router and the OpenAPI document describe the same routes: every operation in
//! `GET /api/openapi.json` reaches its own route (not the fallback), and every route the
//! router knows is in the document — including `/media/*`, `/metrics` and the web pages.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use http::Method;
use serde_json::Value;
use spool_metadata::testing::Engine;
use tower::ServiceExt;

mod support;

/// The OpenAPI spelling of an axum route (`{*rest}` is `{rest}`).
fn openapi_spelling(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}

/// A concrete request path for a templated one.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{expires}" => "4102444800",
            "{index}" => "0",
            s if s.starts_with('{') => "x1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_documented_operation_reaches_its_route_and_every_route_is_documented() {
    let test = support::test_state(Engine::Sqlite, |_| {}).await;
    let seen: Arc<Mutex<Option<String>>> = Arc::default();
    let recorder = seen.clone();
    let app = spool_api::router(test.state.clone()).layer(middleware::from_fn(
        move |request: Request, next: Next| {
            let recorder = recorder.clone();
            async move {
                let matched = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(|p| p.as_str().to_owned());
                *recorder.lock().unwrap() = matched;
                next.run(request).await
            }
        },
    ));

    let served = app
        .clone()
        .oneshot(
            Request::get("/api/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let document: Value = serde_json::from_slice(&support::Reply::read(served).await.body).unwrap();
    let paths = document["paths"]
        .as_object()
        .expect("paths in the document");

    // These must be documented whatever else changes.
    for required in [
        "/media/{id}/{rest}",
        "/media/s/{expires}/{signature}/{id}/{rest}",
        "/metrics",
        "/healthz",
        "/api/openapi.json",
        "/api/v1/uploads",
        "/api/v1/videos/{id}",
        "/api/v1/events",
        "/",
        "/assets/{path}",
    ] {
        assert!(paths.contains_key(required), "{required} is not documented");
    }

    let mut checked = 0;
    for (template, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue; // "parameters", "summary" and the like
            };
            *seen.lock().unwrap() = None;
            let request = Request::builder()
                .method(method.clone())
                .uri(concrete(template))
                .header("tus-resumable", "1.0.0")
                .body(Body::empty())
                .unwrap();
            let _ = app.clone().oneshot(request).await.unwrap();
            let matched = seen.lock().unwrap().clone();
            assert_eq!(
                matched.as_deref().map(openapi_spelling),
                Some(template.clone()),
                "{method} {template} is documented but does not reach its route"
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} operations were checked");

    // The other direction: no route exists outside the document. Routes are only added
    // through `utoipa_axum::routes!`; a plain `.route(` elsewhere would bypass it.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bypasses = Vec::new();
    for file in walk(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            let adds_route = line.contains(".route(") || line.contains(".route_service(");
            let allowed = line.contains("router.route(&axum_path") // catch_all: documented by its caller
                || line.contains("router.route(path, axum::routing::get(page))"); // pages: documented beside
            if adds_route && !allowed && !line.starts_with("//") {
                bypasses.push(format!("{}:{}: {line}", file.display(), n + 1));
            }
        }
    }
    assert!(
        bypasses.is_empty(),
        "routes added without an OpenAPI entry:\n{}",
        bypasses.join("\n")
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// Every `$ref` in `value`, with where it stands.
fn references(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => found.push((at.to_owned(), target.clone())),
                    _ => references(inner, &format!("{at}/{key}"), found),
                }
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                references(inner, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

/// A document with a dangling reference cannot be used by generators and clients at all
/// (schemathesis refused every tus operation over `#/components/schemas/TusVersion`).
#[test]
fn every_reference_in_the_document_resolves() {
    let document = serde_json::to_value(spool_api::openapi_document()).unwrap();
    let mut found = Vec::new();
    references(&document, "", &mut found);
    assert!(!found.is_empty(), "the document has references to check");
    for (at, target) in found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: non-local reference {target}"));
        assert!(
            document.pointer(pointer).is_some(),
            "{at}: {target} does not exist in the document"
        );
    }
}

#[test]
fn concrete_paths_fill_every_parameter() {
    for (template, expect) in [
        ("/api/v1/videos/{id}", "/api/v1/videos/x1"),
        (
            "/media/s/{expires}/{signature}/{id}/{rest}",
            "/media/s/4102444800/x1/x1/x1",
        ),
        ("/", "/"),
    ] {
        assert_eq!(concrete(template), expect);
    }
    assert_eq!(
        openapi_spelling("/media/{id}/{*rest}"),
        "/media/{id}/{rest}"
    );
}
