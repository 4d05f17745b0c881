//! Offline evaluation on MovieLens-100K (bench/reco.sh fetches it; it is never committed).
//!
//! Gorse's protocol: 5-fold cross-validation over all ratings, every rating an implicit
//! positive, all items the user has not rated in training ranked, top 10; P@10, R@10 and
//! NDCG@10 averaged over the users of each fold, then over the folds. Then a time-ordered
//! replay (leave the latest out): a batch model trained before a cut-off against the same
//! model scoring with each user's history up to the moment (what the real-time profile adds).
//!
//! `cargo run --release -p spool-recommend --example offline -- <dir with ml-100k.inter>`

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::{IndexedRandom, SliceRandom};
use serde_json::Map;
use spool_events::tracking::{EventType, TrackedEvent};
use spool_model::VideoId;
use spool_recommend::DiscoveryState;
use spool_recommend::ease::{Ease, EaseConfig};
use spool_recommend::items::ItemFacts;
use spool_recommend::rank;
use spool_recommend::state::BatchFacts;

type Rating = (u32, u32, i64);

fn load(dir: &str) -> (Vec<Rating>, HashMap<u32, Vec<String>>) {
    let inter = std::fs::read_to_string(format!("{dir}/ml-100k.inter")).expect("ml-100k.inter");
    let ratings = inter
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split('\t');
            let u = f.next()?.parse().ok()?;
            let i = f.next()?.parse().ok()?;
            let _rating = f.next()?;
            let t: f64 = f.next()?.parse().ok()?;
            Some((u, i, t as i64))
        })
        .collect();
    let items = std::fs::read_to_string(format!("{dir}/ml-100k.item")).unwrap_or_default();
    let genres = items
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let id = f.first()?.parse().ok()?;
            let genres = f
                .get(3)
                .map(|g| g.split(' ').map(str::to_lowercase).collect())
                .unwrap_or_default();
            Some((id, genres))
        })
        .collect();
    (ratings, genres)
}

#[derive(Default, Clone, Copy)]
struct Metrics {
    p: f64,
    r: f64,
    ndcg: f64,
    users: usize,
}

impl Metrics {
    fn add(&mut self, ranked: &[u32], truth: &HashSet<u32>) {
        let hits: Vec<bool> = ranked.iter().take(10).map(|i| truth.contains(i)).collect();
        let n = hits.iter().filter(|h| **h).count() as f64;
        let dcg: f64 = hits
            .iter()
            .enumerate()
            .filter(|(_, h)| **h)
            .map(|(k, _)| 1.0 / ((k + 2) as f64).log2())
            .sum();
        let idcg: f64 = (0..truth.len().min(10))
            .map(|k| 1.0 / ((k + 2) as f64).log2())
            .sum();
        self.p += n / 10.0;
        self.r += n / truth.len() as f64;
        self.ndcg += dcg / idcg;
        self.users += 1;
    }

    fn mean(self) -> (f64, f64, f64) {
        let u = self.users.max(1) as f64;
        (self.p / u, self.r / u, self.ndcg / u)
    }
}

fn top10(scores: impl Iterator<Item = (u32, f32)>, seen: &HashSet<u32>) -> Vec<u32> {
    let mut all: Vec<(u32, f32)> = scores.filter(|(i, _)| !seen.contains(i)).collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(10);
    all.into_iter().map(|(i, _)| i).collect()
}

fn vid(item: u32) -> VideoId {
    format!("m{item:010}").parse().expect("a valid id")
}

/// Item KNN: cosine over co-occurrence, the 100 nearest neighbours of each item.
struct Knn {
    neighbours: HashMap<u32, Vec<(u32, f32)>>,
}

impl Knn {
    fn train(histories: &HashMap<u32, Vec<u32>>) -> Self {
        let mut co: HashMap<(u32, u32), f32> = HashMap::new();
        let mut count: HashMap<u32, f32> = HashMap::new();
        for h in histories.values() {
            for &a in h {
                *count.entry(a).or_default() += 1.0;
                for &b in h {
                    if a != b {
                        *co.entry((a, b)).or_default() += 1.0;
                    }
                }
            }
        }
        let mut neighbours: HashMap<u32, Vec<(u32, f32)>> = HashMap::new();
        for ((a, b), c) in co {
            let sim = c / (count[&a] * count[&b]).sqrt();
            neighbours.entry(a).or_default().push((b, sim));
        }
        for n in neighbours.values_mut() {
            n.sort_by(|x, y| y.1.total_cmp(&x.1));
            n.truncate(100);
        }
        Self { neighbours }
    }

    fn scores(&self, history: &[u32]) -> HashMap<u32, f32> {
        let mut s = HashMap::new();
        for i in history {
            for (j, w) in self.neighbours.get(i).into_iter().flatten() {
                *s.entry(*j).or_default() += w;
            }
        }
        s
    }
}

fn ease_scores<'m>(model: &'m Ease<u32>, history: &[u32]) -> impl Iterator<Item = (u32, f32)> + 'm {
    let scores = model.scores(history);
    (0..model.len()).map(move |i| (*model.item(i), scores[i]))
}

/// The whole online ranker: the ratings folded through the discovery projection as likes,
/// then every unseen item scored by the ranker's features and score (no exploration or
/// diversity: they trade accuracy for the rest on purpose).
fn ranker_scores(
    train: &[Rating],
    genres: &HashMap<u32, Vec<String>>,
    cf: &Ease<VideoId>,
) -> (DiscoveryState, HashMap<VideoId, ItemFacts>) {
    let facts: HashMap<VideoId, ItemFacts> = genres
        .iter()
        .map(|(i, g)| {
            (
                vid(*i),
                ItemFacts::new(
                    String::new(),
                    g,
                    g.first().map_or("", String::as_str),
                    Some(6000.0),
                    0,
                ),
            )
        })
        .collect();
    let mut sorted = train.to_vec();
    sorted.sort_by_key(|r| r.2);
    // Each rating is shown (an impression) and liked; beside it an item the user never rated
    // is shown and ignored. The online model learns from both, as it does from real feeds.
    let items: Vec<u32> = genres.keys().copied().collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let event = |id: String, kind: EventType, u: u32, i: u32, at: i64| TrackedEvent {
        event_id: id,
        kind,
        anonymous_id: Some(format!("u{u}")),
        user: None,
        session_id: "s".to_owned(),
        video_id: Some(vid(i).to_string()),
        position_s: None,
        properties: Map::new(),
        occurred_at: at,
        sent_at: at,
        received_at: at,
        at,
        address: None,
    };
    let mut events: Vec<TrackedEvent> = Vec::with_capacity(sorted.len() * 3);
    for (n, &(u, i, t)) in sorted.iter().enumerate() {
        let at = t * 1000;
        let ignored = *items.choose(&mut rng).expect("items");
        events.push(event(format!("{n}-i"), EventType::Impression, u, i, at));
        events.push(event(
            format!("{n}-n"),
            EventType::Impression,
            u,
            ignored,
            at,
        ));
        events.push(event(format!("{n}-l"), EventType::Like, u, i, at));
    }
    let mut state = DiscoveryState::default();
    let batch = BatchFacts {
        facts: facts.clone(),
        cf: Some(std::sync::Arc::new(cf.clone())),
    };
    for chunk in events.chunks(10_000) {
        state.apply(chunk, &batch);
    }
    (state, facts)
}

fn rank_user(
    state: &DiscoveryState,
    facts: &HashMap<VideoId, ItemFacts>,
    cf: &Ease<VideoId>,
    user: u32,
    trending_max: f32,
    cf_only: bool,
) -> Vec<(u32, f32)> {
    let key = format!("a:u{user}");
    let profile = state.profile(&key);
    let history: Vec<VideoId> = profile.map(|p| p.positives()).unwrap_or_default();
    let cf_scores = cf.scores(&history);
    let mut cowatch: HashMap<VideoId, f32> = HashMap::new();
    for r in history.iter().rev().take(10) {
        for (v, s) in state.cowatch.neighbours(r, state.now).into_iter().take(30) {
            *cowatch.entry(v).or_default() += s;
        }
    }
    facts
        .iter()
        .map(|(id, f)| {
            let cf_score = cf.index_of(id).map_or(0.0, |i| cf_scores[i]);
            let cw = cowatch.get(id).copied().unwrap_or(0.0);
            let x = rank::features(
                state,
                profile,
                id,
                f,
                cw,
                cf_score,
                trending_max,
                0,
                state.now,
            );
            let item: u32 = id.as_str()[1..].parse().expect("our id");
            let score = if cf_only {
                x[4]
            } else {
                rank::score(state, &x)
            };
            (item, score)
        })
        .collect()
}

fn histories_of(ratings: &[Rating]) -> HashMap<u32, Vec<u32>> {
    let mut h: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut sorted = ratings.to_vec();
    sorted.sort_by_key(|r| r.2);
    for (u, i, _) in sorted {
        h.entry(u).or_default().push(i);
    }
    h
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: offline <ml-100k dir>");
    let (mut ratings, genres) = load(&dir);
    println!(
        "ratings {} users {} items {}",
        ratings.len(),
        ratings.iter().map(|r| r.0).collect::<HashSet<_>>().len(),
        ratings.iter().map(|r| r.1).collect::<HashSet<_>>().len()
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261203);
    ratings.shuffle(&mut rng);
    let lambdas = [100.0, 200.0, 300.0, 500.0, 1000.0];
    let mut table: Vec<(String, Metrics, f64)> = Vec::new();
    let mut add =
        |name: String, m: Metrics, secs: f64| match table.iter_mut().find(|(n, _, _)| *n == name) {
            Some((_, acc, t)) => {
                let (p, r, n) = m.mean();
                acc.p += p;
                acc.r += r;
                acc.ndcg += n;
                acc.users += 1;
                *t += secs;
            }
            None => {
                let (p, r, n) = m.mean();
                table.push((
                    name,
                    Metrics {
                        p,
                        r,
                        ndcg: n,
                        users: 1,
                    },
                    secs,
                ));
            }
        };
    let only_ranker = std::env::var_os("ONLY_RANKER").is_some();
    for fold in 0..5 {
        let in_fold = |n: usize| n % 5 == fold;
        let test: Vec<Rating> = ratings
            .iter()
            .enumerate()
            .filter(|(n, _)| in_fold(*n))
            .map(|(_, r)| *r)
            .collect();
        let train: Vec<Rating> = ratings
            .iter()
            .enumerate()
            .filter(|(n, _)| !in_fold(*n))
            .map(|(_, r)| *r)
            .collect();
        let histories = histories_of(&train);
        let mut truth: HashMap<u32, HashSet<u32>> = HashMap::new();
        for (u, i, _) in &test {
            truth.entry(*u).or_default().insert(*i);
        }
        let seen: HashMap<u32, HashSet<u32>> = histories
            .iter()
            .map(|(u, h)| (*u, h.iter().copied().collect()))
            .collect();
        let empty = HashSet::new();
        if !only_ranker {
            // Popularity.
            let mut pop: HashMap<u32, f32> = HashMap::new();
            for (_, i, _) in &train {
                *pop.entry(*i).or_default() += 1.0;
            }
            let mut m = Metrics::default();
            for (u, t) in &truth {
                m.add(
                    &top10(
                        pop.iter().map(|(i, c)| (*i, *c)),
                        seen.get(u).unwrap_or(&empty),
                    ),
                    t,
                );
            }
            add("popularity".into(), m, 0.0);
            // Item KNN.
            let started = Instant::now();
            let knn = Knn::train(&histories);
            let knn_secs = started.elapsed().as_secs_f64();
            let mut m = Metrics::default();
            for (u, t) in &truth {
                let h = histories.get(u).cloned().unwrap_or_default();
                m.add(
                    &top10(knn.scores(&h).into_iter(), seen.get(u).unwrap_or(&empty)),
                    t,
                );
            }
            add("item KNN (cosine, 100 neighbours)".into(), m, knn_secs);
            // EASE at several λ.
            for lambda in lambdas {
                let started = Instant::now();
                let model = Ease::train(
                    histories.values().map(Vec::as_slice),
                    EaseConfig {
                        lambda,
                        dropout: 0.0,
                        max_items: 5000,
                    },
                )
                .expect("trains");
                let secs = started.elapsed().as_secs_f64();
                let mut m = Metrics::default();
                for (u, t) in &truth {
                    let h = histories.get(u).cloned().unwrap_or_default();
                    m.add(
                        &top10(ease_scores(&model, &h), seen.get(u).unwrap_or(&empty)),
                        t,
                    );
                }
                add(format!("EASE λ={lambda}"), m, secs);
            }
            // EDLAE: EASE with dropout-emphasised regularisation.
            for (lambda, dropout) in [
                (50.0, 0.25),
                (100.0, 0.25),
                (100.0, 0.33),
                (200.0, 0.1),
                (50.0, 0.5),
                (100.0, 0.5),
            ] {
                let started = Instant::now();
                let model = Ease::train(
                    histories.values().map(Vec::as_slice),
                    EaseConfig {
                        lambda,
                        dropout,
                        max_items: 5000,
                    },
                )
                .expect("trains");
                let secs = started.elapsed().as_secs_f64();
                let mut m = Metrics::default();
                for (u, t) in &truth {
                    let h = histories.get(u).cloned().unwrap_or_default();
                    m.add(
                        &top10(ease_scores(&model, &h), seen.get(u).unwrap_or(&empty)),
                        t,
                    );
                }
                add(format!("EDLAE λ={lambda} p={dropout}"), m, secs);
            }
        }
        // The whole ranker (online code path), with the CF model at the default λ.
        if std::env::var_os("SKIP_RANKER").is_some() {
            eprintln!("fold {fold} done");
            continue;
        }
        let started = Instant::now();
        let vid_histories: Vec<Vec<VideoId>> = histories
            .values()
            .map(|h| h.iter().map(|i| vid(*i)).collect())
            .collect();
        let cf = Ease::train(
            vid_histories.iter().map(Vec::as_slice),
            EaseConfig {
                lambda: 500.0,
                dropout: 0.0,
                max_items: 5000,
            },
        )
        .expect("trains");
        let (state, facts) = ranker_scores(&train, &genres, &cf);
        let trending_max = state
            .trending
            .top(1, state.now)
            .first()
            .map_or(0.0, |t| t.1);
        let secs = started.elapsed().as_secs_f64();
        for cf_only in [false, true] {
            let mut m = Metrics::default();
            for (u, t) in &truth {
                let scores = rank_user(&state, &facts, &cf, *u, trending_max, cf_only);
                m.add(&top10(scores.into_iter(), seen.get(u).unwrap_or(&empty)), t);
            }
            let name = if cf_only {
                "EASE λ=500 on the profile's remembered positives (the online CF feature alone)"
            } else {
                "Spool ranker (profile, co-watch, EASE, trending; prior + FTRL from simulated impressions)"
            };
            add(name.into(), m, secs);
        }
        eprintln!("fold {fold} done");
    }
    println!("\n5-fold CV, ML-100K, all unseen items ranked");
    println!("| model | P@10 | R@10 | NDCG@10 | training s (per fold) |");
    println!("|---|---|---|---|---|");
    for (name, m, secs) in &table {
        let f = m.users as f64;
        println!(
            "| {name} | {:.4} | {:.4} | {:.4} | {:.2} |",
            m.p / f,
            m.r / f,
            m.ndcg / f,
            secs / f
        );
    }
    replay(&ratings, &genres);
}

/// Leave-latest-out, time-ordered: the batch model is trained on everything before the
/// cut-off (the time by which 90% of ratings were given); each user's latest rating after
/// the cut-off is predicted from their history known to the batch job (before the cut-off)
/// or known in real time (up to the moment before it).
fn replay(ratings: &[Rating], _genres: &HashMap<u32, Vec<String>>) {
    let mut times: Vec<i64> = ratings.iter().map(|r| r.2).collect();
    times.sort_unstable();
    let cut = times[times.len() * 9 / 10];
    let mut by_user: HashMap<u32, Vec<Rating>> = HashMap::new();
    for r in ratings {
        by_user.entry(r.0).or_default().push(*r);
    }
    let before: Vec<Rating> = ratings.iter().copied().filter(|r| r.2 < cut).collect();
    let histories = histories_of(&before);
    let model = Ease::train(
        histories.values().map(Vec::as_slice),
        EaseConfig {
            lambda: 500.0,
            dropout: 0.0,
            max_items: 5000,
        },
    )
    .expect("trains");
    let (mut batch, mut live) = (Metrics::default(), Metrics::default());
    for (u, rs) in &mut by_user {
        rs.sort_by_key(|r| (r.2, r.1));
        let Some(&(_, target, at)) = rs.last() else {
            continue;
        };
        if at < cut || rs.len() < 2 {
            continue;
        }
        let truth: HashSet<u32> = [target].into_iter().collect();
        let known_batch: Vec<u32> = rs.iter().filter(|r| r.2 < cut).map(|r| r.1).collect();
        let known_live: Vec<u32> = rs[..rs.len() - 1].iter().map(|r| r.1).collect();
        let seen: HashSet<u32> = known_live.iter().copied().collect();
        let _ = u;
        batch.add(&top10(ease_scores(&model, &known_batch), &seen), &truth);
        live.add(&top10(ease_scores(&model, &known_live), &seen), &truth);
    }
    println!(
        "\nTime-ordered replay, leave the latest out ({} users with a rating after the cut-off)",
        batch.users
    );
    println!("| history used | HR@10 | NDCG@10 |");
    println!("|---|---|---|");
    let (_, r, n) = batch.mean();
    println!("| batch (as of the last training) | {r:.4} | {n:.4} |");
    let (_, r, n) = live.mean();
    println!("| real time (every event up to the moment) | {r:.4} | {n:.4} |");
}
