//! Ranking: candidates from every source, features, the score (a hand-set prior corrected by
//! the online model), the filters and the diversity rules. Pure: everything it reads is
//! handed in ([`Context`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rand::Rng;
use spool_model::VideoId;

use crate::DiscoveryState;
use crate::ease::Ease;
use crate::items::{Item, ItemFacts, ItemIndex, terms};
use crate::profile::Profile;

/// Number of features.
pub const FEATURES: usize = 9;
/// Feature vector: bias, interest match, creator affinity, co-watch, CF, trending, freshness,
/// completion rate, position.
pub type Features = [f32; FEATURES];
/// The prior's weights: what the ranker does before it has learned anything, and what the
/// online model corrects (its log-odds are added).
pub const PRIOR: Features = [-1.0, 1.5, 1.0, 1.5, 3.0, 0.5, 0.6, 0.5, -0.3];
/// Feature names, for logs and docs.
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "bias",
    "interest",
    "creator",
    "cowatch",
    "cf",
    "trending",
    "freshness",
    "completion",
    "position",
];

/// Where a candidate came from (the first source that found it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Its tags or category match the viewer's interests.
    Interest,
    /// Watched together with the viewer's recent positives.
    CoWatch,
    /// The collaborative model.
    Cf,
    /// By a creator the viewer watches.
    Creator,
    /// Watched by many right now.
    Trending,
    /// Newly uploaded.
    Fresh,
    /// An exploration slot: a new video earning its place.
    Explore,
    /// Related to the video being watched.
    Related,
}

impl Source {
    /// The name in API answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interest => "interest",
            Self::CoWatch => "cowatch",
            Self::Cf => "cf",
            Self::Creator => "creator",
            Self::Trending => "trending",
            Self::Fresh => "fresh",
            Self::Explore => "explore",
            Self::Related => "related",
        }
    }
}

/// What one ranking reads.
pub struct Context<'a> {
    /// The recommendable videos.
    pub items: &'a ItemIndex,
    /// The folded state (profiles, co-watch, trending, the online model).
    pub state: &'a DiscoveryState,
    /// The collaborative model, once trained.
    pub cf: Option<&'a Ease<VideoId>>,
    /// The trending list (fastest first).
    pub trending: &'a [(VideoId, f32)],
    /// Now, Unix ms.
    pub now: i64,
}

/// One ranked video.
#[derive(Clone, Debug)]
pub struct Pick {
    /// The video.
    pub item: Arc<Item>,
    /// Its score (log-odds).
    pub score: f32,
    /// Why it is here.
    pub source: Source,
}

#[derive(Default)]
struct Candidate {
    source: Option<Source>,
    cowatch: f32,
    cf: f32,
}

/// The viewer's co-watch score for `video`: the sum of its co-watch with their recent
/// positives.
pub fn cowatch_score(
    state: &DiscoveryState,
    profile: Option<&Profile>,
    video: &VideoId,
    now: i64,
) -> f32 {
    let Some(profile) = profile else { return 0.0 };
    profile
        .recent
        .iter()
        .rev()
        .take(10)
        .flat_map(|r| state.cowatch.neighbours(r, now).into_iter().take(64))
        .filter(|(v, _)| v == video)
        .map(|(_, s)| s)
        .sum()
}

/// The features of `facts` for a viewer, `cowatch` and `cf` already computed.
#[allow(clippy::too_many_arguments)]
pub fn features(
    state: &DiscoveryState,
    profile: Option<&Profile>,
    video: &VideoId,
    facts: &ItemFacts,
    cowatch: f32,
    cf: f32,
    trending_max: f32,
    position: usize,
    now: i64,
) -> Features {
    let velocity = state.trending.velocity(video, now);
    let age_days = ((now - facts.created_at).max(0) as f32) / 86_400_000.0;
    [
        1.0,
        profile.map_or(0.0, |p| p.interest_match(facts, now)),
        profile.map_or(0.0, |p| (p.affinity(&facts.creator, now) / 3.0).tanh()),
        cowatch.max(0.0) / (2.0 + cowatch.max(0.0)),
        cf.max(0.0) / (1.0 + cf.max(0.0)),
        if trending_max > 0.0 {
            (1.0 + velocity).ln() / (1.0 + trending_max).ln()
        } else {
            0.0
        },
        (-age_days / 7.0).exp(),
        state.trending.completion_rate(video),
        (position as f32 / 10.0).min(3.0),
    ]
}

/// The prior's log-odds of `x`.
pub fn prior(x: &Features) -> f64 {
    PRIOR.iter().zip(x).map(|(w, x)| f64::from(w * x)).sum()
}

/// The score of `x`: the prior plus what the online model learned.
pub fn score(state: &DiscoveryState, x: &Features) -> f32 {
    (prior(x) + state.ranker.logit(x)) as f32
}

/// A page of the feed for a viewer (`None`: nobody known yet), excluding `served` (earlier
/// pages), at most `limit` long.
pub fn feed(
    ctx: &Context<'_>,
    profile: Option<&Profile>,
    served: &HashSet<VideoId>,
    limit: usize,
    rng: &mut impl Rng,
) -> Vec<Pick> {
    let now = ctx.now;
    let mut candidates: HashMap<VideoId, Candidate> = HashMap::new();
    fn add<'m>(
        candidates: &'m mut HashMap<VideoId, Candidate>,
        id: &VideoId,
        source: Source,
    ) -> &'m mut Candidate {
        let c = candidates.entry(id.clone()).or_default();
        c.source.get_or_insert(source);
        c
    }
    if let Some(p) = profile {
        for (term, _) in p.top_terms(8, now) {
            for id in ctx.items.with_term(&term).take(60) {
                add(&mut candidates, id, Source::Interest);
            }
        }
        let mut creators: Vec<(&String, f32)> = p
            .creators
            .iter()
            .map(|(c, d)| (c, d.at_time(now, crate::profile::INTEREST_HALF_LIFE_MS)))
            .filter(|(_, v)| *v > 0.5)
            .collect();
        creators.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (creator, _) in creators.into_iter().take(3) {
            for id in ctx.items.by_creator(creator).take(20) {
                add(&mut candidates, id, Source::Creator);
            }
        }
        for recent in p.recent.iter().rev().take(10) {
            for (id, s) in ctx
                .state
                .cowatch
                .neighbours(recent, now)
                .into_iter()
                .take(30)
            {
                add(&mut candidates, &id, Source::CoWatch).cowatch += s;
            }
        }
        if let Some(cf) = ctx.cf
            && !p.recent.is_empty()
        {
            let history = p.positives();
            let scores = cf.scores(&history);
            let mut order: Vec<usize> = (0..scores.len()).collect();
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
            for &i in order.iter().take(100) {
                if scores[i] <= 0.0 {
                    break;
                }
                let id = cf.item(i);
                add(&mut candidates, id, Source::Cf).cf = scores[i];
            }
        }
    }
    for (id, _) in ctx.trending.iter().take(100) {
        add(&mut candidates, id, Source::Trending);
    }
    for id in ctx.items.newest().take(100) {
        add(&mut candidates, id, Source::Fresh);
    }
    // A viewer nobody knows yet also gets a random sample, so cold starts differ.
    if profile.is_none_or(|p| p.interactions < 3) && !ctx.items.is_empty() {
        for item in ctx.items.iter().take(400).filter(|_| rng.random_bool(0.25)) {
            add(&mut candidates, &item.row.id, Source::Fresh);
        }
    }

    let trending_max = ctx.trending.first().map_or(0.0, |(_, v)| *v);
    let mut scored: Vec<Pick> = candidates
        .into_iter()
        .filter(|(id, _)| !served.contains(id))
        .filter_map(|(id, c)| {
            let item = ctx.items.get(&id)?;
            if profile.is_some_and(|p| p.excludes(&id, &item.facts)) {
                return None;
            }
            let x = features(
                ctx.state,
                profile,
                &id,
                &item.facts,
                c.cowatch,
                c.cf,
                trending_max,
                0,
                now,
            );
            // Seen without being played: a little less each time (items already seen).
            let shown = profile
                .and_then(|p| p.seen.get(&id))
                .map_or(0, |s| if s.watched_s == 0.0 { s.impressions } else { 0 });
            let jitter: f32 = rng.random_range(0.0..0.3);
            let score = score(ctx.state, &x) - 0.4 * shown.min(5) as f32 + jitter;
            Some(Pick {
                item: item.clone(),
                score,
                source: c.source.unwrap_or(Source::Fresh),
            })
        })
        .collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score));
    let explore = explorers(ctx, &scored, limit, rng);
    // Two per creator; one tag may fill at most three fifths of a page.
    diversify(scored, explore, limit, 2, (limit * 3 / 5).max(3))
}

/// New videos with few watches, for exploration slots: one in every five of a page.
fn explorers(ctx: &Context<'_>, scored: &[Pick], limit: usize, rng: &mut impl Rng) -> Vec<Pick> {
    let slots = limit / 5;
    if slots == 0 {
        return Vec::new();
    }
    let mut pool: Vec<&Pick> = scored
        .iter()
        .filter(|p| {
            ctx.now - p.item.facts.created_at < 14 * 86_400_000
                && ctx.state.trending.velocity(&p.item.row.id, ctx.now) < 3.0
        })
        .collect();
    let mut out = Vec::new();
    while out.len() < slots && !pool.is_empty() {
        let i = rng.random_range(0..pool.len());
        let mut pick = pool.swap_remove(i).clone();
        pick.source = Source::Explore;
        out.push(pick);
    }
    out
}

/// Picks the page in score order with at most `per_creator` videos of one creator and
/// `per_term` of one primary tag; exploration picks take every fifth slot. If the rules
/// leave the page short, it is filled with what they held back.
pub fn diversify(
    scored: Vec<Pick>,
    explore: Vec<Pick>,
    limit: usize,
    per_creator: usize,
    per_term: usize,
) -> Vec<Pick> {
    let explore_ids: HashSet<VideoId> = explore.iter().map(|p| p.item.row.id.clone()).collect();
    let mut explore = explore.into_iter();
    let mut page: Vec<Pick> = Vec::with_capacity(limit);
    let mut held: Vec<Pick> = Vec::new();
    let mut creators: HashMap<String, usize> = HashMap::new();
    let mut terms_used: HashMap<String, usize> = HashMap::new();
    let primary = |p: &Pick| terms(&p.item.facts).first().cloned();
    for pick in scored {
        if page.len() >= limit {
            break;
        }
        if page.len() % 5 == 4
            && let Some(e) = explore.next()
        {
            *creators.entry(e.item.facts.creator.clone()).or_default() += 1;
            if let Some(t) = primary(&e) {
                *terms_used.entry(t).or_default() += 1;
            }
            page.push(e);
            if page.len() >= limit {
                break;
            }
        }
        if explore_ids.contains(&pick.item.row.id) {
            continue;
        }
        let c = creators.get(&pick.item.facts.creator).copied().unwrap_or(0);
        let t = primary(&pick).map_or(0, |t| terms_used.get(&t).copied().unwrap_or(0));
        if c >= per_creator || t >= per_term {
            held.push(pick);
            continue;
        }
        *creators.entry(pick.item.facts.creator.clone()).or_default() += 1;
        if let Some(t) = primary(&pick) {
            *terms_used.entry(t).or_default() += 1;
        }
        page.push(pick);
    }
    for e in explore {
        if page.len() >= limit {
            break;
        }
        if !page.iter().any(|p| p.item.row.id == e.item.row.id) {
            page.push(e);
        }
    }
    for pick in held {
        if page.len() >= limit {
            break;
        }
        page.push(pick);
    }
    page
}

/// Videos related to `video` for a viewer: co-watch, the collaborative model's item
/// weights, shared tags and category, the same creator, with a little of the viewer's own
/// interests and trending; at most three of one creator.
pub fn related(
    ctx: &Context<'_>,
    profile: Option<&Profile>,
    video: &VideoId,
    facts: &ItemFacts,
    limit: usize,
) -> Vec<Pick> {
    let now = ctx.now;
    let mut candidates: HashMap<VideoId, (Source, f32)> = HashMap::new();
    for (id, s) in ctx
        .state
        .cowatch
        .neighbours(video, now)
        .into_iter()
        .take(50)
    {
        candidates.entry(id).or_insert((Source::CoWatch, 0.0)).1 += s;
    }
    if let Some(cf) = ctx.cf
        && let Some(i) = cf.index_of(video)
    {
        let scores = cf.scores(std::slice::from_ref(cf.item(i)));
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        for &j in order.iter().take(50).filter(|&&j| scores[j] > 0.0) {
            candidates
                .entry(cf.item(j).clone())
                .or_insert((Source::Cf, 0.0));
        }
    }
    let own_terms = terms(facts);
    for term in own_terms {
        for id in ctx.items.with_term(term).take(200) {
            candidates
                .entry(id.clone())
                .or_insert((Source::Related, 0.0));
        }
    }
    for id in ctx.items.by_creator(&facts.creator).take(30) {
        candidates
            .entry(id.clone())
            .or_insert((Source::Creator, 0.0));
    }
    for (id, _) in ctx.trending.iter().take(30) {
        candidates
            .entry(id.clone())
            .or_insert((Source::Trending, 0.0));
    }
    // Never short while there are videos: the newest fill up.
    for id in ctx.items.newest().take(limit + 1) {
        candidates.entry(id.clone()).or_insert((Source::Fresh, 0.0));
    }
    let trending_max = ctx.trending.first().map_or(0.0, |(_, v)| *v);
    let mut scored: Vec<Pick> = candidates
        .into_iter()
        .filter(|(id, _)| id != video)
        .filter_map(|(id, (source, cowatch))| {
            let item = ctx.items.get(&id)?;
            if profile.is_some_and(|p| p.excludes(&id, &item.facts)) {
                return None;
            }
            let theirs = terms(&item.facts);
            let shared = theirs.iter().filter(|t| own_terms.contains(t)).count();
            let union = (own_terms.len() + theirs.len() - shared).max(1);
            let jaccard = shared as f32 / union as f32;
            let cf = ctx.cf.map_or(0.0, |m| m.similarity(video, &id));
            let velocity = ctx.state.trending.velocity(&id, now);
            let trending = if trending_max > 0.0 {
                (1.0 + velocity).ln() / (1.0 + trending_max).ln()
            } else {
                0.0
            };
            let score = 3.0 * (cowatch / 3.0).tanh()
                + 2.0 * (cf * 10.0).tanh()
                + 2.0 * jaccard
                + if item.facts.creator == facts.creator {
                    0.5
                } else {
                    0.0
                }
                + 0.3 * trending
                + profile.map_or(0.0, |p| 0.5 * p.interest_match(&item.facts, now));
            Some(Pick {
                item: item.clone(),
                score,
                source,
            })
        })
        .collect();
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| b.item.facts.created_at.cmp(&a.item.facts.created_at))
    });
    diversify(scored, Vec::new(), limit, 3, usize::MAX)
}
