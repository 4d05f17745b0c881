//! Spool's configuration, layered: built-in defaults, then `spool.toml` (or `--config FILE`),
//! then `SPOOL__SECTION__KEY` environment variables, then command-line flags.
//!
//! Secrets may be given as files: `database.url_file` is read when `database.url` is empty, so a
//! password never needs to sit in the environment or the main config file.
//!
//! Architecture Invariant: configuration never knows the store, the disk layout or HTTP; it
//! only produces checked values, and an unknown key is never silently ignored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use spool_model::Visibility;

/// Why the configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A layer had a bad value or the file could not be parsed.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    /// The explicitly named config file does not exist.
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    /// A `*_file` secret could not be read.
    #[error("cannot read secret file {path}: {source}")]
    SecretFile {
        /// The file named in the config.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    OutOfRange(String),
}

/// The whole configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where Spool keeps its data and how it listens.
    pub server: ServerConfig,
    /// The metadata database.
    pub database: DatabaseConfig,
    /// Resumable uploads.
    pub upload: UploadConfig,
    /// The media pipeline: probing limits, the ladder, segments, thumbnails.
    pub media: MediaConfig,
    /// Durable job workers.
    pub jobs: JobsConfig,
    /// Playback serving: CDN base URL, signed URLs.
    pub playback: PlaybackConfig,
    /// The browser app and its sessions.
    pub web: WebConfig,
    /// Event tracking (埋点): ingestion limits and the event log.
    pub events: EventsConfig,
    /// `[live]`
    pub live: LiveConfig,
    /// Danmaku, comments, Q&A: their limits.
    pub interact: InteractConfig,
    /// The notification hub: in this process, or shared by several nodes.
    pub hub: HubConfig,
    /// Hash lists, frame hashing, reports.
    pub moderation: ModerationConfig,
    /// Where blobs, partial uploads and published media live.
    pub storage: StorageConfig,
}

/// What one `spool serve` process runs (`server.role`, `--role`). Several processes with
/// different roles share one database, storage, event log and hub.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The HTTP API, the web app and playback; no job runners, no RTMP ingest.
    Api,
    /// Media-pipeline job runners only; no HTTP listener.
    Worker,
    /// RTMP ingest, live packaging and recording, and the HTTP API beside it (LL-HLS is
    /// served by the node holding the room); no job runners.
    Live,
    /// Everything in one process (the default).
    #[default]
    All,
}

impl Role {
    /// Serves HTTP.
    pub fn serves_http(self) -> bool {
        !matches!(self, Self::Worker)
    }

    /// Runs media-pipeline job runners.
    pub fn runs_jobs(self) -> bool {
        matches!(self, Self::Worker | Self::All)
    }

    /// Takes RTMP publishers and owns the broadcasts on air.
    pub fn runs_live(self) -> bool {
        matches!(self, Self::Live | Self::All)
    }
}

/// `[storage]`
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Where blobs, partial uploads and media live: empty for the data dir, or a directory
    /// every node mounts (`file:///srv/spool-media` or a plain absolute path) when several
    /// processes share the work. The node's own state (SQLite, event log, search index,
    /// checkpoints) stays in the data dir.
    pub url: String,
}

/// `[moderation]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModerationConfig {
    /// Hash every video's frames (1 per second) and match them against the PDQ lists.
    pub hash_frames: bool,
    /// Distinct users reporting one video that hold it for review (0: reports never hold).
    pub report_hold: u32,
    /// Seconds between checks for lists changed by another node or the CLI.
    pub reload_s: u64,
}

impl Default for ModerationConfig {
    fn default() -> Self {
        Self {
            hash_frames: true,
            report_hold: 3,
            reload_s: 10,
        }
    }
}

/// `[interact]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct InteractConfig {
    /// Longest danmaku, in characters.
    pub danmaku_max_chars: usize,
    /// Messages (danmaku, questions) one user may send within `user_window_ms`; past it the
    /// sender is refused with 429 and muted for `flood_mute_s`.
    pub user_burst: u32,
    /// The window of `user_burst`, in milliseconds.
    pub user_window_ms: u64,
    /// Seconds a flooding sender stays muted.
    pub flood_mute_s: u64,
    /// Messages one room or video takes per second from all its senders; past it, 429.
    pub room_per_second: u32,
    /// Most danmaku a 6-minute slice of a video returns (the highest-weighted).
    pub slice_cap: u32,
    /// Milliseconds a viewer's deliveries are gathered into one frame.
    pub tick_ms: u64,
}

impl Default for InteractConfig {
    fn default() -> Self {
        Self {
            danmaku_max_chars: 100,
            user_burst: 3,
            user_window_ms: 2000,
            flood_mute_s: 10,
            room_per_second: 500,
            slice_cap: 3000,
            tick_ms: 50,
        }
    }
}

/// `[hub]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HubConfig {
    /// "" for this process only, or a NATS server shared by the nodes, e.g.
    /// `nats://127.0.0.1:4222`: notifications and chat go over its core subjects.
    pub nats_url: String,
    /// Subjects are `<subject_prefix>.<topic>`: nodes that share rooms use the same prefix;
    /// two deployments on one NATS server use different ones.
    pub subject_prefix: String,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            nats_url: String::new(),
            subject_prefix: "spool".into(),
        }
    }
}

/// `[server]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address `spool serve` listens on.
    pub listen: SocketAddr,
    /// What this process runs: `all` (default), `api`, `worker` or `live`.
    pub role: Role,
    /// Data directory: SQLite database, blobs, partial uploads.
    pub data_dir: PathBuf,
    /// Public base URL (e.g. `https://video.example.com`) used in `Location` headers and
    /// links; empty means "derive from the request's Host header".
    pub public_url: String,
    /// Log as JSON lines instead of human-readable text.
    pub log_json: bool,
    /// Seconds to wait for in-flight requests after SIGTERM/Ctrl-C before exiting.
    pub shutdown_grace_s: u64,
    /// A connection's first byte and each request's line and headers must arrive within this
    /// many seconds, else the connection is closed (slow-header clients; idle keep-alive).
    pub header_read_timeout_s: u64,
    /// A request body that delivers no bytes for this many seconds is cut; one that keeps
    /// flowing, however slowly, is not (tus PATCH bodies keep working).
    pub body_timeout_s: u64,
    /// Open connections allowed from one IP address; more are closed when accepted.
    pub max_connections_per_address: usize,
    /// Serve `/metrics` to anyone on this address (off the main listener); unset: only on the
    /// main listener, and only to admins (an admin's bearer token).
    pub metrics_listen: Option<SocketAddr>,
}

/// `[database]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH`, `mysql://user:pass@host:port/db` or `postgres://user:pass@host:port/db`;
    /// empty means SQLite in the data dir.
    pub url: String,
    /// A file holding the URL (for secrets); read when `url` is empty.
    pub url_file: Option<PathBuf>,
    /// Connection pool size.
    pub max_connections: u32,
}

/// `[upload]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// Largest upload accepted, in bytes (`Tus-Max-Size`).
    pub max_size_bytes: u64,
    /// Unfinished uploads expire this many seconds after their last write.
    pub expire_after_s: u64,
    /// How often the sweep reclaims expired uploads, in seconds.
    pub sweep_interval_s: u64,
    /// Bytes each user may store (finished videos plus reserved unfinished uploads); 0 = unlimited.
    pub user_quota_bytes: u64,
    /// Visibility of a new video when the upload does not say.
    pub default_visibility: Visibility,
    /// During one long PATCH, fsync and acknowledge progress every this many bytes, so a crash
    /// loses at most this much of the request.
    pub commit_every_bytes: u64,
}

/// `[media]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// The ffmpeg executable (a name looked up in `PATH`, or a path).
    pub ffmpeg: PathBuf,
    /// The ffprobe executable.
    pub ffprobe: PathBuf,
    /// Most ffmpeg/ffprobe processes running at once in this process (at least 1).
    pub max_processes: usize,
    /// Most streaming processes (fed through stdin, read through stdout: live transcoding)
    /// running at once in this process, in a pool of their own beside `max_processes`.
    pub max_streaming_processes: usize,
    /// Seconds a streaming process may go without progress before it is killed.
    pub stream_stall_timeout_s: u64,
    /// Seconds an ffprobe run may take before it is killed.
    pub probe_timeout_s: u64,
    /// Seconds one transcoding pass may take before it is killed.
    pub transcode_timeout_s: u64,
    /// Bytes ffprobe may read to identify the streams (`-probesize`).
    pub probe_size_bytes: u64,
    /// Largest accepted frame, long side x short side in pixels (default 7680x4320).
    pub max_width: u32,
    /// See `max_width`.
    pub max_height: u32,
    /// Longest accepted source, in seconds.
    pub max_duration_s: u64,
    /// Most streams a source may have.
    pub max_streams: u32,
    /// Highest accepted source frame rate (frames per second).
    pub max_source_fps: f64,
    /// Highest output frame rate; faster sources are converted down.
    pub max_output_fps: f64,
    /// The ladder: rung heights (short side for portrait sources), highest first.
    pub ladder: Vec<u32>,
    /// Target segment duration in seconds (keyframes are forced at every boundary).
    pub segment_s: u32,
    /// x264 preset (ultrafast ... veryslow).
    pub preset: String,
    /// Publish the low rungs first, in their own quick pass, so the video is playable before
    /// the high rungs exist.
    pub progressive: bool,
    /// Highest rung (short side) of the quick first pass when `progressive` is on.
    pub quick_max_height: u32,
    /// Seconds between storyboard thumbnails.
    pub storyboard_interval_s: u32,
    /// Largest custom cover upload, in bytes.
    pub max_cover_bytes: u64,
}

/// `[jobs]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Job runners `spool serve` runs in-process (0 = none: run `spool worker` instead).
    pub workers: usize,
    /// Seconds a claimed job's lease lasts; renewed while the job runs.
    pub lease_s: u64,
    /// Seconds between worker heartbeats.
    pub heartbeat_s: u64,
    /// Runs before a failing job goes dead.
    pub max_attempts: u32,
}

/// `[web]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// The built web app (`npm --prefix web run build` writes `web/dist`); relative paths are
    /// relative to the working directory.
    pub dir: PathBuf,
    /// Mark the session cookie `Secure`. Browsers accept Secure cookies over plain HTTP only
    /// from localhost; turn this off only to try Spool over plain HTTP from another machine.
    pub secure_cookies: bool,
    /// Seconds a browser session lasts after sign-in.
    pub session_ttl_s: u64,
    /// Failed sign-ins for one user name (or from one address, times four) before further
    /// attempts are refused for a growing while.
    pub max_failed_logins: u32,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("web/dist"),
            secure_cookies: true,
            session_ttl_s: 30 * 24 * 3600,
            max_failed_logins: 5,
        }
    }
}

/// `[events]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Tracking events one client address may send per second, sustained; 0 turns the limit off.
    pub rate_limit_per_s: u32,
    /// Events one client address may send at once above the sustained rate (a page flushing
    /// its queue).
    pub rate_limit_burst: u32,
    /// Seconds an `event_id` is remembered at ingestion, so a retried batch is not appended
    /// twice (consumers still deduplicate: delivery is at least once).
    pub dedup_window_s: u64,
    /// Days the event log keeps events.
    pub retention_days: u64,
    /// Bytes the event log keeps at most (the oldest go first); 0 for no size limit.
    pub retention_bytes: u64,
    /// Where events are logged: empty for the embedded log in `<data_dir>/events`, or a NATS
    /// JetStream server (`nats://host:4222`) shared by several nodes.
    pub log_url: String,
    /// The JetStream stream (with `log_url`).
    pub nats_stream: String,
    /// Views one sender address (IPv4, or IPv6 /64) adds to one video per hour at most,
    /// however many anonymous ids it makes up; 0 for no cap.
    pub views_per_address_hour: u32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            rate_limit_per_s: 200,
            rate_limit_burst: 2000,
            dedup_window_s: 600,
            retention_days: 7,
            retention_bytes: 0,
            log_url: String::new(),
            nats_stream: "SPOOL_EVENTS".into(),
            views_per_address_hour: 50,
        }
    }
}

/// `[live]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// Where RTMP publishers (OBS, ffmpeg) connect (`--rtmp-listen`).
    pub rtmp_listen: SocketAddr,
    /// The RTMP URL publishers are told, e.g. `rtmp://live.example.com/live`; empty means
    /// `rtmp://<rtmp_listen>/live`.
    pub rtmp_public_url: String,
    /// Seconds a publisher that dropped may take to reconnect and continue the same broadcast.
    pub reconnect_grace_s: u64,
    /// Seconds a publisher may send nothing (or only its handshake) before it is dropped.
    pub idle_timeout_s: u64,
    /// Longest LL-HLS part, in milliseconds (the playlist's PART-TARGET).
    pub part_target_ms: u64,
    /// Shortest segment, in milliseconds: a segment closes at the first keyframe after it.
    pub segment_target_ms: u64,
    /// Seconds viewers can seek back while a broadcast is live.
    pub dvr_window_s: u64,
    /// Heights of the lower rungs encoded live beside the passed-through source (one ffmpeg
    /// per room; only rungs below the source's height); empty: the source only.
    pub ladder: Vec<u32>,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            rtmp_listen: SocketAddr::from(([127, 0, 0, 1], 1935)),
            rtmp_public_url: String::new(),
            reconnect_grace_s: 30,
            idle_timeout_s: 10,
            part_target_ms: 250,
            segment_target_ms: 1000,
            dvr_window_s: 2 * 3600,
            ladder: vec![480, 360],
        }
    }
}

/// `[playback]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PlaybackConfig {
    /// Base URL of the CDN (or any proxy) in front of `/media/...`, e.g.
    /// `https://cdn.example.com`; empty means the server's own public URL.
    pub media_base_url: String,
    /// Key for signing private media URLs (HMAC-SHA256); empty means a random key generated
    /// once and kept in `<storage_dir>/url-signing.key`. Every node serving media needs the same.
    pub signing_key: String,
    /// A file holding the signing key, read when `signing_key` is empty.
    pub signing_key_file: Option<PathBuf>,
    /// Seconds a signed URL stays valid.
    pub signed_url_ttl_s: u64,
    /// Bytes of hot media files (segments, playlists, images) `spool serve` keeps in memory.
    pub file_cache_bytes: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            ffmpeg: PathBuf::from("ffmpeg"),
            ffprobe: PathBuf::from("ffprobe"),
            max_processes: 2,
            max_streaming_processes: 8,
            stream_stall_timeout_s: 10,
            probe_timeout_s: 30,
            transcode_timeout_s: 6 * 3600,
            probe_size_bytes: 50_000_000,
            max_width: 7680,
            max_height: 4320,
            max_duration_s: 12 * 3600,
            max_streams: 16,
            max_source_fps: 240.0,
            max_output_fps: 60.0,
            ladder: vec![1080, 720, 480, 360, 240],
            segment_s: 4,
            preset: "veryfast".into(),
            progressive: true,
            quick_max_height: 360,
            storyboard_interval_s: 2,
            max_cover_bytes: 10 << 20,
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            lease_s: 60,
            heartbeat_s: 5,
            max_attempts: 5,
        }
    }
}

impl Default for PlaybackConfig {
    fn default() -> Self {
        Self {
            media_base_url: String::new(),
            signing_key: String::new(),
            signing_key_file: None,
            signed_url_ttl_s: 6 * 3600,
            file_cache_bytes: 256 << 20,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            role: Role::All,
            data_dir: PathBuf::from("./data"),
            public_url: String::new(),
            log_json: false,
            shutdown_grace_s: 30,
            header_read_timeout_s: 10,
            body_timeout_s: 30,
            max_connections_per_address: 64,
            metrics_listen: None,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            url_file: None,
            max_connections: 16,
        }
    }
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            max_size_bytes: 64 << 30,
            expire_after_s: 7 * 24 * 3600,
            sweep_interval_s: 600,
            user_quota_bytes: 1 << 40,
            default_visibility: Visibility::Public,
            commit_every_bytes: 64 << 20,
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers in charge.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Overrides {
    /// `--data DIR`
    pub data_dir: Option<PathBuf>,
    /// `--database URL`
    pub database_url: Option<String>,
    /// `--listen ADDR`
    pub listen: Option<SocketAddr>,
    /// `--log-json`
    pub log_json: Option<bool>,
    /// `--events URL`
    pub events_log_url: Option<String>,
    /// `--rtmp-listen ADDR`
    pub rtmp_listen: Option<SocketAddr>,
    /// `--hub URL`
    pub hub_nats_url: Option<String>,
    /// `--role ROLE`
    pub role: Option<Role>,
    /// `--storage URL`
    pub storage_url: Option<String>,
}

impl Config {
    /// Builds the configuration from every layer. `file` is `--config FILE`; without it
    /// `./spool.toml` is read when present.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.to_owned())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("spool.toml").exists() => {
                figment = figment.merge(Toml::file_exact("spool.toml"))
            }
            None => {}
        }
        figment = figment.merge(Env::prefixed("SPOOL__").split("__"));
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(Serialized::default("server.data_dir", dir));
        }
        if let Some(url) = &overrides.database_url {
            figment = figment.merge(Serialized::default("database.url", url));
        }
        if let Some(listen) = overrides.listen {
            figment = figment.merge(Serialized::default("server.listen", listen.to_string()));
        }
        if let Some(rtmp) = overrides.rtmp_listen {
            figment = figment.merge(Serialized::default("live.rtmp_listen", rtmp.to_string()));
        }
        if let Some(url) = &overrides.hub_nats_url {
            figment = figment.merge(Serialized::default("hub.nats_url", url));
        }
        if let Some(url) = &overrides.events_log_url {
            figment = figment.merge(Serialized::default("events.log_url", url));
        }
        if let Some(role) = overrides.role {
            figment = figment.merge(Serialized::default("server.role", role));
        }
        if let Some(url) = &overrides.storage_url {
            figment = figment.merge(Serialized::default("storage.url", url));
        }
        if let Some(json) = overrides.log_json {
            figment = figment.merge(Serialized::default("server.log_json", json));
        }
        let mut config: Config = figment.extract().map_err(Box::new)?;
        config.resolve_secrets()?;
        config.validate()?;
        Ok(config)
    }

    fn resolve_secrets(&mut self) -> Result<(), ConfigError> {
        resolve_secret(&mut self.database.url, self.database.url_file.as_deref())?;
        resolve_secret(
            &mut self.playback.signing_key,
            self.playback.signing_key_file.as_deref(),
        )
    }

    fn validate(&self) -> Result<(), ConfigError> {
        storage_dir(&self.storage.url, &self.server.data_dir)?;
        let chat = &self.interact;
        if !(1..=2000).contains(&chat.danmaku_max_chars)
            || chat.user_burst == 0
            || chat.user_window_ms == 0
            || chat.room_per_second == 0
            || !(1..=100_000).contains(&chat.slice_cap)
            || !(10..=1000).contains(&chat.tick_ms)
        {
            return Err(ConfigError::OutOfRange(
                "interact: danmaku_max_chars 1-2000, user_burst, user_window_ms and \
                 room_per_second at least 1, slice_cap 1-100000, tick_ms 10-1000"
                    .into(),
            ));
        }
        let live = &self.live;
        if !(100..=2000).contains(&live.part_target_ms)
            || !(live.part_target_ms..=10_000).contains(&live.segment_target_ms)
        {
            return Err(ConfigError::OutOfRange(
                "live.part_target_ms must be 100 to 2000 and live.segment_target_ms from it to 10000"
                    .into(),
            ));
        }
        if live.ladder.len() > 4
            || live
                .ladder
                .iter()
                .any(|h| !(144..=2160).contains(h) || h % 2 != 0)
        {
            return Err(ConfigError::OutOfRange(
                "live.ladder takes at most 4 even heights from 144 to 2160".into(),
            ));
        }
        if self.upload.commit_every_bytes < 1 << 20 {
            return Err(ConfigError::OutOfRange(
                "upload.commit_every_bytes must be at least 1 MiB".into(),
            ));
        }
        let media = &self.media;
        if media.max_processes == 0 {
            return Err(ConfigError::OutOfRange(
                "media.max_processes must be at least 1".into(),
            ));
        }
        if media.ladder.is_empty() || media.ladder.iter().any(|&h| !(16..=4320).contains(&h)) {
            return Err(ConfigError::OutOfRange(
                "media.ladder must list rung heights between 16 and 4320".into(),
            ));
        }
        if !(1..=60).contains(&media.segment_s) {
            return Err(ConfigError::OutOfRange(
                "media.segment_s must be 1 to 60 seconds".into(),
            ));
        }
        if !(media.max_output_fps >= 1.0 && media.max_source_fps >= media.max_output_fps) {
            return Err(ConfigError::OutOfRange(
                "media.max_output_fps must be at least 1 and at most media.max_source_fps".into(),
            ));
        }
        const PRESETS: [&str; 9] = [
            "ultrafast",
            "superfast",
            "veryfast",
            "faster",
            "fast",
            "medium",
            "slow",
            "slower",
            "veryslow",
        ];
        if !PRESETS.contains(&media.preset.as_str()) {
            return Err(ConfigError::OutOfRange(format!(
                "media.preset must be one of {}",
                PRESETS.join(", ")
            )));
        }
        if media.storyboard_interval_s == 0 {
            return Err(ConfigError::OutOfRange(
                "media.storyboard_interval_s must be at least 1".into(),
            ));
        }
        if self.jobs.max_attempts == 0 || self.jobs.lease_s < 3 || self.jobs.heartbeat_s == 0 {
            return Err(ConfigError::OutOfRange(
                "jobs.max_attempts and jobs.heartbeat_s must be at least 1, jobs.lease_s at least 3"
                    .into(),
            ));
        }
        if self.web.session_ttl_s < 60 || self.web.max_failed_logins == 0 {
            return Err(ConfigError::OutOfRange(
                "web.session_ttl_s must be at least 60 and web.max_failed_logins at least 1".into(),
            ));
        }
        let events = &self.events;
        // The largest batch (1000 events) must be able to pass a full bucket.
        if events.rate_limit_per_s > 0
            && events.rate_limit_burst < events.rate_limit_per_s.max(1000)
        {
            return Err(ConfigError::OutOfRange(
                "events.rate_limit_burst must be at least 1000 and at least events.rate_limit_per_s"
                    .into(),
            ));
        }
        if !(events.log_url.is_empty() || events.log_url.starts_with("nats://")) {
            return Err(ConfigError::OutOfRange(
                "events.log_url must be empty (the embedded log) or nats://HOST:PORT".into(),
            ));
        }
        if events.retention_days == 0 {
            return Err(ConfigError::OutOfRange(
                "events.retention_days must be at least 1".into(),
            ));
        }
        if self.server.max_connections_per_address == 0 {
            return Err(ConfigError::OutOfRange(
                "server.max_connections_per_address must be at least 1".into(),
            ));
        }
        if self.server.header_read_timeout_s == 0 || self.server.body_timeout_s == 0 {
            return Err(ConfigError::OutOfRange(
                "server.header_read_timeout_s and server.body_timeout_s must be at least 1".into(),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::OutOfRange(
                "database.max_connections must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The directory holding blobs, partial uploads and media: `storage.url`, or the data dir.
    /// [`Config::load`] refuses a URL that names no directory; a configuration built by hand
    /// with one falls back to the data dir.
    pub fn storage_dir(&self) -> PathBuf {
        storage_dir(&self.storage.url, &self.server.data_dir)
            .unwrap_or_else(|_| self.server.data_dir.clone())
    }

    /// The database URL to connect to: the configured one, or SQLite in the data dir.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join("spool.db").display()
            )
        } else {
            self.database.url.clone()
        }
    }
}

fn storage_dir(url: &str, data_dir: &Path) -> Result<PathBuf, ConfigError> {
    if url.is_empty() {
        return Ok(data_dir.to_owned());
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    if path.contains("://") {
        return Err(ConfigError::OutOfRange(format!(
            "storage.url `{url}`: only a directory (file:///PATH or an absolute path) is \
             supported; object stores are not yet"
        )));
    }
    if !Path::new(path).is_absolute() {
        return Err(ConfigError::OutOfRange(format!(
            "storage.url `{url}` must be an absolute path"
        )));
    }
    Ok(PathBuf::from(path))
}

/// A secret given as a file (`*_file`): read into `value`, trimmed, unless `value` is set.
fn resolve_secret(value: &mut String, file: Option<&std::path::Path>) -> Result<(), ConfigError> {
    if value.is_empty()
        && let Some(path) = file
    {
        let secret = std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
            path: path.to_owned(),
            source,
        })?;
        *value = secret.trim().to_owned();
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    #[test]
    fn storage_is_the_data_dir_or_an_absolute_directory() {
        let data = Path::new("/var/lib/spool");
        for (url, expect) in [
            ("", Some("/var/lib/spool")),
            ("/mnt/shared", Some("/mnt/shared")),
            ("file:///mnt/shared", Some("/mnt/shared")),
            ("relative/dir", None),
            ("file://relative", None),
            ("s3://bucket/prefix", None),
        ] {
            let got = super::storage_dir(url, data).ok();
            assert_eq!(got.as_deref(), expect.map(Path::new), "{url}");
        }
    }

    #[test]
    fn roles_parse_from_config_and_say_what_runs() {
        for (role, http, jobs, live) in [
            (Role::All, true, true, true),
            (Role::Api, true, false, false),
            (Role::Worker, false, true, false),
            (Role::Live, true, false, true),
        ] {
            assert_eq!(
                (role.serves_http(), role.runs_jobs(), role.runs_live()),
                (http, jobs, live),
                "{role:?}"
            );
        }
        figment::Jail::expect_with(|jail| {
            jail.create_file("spool.toml", "[server]\nrole = \"worker\"\n")?;
            assert_eq!(
                Config::load(None, &Overrides::default())
                    .unwrap()
                    .server
                    .role,
                Role::Worker
            );
            jail.create_file("spool.toml", "[server]\nrole = \"janitor\"\n")?;
            assert!(Config::load(None, &Overrides::default()).is_err());
            Ok(())
        });
    }

    use super::*;

    #[test]
    fn layers_apply_in_order_defaults_file_env_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "spool.toml",
                r#"
                [server]
                listen = "0.0.0.0:9000"
                data_dir = "/from/file"
                [upload]
                expire_after_s = 60
                user_quota_bytes = 5
                "#,
            )?;
            jail.set_env("SPOOL__UPLOAD__USER_QUOTA_BYTES", "7");
            jail.set_env("SPOOL__SERVER__DATA_DIR", "/from/env");
            let flags = Overrides {
                data_dir: Some("/from/flag".into()),
                ..Default::default()
            };
            let config = Config::load(None, &flags).expect("config loads");
            assert_eq!(config.server.listen.to_string(), "0.0.0.0:9000"); // file
            assert_eq!(config.upload.expire_after_s, 60); // file
            assert_eq!(config.upload.user_quota_bytes, 7); // env beats file
            assert_eq!(config.server.data_dir, PathBuf::from("/from/flag")); // flag beats env
            assert_eq!(config.upload.sweep_interval_s, 600); // default
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("spool.toml", "[server]\nlisten_port = 1\n")?;
            assert!(Config::load(None, &Overrides::default()).is_err());
            jail.create_file("spool.toml", "[upload]\ndefault_visibility = \"secret\"\n")?;
            assert!(Config::load(None, &Overrides::default()).is_err());
            Ok(())
        });
    }

    #[test]
    fn database_url_defaults_to_sqlite_in_data_dir_and_reads_secret_files() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None, &Overrides::default()).unwrap();
            assert!(
                config
                    .database_url()
                    .starts_with("sqlite://./data/spool.db")
            );
            jail.create_file("db.secret", "mysql://root:pw@db/spool\n")?;
            jail.set_env("SPOOL__DATABASE__URL_FILE", "db.secret");
            let config = Config::load(None, &Overrides::default()).unwrap();
            assert_eq!(config.database_url(), "mysql://root:pw@db/spool");
            Ok(())
        });
    }

    #[test]
    fn the_reference_spool_toml_states_exactly_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spool.toml");
        let text = std::fs::read_to_string(path).expect("the repository's spool.toml");
        let from_file: Config = toml::from_str(&text).expect("spool.toml parses");
        assert_eq!(from_file, Config::default());
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let err = Config::load(
            Some(Path::new("/nonexistent/spool.toml")),
            &Overrides::default(),
        );
        assert!(matches!(err, Err(ConfigError::MissingFile(_))));
    }
}
