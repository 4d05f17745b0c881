//! The recommender's behaviour from events: profile updates, filters, diversity, cold start,
//! the anonymous-to-account merge, duplicates, the online model and related videos.

use std::collections::{HashMap, HashSet};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};
use spool_events::tracking::{EventType, TrackedEvent};
use spool_metadata::VideoRow;
use spool_model::{VideoId, Visibility};
use spool_recommend::DiscoveryState;
use spool_recommend::items::{ItemFacts, ItemIndex};
use spool_recommend::rank::{self, Context, Pick};
use spool_recommend::state::BatchFacts;

const NOW: i64 = 1_800_000_000_000;
const MIN: i64 = 60_000;

fn video(creator: &str, tags: &[&str], category: &str, age_days: i64) -> VideoRow {
    VideoRow {
        owner_name: creator.to_owned(),
        title: format!("{creator} {}", tags.join(" ")),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        category: category.to_owned(),
        duration_ms: Some(60_000),
        created_at: NOW - age_days * 86_400_000,
        updated_at: NOW,
        ..spool_metadata::testing::video_row(1, Visibility::Public)
    }
}

struct World {
    items: ItemIndex,
    state: DiscoveryState,
    facts: HashMap<VideoId, ItemFacts>,
    clock: i64,
    seq: u64,
}

impl World {
    fn new(rows: Vec<VideoRow>) -> Self {
        let mut items = ItemIndex::default();
        let mut facts = HashMap::new();
        for r in rows {
            facts.insert(r.id.clone(), ItemFacts::of(&r));
            items.upsert(r);
        }
        Self {
            items,
            state: DiscoveryState::default(),
            facts,
            clock: NOW - 60 * MIN,
            seq: 0,
        }
    }

    fn ids_where(&self, f: impl Fn(&ItemFacts) -> bool) -> Vec<VideoId> {
        let mut ids: Vec<VideoId> = self
            .facts
            .iter()
            .filter(|(_, x)| f(x))
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    fn event(
        &mut self,
        viewer: (&str, Option<&str>),
        kind: EventType,
        video: &VideoId,
        props: Value,
        position: Option<f64>,
    ) -> TrackedEvent {
        self.clock += 1000;
        self.seq += 1;
        let (anon, user) = viewer;
        TrackedEvent {
            event_id: format!("00000000-0000-4000-8000-{:012}", self.seq),
            kind,
            anonymous_id: Some(anon.to_owned()),
            user: user.map(str::to_owned),
            session_id: "s1".to_owned(),
            video_id: Some(video.to_string()),
            position_s: position,
            properties: match props {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            occurred_at: self.clock,
            sent_at: self.clock,
            received_at: self.clock,
            at: self.clock,
            address: None,
        }
    }

    fn fold(&mut self, events: &[TrackedEvent]) {
        let batch = BatchFacts {
            facts: self.facts.clone(),
            cf: None,
        };
        self.state.apply(events, &batch);
    }

    /// A viewer watches a whole video and likes it.
    fn love(&mut self, viewer: (&str, Option<&str>), video: &VideoId) {
        let events = vec![
            self.event(viewer, EventType::Play, video, json!({}), Some(0.0)),
            self.event(
                viewer,
                EventType::Heartbeat,
                video,
                json!({"from_s": 0.0, "to_s": 60.0}),
                Some(60.0),
            ),
            self.event(viewer, EventType::Like, video, json!({}), None),
        ];
        self.fold(&events);
    }

    fn feed(&self, viewer: &str, served: &HashSet<VideoId>, seed: u64) -> Vec<Pick> {
        let trending = self.state.trending.top(200, NOW);
        let ctx = Context {
            items: &self.items,
            state: &self.state,
            cf: None,
            trending: &trending,
            now: NOW,
        };
        rank::feed(
            &ctx,
            self.state.profile(viewer),
            served,
            10,
            &mut StdRng::seed_from_u64(seed),
        )
    }
}

fn catalogue() -> Vec<VideoRow> {
    let mut rows = Vec::new();
    for i in 0..20 {
        rows.push(video(
            &format!("anime{}", i % 5),
            &["anime", "mecha"],
            "anime",
            30 + i,
        ));
        rows.push(video(
            &format!("nba{}", i % 5),
            &["basketball", "nba"],
            "nba",
            30 + i,
        ));
        rows.push(video(
            &format!("cook{}", i % 5),
            &["cooking"],
            "food",
            30 + i,
        ));
    }
    rows
}

fn share(picks: &[Pick], category: &str) -> usize {
    picks
        .iter()
        .filter(|p| p.item.facts.category == category)
        .count()
}

#[test]
fn watching_and_liking_raises_interest_and_skipping_lowers_it() {
    let mut w = World::new(catalogue());
    let anime = w.ids_where(|f| f.category == "anime");
    let nba = w.ids_where(|f| f.category == "nba");
    let me = ("dev1", None);
    w.love(me, &anime[0]);
    let p = w.state.profile("a:dev1").unwrap();
    assert!(p.interest("t:anime", w.clock) > 0.5);
    assert!(p.interest("c:anime", w.clock) > 1.0);
    assert!(p.affinity(&w.facts[&anime[0]].creator, w.clock) > 1.0);
    assert!(p.seen[&anime[0]].completed);
    assert_eq!(p.recent.back(), Some(&anime[0]));
    // An early skip is a negative signal, a not-interested a stronger one.
    let skip = w.event(me, EventType::Skip, &nba[0], json!({}), Some(1.0));
    let refuse = w.event(me, EventType::NotInterested, &nba[1], json!({}), None);
    w.fold(&[skip, refuse]);
    let p = w.state.profile("a:dev1").unwrap();
    assert!(
        p.interest("c:nba", w.clock) < -4.0,
        "{}",
        p.interest("c:nba", w.clock)
    );
    assert!(p.not_interested.contains(&nba[1]));
    // An unlike takes a like back.
    let before = p.interest("c:anime", w.clock);
    let unlike = w.event(me, EventType::Unlike, &anime[0], json!({}), None);
    w.fold(&[unlike]);
    assert!(
        w.state
            .profile("a:dev1")
            .unwrap()
            .interest("c:anime", w.clock)
            < before - 2.5
    );
}

#[test]
fn the_profile_takes_over_after_a_few_interactions() {
    let mut w = World::new(catalogue());
    let cold = w.feed("a:new", &HashSet::new(), 1);
    assert_eq!(cold.len(), 10);
    let nba = w.ids_where(|f| f.category == "nba");
    for id in nba.iter().take(3) {
        w.love(("fan", None), id);
    }
    let warm = w.feed("a:fan", &HashSet::new(), 1);
    assert!(
        share(&warm, "nba") >= 5,
        "nba {} of {:?}",
        share(&warm, "nba"),
        warm.iter()
            .map(|p| &p.item.facts.category)
            .collect::<Vec<_>>()
    );
    assert!(share(&warm, "nba") > share(&cold, "nba"));
}

#[test]
fn cold_start_mixes_trending_fresh_and_differs_between_viewers() {
    let mut rows = catalogue();
    let fresh = video("newcomer", &["travel"], "travel", 0);
    let fresh_id = fresh.id.clone();
    rows.push(fresh);
    let mut w = World::new(rows);
    // Many viewers watch one cooking video: it trends.
    let hot = w.ids_where(|f| f.category == "food")[0].clone();
    for i in 0..30 {
        let viewer = format!("v{i}");
        let e = w.event(
            (&viewer, None),
            EventType::Heartbeat,
            &hot,
            json!({"from_s": 0.0, "to_s": 20.0}),
            Some(20.0),
        );
        w.fold(&[e]);
    }
    let a = w.feed("a:stranger1", &HashSet::new(), 1);
    let b = w.feed("a:stranger2", &HashSet::new(), 2);
    let ids = |p: &[Pick]| p.iter().map(|p| p.item.row.id.clone()).collect::<Vec<_>>();
    assert!(
        ids(&a).contains(&hot),
        "the trending video is offered to a new viewer"
    );
    assert!(
        ids(&a).contains(&fresh_id) || ids(&b).contains(&fresh_id),
        "the fresh upload is offered"
    );
    assert_ne!(ids(&a), ids(&b), "two new viewers do not get the same page");
    let categories: HashSet<&str> = a.iter().map(|p| p.item.facts.category.as_str()).collect();
    assert!(categories.len() >= 3, "{categories:?}");
}

#[test]
fn commenting_is_a_positive_signal_and_following_raises_creator_affinity() {
    let mut w = World::new(catalogue());
    let cooking = w.ids_where(|f| f.category == "food");
    let nba = w.ids_where(|f| f.category == "nba");
    let me = ("dev2", None);
    let comment = w.event(
        me,
        EventType::Comment,
        &cooking[0],
        json!({"comment_id": "c1"}),
        None,
    );
    w.fold(&[comment]);
    let p = w.state.profile("a:dev2").unwrap();
    assert!(
        p.interest("c:food", w.clock) > 1.0,
        "{}",
        p.interest("c:food", w.clock)
    );
    assert!(p.seen[&cooking[0]].positive);
    assert_eq!(p.recent.back(), Some(&cooking[0]));
    // A follow is about the creator: affinity rises, the video's interests do not.
    let creator = w.facts[&nba[0]].creator.clone();
    let follow = w.event(
        me,
        EventType::Follow,
        &nba[0],
        json!({"channel": creator}),
        None,
    );
    w.fold(&[follow]);
    let p = w.state.profile("a:dev2").unwrap();
    let followed = p.affinity(&creator, w.clock);
    assert!(followed > 3.5, "{followed}");
    assert_eq!(p.interest("c:nba", w.clock), 0.0);
    let unfollow = w.event(
        me,
        EventType::Unfollow,
        &nba[0],
        json!({"channel": creator}),
        None,
    );
    w.fold(&[unfollow]);
    let p = w.state.profile("a:dev2").unwrap();
    assert!(
        p.affinity(&creator, w.clock) < 0.5,
        "{}",
        p.affinity(&creator, w.clock)
    );
}

#[test]
fn finished_refused_hidden_and_served_videos_are_filtered() {
    let mut w = World::new(catalogue());
    let nba = w.ids_where(|f| f.category == "nba");
    let me = ("viewer", None);
    for id in nba.iter().take(3) {
        w.love(me, id);
    }
    let refuse = w.event(me, EventType::NotInterested, &nba[3], json!({}), None);
    let hidden_creator = w.facts[&nba[4]].creator.clone();
    let hide = w.event(me, EventType::HideCreator, &nba[4], json!({}), None);
    w.fold(&[refuse, hide]);
    let served: HashSet<VideoId> = nba[5..8].iter().cloned().collect();
    for seed in 0..5 {
        let page = w.feed("a:viewer", &served, seed);
        for p in &page {
            let id = &p.item.row.id;
            assert!(!nba[..4].contains(id), "finished or refused video offered");
            assert!(!served.contains(id), "a video of an earlier page repeated");
            assert_ne!(
                p.item.facts.creator, hidden_creator,
                "a hidden creator's video offered"
            );
        }
    }
}

#[test]
fn no_wall_of_one_creator_or_one_tag() {
    let mut rows = Vec::new();
    for i in 0..30 {
        rows.push(video("prolific", &["anime"], "anime", 30 + i));
    }
    for i in 0..10 {
        rows.push(video(
            &format!("other{i}"),
            &[&format!("tag{i}")],
            "misc",
            i,
        ));
    }
    let mut w = World::new(rows);
    let prolific = w.ids_where(|f| f.creator == "prolific");
    for id in prolific.iter().take(5) {
        w.love(("otaku", None), id);
    }
    let page = w.feed("a:otaku", &HashSet::new(), 3);
    assert_eq!(page.len(), 10);
    let by_prolific = page
        .iter()
        .filter(|p| p.item.facts.creator == "prolific")
        .count();
    assert!(by_prolific <= 3, "{by_prolific} of 10 from one creator");
    // Exploration (new videos with few watches) takes every fifth slot.
    let explored = page
        .iter()
        .filter(|p| p.source == rank::Source::Explore)
        .count();
    assert_eq!(
        explored,
        2,
        "{:?}",
        page.iter().map(|p| p.source).collect::<Vec<_>>()
    );
}

#[test]
fn an_anonymous_profile_merges_into_the_account_at_sign_in() {
    let mut w = World::new(catalogue());
    let anime = w.ids_where(|f| f.category == "anime");
    w.love(("device9", None), &anime[0]);
    assert!(w.state.profile("a:device9").is_some());
    let signed_in = w.event(
        ("device9", Some("ann")),
        EventType::Play,
        &anime[1],
        json!({}),
        Some(0.0),
    );
    w.fold(&[signed_in]);
    assert!(w.state.profile("a:device9").is_none());
    let p = w.state.profile("u:ann").unwrap();
    assert!(p.interest("c:anime", w.clock) > 1.0);
    assert!(p.seen[&anime[0]].completed);
}

#[test]
fn a_retried_event_counts_once_and_the_state_survives_a_checkpoint() {
    let mut w = World::new(catalogue());
    let id = w.ids_where(|f| f.category == "food")[0].clone();
    let like = w.event(("d", None), EventType::Like, &id, json!({}), None);
    w.fold(std::slice::from_ref(&like));
    let once = w.state.profile("a:d").unwrap().interest("c:food", w.clock);
    w.fold(&[like]);
    assert_eq!(
        w.state.profile("a:d").unwrap().interest("c:food", w.clock),
        once
    );
    let json = serde_json::to_string(&w.state).unwrap();
    let back: DiscoveryState = serde_json::from_str(&json).unwrap();
    assert_eq!(
        back.profile("a:d").unwrap().interest("c:food", w.clock),
        once
    );
    assert_eq!(back.events, w.state.events);
}

#[test]
fn impressions_teach_the_online_model() {
    let mut w = World::new(catalogue());
    let anime = w.ids_where(|f| f.category == "anime");
    let nba = w.ids_where(|f| f.category == "nba");
    for round in 0..40 {
        let viewer = format!("u{round}");
        let me = (viewer.as_str(), None);
        w.love(me, &anime[round % 5]);
        // Shown one anime (watched) and one nba video (skipped).
        let a = &anime[5 + round % 10];
        let n = &nba[round % 10];
        let events = vec![
            w.event(me, EventType::Impression, a, json!({"position": 0}), None),
            w.event(me, EventType::Impression, n, json!({"position": 1}), None),
            w.event(me, EventType::Play, a, json!({}), Some(0.0)),
            w.event(me, EventType::Skip, n, json!({}), Some(0.5)),
        ];
        w.fold(&events);
    }
    assert_eq!(w.state.ranker.examples, 80);
    let weights = w.state.ranker.weights();
    assert!(
        weights[1] > 0.0,
        "interest match learnt as positive: {weights:?}"
    );
}

#[test]
fn related_puts_co_watched_videos_first() {
    let mut w = World::new(catalogue());
    let anime = w.ids_where(|f| f.category == "anime");
    let cooking = w.ids_where(|f| f.category == "food");
    // Viewers who love anime[0] also love cooking[0].
    for i in 0..5 {
        let viewer = format!("c{i}");
        w.love((&viewer, None), &anime[0]);
        w.love((&viewer, None), &cooking[0]);
    }
    let trending = w.state.trending.top(200, NOW);
    let ctx = Context {
        items: &w.items,
        state: &w.state,
        cf: None,
        trending: &trending,
        now: NOW,
    };
    let facts = w.facts[&anime[0]].clone();
    let related = rank::related(&ctx, None, &anime[0], &facts, 10);
    assert_eq!(related[0].item.row.id, cooking[0], "co-watch first");
    assert!(related.iter().all(|p| p.item.row.id != anime[0]));
    assert!(
        related
            .iter()
            .skip(1)
            .take(5)
            .all(|p| p.item.facts.category == "anime"),
        "then shared tags"
    );
}
