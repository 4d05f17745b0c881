//! Discovery, online (bench/reco-online.sh drives it):
//!
//! - `seed DATABASE_URL VIDEOS OUT_FILE`: ready public videos through the store (20
//!   categories, two tags each, Chinese and English titles, ages over 60 days), their ids
//!   written to OUT_FILE with their category. Needs no files behind them: the server runs with
//!   no workers.
//! - `profiles URL USERS IDS_FILE`: tracking events for USERS anonymous viewers through
//!   `POST /api/v1/events` (a few watches each), so the server holds that many profiles.
//! - `simulate URL IDS_FILE USERS ROUNDS`: synthetic viewers with a hidden taste (two of the
//!   20 categories) take the feed page by page, watch and like what matches and skip the rest;
//!   the share of recommended videos matching the taste per round, against a viewer who never
//!   interacts (trending and fresh only) and against random; then the time from a "not
//!   interested" to a feed without that video.
//! - `load URL IDS_FILE RATE SECONDS KIND`: open-loop requests at RATE per second for
//!   SECONDS, latency measured from each request's scheduled time (no coordinated omission);
//!   KIND is `feed`, `related`, `search` or `video` (one video's JSON: a reference).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use spool_metadata::Store;
use spool_metadata::testing;
use spool_model::{Visibility, now_millis};

const CATEGORIES: usize = 20;
const CN: [&str; 20] = [
    "篮球", "足球", "动漫", "美食", "旅行", "音乐", "游戏", "科技", "电影", "舞蹈", "宠物", "汽车",
    "健身", "摄影", "历史", "数码", "时尚", "教育", "搞笑", "新闻",
];
const EN: [&str; 20] = [
    "basketball",
    "football",
    "anime",
    "cooking",
    "travel",
    "music",
    "gaming",
    "tech",
    "movies",
    "dance",
    "pets",
    "cars",
    "fitness",
    "photo",
    "history",
    "gadgets",
    "fashion",
    "study",
    "comedy",
    "news",
];

fn category(i: usize) -> String {
    format!("cat{i:02}")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("seed") => seed(&args[2], args[3].parse().unwrap(), &args[4]).await,
        Some("profiles") => profiles(&args[2], args[3].parse().unwrap(), &args[4]).await,
        Some("simulate") => {
            simulate(
                &args[2],
                &args[3],
                args[4].parse().unwrap(),
                args[5].parse().unwrap(),
            )
            .await
        }
        Some("load") => {
            load(
                &args[2],
                &args[3],
                args[4].parse().unwrap(),
                args[5].parse().unwrap(),
                &args[6],
            )
            .await
        }
        _ => panic!("usage: online seed|profiles|simulate|load ..."),
    }
}

async fn seed(database: &str, videos: usize, out: &str) {
    let store = Store::connect(database, 16).await.expect("the database");
    let mut creators = Vec::new();
    for c in 0..500 {
        creators.push(
            store
                .create_user(&format!("creator{c}"), false)
                .await
                .expect("a user")
                .id,
        );
    }
    let creators = Arc::new(creators);
    // What a transcode publishes (no files behind it: nothing here plays them).
    let media = Arc::new(
        spool_media::Published {
            generation: "g1".into(),
            renditions: vec![spool_media::manifest::Rendition {
                name: "360p".into(),
                width: 640,
                height: 360,
                frame_rate: 30.0,
                bandwidth: 900_000,
                average_bandwidth: 700_000,
                codecs: "avc1.64001e".into(),
            }],
            audio: None,
            complete: true,
            storyboard: false,
            ladder_key: None,
            dash: true,
        }
        .to_json(),
    );
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per_task = videos.div_ceil(16);
    for t in 0..16 {
        let (store, creators, media) = (store.clone(), creators.clone(), media.clone());
        tasks.spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(t as u64);
            let mut lines = Vec::new();
            for n in 0..per_task {
                let k = t * per_task + n;
                if k >= videos {
                    break;
                }
                let cat = rng.random_range(0..CATEGORIES);
                let other = rng.random_range(0..CATEGORIES);
                let title = format!("{}{} {} {} #{k}", CN[cat], CN[other], EN[cat], EN[other]);
                let owner = creators[(cat * 25 + rng.random_range(0..25)) % creators.len()];
                let upload =
                    testing::uploaded(&store, owner, &title, Visibility::Public, title.as_bytes())
                        .await;
                let update = spool_metadata::VideoUpdate {
                    tags: Some(vec![EN[cat].to_owned(), CN[cat].to_owned()]),
                    category: Some(category(cat)),
                    ..Default::default()
                };
                store
                    .update_video(&upload.video_id, &update)
                    .await
                    .expect("tags");
                store
                    .publish_media(&upload.video_id, &media, 100)
                    .await
                    .expect("ready");
                lines.push(format!("{} {cat}", upload.video_id));
            }
            lines
        });
    }
    let mut all = Vec::new();
    while let Some(lines) = tasks.join_next().await {
        all.extend(lines.expect("a seeding task"));
    }
    std::fs::write(out, all.join("\n")).expect("the ids file");
    eprintln!(
        "seeded {} videos in {:.0} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
    store.close().await;
}

fn read_ids(path: &str) -> Vec<(String, usize)> {
    std::fs::read_to_string(path)
        .expect("the ids file")
        .lines()
        .filter_map(|l| {
            let (id, cat) = l.split_once(' ')?;
            Some((id.to_owned(), cat.parse().ok()?))
        })
        .collect()
}

fn uuid(rng: &mut impl Rng) -> String {
    let h = format!("{:032x}", rng.random::<u128>());
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn event(
    rng: &mut impl Rng,
    kind: &str,
    anon: &str,
    video: &str,
    props: Value,
    position: f64,
) -> Value {
    let now = now_millis();
    json!({
        "event_id": uuid(rng), "type": kind, "anonymous_id": anon, "session_id": anon,
        "video_id": video, "position_s": position, "properties": props,
        "occurred_at": now, "sent_at": now,
    })
}

async fn post_events(client: &reqwest::Client, url: &str, events: Vec<Value>) {
    for chunk in events.chunks(1000) {
        let r = client
            .post(format!("{url}/api/v1/events"))
            .json(&json!({ "events": chunk }))
            .send()
            .await
            .expect("events sent");
        assert!(r.status().is_success(), "events: {}", r.status());
    }
}

async fn profiles(url: &str, users: usize, ids: &str) {
    let ids = read_ids(ids);
    let client = reqwest::Client::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let started = Instant::now();
    let mut events = Vec::new();
    for u in 0..users {
        let anon = format!("user{u}");
        for _ in 0..3 {
            let (video, _) = ids.choose(&mut rng).expect("videos");
            events.push(event(
                &mut rng,
                "heartbeat",
                &anon,
                video,
                json!({"from_s": 0.0, "to_s": 30.0}),
                30.0,
            ));
        }
        let (video, _) = ids.choose(&mut rng).expect("videos");
        events.push(event(&mut rng, "like", &anon, video, json!({}), 0.0));
        if events.len() >= 20_000 {
            post_events(&client, url, std::mem::take(&mut events)).await;
        }
    }
    post_events(&client, url, events).await;
    eprintln!(
        "events for {users} viewers sent in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

async fn feed(client: &reqwest::Client, url: &str, anon: &str, cursor: Option<&str>) -> Value {
    let mut q = format!("{url}/api/v1/feed?limit=10&anonymous_id={anon}");
    if let Some(c) = cursor {
        q.push_str(&format!("&cursor={c}"));
    }
    client
        .get(q)
        .send()
        .await
        .expect("feed")
        .json()
        .await
        .expect("feed JSON")
}

fn items(page: &Value) -> Vec<(String, usize)> {
    page["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    let id = i["video"]["id"].as_str().unwrap_or_default().to_owned();
                    let cat = i["video"]["category"].as_str().unwrap_or("cat99")[3..]
                        .parse()
                        .unwrap_or(99);
                    (id, cat)
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn simulate(url: &str, _ids: &str, users: usize, rounds: usize) {
    let client = reqwest::Client::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let tastes: Vec<[usize; 2]> = (0..users)
        .map(|_| {
            let a = rng.random_range(0..CATEGORIES);
            let mut b = rng.random_range(0..CATEGORIES);
            while b == a {
                b = rng.random_range(0..CATEGORIES);
            }
            [a, b]
        })
        .collect();
    let mut cursors: Vec<Option<String>> = vec![None; users];
    println!(
        "| round (after N interactions) | personalised feed: share matching the hidden taste | a viewer who never interacts (trending + fresh) | random |"
    );
    println!("|---|---|---|---|");
    let mut interactions = 0usize;
    for round in 0..rounds {
        let (mut hit, mut shown, mut control_hit, mut control_shown) =
            (0usize, 0usize, 0usize, 0usize);
        for (u, taste) in tastes.iter().enumerate() {
            let anon = format!("sim{u}");
            let page = feed(&client, url, &anon, cursors[u].as_deref()).await;
            cursors[u] = page["next_cursor"].as_str().map(str::to_owned);
            let got = items(&page);
            let control = items(&feed(&client, url, &format!("control{round}x{u}"), None).await);
            control_hit += control.iter().filter(|(_, c)| taste.contains(c)).count();
            control_shown += control.len();
            let mut events = Vec::new();
            for (position, (video, cat)) in got.iter().enumerate() {
                shown += 1;
                events.push(event(
                    &mut rng,
                    "impression",
                    &anon,
                    video,
                    json!({"position": position, "source": "feed"}),
                    0.0,
                ));
                if taste.contains(cat) {
                    hit += 1;
                    events.push(event(
                        &mut rng,
                        "heartbeat",
                        &anon,
                        video,
                        json!({"from_s": 0.0, "to_s": 30.0}),
                        30.0,
                    ));
                    events.push(event(&mut rng, "like", &anon, video, json!({}), 30.0));
                } else {
                    events.push(event(&mut rng, "skip", &anon, video, json!({}), 1.0));
                }
            }
            post_events(&client, url, events).await;
        }
        println!(
            "| {round} ({interactions}) | {:.1} % | {:.1} % | {:.1} % |",
            100.0 * hit as f64 / shown.max(1) as f64,
            100.0 * control_hit as f64 / control_shown.max(1) as f64,
            100.0 * 2.0 / CATEGORIES as f64
        );
        interactions += 10;
        // Let the fold take the round's events before the next pages are asked for.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Event to changed feed: refuse the top video, poll until it is gone.
    let mut waits = Vec::new();
    for u in 0..users.min(200) {
        let anon = format!("sim{u}");
        let top = items(&feed(&client, url, &anon, None).await);
        let Some((video, _)) = top.first().cloned() else {
            continue;
        };
        let sent = Instant::now();
        let r = client
            .post(format!("{url}/api/v1/videos/{video}/not-interested"))
            .json(&json!({ "anonymous_id": anon }))
            .send()
            .await
            .expect("refusal");
        assert_eq!(r.status().as_u16(), 204);
        loop {
            let now = items(&feed(&client, url, &anon, None).await);
            if now.iter().all(|(v, _)| *v != video) {
                waits.push(sent.elapsed());
                break;
            }
            assert!(
                sent.elapsed() < Duration::from_secs(10),
                "the feed kept a refused video"
            );
        }
    }
    waits.sort();
    let p = |q: f64| {
        waits[((waits.len() as f64 * q) as usize).min(waits.len() - 1)].as_secs_f64() * 1000.0
    };
    println!(
        "\nEvent to changed feed ({} refusals): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        waits.len(),
        p(0.5),
        p(0.99),
        p(1.0)
    );
}

async fn load(url: &str, ids: &str, rate: u64, seconds: u64, kind: &str) {
    let ids = Arc::new(read_ids(ids));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()
        .unwrap();
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now() + Duration::from_millis(100);
    let mut tasks = tokio::task::JoinSet::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for n in 0..total {
        let at = start + interval * n as u32;
        let path = match kind {
            "feed" => format!(
                "/api/v1/feed?limit=10&anonymous_id=user{}",
                rng.random_range(0..100_000)
            ),
            "related" => format!(
                "/api/v1/videos/{}/related?limit=12",
                ids.choose(&mut rng).unwrap().0
            ),
            _ => {
                let c = rng.random_range(0..CATEGORIES);
                let q = if rng.random_bool(0.5) {
                    CN[c].to_owned()
                } else {
                    EN[c].to_owned()
                };
                format!("/api/v1/search?q={}", urlencode(&q))
            }
        };
        let client = client.clone();
        let full = format!("{url}{path}");
        tokio::time::sleep_until(at.into()).await;
        tasks.spawn(async move {
            let ok = match client.get(&full).send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            (at.elapsed(), ok)
        });
    }
    let mut latencies = Vec::with_capacity(total as usize);
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (latency, ok) = r.expect("a request task");
        latencies.push(latency);
        errors += usize::from(!ok);
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let p = |q: f64| {
        latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1000.0
    };
    println!(
        "| {kind} | {rate}/s offered, {:.0}/s done | {:.1} | {:.1} | {:.1} | {errors} |",
        latencies.len() as f64 / elapsed,
        p(0.5),
        p(0.99),
        p(1.0)
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
