//! `spool events tail`: prints the live event stream of a server, one JSON line per event, by
//! long-polling `GET /api/v1/events/tail` (admins only). For debugging tracking.

use std::io::Write as _;
use std::time::Duration;

use crate::backoff::Backoff;
use crate::{ClientError, normalize_server};

/// Arguments of `spool events tail`.
#[derive(clap::Args, Clone)]
pub struct TailArgs {
    /// Server base URL.
    #[arg(long, env = "SPOOL_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// API token of an admin (from `spool user add --admin`).
    #[arg(long, env = "SPOOL_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Start at this log offset (default: only events from now on).
    #[arg(long)]
    pub from: Option<u64>,
    /// Stop after printing this many events (default: run until interrupted).
    #[arg(long)]
    pub count: Option<u64>,
}

#[derive(serde::Deserialize)]
struct TailPage {
    events: Vec<serde_json::Value>,
    next: u64,
}

/// Prints events as they arrive until interrupted (or `--count` events were printed).
/// Transport errors are retried with backoff; an error answer from the server stops it.
pub async fn run_tail(args: TailArgs) -> Result<(), ClientError> {
    let server = normalize_server(&args.server)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(90))
        .build()
        .map_err(ClientError::Http)?;
    let mut from = args.from;
    let mut printed = 0u64;
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    let stdout = std::io::stdout();
    loop {
        let mut request = http
            .get(format!("{server}/api/v1/events/tail"))
            .bearer_auth(args.token.trim())
            .query(&[("wait_ms", "25000")]);
        if let Some(from) = from {
            request = request.query(&[("from", from)]);
        }
        let response = tokio::select! {
            r = request.send() => r,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                let delay = backoff.next_delay();
                eprintln!("spool events tail: {e}; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(ClientError::Http)?;
        if status != 200 {
            return Err(crate::tus::server_error(status, &body));
        }
        backoff.reset();
        let page: TailPage = serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("unexpected tail answer: {e}")))?;
        let mut out = stdout.lock();
        for event in &page.events {
            // A closed pipe (`| head`) ends the tail quietly.
            if writeln!(out, "{event}").is_err() {
                return Ok(());
            }
            printed += 1;
            if args.count.is_some_and(|n| printed >= n) {
                return Ok(());
            }
        }
        let _ = out.flush();
        from = Some(page.next);
    }
}
