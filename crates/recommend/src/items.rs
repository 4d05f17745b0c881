//! What the recommender knows of videos: the facts signals need ([`ItemFacts`]) and the index
//! of recommendable videos (public and ready, by the catalog's policy) with the ways into it
//! that candidate sources use: by tag and category, by creator, newest first.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use spool_metadata::VideoRow;
use spool_model::VideoId;

/// A video's facts as signals and features use them (tags and category lower-cased).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemFacts {
    /// The owner's user name (the channel).
    pub creator: String,
    /// Tags, lower-cased.
    pub tags: Vec<String>,
    /// Category, lower-cased; empty for none.
    pub category: String,
    /// Duration in seconds, once probed.
    pub duration_s: Option<f64>,
    /// Created, Unix ms.
    pub created_at: i64,
    /// The interest terms of the tags and category (see [`terms`]), made once.
    pub terms: Vec<String>,
}

impl ItemFacts {
    /// Facts from their parts (tags and category are lower-cased here).
    pub fn new(
        creator: String,
        tags: &[String],
        category: &str,
        duration_s: Option<f64>,
        created_at: i64,
    ) -> Self {
        let tags: Vec<String> = tags.iter().map(|t| t.to_lowercase()).collect();
        let category = category.trim().to_lowercase();
        let mut terms: Vec<String> = tags.iter().map(|t| format!("t:{t}")).collect();
        if !category.is_empty() {
            terms.push(format!("c:{category}"));
        }
        Self {
            creator,
            tags,
            category,
            duration_s,
            created_at,
            terms,
        }
    }

    /// The facts of a catalog row.
    pub fn of(row: &VideoRow) -> Self {
        Self::new(
            row.owner_name.clone(),
            &row.tags,
            &row.category,
            row.duration_ms.map(|ms| ms as f64 / 1000.0),
            row.created_at,
        )
    }
}

/// A recommendable video: its row (for answers) and its facts (for ranking).
#[derive(Debug)]
pub struct Item {
    /// The catalog row as it was last seen.
    pub row: VideoRow,
    /// Its facts.
    pub facts: ItemFacts,
}

/// The recommendable videos. Only rows the catalog shows to anyone belong here; the service
/// checks that before [`upsert`](Self::upsert) and removes a row that stops qualifying.
#[derive(Debug, Default)]
pub struct ItemIndex {
    items: HashMap<VideoId, Arc<Item>>,
    by_term: HashMap<String, HashSet<VideoId>>,
    by_creator: HashMap<String, HashSet<VideoId>>,
    newest: BTreeSet<(i64, VideoId)>,
}

impl ItemIndex {
    /// How many videos are indexed.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when none are.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// One indexed video.
    pub fn get(&self, id: &VideoId) -> Option<&Arc<Item>> {
        self.items.get(id)
    }

    /// Every indexed video, in no order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Item>> {
        self.items.values()
    }

    /// Adds or replaces a video.
    pub fn upsert(&mut self, row: VideoRow) {
        let id = row.id.clone();
        self.remove(&id);
        let facts = ItemFacts::of(&row);
        for term in terms(&facts) {
            self.by_term
                .entry(term.clone())
                .or_default()
                .insert(id.clone());
        }
        self.by_creator
            .entry(facts.creator.clone())
            .or_default()
            .insert(id.clone());
        self.newest.insert((facts.created_at, id.clone()));
        self.items.insert(id, Arc::new(Item { row, facts }));
    }

    /// Removes a video (no-op when absent).
    pub fn remove(&mut self, id: &VideoId) {
        let Some(item) = self.items.remove(id) else {
            return;
        };
        for term in terms(&item.facts) {
            if let Some(set) = self.by_term.get_mut(term) {
                set.remove(id);
                if set.is_empty() {
                    self.by_term.remove(term);
                }
            }
        }
        if let Some(set) = self.by_creator.get_mut(&item.facts.creator) {
            set.remove(id);
            if set.is_empty() {
                self.by_creator.remove(&item.facts.creator);
            }
        }
        self.newest.remove(&(item.facts.created_at, id.clone()));
    }

    /// Videos carrying a tag or category (see [`terms`]).
    pub fn with_term(&self, term: &str) -> impl Iterator<Item = &VideoId> {
        self.by_term.get(term).into_iter().flatten()
    }

    /// Videos of a creator.
    pub fn by_creator(&self, creator: &str) -> impl Iterator<Item = &VideoId> {
        self.by_creator.get(creator).into_iter().flatten()
    }

    /// The newest videos, newest first.
    pub fn newest(&self) -> impl Iterator<Item = &VideoId> {
        self.newest.iter().rev().map(|(_, id)| id)
    }
}

/// The terms a video is found by in interest matching: `t:<tag>` per tag, `c:<category>`.
pub fn terms(facts: &ItemFacts) -> &[String] {
    &facts.terms
}
