//! The gifts benchmark's driver (`bench/gifts.sh`): `SENDS` concurrent gift sends through the
//! `Gifts` service on a fresh database (SQLite file or MariaDB), a share of them retries of
//! earlier requests with the same idempotency key, and some senders granted less than they
//! try to spend. Then it checks the ledger: entries sum to zero, every balance equals its
//! entries, none is negative, every key was applied once (replays answered the same transfer),
//! and each sender's balance is its grant minus what its applied sends cost. Before the sends
//! it times as many bare write transactions (one row changed, committed) at the same
//! concurrency: the ceiling any transactional write has on this engine and disk. Prints one
//! markdown row; exits non-zero when a check fails.
//!
//! `cargo run --release -p spool-gifts --example ledger_bench -- ENGINE [SENDS] [CONCURRENCY]`
//! with ENGINE `sqlite` or `mysql` (the server in `SPOOL_TEST_MYSQL`, default
//! `mysql://root@127.0.0.1:3306`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use spool_gifts::{GiftError, Gifts, IdempotencyKey, SendRequest, Target};
use spool_metadata::testing::{Engine, TestDb};
use spool_metadata::{Store, User};
use spool_model::Visibility;

const SENDERS: usize = 200;
const CREATORS: usize = 20;
/// Share of requests that repeat an earlier one (same key, same request).
const RETRIED: f64 = 0.2;
/// Share of senders granted about half of what they will try to spend.
const OVERDRAWN: f64 = 0.1;

#[derive(Clone)]
struct Planned {
    sender: usize,
    key: String,
    request: SendRequest,
    cost: i64,
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let engine = match args.next().as_deref() {
        Some("sqlite") => Engine::Sqlite,
        Some("mysql") => Engine::MySql,
        Some("postgres") => Engine::Postgres,
        _ => {
            eprintln!("usage: ledger_bench sqlite|mysql|postgres [SENDS] [CONCURRENCY]");
            std::process::exit(2);
        }
    };
    let sends: usize = args.next().map_or(10_000, |n| n.parse().expect("SENDS"));
    let concurrency: usize = args.next().map_or(64, |n| n.parse().expect("CONCURRENCY"));
    let db = TestDb::new(engine).await;
    let store = Store::connect(&db.url, 16).await.expect("store");
    let data = tempfile::tempdir().expect("temp dir");
    let gifts = service(&store, data.path());
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);

    let mut senders: Vec<User> = Vec::new();
    for i in 0..SENDERS {
        senders.push(
            store
                .create_user(&format!("s{i}"), false)
                .await
                .expect("user"),
        );
    }
    let mut videos = Vec::new();
    for i in 0..CREATORS {
        let creator = store
            .create_user(&format!("c{i}"), false)
            .await
            .expect("user");
        let upload = spool_metadata::testing::uploaded(
            &store,
            creator.id,
            "v",
            Visibility::Public,
            format!("video {i}").as_bytes(),
        )
        .await;
        videos.push(upload.video_id);
    }
    let catalogue = gifts.catalogue().await.expect("catalogue");
    let cheap: Vec<_> = catalogue.iter().filter(|g| g.price <= 50).collect();

    let unique = (sends as f64 * (1.0 - RETRIED)).round() as usize;
    let mut plan: Vec<Planned> = (0..unique)
        .map(|i| {
            let gift = cheap[rng.random_range(0..cheap.len())];
            let count = rng.random_range(1..=5);
            Planned {
                sender: rng.random_range(0..SENDERS),
                key: format!("send-{i}"),
                request: SendRequest {
                    gift: gift.id.clone(),
                    target: Target::Video(videos[rng.random_range(0..videos.len())].clone()),
                    count,
                },
                cost: gift.price * count,
            }
        })
        .collect();
    let mut spend = vec![0i64; SENDERS];
    for p in &plan {
        spend[p.sender] += p.cost;
    }
    let overdrawn = (SENDERS as f64 * OVERDRAWN) as usize;
    let grants: Vec<i64> = (0..SENDERS)
        .map(|i| {
            if i < overdrawn {
                spend[i] / 2
            } else {
                spend[i]
            }
        })
        .collect();
    for (sender, &amount) in senders.iter().zip(&grants) {
        if amount > 0 {
            spool_gifts::grant(&store, &sender.name, amount, &IdempotencyKey::random())
                .await
                .expect("grant");
        }
    }
    let retries: Vec<Planned> = (0..sends - unique)
        .map(|_| plan[rng.random_range(0..unique)].clone())
        .collect();
    plan.extend(retries);
    plan.shuffle(&mut rng);

    let started = Instant::now();
    futures_util::stream::iter(0..sends)
        .map(|_| spool_metadata::testing::bare_write_transaction(&store))
        .buffer_unordered(concurrency)
        .for_each(|done| async move { done.expect("bare write") })
        .await;
    let bare_per_s = sends as f64 / started.elapsed().as_secs_f64();

    let gifts = Arc::new(gifts);
    let senders = Arc::new(senders);
    let started = Instant::now();
    let answers: Vec<(Planned, Result<spool_gifts::Sent, GiftError>)> =
        futures_util::stream::iter(plan.into_iter().map(|p| {
            let (gifts, senders) = (gifts.clone(), senders.clone());
            async move {
                let key = IdempotencyKey::parse(Some(&p.key)).expect("key");
                let answer = gifts.send(&senders[p.sender], &key, &p.request).await;
                (p, answer)
            }
        }))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();

    let mut failures = Vec::new();
    let (mut applied, mut replayed, mut refused) = (0usize, 0usize, 0usize);
    let mut transfer_of_key: HashMap<String, String> = HashMap::new();
    let mut paid = vec![0i64; SENDERS];
    for (p, answer) in &answers {
        match answer {
            Ok(sent) => {
                if sent.replayed {
                    replayed += 1;
                } else {
                    applied += 1;
                    paid[p.sender] += sent.amount;
                }
                let first = transfer_of_key
                    .entry(p.key.clone())
                    .or_insert_with(|| sent.transfer_id.clone());
                if *first != sent.transfer_id {
                    failures.push(format!("key {} answered two transfers", p.key));
                }
            }
            Err(GiftError::InsufficientFunds { .. }) => refused += 1,
            Err(e) => failures.push(format!("send {}: {e}", p.key)),
        }
    }
    let audit = store.ledger_audit().await.expect("audit");
    let gift_transfers = audit.transfers - grants.iter().filter(|&&g| g > 0).count() as i64;
    if applied != transfer_of_key.len() || gift_transfers != applied as i64 {
        failures.push(format!(
            "{applied} applied answers, {} keys answered, {gift_transfers} gift transfers stored",
            transfer_of_key.len()
        ));
    }
    if audit.entries_sum != 0
        || audit.mismatched_balances != 0
        || audit.negative_balances != 0
        || audit.unbalanced_transfers != 0
    {
        failures.push(format!("ledger inconsistent: {audit:?}"));
    }
    for (i, sender) in senders.iter().enumerate() {
        let balance = store.wallet_balance(sender.id).await.expect("balance");
        if balance != grants[i] - paid[i] {
            failures.push(format!(
                "{}: balance {balance}, expected {}",
                sender.name,
                grants[i] - paid[i]
            ));
        }
    }
    let name = match engine {
        Engine::Sqlite => "SQLite",
        Engine::MySql => "MariaDB",
        Engine::Postgres => "PostgreSQL",
    };
    println!(
        "| {name} | {sends} | {concurrency} | {elapsed:.2} | {:.0} | {bare_per_s:.0} | {:.2} | {applied} | {replayed} | {refused} | {} |",
        sends as f64 / elapsed,
        sends as f64 / elapsed / bare_per_s,
        if failures.is_empty() {
            "all hold"
        } else {
            "FAILED"
        }
    );
    store.close().await;
    drop(db);
    if !failures.is_empty() {
        for failure in failures.iter().take(20) {
            eprintln!("{failure}");
        }
        std::process::exit(1);
    }
}

fn service(store: &Store, data: &std::path::Path) -> Gifts {
    let config = spool_config::Config::default();
    let catalog = spool_catalog::Catalog::new(
        store.clone(),
        spool_hub::Hub::local(),
        spool_storage::LocalStore::open(data).expect("blobs"),
        spool_storage::MediaLayout::new(data),
    );
    let live = spool_live::Live::new(
        store.clone(),
        spool_storage::MediaLayout::new(data),
        spool_media::process::ProcessRunner::new(&config.media),
        spool_live::LiveSettings::from_config(&config.live, None),
    );
    Gifts::new(store.clone(), catalog, live)
}
