//! The search index against the cases: Chinese and English, typos, prefixes,
//! filters, and privacy (never a match for anyone but the owner).

use spool_metadata::VideoRow;
use spool_model::Visibility;
use spool_search::{Length, SearchIndex, SearchQuery, Watermark};

const DAY: i64 = 86_400_000;
const NOW: i64 = 1_800_000_000_000;

struct V {
    title: &'static str,
    tags: &'static [&'static str],
    owner: i64,
    visibility: Visibility,
    minutes: i64,
    age_days: i64,
    category: &'static str,
}

fn row(v: &V) -> VideoRow {
    VideoRow {
        owner_name: format!("user{}", v.owner),
        title: v.title.to_owned(),
        tags: v.tags.iter().map(|t| (*t).to_owned()).collect(),
        category: v.category.to_owned(),
        duration_ms: Some(v.minutes * 60_000),
        created_at: NOW - v.age_days * DAY,
        updated_at: NOW,
        ..spool_metadata::testing::video_row(v.owner, v.visibility)
    }
}

fn v(title: &'static str, owner: i64, visibility: Visibility) -> V {
    V {
        title,
        tags: &[],
        owner,
        visibility,
        minutes: 2,
        age_days: 1,
        category: "",
    }
}

fn index(videos: &[V]) -> (SearchIndex, Vec<VideoRow>) {
    let index = SearchIndex::in_memory().unwrap();
    let rows: Vec<VideoRow> = videos.iter().map(row).collect();
    for r in &rows {
        index.upsert(r, r.visibility == Visibility::Public).unwrap();
    }
    index.commit(&Watermark::default()).unwrap();
    (index, rows)
}

fn titles(index: &SearchIndex, rows: &[VideoRow], q: SearchQuery) -> Vec<String> {
    index
        .search(&q)
        .unwrap()
        .iter()
        .map(|h| rows.iter().find(|r| r.id == h.id).unwrap().title.clone())
        .collect()
}

fn q(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.to_owned(),
        ..SearchQuery::default()
    }
}

#[test]
fn chinese_titles_match_words_inside_them() {
    let (index, rows) = index(&[
        v("篮球比赛精彩集锦", 1, Visibility::Public),
        v("今天的足球新闻", 1, Visibility::Public),
        v("动漫推荐：十部经典", 1, Visibility::Public),
    ]);
    for (query, expect) in [
        ("篮球", "篮球比赛精彩集锦"),
        ("足球", "今天的足球新闻"),
        ("经典动漫", "动漫推荐：十部经典"),
        ("比赛集锦", "篮球比赛精彩集锦"),
    ] {
        let found = titles(&index, &rows, q(query));
        assert_eq!(
            found.first().map(String::as_str),
            Some(expect),
            "{query}: {found:?}"
        );
    }
    assert!(titles(&index, &rows, q("排球")).is_empty());
}

#[test]
fn english_with_typos_and_prefixes() {
    let (index, rows) = index(&[
        v("Basketball highlights of the week", 1, Visibility::Public),
        v("Cooking pasta at home", 1, Visibility::Public),
        v("Mountain biking in the Alps", 1, Visibility::Public),
    ]);
    for (query, expect) in [
        ("basketball", "Basketball highlights of the week"),
        ("BASKETBALL Highlights", "Basketball highlights of the week"),
        ("basketbal", "Basketball highlights of the week"),
        ("baksetball", "Basketball highlights of the week"),
        ("cookng", "Cooking pasta at home"),
        ("mountian", "Mountain biking in the Alps"),
        ("past", "Cooking pasta at home"),
    ] {
        let found = titles(&index, &rows, q(query));
        assert_eq!(
            found.first().map(String::as_str),
            Some(expect),
            "{query}: {found:?}"
        );
    }
    let s = index.suggest("basketb", None, 5).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].title, "Basketball highlights of the week");
    let s = index.suggest("cooking pa", None, 5).unwrap();
    assert_eq!(s[0].title, "Cooking pasta at home");
    assert!(index.suggest("cooking bi", None, 5).unwrap().is_empty());
}

#[test]
fn private_and_unlisted_videos_match_only_for_their_owner() {
    let (index, rows) = index(&[
        v("secret diary 秘密日记", 7, Visibility::Private),
        v("secret link", 7, Visibility::Unlisted),
        v("secret public", 8, Visibility::Public),
    ]);
    let anyone = titles(&index, &rows, q("secret"));
    assert_eq!(anyone, vec!["secret public"]);
    let other = titles(
        &index,
        &rows,
        SearchQuery {
            owner: Some(8),
            ..q("secret 秘密")
        },
    );
    assert_eq!(other, vec!["secret public"]);
    let mut owner = titles(
        &index,
        &rows,
        SearchQuery {
            owner: Some(7),
            ..q("secret")
        },
    );
    owner.sort();
    assert_eq!(owner.len(), 3, "{owner:?}");
    assert!(
        index
            .suggest("secr", None, 10)
            .unwrap()
            .iter()
            .all(|s| s.title == "secret public")
    );
    // Made private later: gone for everyone else once re-indexed.
    let mut public = rows[2].clone();
    public.visibility = Visibility::Private;
    index.upsert(&public, false).unwrap();
    index.commit(&Watermark::default()).unwrap();
    assert!(titles(&index, &rows, q("secret")).is_empty());
}

#[test]
fn filters_by_length_date_and_category() {
    let video = |title, minutes, age_days, category| V {
        title,
        tags: &["match"],
        owner: 1,
        visibility: Visibility::Public,
        minutes,
        age_days,
        category,
    };
    let (index, rows) = index(&[
        video("short clip", 1, 0, "nba"),
        video("medium talk", 10, 3, "nba"),
        video("long film", 90, 40, "anime"),
    ]);
    let with = |length, after: Option<i64>, category: Option<&str>| {
        titles(
            &index,
            &rows,
            SearchQuery {
                length,
                created_after: after,
                category: category.map(str::to_owned),
                ..q("match")
            },
        )
    };
    assert_eq!(with(Some(Length::Short), None, None), vec!["short clip"]);
    assert_eq!(with(Some(Length::Medium), None, None), vec!["medium talk"]);
    assert_eq!(with(Some(Length::Long), None, None), vec!["long film"]);
    assert_eq!(with(None, Some(NOW - 7 * DAY), Some("NBA")).len(), 2);
    assert_eq!(with(None, Some(NOW - DAY), None), vec!["short clip"]);
    assert_eq!(with(None, None, Some("anime")), vec!["long film"]);
}

#[test]
fn the_index_survives_a_reopen_and_a_schema_change_rebuilds_it() {
    let dir = tempfile::tempdir().unwrap();
    let r = row(&v("durable title", 1, Visibility::Public));
    {
        let (index, mark) = SearchIndex::open(dir.path()).unwrap();
        assert!(mark.is_none(), "a new index asks to be built");
        index.upsert(&r, true).unwrap();
        index
            .commit(&Watermark {
                version: spool_search::index::SCHEMA_VERSION,
                synced_to: 42,
            })
            .unwrap();
    }
    let (index, mark) = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(mark.map(|m| m.synced_to), Some(42));
    assert_eq!(index.search(&q("durable")).unwrap().len(), 1);
    drop(index);
    // Another version's index is not trusted.
    let meta = dir.path().join("meta.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    let bumped = text.replace("\\\"version\\\":1", "\\\"version\\\":999");
    assert_ne!(text, bumped, "{text}");
    std::fs::write(&meta, bumped).unwrap();
    let (index, mark) = SearchIndex::open(dir.path()).unwrap();
    assert!(mark.is_none());
    assert!(index.is_empty());
}
