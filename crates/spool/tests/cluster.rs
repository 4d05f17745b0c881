//! Many processes (issue 18): two API nodes (`--role api`) and two workers (`--role worker`)
//! on PostgreSQL, sharing one storage directory and a NATS hub, behind nginx rendered from
//! `deploy/nginx/spool-edge.conf.template` as the CDN edge. A video is uploaded through the
//! edge; the worker transcoding it is SIGKILLed and the job finishes on the other worker, once;
//! hls.js plays it through the edge, whose cache serves the segments the second time. An
//! upload whose API node is SIGKILLed mid-PATCH resumes on the other node.
#![allow(clippy::disallowed_methods)] // runs nginx, ffmpeg and the spool binary

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use spool_metadata::testing::{Engine, TestDb};
use support::{
    BIN, Server, blake3_hex, ffmpegs_with, looped_clip, random_bytes, tus_metadata, wait_for,
};

/// A `spool serve --role worker` process; SIGKILLed on drop.
struct Worker {
    data: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Worker {
    fn start(dir: &Path, name: &str, database: &str, env: &[(&str, String)]) -> Self {
        let data = dir.join(name);
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("worker log");
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--role", "worker", "--data"])
            .arg(&data)
            .args(["--database", database])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone log"))
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn spool serve --role worker");
        Self {
            data,
            log,
            child: Some(child),
        }
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// nginx in front of the API nodes, from the deploy template; stopped on drop.
struct Edge {
    base: String,
    child: Child,
    error_log: PathBuf,
}

impl Edge {
    /// Renders the template for `upstreams` and starts nginx on a free port (tried again on
    /// another port should the one picked be taken in between).
    fn start(dir: &Path, upstreams: &[u16]) -> Self {
        let template = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy/nginx/spool-edge.conf.template");
        let template = std::fs::read_to_string(&template).expect("read the edge template");
        let root = dir.join("edge");
        for sub in ["cache", "temp"] {
            std::fs::create_dir_all(root.join(sub)).expect("edge dirs");
        }
        // As root, nginx hands its workers to "nobody", who cannot enter the 0700 temp dir.
        let user_line = if runs_as_root() {
            "user root root;\n"
        } else {
            ""
        };
        let servers: String = upstreams
            .iter()
            .map(|p| format!("server 127.0.0.1:{p} max_fails=1 fail_timeout=30s; "))
            .collect();
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("pick a port")
                .port();
            let site = template
                .replace("${EDGE_LISTEN}", &format!("127.0.0.1:{port}"))
                .replace(
                    "${EDGE_CACHE_DIR}",
                    &root.join("cache").display().to_string(),
                )
                .replace("${SPOOL_UPSTREAM_SERVERS}", &servers)
                // No live node in this test: the API nodes answer for rooms.
                .replace("${SPOOL_LIVE_SERVERS}", &servers);
            std::fs::write(root.join("spool.conf"), site).expect("write the site");
            let error_log = root.join("error.log");
            let temp = root.join("temp");
            let main = format!(
                "daemon off;\n{user_line}worker_processes 1;\npid {root}/nginx.pid;\n\
                 error_log {log} warn;\nevents {{ worker_connections 512; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {temp}/body;\n\
                 proxy_temp_path {temp}/proxy;\n  fastcgi_temp_path {temp}/fastcgi;\n\
                 uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n\
                 include {root}/spool.conf;\n}}\n",
                root = root.display(),
                log = error_log.display(),
                temp = temp.display(),
            );
            std::fs::write(root.join("nginx.conf"), main).expect("write nginx.conf");
            let mut child = Command::new("nginx")
                .arg("-c")
                .arg(root.join("nginx.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start nginx (scripts/test.sh installs nginx-light)");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Some(status) = child.try_wait().expect("wait for nginx") {
                    last_error = format!(
                        "nginx exited with {status}: {}",
                        std::fs::read_to_string(&error_log).unwrap_or_default()
                    );
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self {
                        base: format!("http://127.0.0.1:{port}"),
                        child,
                        error_log,
                    };
                }
                assert!(Instant::now() < deadline, "nginx did not listen on {port}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when the test runs as root (the owner of its temp dirs is then root).
fn runs_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_nodes_and_two_workers_behind_an_nginx_edge() {
    let db = TestDb::new(Engine::Postgres).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = dir.path().join("shared");
    std::fs::create_dir_all(&storage).unwrap();
    let prefix = format!("spool_cluster_{:08x}", rand::random::<u32>());
    let shared: Vec<(&str, String)> = vec![
        ("SPOOL__STORAGE__URL", storage.display().to_string()),
        ("SPOOL__HUB__NATS_URL", "nats://127.0.0.1:4222".into()),
        ("SPOOL__HUB__SUBJECT_PREFIX", prefix.clone()),
        ("SPOOL__JOBS__LEASE_S", "3".into()),
        ("SPOOL__JOBS__HEARTBEAT_S", "1".into()),
        ("SPOOL__JOBS__WORKERS", "1".into()),
        // Mid-PATCH acknowledgements every MiB, so a killed node has committed some.
        (
            "SPOOL__UPLOAD__COMMIT_EVERY_BYTES",
            (1u64 << 20).to_string(),
        ),
    ];
    let api_env: Vec<(&str, &str)> = shared
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain([("SPOOL__SERVER__ROLE", "api")])
        .collect();
    let mut api1 = Server::start_with(Some(&db.url), &api_env).await;
    let api2 = Server::start_with(Some(&db.url), &api_env).await;
    let mut workers = [
        Worker::start(dir.path(), "worker1", &db.url, &shared),
        Worker::start(dir.path(), "worker2", &db.url, &shared),
    ];
    let edge = Edge::start(dir.path(), &[api1.port, api2.port]);
    let http = support::client();
    let token = api1.user_add("ann");
    let log_files = [
        api1.dir().join("server.log"),
        api2.dir().join("server.log"),
        workers[0].log.clone(),
        workers[1].log.clone(),
        edge.error_log.clone(),
    ];
    let logs = move || tails(&log_files);

    // Neither API node runs a job runner or RTMP ingest; the roles are in their logs.
    for node in [&api1, &api2] {
        assert!(node.log().contains("role Api"), "{}", node.log_tail());
        assert!(
            !node.log().contains("rtmp ingest on"),
            "{}",
            node.log_tail()
        );
    }

    // Upload through the edge with the CLI: a 28 s source, long enough to kill a worker.
    let source = looped_clip(dir.path());
    let out = Command::new(BIN)
        .arg("upload")
        .arg(&source)
        .args(["--server", &edge.base, "--token", &token, "--no-progress"])
        .arg("--state-dir")
        .arg(dir.path().join("client-state"))
        .env_remove("SPOOL_SERVER")
        .env_remove("SPOOL_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run spool upload");
    assert!(
        out.status.success(),
        "upload through the edge: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        logs()
    );
    let video = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    // The worker whose ffmpeg transcodes it (its scratch copy is in its own data dir) dies.
    let victim = wait_for(
        "a worker's ffmpeg",
        Duration::from_secs(120),
        &logs,
        || async {
            workers
                .iter()
                .position(|w| !ffmpegs_with(&w.data.display().to_string()).is_empty())
        },
    )
    .await;
    workers[victim].kill9();
    let survivor = 1 - victim;
    let victim_data = workers[victim].data.display().to_string();
    wait_for(
        "the killed worker's ffmpeg to die",
        Duration::from_secs(10),
        &logs,
        || async { ffmpegs_with(&victim_data).is_empty().then_some(()) },
    )
    .await;

    // The other worker claims the job once the lease lapses and finishes it; the API nodes
    // learn of it through the shared hub or the rows, and answer the same through the edge.
    let ready = wait_for(
        "the video to be ready",
        Duration::from_secs(300),
        &logs,
        || async {
            let r = http
                .get(edge.url(&format!("/api/v1/videos/{video}")))
                .bearer_auth(&token)
                .send()
                .await
                .ok()?;
            let json: serde_json::Value = r.json().await.ok()?;
            assert_ne!(json["status"], "failed", "{json}\n{}", logs());
            (json["status"] == "ready" && json["progress"] == 100).then_some(json)
        },
    )
    .await;
    assert!(
        workers[survivor].child.is_some(),
        "the surviving worker still runs"
    );
    // Every job of the video is done, and the one the killed worker held ran again.
    let jobs = job_states(&db.url, &video).await;
    assert!(
        !jobs.is_empty() && jobs.iter().all(|(_, state, _)| state == "done"),
        "{jobs:?}\n{}",
        logs()
    );
    let attempts: i64 = jobs.iter().map(|(_, _, attempts)| attempts).sum();
    assert!(attempts > jobs.len() as i64, "no job was retried: {jobs:?}");
    // hls.js plays it through the edge; the second read of a segment is a cache hit.
    let hls = ready["hls_url"].as_str().expect("hls_url").to_owned();
    assert!(hls.starts_with(&edge.base), "links name the edge: {hls}");
    support::play_in_chromium(&hls, -1.0, 2.0);
    let master = http.get(&hls).send().await.unwrap().text().await.unwrap();
    let variant = master
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .expect("a variant");
    // Exactly once: the video's directory on the shared storage holds the one published
    // generation and the current cover set, nothing the killed worker left half-written.
    let generation = variant.split('/').next().unwrap();
    let cover = ready["cover_url"].as_str().expect("cover_url");
    let cover_set = cover.rsplit('/').nth(1).unwrap();
    spool_media::testing::assert_only_published(
        &storage.join("media").join(&video),
        generation,
        cover_set,
    );
    let variant_url = join_url(&hls, variant);
    let playlist = http
        .get(&variant_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let segment = playlist
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .expect("a segment");
    let segment_url = join_url(&variant_url, segment);
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let r = http.get(&segment_url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{segment_url}");
        statuses.push(support::header(&r, "x-cache-status").unwrap_or_default());
        r.bytes().await.unwrap();
    }
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("HIT"),
        "{statuses:?}"
    );

    // An upload whose node dies mid-PATCH resumes on the other node.
    let content = random_bytes(18, 12 << 20);
    let created = http
        .post(api1.uploads_url())
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", content.len().to_string())
        .header(
            "upload-metadata",
            tus_metadata(&[("filename", "resume.bin")]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", logs());
    let location = support::header(&created, "location").unwrap();
    let path = location
        .find("/api/v1/uploads/")
        .map(|i| location[i..].to_owned())
        .unwrap();
    // The body goes slowly enough, through a channel, to be cut while it flows.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let patch = http
        .patch(api1.url(&path))
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(body)
        .send();
    let patch = tokio::spawn(patch);
    let first_half = &content[..6 << 20];
    for chunk in first_half.chunks(256 << 10) {
        tx.send(Ok(chunk.to_vec())).await.unwrap();
    }
    let head = |base: String| {
        let http = http.clone();
        let token = token.clone();
        async move {
            let r = http
                .head(base)
                .bearer_auth(&token)
                .header("tus-resumable", "1.0.0")
                .send()
                .await
                .ok()?;
            support::header(&r, "upload-offset")?.parse::<usize>().ok()
        }
    };
    let committed = wait_for(
        "an acknowledged offset on the other node",
        Duration::from_secs(30),
        &logs,
        || {
            let url = api2.url(&path);
            async move { head(url).await.filter(|&o| o >= 2 << 20) }
        },
    )
    .await;
    api1.kill9();
    drop(tx);
    let _ = patch.await;
    let offset = head(api2.url(&path))
        .await
        .expect("offset on the surviving node");
    assert!(
        offset >= committed && offset <= first_half.len(),
        "offset {offset}"
    );
    let rest = http
        .patch(api2.url(&path))
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(content[offset..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 204, "{}", logs());
    assert_eq!(
        support::header(&rest, "upload-offset").as_deref(),
        Some(content.len().to_string().as_str())
    );
    let blob = storage
        .join("blobs")
        .join(&blake3_hex(&content)[..2])
        .join(blake3_hex(&content));
    let stored = std::fs::read(&blob).unwrap_or_else(|e| panic!("blob {blob:?}: {e}"));
    assert!(
        stored == content,
        "the resumed upload's blob holds exactly the bytes sent"
    );
}

/// The last lines of each log, headed by its path.
fn tails(files: &[PathBuf]) -> String {
    let mut out = String::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        out.push_str(&format!(
            "----- {} -----\n{}\n",
            file.display(),
            lines[from..].join("\n")
        ));
    }
    out
}

/// `(kind, state, attempts)` of every job of `video`, read straight from the database.
async fn job_states(url: &str, video: &str) -> Vec<(String, String, i64)> {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let rows = sqlx::query(&spool_metadata::testing::dialect(
        url,
        "SELECT kind, state, attempts FROM jobs WHERE video_id = ? ORDER BY kind",
    ))
    .bind(video)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let _ = conn.close().await;
    rows.iter()
        .map(|r| (r.get("kind"), r.get("state"), r.get("attempts")))
        .collect()
}

/// `reference` resolved against `base` (a playlist's URI lines are relative).
fn join_url(base: &str, reference: &str) -> String {
    if reference.starts_with("http") {
        return reference.to_owned();
    }
    let (dir, _) = base.split('?').next().unwrap().rsplit_once('/').unwrap();
    format!("{dir}/{reference}")
}

/// The receiver as a body stream.
fn tokio_stream_from(
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}
