//! The tus protocol and the Spool extensions through the router (no socket), on SQLite and
//! MariaDB: every status code the spec names, bad input, dedup, instant upload, proofs, quota.

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use sha1::Digest;
use spool_config::Config;
use spool_metadata::Store;
use spool_metadata::testing::{ENGINES, Engine, TestDb};
use tower::ServiceExt;

mod support;

struct Harness {
    app: Router,
    store: Store,
    dir: tempfile::TempDir,
    _db: TestDb,
}

async fn harness(engine: Engine, tweak: impl FnOnce(&mut Config)) -> Harness {
    let t = support::test_state(engine, tweak).await;
    Harness {
        app: spool_api::router(t.state),
        store: t.store,
        dir: t.data,
        _db: t.db,
    }
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    /// Error answers always carry `{ "error": { "code", "message" } }`.
    fn error_code(&self) -> String {
        let json = self.json();
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{json}"
        );
        json["error"]["code"].as_str().unwrap().to_owned()
    }
}

async fn reply(response: Response<Body>) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

impl Harness {
    async fn send(&self, request: Request<Body>) -> Reply {
        reply(self.app.clone().oneshot(request).await.unwrap()).await
    }

    /// Sends `request` without a body.
    async fn send_empty(&self, request: http::request::Builder) -> Reply {
        self.send(request.body(Body::empty()).unwrap()).await
    }

    async fn user(&self, name: &str) -> String {
        let user = self.store.create_user(name, false).await.unwrap();
        self.store.create_token(user.id).await.unwrap()
    }

    async fn create(&self, token: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = Request::post("/api/v1/uploads")
            .header("tus-resumable", "1.0.0")
            .header("authorization", format!("Bearer {token}"));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        self.send_empty(request).await
    }

    async fn patch(
        &self,
        token: &str,
        path: &str,
        offset: u64,
        data: &[u8],
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::patch(path)
            .header("tus-resumable", "1.0.0")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string());
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        self.send(request.body(Body::from(data.to_vec())).unwrap())
            .await
    }

    async fn head(&self, token: &str, path: &str) -> Reply {
        self.send_empty(
            Request::head(path)
                .header("tus-resumable", "1.0.0")
                .header("authorization", format!("Bearer {token}")),
        )
        .await
    }

    async fn video(&self, id: &str, token: Option<&str>) -> Reply {
        let mut request = Request::get(format!("/api/v1/videos/{id}"));
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        self.send_empty(request).await
    }
}

fn path_of(reply: &Reply) -> String {
    let location = reply.header("location").expect("Location header");
    location
        .strip_prefix("http://spool.test")
        .expect("absolute URL on the public base")
        .to_owned()
}

fn meta(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k} {}", STANDARD.encode(v)))
        .collect::<Vec<_>>()
        .join(",")
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn discovery_and_version_negotiation() {
    let h = harness(Engine::Sqlite, |_| {}).await;
    let r = h.send_empty(Request::options("/api/v1/uploads")).await;
    // 200, as tusd answers (some proxies and clients mishandle a 204 here).
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("tus-version"), Some("1.0.0"));
    assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
    let ext = r.header("tus-extension").unwrap();
    for e in [
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "expiration",
        "checksum",
        "termination",
    ] {
        assert!(ext.split(',').any(|x| x == e), "missing {e} in {ext}");
    }
    assert_eq!(r.header("tus-checksum-algorithm"), Some("sha1,sha256"));
    assert!(r.header("tus-max-size").is_some());

    // A browser preflight is answered as CORS, exposing the tus headers.
    let r = h
        .send_empty(
            Request::options("/api/v1/uploads")
                .header("origin", "http://app.test")
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://app.test")
    );
    assert!(
        r.header("access-control-expose-headers")
            .unwrap()
            .contains("upload-offset")
    );

    let token = h.user("ann").await;
    for version in [None, Some("0.2.2")] {
        let mut request = Request::post("/api/v1/uploads")
            .header("authorization", format!("Bearer {token}"))
            .header("upload-length", "10");
        if let Some(v) = version {
            request = request.header("tus-resumable", v);
        }
        let r = h.send_empty(request).await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(r.header("tus-version"), Some("1.0.0"));
        assert_eq!(r.error_code(), "unsupported_tus_version");
    }

    // A method no tus route takes is 405 whatever the version header (found by schemathesis:
    // TRACE answered 412, then POST on an upload's own URL did).
    for (method, path) in [
        ("TRACE", "/api/v1/uploads"),
        ("TRACE", "/api/v1/uploads/x1"),
        ("POST", "/api/v1/uploads/x1"),
        ("PUT", "/api/v1/uploads/x1"),
    ] {
        let r = h
            .send_empty(Request::builder().method(method).uri(path))
            .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
}

#[tokio::test]
async fn upload_in_chunks_with_checksums_then_video_json() {
    for engine in ENGINES {
        let h = harness(engine, |_| {}).await;
        let token = h.user("ann").await;
        let content = data(300_000, 7);
        let metadata = meta(&[
            ("filename", "holiday.mp4"),
            ("title", "Holiday <b>2026</b>"),
        ]);
        let created = h
            .create(
                &token,
                &[("upload-length", "300000"), ("upload-metadata", &metadata)],
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{engine:?}");
        assert_eq!(created.header("upload-offset"), Some("0"));
        assert!(created.header("upload-expires").unwrap().ends_with("GMT"));
        let video_id = created.header("spool-video-id").unwrap().to_owned();
        let path = path_of(&created);

        let head = h.head(&token, &path).await;
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.header("cache-control"), Some("no-store"));
        assert_eq!(head.header("upload-length"), Some("300000"));
        assert_eq!(head.header("upload-metadata"), Some(metadata.as_str()));

        // Chunk 1 with a correct sha1; chunk 2 with a wrong sha256 is discarded (460).
        let sha1 = STANDARD.encode(sha1::Sha1::digest(&content[..100_000]));
        let r = h
            .patch(
                &token,
                &path,
                0,
                &content[..100_000],
                &[("upload-checksum", &format!("sha1 {sha1}"))],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(r.header("upload-offset"), Some("100000"));
        let wrong = STANDARD.encode([0u8; 32]);
        let r = h
            .patch(
                &token,
                &path,
                100_000,
                &content[100_000..200_000],
                &[("upload-checksum", &format!("sha256 {wrong}"))],
            )
            .await;
        assert_eq!(r.status.as_u16(), 460);
        assert_eq!(r.error_code(), "checksum_mismatch");
        assert_eq!(
            h.head(&token, &path).await.header("upload-offset"),
            Some("100000")
        );
        let r = h
            .patch(
                &token,
                &path,
                100_000,
                b"x",
                &[("upload-checksum", "md5 AAAA")],
            )
            .await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (StatusCode::BAD_REQUEST, "unsupported_checksum")
        );

        // Offset mismatch and wrong content type.
        let r = h.patch(&token, &path, 5, &content[5..10], &[]).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (StatusCode::CONFLICT, "offset_mismatch")
        );
        let r = h
            .send(
                Request::patch(&path)
                    .header("tus-resumable", "1.0.0")
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/octet-stream")
                    .header("upload-offset", "100000")
                    .body(Body::from(vec![1u8; 10]))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

        // More than Upload-Length is refused whole.
        let mut too_much = content[100_000..].to_vec();
        too_much.push(0);
        let r = h.patch(&token, &path, 100_000, &too_much, &[]).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "past_upload_length")
        );
        assert_eq!(
            h.head(&token, &path).await.header("upload-offset"),
            Some("100000")
        );

        // The rest completes the upload; the video knows its hash and size.
        let r = h
            .patch(&token, &path, 100_000, &content[100_000..], &[])
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(r.header("upload-offset"), Some("300000"));
        // The owner sees the source's hash and size (strangers do not: issue 12).
        let v = h.video(&video_id, Some(&token)).await.json();
        assert_eq!(v["status"], "uploaded");
        assert_eq!(v["title"], "Holiday <b>2026</b>");
        assert_eq!(v["owner"], "ann");
        assert_eq!(v["size_bytes"], 300_000);
        assert_eq!(v["blake3"], blake3::hash(&content).to_hex().as_str());
        assert!(v["created_at"].as_str().unwrap().ends_with('Z'));
        let blob = h
            .dir
            .path()
            .join("blobs")
            .join(&blake3::hash(&content).to_hex()[..2])
            .join(blake3::hash(&content).to_hex().as_str());
        assert_eq!(std::fs::read(blob).unwrap(), content);

        // PATCH after completion.
        let r = h.patch(&token, &path, 300_000, b"more", &[]).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (StatusCode::CONFLICT, "upload_complete")
        );
    }
}

#[tokio::test]
async fn creation_with_upload_deferred_length_and_termination() {
    for engine in ENGINES {
        let h = harness(engine, |_| {}).await;
        let token = h.user("bo").await;
        let content = data(5000, 3);
        // creation-with-upload: the first chunk rides on the POST.
        let r = h
            .send(
                Request::post("/api/v1/uploads")
                    .header("tus-resumable", "1.0.0")
                    .header("authorization", format!("Bearer {token}"))
                    .header("upload-defer-length", "1")
                    .header("content-type", "application/offset+octet-stream")
                    .header("content-length", "2000")
                    .body(Body::from(content[..2000].to_vec()))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine:?}");
        assert_eq!(r.header("upload-offset"), Some("2000"));
        let path = path_of(&r);
        let video_id = r.header("spool-video-id").unwrap().to_owned();
        assert_eq!(
            h.head(&token, &path).await.header("upload-defer-length"),
            Some("1")
        );
        // The length arrives with the last chunk.
        let r = h
            .patch(
                &token,
                &path,
                2000,
                &content[2000..],
                &[("upload-length", "5000")],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(h.video(&video_id, None).await.json()["status"], "uploaded");

        // Termination: 204, then the upload is gone (404) and so is its video.
        let r = h.create(&token, &[("upload-length", "10")]).await;
        let path = path_of(&r);
        let video_id = r.header("spool-video-id").unwrap().to_owned();
        let r = h
            .send_empty(
                Request::delete(&path)
                    .header("tus-resumable", "1.0.0")
                    .header("authorization", format!("Bearer {token}")),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(h.head(&token, &path).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            h.patch(&token, &path, 0, b"x", &[]).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(h.video(&video_id, None).await.status, StatusCode::NOT_FOUND);
    }
}

/// Creation headers, the status they must get, and the error code.
type BadCreation = (Vec<(&'static str, String)>, u16, &'static str);

/// Bad requests: each gets the right 4xx with a JSON error, and nothing changes.
#[tokio::test]
async fn interop_with_tusd_options_offsets_checksum_lengths_and_ending_complete_uploads() {
    for engine in ENGINES {
        let h = harness(engine, |_| {}).await;
        let token = h.user("ivy").await;
        let content = data(4000, 9);

        // OPTIONS on the upload's own URL answers 200 too.
        let created = h.create(&token, &[("upload-length", "4000")]).await;
        let path = path_of(&created);
        let video_id = created.header("spool-video-id").unwrap().to_owned();
        let r = h.send_empty(Request::options(&path)).await;
        assert_eq!(r.status, StatusCode::OK, "{engine:?}");
        assert_eq!(r.header("tus-version"), Some("1.0.0"));

        // A 409 offset mismatch says where the upload is.
        assert_eq!(
            h.patch(&token, &path, 0, &content[..1000], &[])
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        let r = h.patch(&token, &path, 5, &content[5..10], &[]).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (StatusCode::CONFLICT, "offset_mismatch")
        );
        assert_eq!(r.header("upload-offset"), Some("1000"));

        // A digest of the wrong length is a mismatch: 460, the chunk is discarded.
        let short = STANDARD.encode([0u8; 7]);
        for checksum in [format!("sha1 {short}"), format!("sha256 {short}")] {
            let r = h
                .patch(
                    &token,
                    &path,
                    1000,
                    &content[1000..2000],
                    &[("upload-checksum", &checksum)],
                )
                .await;
            assert_eq!(
                (r.status.as_u16(), r.error_code().as_str()),
                (460, "checksum_mismatch"),
                "{checksum}"
            );
            assert_eq!(
                h.head(&token, &path).await.header("upload-offset"),
                Some("1000"),
                "{checksum}: the chunk is discarded"
            );
        }

        // DELETE on a completed upload: 204, the upload record ends, the video stays.
        let r = h.patch(&token, &path, 1000, &content[1000..], &[]).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let delete = || {
            Request::delete(&path)
                .header("tus-resumable", "1.0.0")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap()
        };
        let r = h.send(delete()).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{engine:?}");
        assert_eq!(h.head(&token, &path).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            h.patch(&token, &path, 4000, b"x", &[]).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(h.send(delete()).await.status, StatusCode::NOT_FOUND);
        let video = h.video(&video_id, Some(&token)).await;
        assert_eq!(video.status, StatusCode::OK);
        assert_eq!(video.json()["status"], "uploaded");
        assert_eq!(video.json()["size_bytes"], 4000);
    }
}

#[tokio::test]
async fn bad_input_is_refused_with_clear_errors() {
    let h = harness(Engine::Sqlite, |c| c.upload.max_size_bytes = 1000).await;
    let token = h.user("cy").await;
    let other = h.user("dee").await;
    let cases: Vec<BadCreation> = vec![
        (vec![], 400, "bad_request"),
        (vec![("upload-length", "-5".into())], 400, "bad_request"),
        (
            vec![("upload-length", "99999999999999999999999".into())],
            400,
            "bad_request",
        ),
        (vec![("upload-length", "12abc".into())], 400, "bad_request"),
        (
            vec![
                ("upload-length", "10".into()),
                ("upload-defer-length", "1".into()),
            ],
            400,
            "bad_request",
        ),
        (
            vec![("upload-defer-length", "2".into())],
            400,
            "bad_request",
        ),
        (
            vec![("upload-length", "1001".into())],
            413,
            "upload_too_large",
        ),
        (
            vec![
                ("upload-length", "10".into()),
                ("upload-metadata", "filename not*base64".into()),
            ],
            400,
            "bad_request",
        ),
        (
            vec![
                ("upload-length", "10".into()),
                ("upload-metadata", meta(&[("visibility", "secret")])),
            ],
            400,
            "bad_request",
        ),
        (
            vec![
                ("upload-length", "10".into()),
                ("upload-metadata", meta(&[("blake3", "abc")])),
            ],
            400,
            "bad_request",
        ),
    ];
    for (headers, status, code) in cases {
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = h.create(&token, &pairs).await;
        assert_eq!(r.status.as_u16(), status, "{headers:?}");
        assert_eq!(r.error_code(), code, "{headers:?}");
    }

    // No token, a wrong token.
    let r = h.create("", &[("upload-length", "10")]).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let r = h.create("spool_wrong", &[("upload-length", "10")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Unknown and path-traversal ids.
    for path in [
        "/api/v1/uploads/AAAAAAAAAAAAAAAAAAAAAA",
        "/api/v1/uploads/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/uploads/%2e%2e",
    ] {
        let r = h.patch(&token, path, 0, b"x", &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.error_code(), "upload_not_found");
    }
    // Missing Upload-Offset; someone else's upload.
    let created = h.create(&token, &[("upload-length", "10")]).await;
    let path = path_of(&created);
    let r = h
        .send(
            Request::patch(&path)
                .header("tus-resumable", "1.0.0")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/offset+octet-stream")
                .body(Body::from("x"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h.patch(&other, &path, 0, b"x", &[]).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::FORBIDDEN, "not_owner")
    );
    assert_eq!(h.head(&other, &path).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        h.head(&token, &path).await.header("upload-offset"),
        Some("0")
    );
    // Still serving.
    let r = h.send_empty(Request::get("/healthz")).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn dedup_instant_upload_and_proof_of_possession() {
    for engine in ENGINES {
        let h = harness(engine, |_| {}).await;
        let ann = h.user("ann").await;
        let bo = h.user("bo").await;
        let content = data(700_000, 9);
        let hash = blake3::hash(&content).to_hex().to_string();
        let with_hash = meta(&[("filename", "a.mp4"), ("blake3", &hash)]);
        let len = content.len().to_string();

        // ann uploads the bytes.
        let r = h
            .create(
                &ann,
                &[("upload-length", &len), ("upload-metadata", &with_hash)],
            )
            .await;
        assert!(
            r.header("spool-proof-nonce").is_none(),
            "nothing to prove yet"
        );
        let path = path_of(&r);
        // Resume without local state: the lookup by hash finds the unfinished upload.
        let r = h
            .send_empty(
                Request::get(format!("/api/v1/uploads?blake3={hash}"))
                    .header("authorization", format!("Bearer {ann}")),
            )
            .await;
        let list = r.json();
        assert_eq!(
            list["uploads"][0]["url"],
            format!("http://spool.test{path}"),
            "{engine:?}"
        );
        assert_eq!(list["uploads"][0]["offset"], 0);
        let r = h.patch(&ann, &path, 0, &content, &[]).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);

        // ann again: instant, no bytes.
        let r = h
            .create(
                &ann,
                &[("upload-length", &len), ("upload-metadata", &with_hash)],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.header("upload-offset"), Some(len.as_str()));
        let vid = r.header("spool-video-id").unwrap();
        assert_eq!(h.video(vid, None).await.json()["status"], "uploaded");

        // bo announces the hash: a challenge, never a completion on the hash alone.
        let r = h
            .create(
                &bo,
                &[("upload-length", &len), ("upload-metadata", &with_hash)],
            )
            .await;
        assert_eq!(r.header("upload-offset"), Some("0"));
        let nonce = r.header("spool-proof-nonce").unwrap().to_owned();
        let ranges = r.header("spool-proof-ranges").unwrap().to_owned();
        let bo_path = path_of(&r);
        let bo_video = r.header("spool-video-id").unwrap().to_owned();
        let prove = |proofs: Vec<String>, path: String, token: String| {
            let h = &h;
            async move {
                h.send(
                    Request::post(format!("{path}/proof"))
                        .header("authorization", format!("Bearer {token}"))
                        .header("content-type", "application/json")
                        .body(Body::from(
                            serde_json::json!({ "proofs": proofs }).to_string(),
                        ))
                        .unwrap(),
                )
                .await
            }
        };
        // A wrong answer spends the challenge; the right answer afterwards is refused too.
        let r = prove(
            proofs(&nonce, &ranges, &data(700_000, 10)),
            bo_path.clone(),
            bo.clone(),
        )
        .await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (StatusCode::FORBIDDEN, "proof_rejected")
        );
        let r = prove(
            proofs(&nonce, &ranges, &content),
            bo_path.clone(),
            bo.clone(),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(
            h.video(&bo_video, Some(&bo)).await.json()["status"],
            "uploading"
        );

        // A fresh challenge answered right completes without bytes, sharing the blob.
        let r = h
            .create(
                &bo,
                &[("upload-length", &len), ("upload-metadata", &with_hash)],
            )
            .await;
        let nonce2 = r.header("spool-proof-nonce").unwrap().to_owned();
        let ranges2 = r.header("spool-proof-ranges").unwrap().to_owned();
        let path2 = path_of(&r);
        let video2 = r.header("spool-video-id").unwrap().to_owned();
        let r = prove(proofs(&nonce2, &ranges2, &content), path2, bo.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json()["complete"], true);
        assert_eq!(
            h.video(&video2, Some(&bo)).await.json()["blake3"],
            hash.as_str()
        );
        let blob = h.store.blob(&hash.parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(blob.refcount, 3, "one stored copy, three videos");

        // A different file announcing ann's hash fails at the last byte (460), nothing kept.
        let r = h
            .create(
                &ann,
                &[
                    ("upload-length", "10"),
                    (
                        "upload-metadata",
                        &meta(&[("blake3", &blake3::hash(b"other").to_hex())]),
                    ),
                ],
            )
            .await;
        let path = path_of(&r);
        let r = h.patch(&ann, &path, 0, b"0123456789", &[]).await;
        assert_eq!(
            (r.status.as_u16(), r.error_code().as_str()),
            (460, "blake3_mismatch")
        );
        assert_eq!(h.head(&ann, &path).await.header("upload-offset"), Some("0"));
    }
}

/// The answer to a proof-of-possession challenge, computed from the client's copy.
fn proofs(nonce: &str, ranges: &str, content: &[u8]) -> Vec<String> {
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&nonce[2 * i..2 * i + 2], 16).unwrap();
    }
    ranges
        .split(',')
        .map(|r| {
            let (o, l) = r.split_once('-').unwrap();
            let (o, l): (usize, usize) = (o.parse().unwrap(), l.parse().unwrap());
            blake3::keyed_hash(&key, &content[o..o + l])
                .to_hex()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn quota_expiry_and_private_videos() {
    for engine in ENGINES {
        let h = harness(engine, |c| {
            c.upload.user_quota_bytes = 1000;
            c.upload.expire_after_s = 0;
        })
        .await;
        let token = h.user("q").await;
        let r = h.create(&token, &[("upload-length", "1001")]).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded"),
            "{engine:?}"
        );
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("quota")
        );
        // expire_after_s = 0: the upload is expired at once (410), then swept.
        let r = h.create(&token, &[("upload-length", "10")]).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let path = path_of(&r);
        let r = h.patch(&token, &path, 0, b"0123", &[]).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (StatusCode::GONE, "upload_expired")
        );
    }

    // Private videos exist only for their owner.
    let h = harness(Engine::Sqlite, |_| {}).await;
    let owner = h.user("own").await;
    let stranger = h.user("str").await;
    let r = h
        .create(
            &owner,
            &[
                ("upload-length", "3"),
                ("upload-metadata", &meta(&[("visibility", "private")])),
            ],
        )
        .await;
    let vid = r.header("spool-video-id").unwrap().to_owned();
    assert_eq!(h.video(&vid, Some(&owner)).await.status, StatusCode::OK);
    assert_eq!(
        h.video(&vid, Some(&stranger)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(h.video(&vid, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.video("../../etc", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn openapi_document_lists_the_api() {
    let h = harness(Engine::Sqlite, |_| {}).await;
    let doc = h.send_empty(Request::get("/api/openapi.json")).await.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/uploads",
        "/api/v1/uploads/{id}",
        "/api/v1/uploads/{id}/proof",
        "/api/v1/videos/{id}",
        "/healthz",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(doc["paths"]["/api/v1/uploads/{id}"]["patch"].is_object());
}
