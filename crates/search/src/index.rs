//! The search index (tantivy) over the catalogue's ready videos: titles, descriptions, tags
//! and channel names through [`crate::tokens`], with the facts filters need as fast fields
//! and who may find each video (anyone, or its owner only).

use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use spool_metadata::VideoRow;
use spool_model::VideoId;
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::tokens::{ANALYZER, SpoolTokenizer, words};

/// Bumped when the schema or the analyzer changes: an index of another version is rebuilt.
pub const SCHEMA_VERSION: u32 = 1;
/// Hits read from the index before blending and paging.
pub const CANDIDATES: usize = 200;

/// What the last commit covered, stored in tantivy's commit payload.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Watermark {
    /// [`SCHEMA_VERSION`] of the index.
    pub version: u32,
    /// Every change of a video row before this time (`updated_at`, Unix ms) is indexed.
    pub synced_to: i64,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    description: Field,
    tags: Field,
    channel: Field,
    category: Field,
    owner: Field,
    public: Field,
    created_at: Field,
    duration_s: Field,
    views: Field,
}

/// How long the videos may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// Under 4 minutes.
    Short,
    /// 4 to 20 minutes.
    Medium,
    /// Over 20 minutes.
    Long,
}

impl Length {
    /// `short`, `medium`, `long`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "short" => Some(Self::Short),
            "medium" => Some(Self::Medium),
            "long" => Some(Self::Long),
            _ => None,
        }
    }

    fn seconds(self) -> (Bound<u64>, Bound<u64>) {
        match self {
            Self::Short => (Bound::Unbounded, Bound::Excluded(240)),
            Self::Medium => (Bound::Included(240), Bound::Included(1200)),
            Self::Long => (Bound::Excluded(1200), Bound::Unbounded),
        }
    }
}

/// One search.
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    /// What was typed.
    pub text: String,
    /// The asker's user id, if signed in (their own unlisted and private videos match too).
    pub owner: Option<i64>,
    /// Only videos of this length.
    pub length: Option<Length>,
    /// Only videos created at or after this time, Unix ms.
    pub created_after: Option<i64>,
    /// Only videos of this category (case-insensitive).
    pub category: Option<String>,
}

/// A matching video with what blending needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// The video.
    pub id: VideoId,
    /// BM25 text relevance (with the fields' boosts).
    pub relevance: f32,
    /// Views when indexed.
    pub views: u64,
    /// Created, Unix ms.
    pub created_at: i64,
}

/// A title completing what was typed.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    /// The video's title.
    pub title: String,
    /// The video.
    pub id: VideoId,
}

/// Errors of the index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// tantivy failed (I/O, a corrupt segment).
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The directory could not be used.
    #[error("search index directory: {0}")]
    Io(#[from] std::io::Error),
}

/// The index, its writer and reader.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    /// Open only between a change and the commit that follows it: a writer holds its indexing
    /// arena and term table (megabytes, zeroed up front), which an idle server should not.
    writer: Mutex<Option<IndexWriter>>,
    fields: Fields,
}

/// The writer's memory budget: tantivy's minimum per indexing thread, plenty for catalogue
/// rows between two commits.
const WRITER_BUDGET: usize = 15_000_000;

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |stored: bool| {
        let o = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        if stored { o.set_stored() } else { o }
    };
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        title: b.add_text_field("title", text(true)),
        description: b.add_text_field("description", text(false)),
        tags: b.add_text_field("tags", text(false)),
        channel: b.add_text_field("channel", text(false)),
        category: b.add_text_field("category", STRING),
        owner: b.add_i64_field("owner", INDEXED),
        public: b.add_u64_field("public", INDEXED),
        created_at: b.add_i64_field("created_at", INDEXED | FAST | STORED),
        duration_s: b.add_u64_field("duration_s", INDEXED | FAST),
        views: b.add_u64_field("views", STORED),
    };
    (b.build(), fields)
}

impl SearchIndex {
    /// Opens the index in `dir`, or creates an empty one there (also when the one there is
    /// of another [`SCHEMA_VERSION`] or unreadable: the caller then rebuilds it). Returns it
    /// with its watermark (`None`: empty, rebuild from the catalogue).
    pub fn open(dir: &Path) -> Result<(Self, Option<Watermark>), IndexError> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let existing = Index::open_in_dir(dir).ok().and_then(|index| {
            let metas = index.load_metas().ok()?;
            let mark: Watermark = serde_json::from_str(metas.payload.as_deref()?).ok()?;
            (mark.version == SCHEMA_VERSION && index.schema() == schema).then_some((index, mark))
        });
        let (index, mark) = match existing {
            Some((index, mark)) => (index, Some(mark)),
            None => {
                // Whatever is there is not ours to trust: start over.
                for entry in std::fs::read_dir(dir)? {
                    let path = entry?.path();
                    if path.is_dir() {
                        std::fs::remove_dir_all(&path)?;
                    } else {
                        std::fs::remove_file(&path)?;
                    }
                }
                (Index::create_in_dir(dir, schema)?, None)
            }
        };
        Self::with_index(index, fields).map(|s| (s, mark))
    }

    /// An index in memory (tests).
    pub fn in_memory() -> Result<Self, IndexError> {
        let (schema, fields) = schema();
        Self::with_index(Index::create_in_ram(schema), fields)
    }

    fn with_index(index: Index, fields: Fields) -> Result<Self, IndexError> {
        index
            .tokenizers()
            .register(ANALYZER, SpoolTokenizer::default());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            index,
            reader,
            writer: Mutex::new(None),
            fields,
        })
    }

    /// Runs `f` with the writer, opening it when none is open.
    fn with_writer<T>(
        &self,
        f: impl FnOnce(&mut IndexWriter) -> Result<T, IndexError>,
    ) -> Result<T, IndexError> {
        let mut slot = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let writer = match &mut *slot {
            Some(writer) => writer,
            empty => empty.insert(self.index.writer_with_num_threads(1, WRITER_BUDGET)?),
        };
        f(writer)
    }

    /// Puts `row` in the index as it is now (a row that is not ready is taken out). Seen
    /// by searches after the next [`commit`](Self::commit).
    pub fn upsert(&self, row: &VideoRow, public: bool) -> Result<(), IndexError> {
        let f = self.fields;
        self.with_writer(|writer| {
            writer.delete_term(Term::from_field_text(f.id, row.id.as_str()));
            Ok(())
        })?;
        if row.status != spool_model::VideoStatus::Ready {
            return Ok(());
        }
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, row.id.as_str());
        doc.add_text(f.title, &row.title);
        doc.add_text(f.description, &row.description);
        for tag in &row.tags {
            doc.add_text(f.tags, tag);
        }
        doc.add_text(f.channel, &row.owner_name);
        doc.add_text(f.category, row.category.trim().to_lowercase());
        doc.add_i64(f.owner, row.owner_id);
        doc.add_u64(f.public, u64::from(public));
        doc.add_i64(f.created_at, row.created_at);
        doc.add_u64(
            f.duration_s,
            row.duration_ms.map_or(0, |ms| (ms.max(0) / 1000) as u64),
        );
        doc.add_u64(f.views, row.views.max(0) as u64);
        self.with_writer(|writer| Ok(writer.add_document(doc)?))?;
        Ok(())
    }

    /// Takes a video out.
    pub fn remove(&self, id: &VideoId) -> Result<(), IndexError> {
        self.with_writer(|writer| {
            writer.delete_term(Term::from_field_text(self.fields.id, id.as_str()));
            Ok(())
        })
    }

    /// Makes everything written so far durable (tantivy fsyncs its files and meta) with its
    /// watermark, and visible to searches.
    pub fn commit(&self, mark: &Watermark) -> Result<(), IndexError> {
        // One lock scope from the commit to the writer's close: a change that slipped in
        // between would be dropped with the writer, and a second writer cannot open while
        // this one still holds the index's lock.
        let mut slot = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut writer = match slot.take() {
            Some(writer) => writer,
            None => self.index.writer_with_num_threads(1, WRITER_BUDGET)?,
        };
        let committed = writer.prepare_commit().and_then(|mut prepared| {
            prepared.set_payload(&serde_json::to_string(mark).expect("watermark serializes"));
            prepared.commit()
        });
        if let Err(e) = committed {
            *slot = Some(writer); // keep what was written for the next try
            return Err(e.into());
        }
        // Closed until the next change (its merge threads finish first).
        writer.wait_merging_threads()?;
        drop(slot);
        self.reader.reload()?;
        Ok(())
    }

    /// Documents searchable now.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// True when nothing is searchable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Who may find a video: anyone's public ones, and the asker's own.
    fn visible_to(&self, owner: Option<i64>) -> Box<dyn Query> {
        let f = self.fields;
        let mut who: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Should,
            Box::new(TermQuery::new(
                Term::from_field_u64(f.public, 1),
                IndexRecordOption::Basic,
            )),
        )];
        if let Some(owner) = owner {
            who.push((
                Occur::Should,
                Box::new(TermQuery::new(
                    Term::from_field_i64(f.owner, owner),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        Box::new(BooleanQuery::new(who))
    }

    /// The clauses of one typed word: exact in each field (title weighs most), with typos
    /// for longer Latin words, and as a prefix when it is the word being typed.
    fn word_query(&self, word: &str, last: bool) -> Box<dyn Query> {
        let f = self.fields;
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, boost) in [
            (f.title, 3.0),
            (f.tags, 2.0),
            (f.channel, 2.0),
            (f.description, 1.0),
        ] {
            let term = Term::from_field_text(field, word);
            should.push((
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
                    boost,
                )),
            ));
        }
        let latin = word.chars().all(|c| c.is_ascii_alphanumeric());
        let chars = word.chars().count();
        if latin && chars >= 4 {
            let distance = if chars >= 8 { 2 } else { 1 };
            for (field, boost) in [(f.title, 1.0), (f.tags, 0.7), (f.channel, 0.7)] {
                let term = Term::from_field_text(field, word);
                should.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new(term, distance, true)),
                        boost,
                    )),
                ));
            }
        }
        if last {
            for field in [f.title, f.tags, f.channel] {
                let term = Term::from_field_text(field, word);
                should.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new_prefix(term, 0, false)),
                        0.8,
                    )),
                ));
            }
        }
        Box::new(BooleanQuery::new(should))
    }

    fn filters(&self, q: &SearchQuery) -> Vec<(Occur, Box<dyn Query>)> {
        let f = self.fields;
        let mut must: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, self.visible_to(q.owner))];
        if let Some(length) = q.length {
            let (lo, hi) = length.seconds();
            let term = |b: Bound<u64>| b.map(|s| Term::from_field_u64(f.duration_s, s));
            must.push((Occur::Must, Box::new(RangeQuery::new(term(lo), term(hi)))));
        }
        if let Some(after) = q.created_after {
            must.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_i64(f.created_at, after)),
                    Bound::Unbounded,
                )),
            ));
        }
        if let Some(category) = q.category.as_deref().filter(|c| !c.is_empty()) {
            must.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.category, &category.trim().to_lowercase()),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        must
    }

    /// The best [`CANDIDATES`] matches of `q` by text relevance (any word may match; more
    /// matching words rank higher).
    pub fn search(&self, q: &SearchQuery) -> Result<Vec<Hit>, IndexError> {
        let typed = words(&q.text);
        if typed.is_empty() {
            return Ok(Vec::new());
        }
        let last = typed.len() - 1;
        let text: Vec<(Occur, Box<dyn Query>)> = typed
            .iter()
            .enumerate()
            .map(|(i, w)| (Occur::Should, self.word_query(w, i == last)))
            .collect();
        let mut clauses = self.filters(q);
        clauses.push((Occur::Must, Box::new(BooleanQuery::new(text))));
        let searcher = self.reader.searcher();
        let top = searcher.search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(CANDIDATES).order_by_score(),
        )?;
        let f = self.fields;
        let mut hits = Vec::with_capacity(top.len());
        for (relevance, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let Some(id) = doc
                .get_first(f.id)
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse().ok())
            else {
                continue;
            };
            hits.push(Hit {
                id,
                relevance,
                views: doc.get_first(f.views).and_then(|v| v.as_u64()).unwrap_or(0),
                created_at: doc
                    .get_first(f.created_at)
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0),
            });
        }
        Ok(hits)
    }

    /// Titles completing `prefix` (its last word as a prefix, the others whole), most viewed
    /// first, at most `limit`, each title once.
    pub fn suggest(
        &self,
        prefix: &str,
        owner: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Suggestion>, IndexError> {
        let typed = words(prefix);
        let Some((last, before)) = typed.split_last() else {
            return Ok(Vec::new());
        };
        let f = self.fields;
        let mut clauses = self.filters(&SearchQuery {
            owner,
            ..SearchQuery::default()
        });
        for word in before {
            let any_field: Vec<(Occur, Box<dyn Query>)> = [f.title, f.tags, f.channel]
                .into_iter()
                .map(|field| {
                    let q: Box<dyn Query> = Box::new(TermQuery::new(
                        Term::from_field_text(field, word),
                        IndexRecordOption::Basic,
                    ));
                    (Occur::Should, q)
                })
                .collect();
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(any_field))));
        }
        let prefixed: Vec<(Occur, Box<dyn Query>)> =
            [(f.title, 2.0), (f.tags, 1.0), (f.channel, 1.0)]
                .into_iter()
                .map(|(field, boost)| {
                    let q: Box<dyn Query> = Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new_prefix(
                            Term::from_field_text(field, last),
                            0,
                            false,
                        )),
                        boost,
                    ));
                    (Occur::Should, q)
                })
                .collect();
        clauses.push((Occur::Must, Box::new(BooleanQuery::new(prefixed))));
        let searcher = self.reader.searcher();
        let top = searcher.search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(50).order_by_score(),
        )?;
        let mut found: Vec<(u64, Suggestion)> = Vec::new();
        for (_, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let (Some(title), Some(id)) = (
                doc.get_first(f.title)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
                doc.get_first(f.id)
                    .and_then(|v| v.as_str())
                    .and_then(|s| s.parse().ok()),
            ) else {
                continue;
            };
            let views = doc.get_first(f.views).and_then(|v| v.as_u64()).unwrap_or(0);
            found.push((views, Suggestion { title, id }));
        }
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        let mut seen = std::collections::HashSet::new();
        Ok(found
            .into_iter()
            .map(|(_, s)| s)
            .filter(|s| seen.insert(s.title.to_lowercase()))
            .take(limit)
            .collect())
    }
}
