//! Crash test: 20 concurrent tus uploads while the server is SIGKILLed and restarted at random
//! moments. Every upload must finish, every acknowledged offset must survive the kills (the
//! offsets a client sees never go backwards), and every stored video and blob must equal its
//! source byte for byte. Runs on SQLite and on MariaDB.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use spool_metadata::testing::{Engine, TestDb};
use support::{Server, header, tus_metadata};

/// Number of uploads.
const UPLOADS: usize = 20;
/// The server is killed at least this many times while uploads run.
const MIN_KILLS: u32 = 8;
/// Each upload must finish within this time.
const UPLOAD_DEADLINE: Duration = Duration::from_secs(150);
/// Body pieces handed to the connection one at a time (a kill lands mid-body).
const PIECE: usize = 32 * 1024;
/// Pause between pieces: about 2.5 MiB/s per upload, so that each upload spans several kills
/// while a chunk (256 KiB to 1 MiB) still usually gets through between two kills.
const PIECE_PAUSE: Duration = Duration::from_millis(12);

struct Job {
    index: usize,
    data: Bytes,
    blake3: String,
    /// Announce the BLAKE3 in the metadata (the server then verifies it on completion).
    announce: bool,
    seed: u64,
}

struct Done {
    index: usize,
    video_id: String,
    /// Every offset the server acknowledged (PATCH 204 and HEAD 200 answers), in order.
    acked: Vec<u64>,
    patches: u32,
    failed_requests: u32,
}

/// Records an acknowledged offset, checking that it never goes backwards.
fn ack(index: usize, acked: &mut Vec<u64>, offset: u64, what: &str) {
    if let Some(&last) = acked.last() {
        assert!(
            offset >= last,
            "upload {index}: {what} acknowledged offset {offset} after {last} had been acknowledged: \
             an acknowledged offset was lost across a SIGKILL (history: {acked:?})"
        );
    }
    acked.push(offset);
}

async fn backoff(attempt: u32) {
    let ms = (20u64 << attempt.min(4)).min(300);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// A plain tus client: create, then PATCH in chunks; on any transport error HEAD and resume
/// from the server's offset; retry until done.
async fn upload(
    http: reqwest::Client,
    base: String,
    token: String,
    job: Job,
    kills: Arc<AtomicU32>,
) -> Done {
    let index = job.index;
    let len = job.data.len() as u64;
    let started = Instant::now();
    let check_deadline = |what: &str| {
        assert!(
            started.elapsed() < UPLOAD_DEADLINE,
            "upload {index}: not finished after {UPLOAD_DEADLINE:?} ({what})"
        );
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(job.seed);
    let name = format!("crash-{index}.bin");
    let mut meta = vec![("filename", name.as_str()), ("title", name.as_str())];
    if job.announce {
        meta.push(("blake3", job.blake3.as_str()));
    }
    let metadata = tus_metadata(&meta);
    let mut failed_requests = 0;

    // Creation. A POST lost to a kill may leave an orphan upload behind; that is fine.
    let mut attempt = 0;
    let (url, video_id, mut offset) = loop {
        check_deadline("creating");
        let r = http
            .post(format!("{base}/api/v1/uploads"))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", len.to_string())
            .header("Upload-Metadata", &metadata)
            .header("Content-Length", "0")
            .send()
            .await;
        match r {
            Ok(r) => {
                let status = r.status();
                if status != 201 {
                    let body = r.text().await.unwrap_or_default();
                    panic!("upload {index}: POST answered {status}: {body}");
                }
                let url = header(&r, "location").expect("Location");
                let video = header(&r, "spool-video-id").expect("Spool-Video-Id");
                let offset: u64 = header(&r, "upload-offset")
                    .expect("Upload-Offset on 201")
                    .parse()
                    .expect("numeric Upload-Offset");
                break (url, video, offset);
            }
            Err(_) => {
                failed_requests += 1;
                backoff(attempt).await;
                attempt += 1;
            }
        }
    };
    assert_eq!(offset, 0, "upload {index}: fresh upload not at offset 0");
    let mut acked = vec![offset];
    let mut patches = 0;
    let mut need_head = false;
    let mut attempt = 0;
    loop {
        check_deadline("uploading");
        if need_head {
            let r = http
                .head(&url)
                .bearer_auth(&token)
                .header("Tus-Resumable", "1.0.0")
                .send()
                .await;
            match r {
                Ok(r) if r.status() == 200 => {
                    offset = header(&r, "upload-offset")
                        .expect("Upload-Offset on HEAD")
                        .parse()
                        .expect("numeric Upload-Offset");
                    assert!(
                        offset <= len,
                        "upload {index}: HEAD offset {offset} > {len}"
                    );
                    ack(index, &mut acked, offset, "HEAD");
                    need_head = false;
                    attempt = 0;
                }
                Ok(r) => panic!(
                    "upload {index}: HEAD {url} answered {} after a server crash \
                     (last acknowledged offset {:?})",
                    r.status(),
                    acked.last()
                ),
                Err(_) => {
                    failed_requests += 1;
                    backoff(attempt).await;
                    attempt += 1;
                    continue;
                }
            }
        }
        if offset == len {
            break;
        }
        let want = rng.random_range(256 * 1024..=1024 * 1024) as u64;
        let end = (offset + want).min(len);
        if end == len {
            // Keep the last chunk back until the killer did its minimum, so that every run
            // really has MIN_KILLS kills while uploads are unfinished.
            while kills.load(Ordering::SeqCst) < MIN_KILLS {
                check_deadline("waiting for kills");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let chunk = job.data.slice(offset as usize..end as usize);
        // The body trickles in PIECE by PIECE, so that kills land mid-body.
        let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(
            (chunk.clone(), 0usize),
            |(chunk, at)| async move {
                if at >= chunk.len() {
                    return None;
                }
                if at > 0 {
                    tokio::time::sleep(PIECE_PAUSE).await;
                }
                let end = (at + PIECE).min(chunk.len());
                Some((Ok::<_, std::io::Error>(chunk.slice(at..end)), (chunk, end)))
            },
        ));
        patches += 1;
        let r = http
            .patch(&url)
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .header("Content-Length", chunk.len().to_string())
            .body(body)
            .send()
            .await;
        match r {
            Ok(r) if r.status() == 204 => {
                let new: u64 = header(&r, "upload-offset")
                    .expect("Upload-Offset on 204")
                    .parse()
                    .expect("numeric Upload-Offset");
                assert_eq!(
                    new, end,
                    "upload {index}: PATCH {offset}..{end} acknowledged {new}"
                );
                ack(index, &mut acked, new, "PATCH");
                offset = new;
                attempt = 0;
            }
            Ok(r) if r.status() == 423 => {
                // A PATCH of ours still in flight on the server; wait and look again.
                failed_requests += 1;
                need_head = true;
                backoff(attempt).await;
                attempt += 1;
            }
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                panic!(
                    "upload {index}: PATCH at offset {offset} ({} bytes{}) of {len} answered \
                     {status}: {body} (history: {acked:?})",
                    chunk.len(),
                    if end == len { ", the last ones" } else { "" },
                );
            }
            Err(_) => {
                failed_requests += 1;
                need_head = true;
                backoff(attempt).await;
                attempt += 1;
            }
        }
    }
    Done {
        index,
        video_id,
        acked,
        patches,
        failed_requests,
    }
}

/// The two engines' runs take turns: each alone keeps two cores busy.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn crash_test(engine: Engine) {
    let _turn = SERIAL.lock().await;
    let db = TestDb::for_server(engine).await;
    let mut server = Server::start_with(db.as_ref().map(|d| d.url.as_str()), &[]).await;
    let token = server.user_add("crasher");

    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_c0ff_ee00 + engine as u64);
    let jobs: Vec<Job> = (0..UPLOADS)
        .map(|index| {
            let len = rng.random_range(1 << 20..=12 << 20) + rng.random_range(0..4096);
            let data = Bytes::from(support::random_bytes(1000 + index as u64, len));
            let blake3 = support::blake3_hex(&data);
            Job {
                index,
                data,
                blake3,
                announce: index % 2 == 0,
                seed: 2000 + index as u64,
            }
        })
        .collect();
    let expected: Vec<(String, Bytes)> = jobs
        .iter()
        .map(|j| (j.blake3.clone(), j.data.clone()))
        .collect();

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(2))
        .build()
        .expect("http client");
    let kills = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();

    let tasks: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            tokio::spawn(upload(
                http.clone(),
                server.base.clone(),
                token.clone(),
                job,
                kills.clone(),
            ))
        })
        .collect();

    let killer = {
        let kills = kills.clone();
        let stop = stop.clone();
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x0c0f_fee5 + engine as u64);
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let wait = rng.random_range(150..=700);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                server.kill9();
                kills.fetch_add(1, Ordering::SeqCst);
                server.restart().await;
            }
            server
        })
    };

    let mut done = Vec::new();
    let mut panics = Vec::new();
    for t in tasks {
        match t.await {
            Ok(d) => done.push(d),
            Err(e) => panics.push(e),
        }
    }
    stop.store(true, Ordering::SeqCst);
    let server = killer.await.expect("killer task");
    let elapsed = started.elapsed();
    if let Some(e) = panics.into_iter().next() {
        // Re-raise the first failure, with the server log.
        eprintln!("{}", server.log_tail());
        std::panic::resume_unwind(e.into_panic());
    }

    let kills = kills.load(Ordering::SeqCst);
    let patches: u32 = done.iter().map(|d| d.patches).sum();
    let failed: u32 = done.iter().map(|d| d.failed_requests).sum();
    eprintln!(
        "{engine:?}: {UPLOADS} uploads, {kills} kills, {} server starts, {patches} PATCHes, \
         {failed} failed requests, {elapsed:?}",
        server.starts
    );
    assert!(kills >= MIN_KILLS, "only {kills} kills");

    for d in &done {
        let (blake3, data) = &expected[d.index];
        assert_eq!(*d.acked.last().unwrap(), data.len() as u64);
        assert!(d.acked.windows(2).all(|w| w[0] <= w[1]), "{:?}", d.acked);
        support::assert_uploaded(&server, &token, &d.video_id, blake3, data.len() as u64).await;
    }
    server.assert_healthy().await;
    drop(server);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_survive_sigkill_sqlite() {
    crash_test(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_survive_sigkill_mariadb() {
    crash_test(Engine::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_survive_sigkill_postgres() {
    crash_test(Engine::Postgres).await;
}

/// Many uploads of one user completing at the same moment (no kills): every last PATCH must
/// succeed and every video end up `uploaded`.
async fn concurrent_completions(engine: Engine) {
    let _turn = SERIAL.lock().await;
    let db = TestDb::for_server(engine).await;
    let server = Server::start_with(db.as_ref().map(|d| d.url.as_str()), &[]).await;
    let token = server.user_add("racer");
    let http = support::client();
    const N: usize = 20;
    const LEN: usize = 300 * 1024;
    let mut uploads = Vec::new();
    for i in 0..N {
        let data = Bytes::from(support::random_bytes(7000 + i as u64, LEN));
        let blake3 = support::blake3_hex(&data);
        let name = format!("race-{i}.bin");
        let mut meta = vec![("filename", name.as_str())];
        if i % 2 == 0 {
            meta.push(("blake3", blake3.as_str()));
        }
        let r = http
            .post(server.uploads_url())
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", LEN.to_string())
            .header("Upload-Metadata", tus_metadata(&meta))
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 201);
        let url = header(&r, "location").expect("Location");
        let video = header(&r, "spool-video-id").expect("Spool-Video-Id");
        let r = http
            .patch(&url)
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", "0")
            .header("Content-Type", "application/offset+octet-stream")
            .body(data.slice(..LEN - 1))
            .send()
            .await
            .expect("PATCH");
        assert_eq!(r.status(), 204);
        uploads.push((url, video, blake3, data));
    }
    let last: Vec<_> = uploads
        .iter()
        .map(|(url, _, _, data)| {
            http.patch(url)
                .bearer_auth(&token)
                .header("Tus-Resumable", "1.0.0")
                .header("Upload-Offset", (LEN - 1).to_string())
                .header("Content-Type", "application/offset+octet-stream")
                .body(data.slice(LEN - 1..))
                .send()
        })
        .collect();
    let answers = futures_util::future::join_all(last).await;
    let mut failures = Vec::new();
    for (i, a) in answers.into_iter().enumerate() {
        let a = a.expect("last PATCH");
        let status = a.status();
        if status != 204 {
            let body = a.text().await.unwrap_or_default();
            // What a client sees afterwards.
            let (url, video, _, _) = &uploads[i];
            let head = http
                .head(url)
                .bearer_auth(&token)
                .header("Tus-Resumable", "1.0.0")
                .send()
                .await
                .expect("HEAD");
            let v = server.video(&token, video).await;
            failures.push(format!(
                "upload {i}: {status} {body}; then HEAD says {} Upload-Offset {:?} of {LEN}, \
                 video status {}",
                head.status(),
                header(&head, "upload-offset"),
                v["status"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {N} concurrent completing PATCHes failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for (_, video, blake3, data) in &uploads {
        support::assert_uploaded(&server, &token, video, blake3, data.len() as u64).await;
    }
    drop(server);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_completions_sqlite() {
    concurrent_completions(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_completions_mariadb() {
    concurrent_completions(Engine::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_completions_postgres() {
    concurrent_completions(Engine::Postgres).await;
}
