//! `spool`: one binary for every role and the one composition root. Parses flags, loads config,
//! builds every service, runs the background work in one supervised task set (`tasks`) and
//! dispatches; the logic lives in the library crates.
//!
//! Architecture Invariant: nothing the binary starts is left running unawaited on exit, and no
//! library crate spawns work of its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use spool_config::{Config, Overrides, Role};
use spool_metadata::Store;
use spool_storage::LocalStore;
use spool_upload::UploadService;
use tokio_util::sync::CancellationToken;

use crate::tasks::Tasks;

mod tasks;

/// mimalloc instead of glibc's malloc: event ingestion allocates many small, short-lived
/// values per request, where glibc's allocator showed as a quarter of the profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's options for a server that idles between bursts, as `MIMALLOC_*` variables.
/// By default mimalloc commits its 1 GiB arena eagerly and keeps freed pages for a second,
/// which left an idle server holding ~30 MiB of anonymous memory it no longer used (7 MiB
/// with these; bench/RESULTS.md). The arena is set up by the first allocation, before `main`
/// runs, so the variables must be in the environment when the process starts.
const ALLOCATOR_ENV: [(&str, &str); 2] = [
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
    ("MIMALLOC_PURGE_DELAY", "0"),
];

/// Starts this program again with [`ALLOCATOR_ENV`] when its environment lacks one of them
/// (an operator's own value is kept); returns only when nothing was to be done or the
/// restart could not happen.
#[allow(clippy::disallowed_methods)] // replaces this process with itself; spawns no child
fn with_allocator_env() {
    use std::os::unix::process::CommandExt as _;
    if ALLOCATOR_ENV
        .iter()
        .all(|(name, _)| std::env::var_os(name).is_some())
    {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut again = std::process::Command::new(exe);
    again.args(std::env::args_os().skip(1));
    for (name, value) in ALLOCATOR_ENV {
        if std::env::var_os(name).is_none() {
            again.env(name, value);
        }
    }
    // exec only returns on failure; then run as we are.
    let _ = again.exec();
}

#[derive(Parser)]
#[command(name = "spool", version, about = "Spool: a self-hosted video platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every command that touches the data store.
#[derive(clap::Args, Clone)]
struct StoreArgs {
    /// Config file (default: ./spool.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory: this node's own state (SQLite database, event log, search index), and
    /// blobs, partial uploads and media unless --storage names another place.
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Metadata database URL: sqlite://PATH, mysql://user:pass@host:port/db or
    /// postgres://user:pass@host:port/db.
    #[arg(long, global = true)]
    database: Option<String>,
    /// Where blobs, partial uploads and media live when several processes share them: a
    /// directory every node mounts (`file:///srv/spool-media`); default: the data dir
    /// (`storage.url`).
    #[arg(long, global = true, value_name = "URL")]
    storage: Option<String>,
    /// Log JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
}

/// `--role`, as clap parses it.
#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    All,
    Api,
    Worker,
    Live,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::All => Role::All,
            RoleArg::Api => Role::Api,
            RoleArg::Worker => Role::Worker,
            RoleArg::Live => Role::Live,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform: everything in one process, or one role of a cluster.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// What this process runs: `all`, `api` (HTTP, no job runners, no RTMP), `worker`
        /// (job runners, no HTTP) or `live` (RTMP ingest and HTTP, no job runners);
        /// `server.role`, default all.
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
        /// Address to listen on.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Event log: a NATS JetStream server (`nats://127.0.0.1:4222`) instead of the
        /// embedded log (`events.log_url`).
        #[arg(long, value_name = "URL")]
        events: Option<String>,
        /// Address RTMP publishers connect to (`live.rtmp_listen`, default 127.0.0.1:1935).
        #[arg(long, value_name = "ADDR")]
        rtmp_listen: Option<SocketAddr>,
        /// Share notifications and chat with the other nodes through this NATS server
        /// (`nats://127.0.0.1:4222`; `hub.nats_url`).
        #[arg(long, value_name = "URL")]
        hub: Option<String>,
    },
    /// Run media-pipeline workers only (no HTTP), against the same database and data dir as
    /// `spool serve`; run as many as you like.
    Worker {
        #[command(flatten)]
        store: StoreArgs,
        /// Job runners in this process (default: jobs.workers, at least 1).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Wallets of the gifts ledger.
    Wallet {
        #[command(subcommand)]
        command: WalletCommand,
    },
    /// Upload video files (resumable; prints one video id per file on stdout).
    Upload(spool_client::UploadArgs),
    /// Tracking events.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Hash lists for moderation, and hashing files for them.
    Moderation {
        #[command(subcommand)]
        command: ModerationCommand,
    },
}

#[derive(Subcommand)]
enum ModerationCommand {
    /// Import a hash list file (one `<64 hex digits> [<quality>] [<label>]` per line, as
    /// `spool moderation hash` prints) into a list, all or nothing.
    Import {
        /// The list file.
        file: PathBuf,
        /// The list's name (created when new).
        #[arg(long)]
        list: String,
        /// What the list holds: `pdq` (perceptual hashes) or `blake3` (exact file digests).
        #[arg(long, default_value = "pdq")]
        kind: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print the PDQ hash of each image, or of each video's frames sampled at 1 fps:
    /// `<64 hex digits> <quality> <file>[@<seconds>]`.
    Hash {
        /// Images (JPEG, PNG, WebP) or videos.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Print the live event stream, one JSON line per event (admin token).
    ///
    /// Takes the server and token as `spool upload` does: `--server URL` (or SPOOL_SERVER,
    /// default http://127.0.0.1:8080) and `--token TOKEN` (or SPOOL_TOKEN), an admin's API
    /// token from `spool user add NAME --admin`.
    Tail(spool_client::events::TailArgs),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user and print a new API token on stdout.
    Add {
        /// User name.
        name: String,
        /// Make the user an admin.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum WalletCommand {
    /// Grant coins to a user's wallet (a transfer from the ledger's issuance account) and
    /// print the transfer, the key and the new balance.
    Grant {
        /// User name.
        name: String,
        /// Coins, 1 to 1000000000000.
        #[arg(allow_negative_numbers = true)]
        amount: i64,
        /// Idempotency key: running the command again with the same key grants once (default:
        /// a random key, printed).
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn load_config(args: &StoreArgs, listen: Option<SocketAddr>) -> anyhow::Result<Config> {
    load_config_with(
        args,
        Overrides {
            listen,
            ..Overrides::default()
        },
    )
}

/// The configuration with `args` and the command's own flags (`serve_flags`) on top.
fn load_config_with(args: &StoreArgs, serve_flags: Overrides) -> anyhow::Result<Config> {
    let overrides = Overrides {
        data_dir: args.data.clone(),
        database_url: args.database.clone(),
        storage_url: args.storage.clone(),
        log_json: args.log_json.then_some(true),
        ..serve_flags
    };
    Ok(Config::load(args.config.as_deref(), &overrides)?)
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SPOOL_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn,tantivy=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.server.data_dir).with_context(|| {
        format!(
            "cannot create data dir {}",
            config.server.data_dir.display()
        )
    })?;
    let url = config.database_url();
    Store::connect(&url, config.database.max_connections)
        .await
        .with_context(|| {
            format!(
                "cannot open metadata store {}",
                spool_metadata::redact(&url)
            )
        })
}

fn main() -> std::process::ExitCode {
    with_allocator_env();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot start the tokio runtime")
        .block_on(run())
}

async fn run() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            store,
            role,
            listen,
            events,
            rtmp_listen,
            hub,
        } => {
            let flags = Overrides {
                listen,
                events_log_url: events,
                rtmp_listen,
                hub_nats_url: hub,
                role: role.map(Role::from),
                ..Overrides::default()
            };
            serve(store, flags).await
        }
        Command::Worker { store, workers } => match load_config(&store, None) {
            Ok(config) => worker(config, workers).await,
            Err(e) => Err(e),
        },
        Command::User {
            command: UserCommand::Add { name, admin, store },
        } => user_add(store, &name, admin).await,
        Command::Wallet {
            command:
                WalletCommand::Grant {
                    name,
                    amount,
                    key,
                    store,
                },
        } => wallet_grant(store, &name, amount, key.as_deref()).await,
        Command::Events {
            command: EventsCommand::Tail(args),
        } => {
            init_logging(false);
            return match spool_client::events::run_tail(args).await {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("spool events tail: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        Command::Moderation {
            command:
                ModerationCommand::Import {
                    file,
                    list,
                    kind,
                    store,
                },
        } => moderation_import(store, &file, &list, &kind).await,
        Command::Moderation {
            command: ModerationCommand::Hash { files, store },
        } => moderation_hash(store, &files).await,
        Command::Upload(args) => {
            init_logging(false);
            return match spool_client::run_upload(args).await {
                Ok(_) => std::process::ExitCode::SUCCESS,
                Err(spool_client::ClientError::Interrupted) => std::process::ExitCode::from(130),
                Err(e) => {
                    eprintln!("spool upload: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spool: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn user_add(args: StoreArgs, name: &str, admin: bool) -> anyhow::Result<()> {
    let config = load_config(&args, None)?;
    init_logging(config.server.log_json);
    let store = open_store(&config).await?;
    let user = store.create_user(name, admin).await?;
    let token = store.create_token(user.id).await?;
    store.close().await;
    println!("{token}");
    Ok(())
}

async fn moderation_import(
    args: StoreArgs,
    file: &std::path::Path,
    list: &str,
    kind: &str,
) -> anyhow::Result<()> {
    let config = load_config(&args, None)?;
    init_logging(config.server.log_json);
    let kind: spool_moderation::ListKind = kind.parse().map_err(anyhow::Error::msg)?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read {} as text", file.display()))?;
    let store = open_store(&config).await?;
    let blobs = LocalStore::open(&config.storage_dir())?;
    let moderation = build_moderation(&store, &blobs, &config, &spool_hub::Hub::local()).await;
    let imported = match moderation {
        Ok(moderation) => moderation
            .import("cli", list, kind, &text)
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    store.close().await;
    let imported = imported?;
    println!(
        "list {} ({}): {} imported, {} already there; {} entries; {} videos held",
        imported.list.name,
        imported.list.kind,
        imported.imported,
        imported.duplicates,
        imported.list.entries,
        imported.held.len()
    );
    for video in imported.held {
        println!("held {video}");
    }
    Ok(())
}

/// Hashes images directly and videos through ffmpeg (1 frame per second), printing what
/// `spool moderation import` reads.
async fn moderation_hash(args: StoreArgs, files: &[PathBuf]) -> anyhow::Result<()> {
    use std::io::Write;
    let config = load_config(&args, None)?;
    init_logging(config.server.log_json);
    let processes = spool_media::process::ProcessRunner::new(&config.media);
    let mut failed = 0;
    let mut out = std::io::stdout().lock();
    for file in files {
        let shown = file.display().to_string();
        if let Ok(image) = spool_moderation::pdq::hash_file(file) {
            writeln!(out, "{} {} {shown}", image.hash, image.quality)?;
            continue;
        }
        let path = std::path::absolute(file)?;
        let info = match spool_media::probe::probe(&processes, &path, &config.media).await {
            Ok(info) if info.video.is_some() => info,
            Ok(_) => {
                eprintln!("{shown}: neither an image nor a video with pictures");
                failed += 1;
                continue;
            }
            Err(e) => {
                eprintln!("{shown}: {e}");
                failed += 1;
                continue;
            }
        };
        let mut lines = Vec::new();
        let sampled =
            spool_media::frames::sample(&processes, &path, &info, &config.media, 1, |frame| {
                if let Ok(hash) =
                    spool_moderation::pdq::hash_rgb(frame.width, frame.height, &frame.rgb)
                {
                    lines.push(format!(
                        "{} {} {shown}@{}",
                        hash.hash,
                        hash.quality,
                        frame.at_ms / 1000
                    ));
                }
                true
            })
            .await;
        if let Err(e) = sampled {
            eprintln!("{shown}: {e}");
            failed += 1;
            continue;
        }
        if lines.is_empty() {
            eprintln!("{shown}: too short for one sampled frame");
        }
        for line in lines {
            writeln!(out, "{line}")?;
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} files could not be hashed", files.len());
    }
    Ok(())
}

/// The moderation service over the store, with its lists loaded.
async fn build_moderation(
    store: &Store,
    blobs: &LocalStore,
    config: &Config,
    hub: &spool_hub::Hub,
) -> anyhow::Result<spool_moderation::Moderation> {
    let catalog = spool_catalog::Catalog::new(
        store.clone(),
        hub.clone(),
        blobs.clone(),
        spool_storage::MediaLayout::new(&config.storage_dir()),
    );
    spool_moderation::Moderation::load(
        store.clone(),
        catalog,
        config.moderation.clone(),
        &config.storage_dir(),
    )
    .await
    .context("cannot load the moderation lists")
}

async fn wallet_grant(
    args: StoreArgs,
    name: &str,
    amount: i64,
    key: Option<&str>,
) -> anyhow::Result<()> {
    let config = load_config(&args, None)?;
    init_logging(config.server.log_json);
    let key = match key {
        Some(key) => spool_gifts::IdempotencyKey::parse(Some(key))?,
        None => spool_gifts::IdempotencyKey::random(),
    };
    let store = open_store(&config).await?;
    let granted = spool_gifts::grant(&store, name, amount, &key).await;
    store.close().await;
    let granted = granted?;
    let again = if granted.replayed {
        " (already granted with this key)"
    } else {
        ""
    };
    println!(
        "granted {} coins to {}: balance {}{again}\ntransfer {} key {}",
        granted.amount,
        granted.user,
        granted.balance,
        granted.transfer_id,
        key.as_str()
    );
    Ok(())
}

async fn serve(args: StoreArgs, flags: Overrides) -> anyhow::Result<()> {
    let config = load_config_with(&args, flags)?;
    let role = config.server.role;
    if !role.serves_http() {
        return worker(config, None).await;
    }
    init_logging(config.server.log_json);
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let store = open_store(&config).await?;
    let blobs = LocalStore::open(&config.storage_dir())?;
    let uploads = UploadService::new(store.clone(), blobs.clone(), config.upload.clone());
    uploads
        .recover()
        .await
        .context("crash recovery of uploads failed")?;

    let stop = CancellationToken::new();
    let mut tasks = Tasks::new(stop.clone());
    tasks.spawn("signals", watch_signals(stop.clone()));
    // The composition root: the domain services, then the HTTP layer over them.
    let hub = if config.hub.nats_url.is_empty() {
        spool_hub::Hub::local()
    } else {
        let (hub, bridge) =
            spool_hub::nats::NatsHub::connect(&config.hub.nats_url, &config.hub.subject_prefix)
                .await?;
        tasks.spawn("hub bridge", bridge.run(stop.clone()));
        tracing::info!("hub shared through NATS at {}", config.hub.nats_url);
        hub
    };
    let catalog = spool_catalog::Catalog::new(
        store.clone(),
        hub.clone(),
        blobs.clone(),
        spool_storage::MediaLayout::new(&config.storage_dir()),
    );
    let tracking = Arc::new(spool_events::Tracking::new(
        spool_events::TrackingConfig::from_settings(
            config.server.data_dir.join("events"),
            &config.events,
        ),
        catalog.event_access(),
    ));
    // Only a live node takes publishers; the others still answer the live API from the rows.
    let rtmp_listener = if role.runs_live() {
        Some(
            tokio::net::TcpListener::bind(config.live.rtmp_listen)
                .await
                .with_context(|| {
                    format!("cannot listen for RTMP on {}", config.live.rtmp_listen)
                })?,
        )
    } else {
        None
    };
    let rtmp_addr = rtmp_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let live = spool_live::Live::new(
        store.clone(),
        spool_storage::MediaLayout::new(&config.storage_dir()),
        spool_media::process::ProcessRunner::new(&config.media),
        spool_live::LiveSettings::from_config(&config.live, rtmp_addr),
    );
    // Live viewing's tracking events count a room's viewers.
    let counted = live.clone();
    tracking.ingestion().observe(Box::new(
        move |event: &spool_events::tracking::TrackedEvent| {
            if let Some(room) = event.properties.get("room_id").and_then(|r| r.as_str()) {
                let viewer = event.user.as_deref().or(event.anonymous_id.as_deref());
                counted.saw_playing(room, viewer_key(viewer.unwrap_or(&event.session_id)));
            }
        },
    ));
    // Broadcasts left on air belong to the live node: an API node must not end another
    // node's broadcasts when it starts.
    if role.runs_live() {
        live.recover()
            .await
            .context("finishing the broadcasts the last run left on air failed")?;
    }
    let recommender = spool_recommend::Recommender::new(
        store.clone(),
        hub.clone(),
        spool_recommend::RecommendConfig::default(),
    );
    let search = spool_search::Search::open(
        config.server.data_dir.join("search"),
        store.clone(),
        hub.clone(),
    )
    .context("cannot open the search index")?;
    let interact = spool_interact::Interact::new(
        store.clone(),
        catalog.clone(),
        hub.clone(),
        Some(tracking.clone()),
        config.interact.clone(),
    );
    // Danmaku queued when it stops are still written.
    tasks.spawn("danmaku writer", interact.clone().run(stop.clone()));
    let comments = spool_interact::Comments::new(
        store.clone(),
        catalog.clone(),
        hub.clone(),
        tracking.clone(),
    )
    .with_keywords(interact.keywords());
    let follows = spool_interact::Follows::new(store.clone(), tracking.clone());
    let moderation = spool_moderation::Moderation::load(
        store.clone(),
        catalog.clone(),
        config.moderation.clone(),
        &config.storage_dir(),
    )
    .await
    .context("cannot load the moderation lists")?;
    // Lists another node or the CLI changed are picked up.
    tasks.spawn("moderation lists", moderation.clone().run(stop.clone()));
    // A file on a digest blocklist is refused before it is kept.
    let gate = moderation.digest_gate();
    let uploads = uploads.with_content_gate(Arc::new(move |hash| gate.refuses(hash)));
    let services = spool_api::Services {
        store: store.clone(),
        uploads: uploads.clone(),
        catalog: catalog.clone(),
        tracking: tracking.clone(),
        live: live.clone(),
        recommender: recommender.clone(),
        search: search.clone(),
        hub: hub.clone(),
        interact,
        gifts: spool_gifts::Gifts::new(store.clone(), catalog.clone(), live.clone()),
        comments,
        follows,
        moderation: moderation.clone(),
    };
    let state = spool_api::AppState::new(
        services,
        Arc::new(config.clone()),
        stop.clone(),
        Some(metrics),
    )
    .context("cannot set up playback (URL-signing key)")?;
    // In-process workers tell the catalog's hub about progress directly.
    let in_process_workers = if role.runs_jobs() {
        config.jobs.workers
    } else {
        0
    };
    spawn_workers(
        &mut tasks,
        &store,
        &blobs,
        &config,
        in_process_workers,
        &hub,
        &moderation,
    )?;
    // Buffered view counts are written once more when it stops, before the store closes.
    tasks.spawn("view counts", catalog.views().clone().run(stop.clone()));
    // Cached video rows go as soon as the hub announces a change.
    tasks.spawn(
        "row invalidator",
        catalog.row_invalidator().run(stop.clone()),
    );
    // Without in-process workers, the work is done by `spool worker` processes, which cannot
    // reach this process's hub: one watcher feeds it from the rows they change.
    if in_process_workers == 0 {
        tasks.spawn("change watcher", catalog.change_watcher().run(stop.clone()));
    }
    // The stats projection's checkpoint is written once more when it stops.
    tasks.spawn(
        "stats projection",
        tracking
            .stats_runner(catalog.event_facts())
            .run(stop.clone()),
    );
    // Discovery: the profiles' projection (checkpointed like the stats), the index of
    // recommendable videos with the collaborative model's retraining, the search index.
    tasks.spawn(
        "discovery projection",
        spool_events::projection::ProjectionRunner::new(
            recommender.projection(),
            tracking.shared_log().clone(),
            tracking.dir(),
            recommender.state().clone(),
        )
        // Profiles make a large checkpoint: written every two minutes (a crash refolds at
        // most that much of the log) and at shutdown.
        .with_config(spool_events::projection::RunnerConfig {
            checkpoint_every: Duration::from_secs(120),
            ..Default::default()
        })
        .run(stop.clone()),
    );
    tasks.spawn("recommendations", recommender.run(stop.clone()));
    tasks.spawn("search index", search.run(stop.clone()));
    tasks.spawn(
        "event log retention",
        tracking.retention().run(stop.clone()),
    );
    // Server-observed events (CMCD) are drained after the last request has finished.
    let requests_done = CancellationToken::new();
    tasks.spawn(
        "server events",
        tracking.server_event_writer().run(requests_done.clone()),
    );
    tasks.spawn(
        "expiry sweep",
        sweep_expired(
            uploads,
            store.clone(),
            Duration::from_secs(config.upload.sweep_interval_s.max(1)),
            stop.clone(),
        ),
    );
    if let Some(rtmp_listener) = rtmp_listener {
        let rtmp = spool_live::RtmpIngest::new(live.clone(), rtmp_listener);
        tracing::info!("rtmp ingest on rtmp://{}/live", rtmp.local_addr()?);
        tasks.spawn("rtmp ingest", rtmp.run(stop.clone()));
        // Broadcasts whose publisher did not come back end; at shutdown, all of them end.
        tasks.spawn("live broadcasts", live.run(stop.clone()));
    }
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    tracing::info!(
        "spool serving on http://{} (role {role:?}, data in {}, storage in {})",
        listener.local_addr()?,
        config.server.data_dir.display(),
        config.storage_dir().display()
    );
    // Peer addresses reach the handlers; slow clients are timed out (see spool_api::server).
    let server = spool_api::server::serve(listener, state, stop.clone().cancelled_owned());
    let grace = Duration::from_secs(config.server.shutdown_grace_s);
    let serving = async {
        let drained = async {
            stop.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            result = server => result.context("server failed"),
            () = drained => {
                tracing::warn!("shutdown grace period over; exiting with requests in flight");
                Ok(())
            }
        }
    };
    let (served, ()) = tokio::join!(serving, tasks.supervise());
    requests_done.cancel();
    tasks.shutdown().await;
    store.close().await;
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Fires `stop` on SIGTERM or Ctrl-C.
async fn watch_signals(stop: CancellationToken) {
    tokio::select! {
        () = shutdown_signal() => {
            tracing::info!("shutting down: finishing in-flight requests");
            stop.cancel();
        }
        () = stop.cancelled() => {}
    }
}

/// Starts `count` job runners sharing one media pipeline in the task set; each stops when the
/// set's stop signal fires and its running job has finished or given its lease back.
fn spawn_workers(
    tasks: &mut Tasks,
    store: &Store,
    blobs: &LocalStore,
    config: &Config,
    count: usize,
    hub: &spool_hub::Hub,
    moderation: &spool_moderation::Moderation,
) -> anyhow::Result<()> {
    let pipeline =
        spool_pipeline::Pipeline::new(store.clone(), blobs.clone(), Arc::new(config.clone()))
            .with_hub(hub.clone())
            .with_moderation(moderation.clone());
    let runner_config = spool_jobs::RunnerConfig {
        lease: Duration::from_secs(config.jobs.lease_s),
        heartbeat_interval: Duration::from_secs(config.jobs.heartbeat_s),
        max_attempts: config.jobs.max_attempts,
        ..Default::default()
    };
    for _ in 0..count {
        let runner =
            spool_jobs::Runner::new(store.clone(), pipeline.clone(), runner_config.clone())
                .context("invalid jobs configuration")?;
        let stop = tasks.stop();
        tasks.spawn("jobs runner", async move { runner.run(stop).await });
    }
    Ok(())
}

/// `spool worker` and `spool serve --role worker`: job runners only, no HTTP.
async fn worker(config: Config, workers: Option<usize>) -> anyhow::Result<()> {
    init_logging(config.server.log_json);
    let store = open_store(&config).await?;
    let blobs = LocalStore::open(&config.storage_dir())?;
    let mut tasks = Tasks::new(CancellationToken::new());
    tasks.spawn("signals", watch_signals(tasks.stop()));
    let count = workers.unwrap_or(config.jobs.workers).max(1);
    // Nobody in this process listens: `spool serve` watches the rows these workers change.
    let hub = spool_hub::Hub::local();
    let moderation = build_moderation(&store, &blobs, &config, &hub).await?;
    tasks.spawn("moderation lists", moderation.clone().run(tasks.stop()));
    spawn_workers(
        &mut tasks,
        &store,
        &blobs,
        &config,
        count,
        &hub,
        &moderation,
    )?;
    tracing::info!(
        "{count} media worker(s) running (data in {}, storage in {})",
        config.server.data_dir.display(),
        config.storage_dir().display()
    );
    tasks.supervise().await;
    tracing::info!("shutting down: letting running jobs finish");
    tasks.shutdown().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Reclaims expired uploads and removes expired browser sessions until shutdown.
async fn sweep_expired(
    uploads: UploadService,
    store: Store,
    every: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = uploads.sweep_expired().await {
                    tracing::warn!("expired-upload sweep failed: {e}");
                }
                if let Err(e) = store.delete_expired_sessions(spool_model::now_millis()).await {
                    tracing::warn!("expired-session sweep failed: {e}");
                }
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// A stable key for one viewer of a live room (its user, device or session id).
fn viewer_key(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}
