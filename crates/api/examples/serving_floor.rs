//! The floor under Spool's media path, for `bench/serve.sh` and `bench/callgrind.sh`: the same
//! listener loop (`spool_api::server::serve_router`, hyper-util's auto builder with Spool's
//! settings), the same allocator and an axum router with one route, answering every GET with
//! the bytes of one file held in memory, with the headers Spool sends and single byte ranges.
//! None of Spool's own per-request work runs: no video lookup, visibility decision, metrics,
//! cache lookup or CMCD. What Spool costs above this is what its own code adds; what this costs
//! above nginx is the price of the HTTP stack.
//!
//!   serving_floor <file> <listen address>

use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use spool_api::server::{Limits, serve_router};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone)]
struct Served {
    bytes: Bytes,
    etag: HeaderValue,
}

async fn answer(served: Served, headers: HeaderMap) -> Response {
    let len = served.bytes.len();
    let mut out = HeaderMap::new();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("video/iso.segment"),
    );
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert(header::ETAG, served.etag.clone());
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
        .filter(|&(start, end)| start <= end && end < len);
    let (status, body) = match range {
        Some((start, end)) => {
            let value = format!("bytes {start}-{end}/{len}");
            out.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&value).expect("ascii"),
            );
            (StatusCode::PARTIAL_CONTENT, served.bytes.slice(start..=end))
        }
        None => (StatusCode::OK, served.bytes.clone()),
    };
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    (status, out, Body::from(body)).into_response()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(listen)) = (args.next(), args.next()) else {
        eprintln!("usage: serving_floor <file> <listen address>");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let bytes = Bytes::from(std::fs::read(&file)?);
    let etag = HeaderValue::from_str(&format!("\"{}\"", &blake3::hash(&bytes).to_hex()[..20]))
        .expect("hex");
    let served = Served { bytes, etag };
    let app = Router::new().fallback(move |headers: HeaderMap| answer(served.clone(), headers));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let limits = Limits::from_config(&spool_config::Config::default().server);
    // Runs until killed (the bench scripts send SIGTERM): nothing to drain or flush.
    serve_router(listener, app, limits, CancellationToken::new()).await
}
