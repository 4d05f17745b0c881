//! Error answers: every 4xx/5xx of every documented route carries the envelope
//! `{"error": {"code", "message"}}` with a JSON content type — including what axum refuses on
//! its own (bad path and query parameters, wrong content types, malformed JSON, bodies over the
//! limit, methods a route does not take, unknown API paths) — and the catalogue of codes in
//! `crates/api/src/error.rs` is exactly the one documented in `docs/errors.md`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use http::{Method, Request};
use serde_json::Value;
use spool_metadata::testing::Engine;
use support::Reply;
use tower::ServiceExt;

mod support;

/// The `| `code` | status | … |` rows of docs/errors.md.
fn documented_codes() -> BTreeMap<String, u16> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/errors.md");
    let text = std::fs::read_to_string(path).expect("docs/errors.md");
    let mut codes = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let (Some(code), Ok(status)) = (
            cells[1].strip_prefix('`').and_then(|c| c.strip_suffix('`')),
            cells[2].parse::<u16>(),
        ) else {
            continue;
        };
        assert!(
            codes.insert(code.to_owned(), status).is_none(),
            "{code} is documented twice"
        );
    }
    codes
}

#[test]
fn every_catalogued_code_is_documented_and_every_documented_code_is_catalogued() {
    let catalogue: BTreeMap<String, u16> = spool_api::error::CATALOGUE
        .iter()
        .map(|e| (e.code.to_owned(), e.status))
        .collect();
    assert_eq!(catalogue.len(), spool_api::error::CATALOGUE.len());
    let documented = documented_codes();
    for (code, status) in &catalogue {
        assert_eq!(
            documented.get(code),
            Some(status),
            "`{code}` ({status}) is not documented with that status in docs/errors.md"
        );
    }
    for code in documented.keys() {
        assert!(
            catalogue.contains_key(code),
            "docs/errors.md documents `{code}`, which the catalogue does not know"
        );
    }
}

/// One malformed request to send.
struct Probe {
    what: &'static str,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

/// Fills the path parameters of `template` with `value`.
fn fill(template: &str, value: &str) -> String {
    template
        .split('/')
        .map(|s| if s.starts_with('{') { value } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// A value of the wrong type for a query parameter of `schema`.
fn wrong_value(schema: &Value) -> &'static str {
    match schema["type"].as_str() {
        Some("integer" | "number") => "not-a-number",
        Some("boolean") => "maybe",
        _ => "%FF%FE",
    }
}

/// The malformed requests for one documented operation.
fn probes(template: &str, method: &Method, operation: &Value) -> Vec<Probe> {
    let mut out = Vec::new();
    let plain = fill(template, "x1");
    let probe = |what, path: String, content_type, body: Vec<u8>| Probe {
        what,
        method: method.clone(),
        path,
        content_type,
        body,
    };
    if template.contains('{') {
        // Not UTF-8 once percent-decoded, and an odd value.
        out.push(probe(
            "bad path parameter",
            fill(template, "%FF%FE"),
            None,
            vec![],
        ));
        out.push(probe(
            "odd path parameter",
            fill(template, "-0"),
            None,
            vec![],
        ));
    }
    let params = operation["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let query: Vec<&Value> = params.iter().filter(|p| p["in"] == "query").collect();
    for p in &query {
        let name = p["name"].as_str().unwrap();
        let path = format!("{plain}?{name}={}", wrong_value(&p["schema"]));
        out.push(probe("bad query value", path, None, vec![]));
        out.push(probe(
            "negative query value",
            format!("{plain}?{name}=-1"),
            None,
            vec![],
        ));
    }
    if !query.is_empty() && query.iter().any(|p| p["required"] == true) {
        out.push(probe("missing query", plain.clone(), None, vec![]));
    }
    if operation.get("requestBody").is_some() {
        out.push(probe(
            "wrong content type",
            plain.clone(),
            Some("text/plain"),
            b"{}".to_vec(),
        ));
        out.push(probe(
            "malformed JSON",
            plain.clone(),
            Some("application/json"),
            b"{\"a\": ".to_vec(),
        ));
        out.push(probe(
            "JSON of wrong types",
            plain.clone(),
            Some("application/json"),
            br#"{"proofs": 7, "name": [], "password": {}, "title": 5, "tags": "x", "events": 3}"#
                .to_vec(),
        ));
        out.push(probe(
            "oversized body",
            plain.clone(),
            Some("application/json"),
            vec![b' '; 3 << 20],
        ));
    }
    out
}

async fn harness() -> (axum::Router, String, support::TestState) {
    let t = support::test_state(Engine::Sqlite, |_| {}).await;
    let (_, token) = t.user("root", true).await;
    (t.app(), token, t)
}

fn check_envelope(reply: &Reply, context: &str) {
    if reply.status.as_u16() < 400 {
        return;
    }
    let content_type = reply.header("content-type");
    assert!(
        content_type.starts_with("application/json"),
        "{context}: {} with content type `{content_type}`: {}",
        reply.status,
        String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)])
    );
    let json: Value = serde_json::from_slice(&reply.body)
        .unwrap_or_else(|_| panic!("{context}: not JSON: {:?}", reply.body));
    let code = json["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{context}: {json}"));
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{context}: {json}"
    );
    let entry = spool_api::error::lookup(code)
        .unwrap_or_else(|| panic!("{context}: code `{code}` is not in the catalogue"));
    assert_eq!(
        entry.status,
        reply.status.as_u16(),
        "{context}: `{code}` answered with another status than the catalogue's"
    );
}

#[tokio::test]
async fn every_error_answer_of_every_documented_route_has_the_envelope() {
    let (app, token, _t) = harness().await;
    let document = serde_json::to_value(spool_api::openapi_document()).unwrap();
    let paths = document["paths"].as_object().unwrap();
    let mut errors = 0;
    let mut sent = 0;
    for (template, item) in paths {
        let item = item.as_object().unwrap();
        let methods: Vec<Method> = item
            .keys()
            .filter_map(|m| m.to_uppercase().parse::<Method>().ok())
            .collect();
        let mut all = Vec::new();
        for method in &methods {
            all.extend(probes(
                template,
                method,
                &item[&method.as_str().to_lowercase()],
            ));
        }
        // A method the route does not take.
        let unused = [Method::PUT, Method::DELETE, Method::PATCH, Method::POST]
            .into_iter()
            .find(|m| !methods.contains(m))
            .unwrap();
        all.push(Probe {
            what: "method not allowed",
            method: unused,
            path: fill(template, "x1"),
            content_type: None,
            body: vec![],
        });
        for probe in all {
            for authorized in [false, true] {
                let mut request = Request::builder()
                    .method(probe.method.clone())
                    .uri(&probe.path)
                    .header("tus-resumable", "1.0.0");
                if authorized {
                    request = request.header("authorization", format!("Bearer {token}"));
                }
                if let Some(ct) = probe.content_type {
                    request = request.header("content-type", ct);
                }
                let request = request.body(Body::from(probe.body.clone())).unwrap();
                let context = format!(
                    "{} {} ({}, {})",
                    probe.method,
                    probe.path.chars().take(80).collect::<String>(),
                    probe.what,
                    if authorized { "admin" } else { "anonymous" }
                );
                // A route that waits (long poll, event stream) is not an error answer.
                let Ok(response) =
                    tokio::time::timeout(Duration::from_secs(5), app.clone().oneshot(request))
                        .await
                else {
                    continue;
                };
                let Ok(Ok(reply)) = tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio::spawn(Reply::read(response.unwrap())),
                )
                .await
                else {
                    continue;
                };
                sent += 1;
                errors += usize::from(reply.status.as_u16() >= 400);
                if probe.method == Method::HEAD {
                    // No body on HEAD; the headers still say JSON.
                    if reply.status.as_u16() >= 400 {
                        assert!(
                            reply.header("content-type").starts_with("application/json"),
                            "{context}"
                        );
                    }
                    continue;
                }
                check_envelope(&reply, &context);
            }
        }
    }
    assert!(sent > 200, "only {sent} requests were sent");
    assert!(
        errors > 150,
        "only {errors} of {sent} requests were refused"
    );
}

#[tokio::test]
async fn the_reported_plain_text_errors_now_have_the_envelope() {
    let (app, token, _t) = harness().await;
    let cases: Vec<(Request<Body>, u16, &str)> = vec![
        (
            Request::get("/api/v1/uploads")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
            400,
            "invalid_query",
        ),
        (
            Request::get("/api/v1/events/tail?wait_ms=-1")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
            400,
            "invalid_query",
        ),
        (
            Request::post("/api/v1/uploads/AAAAAAAAAAAAAAAAAAAAAA/proof")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "text/plain")
                .body(Body::from(r#"{"proofs": []}"#))
                .unwrap(),
            415,
            "unsupported_media_type",
        ),
        (
            Request::post("/api/v1/uploads/AAAAAAAAAAAAAAAAAAAAAA/proof")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(Body::from(r#"{"proofs": 7}"#))
                .unwrap(),
            422,
            "invalid_input",
        ),
        (
            Request::patch("/api/v1/videos/AAAAAAAAAAA")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(Body::from(vec![b' '; 3 << 20]))
                .unwrap(),
            413,
            "payload_too_large",
        ),
        (
            Request::get("/api/v1/no-such-route")
                .header("accept", "text/html")
                .body(Body::empty())
                .unwrap(),
            404,
            "not_found",
        ),
        (
            Request::put("/healthz").body(Body::empty()).unwrap(),
            405,
            "method_not_allowed",
        ),
    ];
    for (request, status, code) in cases {
        let context = format!("{} {}", request.method(), request.uri());
        let reply = Reply::read(app.clone().oneshot(request).await.unwrap()).await;
        check_envelope(&reply, &context);
        assert_eq!(
            (reply.status.as_u16(), reply.code().as_str()),
            (status, code),
            "{context}"
        );
    }
}

#[test]
fn the_document_names_the_error_answers_every_route_can_give() {
    let document = serde_json::to_value(spool_api::openapi_document()).unwrap();
    let paths = &document["paths"];
    let mut operations = 0;
    for (path, item) in paths.as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(responses) = operation["responses"].as_object() else {
                continue;
            };
            operations += 1;
            for status in ["400", "401", "500"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} does not document {status}"
                );
            }
            if path.contains('{') {
                assert!(responses.contains_key("404"), "{method} {path}: 404");
            }
            if operation.get("requestBody").is_some() {
                for status in ["413", "415", "422"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
            }
        }
    }
    assert!(operations > 30);

    // tus: the request header is required (1.0.0), 412 is documented, every answer has it.
    let create = &paths["/api/v1/uploads"]["post"];
    let tus = create["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Tus-Resumable")
        .expect("Tus-Resumable is documented");
    assert_eq!(tus["in"], "header");
    assert_eq!(tus["required"], true);
    assert!(create["responses"]["412"].is_object());
    for answer in create["responses"].as_object().unwrap().values() {
        assert!(
            answer["headers"]["Tus-Resumable"]["schema"].is_object(),
            "{answer}"
        );
    }

    // Unsigned query integers have their real range.
    let limit = paths["/api/v1/videos"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["schema"]["maximum"], 4_294_967_295u64);
    assert!(limit["schema"].get("format").is_none());

    // The anonymous session's nulls are in the schema.
    let session = &paths["/api/v1/auth/session"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"]["$ref"];
    let name = session.as_str().unwrap().rsplit('/').next().unwrap();
    let schema = &document["components"]["schemas"][name];
    for field in ["user", "csrf_token"] {
        let text = schema["properties"][field].to_string();
        assert!(text.contains("null"), "{field} is not nullable: {text}");
    }
}
