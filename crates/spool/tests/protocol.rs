//! Bad input against the real `spool serve` with raw HTTP: each malformed or unauthorized tus
//! request gets its documented status and a JSON error body `{error:{code,message}}`, nothing
//! is damaged, and the server keeps answering.

mod support;

use base64::Engine as _;
use reqwest::{Method, RequestBuilder, Response};
use sha1::Digest as _;
use support::{Server, header, tus_metadata};

/// The configured maximum upload size for these tests.
const MAX: u64 = 1024 * 1024;

struct Api {
    server: Server,
    http: reqwest::Client,
    alice: String,
    bob: String,
}

impl Api {
    async fn start() -> Self {
        let max = MAX.to_string();
        let server =
            Server::start_with(None, &[("SPOOL__UPLOAD__MAX_SIZE_BYTES", max.as_str())]).await;
        let alice = server.user_add("alice");
        let bob = server.user_add("bob");
        Self {
            server,
            http: support::client(),
            alice,
            bob,
        }
    }

    /// A tus request (with `Tus-Resumable: 1.0.0`) as `token`.
    fn tus(&self, method: Method, url: &str, token: &str) -> RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
    }

    /// Creates an upload of `len` bytes as alice; returns its URL.
    async fn create(&self, len: u64) -> String {
        let r = self
            .tus(Method::POST, &self.server.uploads_url(), &self.alice)
            .header("Upload-Length", len.to_string())
            .header("Upload-Metadata", tus_metadata(&[("filename", "p.bin")]))
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 201, "create");
        header(&r, "location").expect("Location")
    }

    fn patch(&self, url: &str, token: &str, offset: u64, body: Vec<u8>) -> RequestBuilder {
        self.tus(Method::PATCH, url, token)
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(body)
    }

    async fn offset(&self, url: &str) -> u64 {
        let r = self
            .tus(Method::HEAD, url, &self.alice)
            .send()
            .await
            .expect("HEAD");
        assert_eq!(r.status(), 200, "HEAD {url}");
        header(&r, "upload-offset")
            .expect("Upload-Offset")
            .parse()
            .expect("numeric offset")
    }
}

async fn send(rb: RequestBuilder) -> Response {
    rb.send().await.expect("request")
}

/// Asserts the status and that the body is `{error:{code,message}}` with a JSON content type;
/// returns the code.
async fn expect_error(r: Response, status: u16, what: &str) -> String {
    let got = r.status();
    let content_type = header(&r, "content-type").unwrap_or_default();
    let body = r.text().await.expect("body");
    assert_eq!(got.as_u16(), status, "{what}: body {body}");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content type {content_type:?}, body {body}"
    );
    let v: serde_json::Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{what}: error body is not JSON ({e}): {body}"));
    let code = v["error"]["code"].as_str().unwrap_or_default();
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "{what}: error code must be snake_case: {body}"
    );
    assert!(!message.is_empty(), "{what}: empty error message: {body}");
    code.to_owned()
}

fn sha1_b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(data))
}

#[tokio::test]
async fn bad_requests_get_documented_errors() {
    let api = Api::start().await;
    let uploads = api.server.uploads_url();

    // Missing Tus-Resumable: 412 with Tus-Version.
    let r = send(
        api.http
            .post(&uploads)
            .bearer_auth(&api.alice)
            .header("Upload-Length", "10"),
    )
    .await;
    assert_eq!(
        header(&r, "tus-version").as_deref(),
        Some("1.0.0"),
        "412 must carry Tus-Version"
    );
    expect_error(r, 412, "POST without Tus-Resumable").await;

    // No token: 401.
    let r = send(
        api.http
            .post(&uploads)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", "10"),
    )
    .await;
    expect_error(r, 401, "anonymous POST").await;

    // Upload-Length over the configured maximum: 413.
    let r = send(
        api.tus(Method::POST, &uploads, &api.alice)
            .header("Upload-Length", (MAX + 1).to_string()),
    )
    .await;
    expect_error(r, 413, "Upload-Length over the maximum").await;

    // Metadata value that is not base64: 400.
    let r = send(
        api.tus(Method::POST, &uploads, &api.alice)
            .header("Upload-Length", "10")
            .header("Upload-Metadata", "filename !!!not-base64!!!"),
    )
    .await;
    expect_error(r, 400, "metadata not base64").await;

    let data = support::random_bytes(41, 1000);
    let url = api.create(data.len() as u64).await;

    // Wrong offset: 409.
    let r = send(api.patch(&url, &api.alice, 5, data[5..].to_vec())).await;
    expect_error(r, 409, "PATCH at the wrong offset").await;

    // Wrong content type: 415.
    let r = send(
        api.tus(Method::PATCH, &url, &api.alice)
            .header("Upload-Offset", "0")
            .header("Content-Type", "text/plain")
            .body(data[..100].to_vec()),
    )
    .await;
    expect_error(r, 415, "PATCH with text/plain").await;

    // Checksum mismatch: 460, the chunk is discarded.
    let chunk = data[..400].to_vec();
    let r = send(api.patch(&url, &api.alice, 0, chunk.clone()).header(
        "Upload-Checksum",
        format!("sha1 {}", sha1_b64(b"something else")),
    ))
    .await;
    expect_error(r, 460, "PATCH with a wrong sha1").await;
    assert_eq!(
        api.offset(&url).await,
        0,
        "a chunk failing its checksum must not count"
    );

    // Right checksum: 204.
    let r = send(
        api.patch(&url, &api.alice, 0, chunk.clone())
            .header("Upload-Checksum", format!("sha1 {}", sha1_b64(&chunk))),
    )
    .await;
    assert_eq!(r.status(), 204, "PATCH with the right sha1");
    assert_eq!(header(&r, "upload-offset").as_deref(), Some("400"));
    assert_eq!(api.offset(&url).await, 400);

    // Someone else's upload: 403, and nothing changes.
    let r = send(api.tus(Method::HEAD, &url, &api.bob)).await;
    assert_eq!(r.status(), 403, "HEAD of someone else's upload");
    let r = send(api.patch(&url, &api.bob, 400, data[400..].to_vec())).await;
    expect_error(r, 403, "PATCH of someone else's upload").await;
    let r = send(api.tus(Method::DELETE, &url, &api.bob)).await;
    expect_error(r, 403, "DELETE of someone else's upload").await;
    assert_eq!(api.offset(&url).await, 400);

    // Path traversal in the id: 404.
    for id in ["..%2F..%2Fetc", "..%2F..%2Fetc%2Fpasswd", "..", "%2E%2E"] {
        let traversal = format!("{uploads}/{id}");
        let r = send(api.tus(Method::HEAD, &traversal, &api.alice)).await;
        assert_eq!(r.status(), 404, "HEAD {traversal}");
        let r = send(api.patch(&traversal, &api.alice, 0, b"x".to_vec())).await;
        expect_error(r, 404, &format!("PATCH {traversal}")).await;
    }
    let r = send(api.tus(Method::HEAD, &format!("{uploads}/nosuchupload"), &api.alice)).await;
    assert_eq!(r.status(), 404, "HEAD of an unknown id");

    // Finish, then PATCH after completion: 409.
    let r = send(api.patch(&url, &api.alice, 400, data[400..].to_vec())).await;
    assert_eq!(r.status(), 204, "last PATCH");
    let video = header(&r, "spool-video-id").expect("Spool-Video-Id");
    support::assert_uploaded(
        &api.server,
        &api.alice,
        &video,
        &support::blake3_hex(&data),
        data.len() as u64,
    )
    .await;
    let r = send(api.patch(&url, &api.alice, 1000, b"more".to_vec())).await;
    expect_error(r, 409, "PATCH after completion").await;

    // Termination: DELETE, then HEAD and PATCH are 404.
    let url2 = api.create(500).await;
    let r = send(api.patch(&url2, &api.alice, 0, data[..100].to_vec())).await;
    assert_eq!(r.status(), 204);
    let r = send(api.tus(Method::DELETE, &url2, &api.alice)).await;
    assert_eq!(r.status(), 204, "DELETE");
    let r = send(api.tus(Method::HEAD, &url2, &api.alice)).await;
    assert_eq!(r.status(), 404, "HEAD after DELETE");
    let r = send(api.patch(&url2, &api.alice, 100, data[100..500].to_vec())).await;
    expect_error(r, 404, "PATCH after DELETE").await;

    api.server.assert_healthy().await;
}
