//! Video rows on both engines: keyset listing, owner edits and their limits, deletion (jobs,
//! uploads, quota, blob references) and batched view counts.

use spool_metadata::testing::{self, on_each_engine};
use spool_metadata::{MetadataError, PROCESS_JOB, Store, VideoRow, VideoUpdate};
use spool_model::{ContentHash, UploadId, UserId, VideoId, VideoStatus, Visibility, now_millis};

/// A video whose upload completed with `content`: `uploaded`, blob referenced, quota charged.
async fn uploaded(
    store: &Store,
    owner: UserId,
    visibility: Visibility,
    content: &[u8],
) -> (VideoId, UploadId) {
    let upload = testing::uploaded(store, owner, "Clip", visibility, content).await;
    (upload.video_id, upload.id)
}

/// An uploaded video made `ready` by publishing (empty) media.
async fn ready(store: &Store, owner: UserId, visibility: Visibility, content: &[u8]) -> VideoId {
    let (id, _) = uploaded(store, owner, visibility, content).await;
    assert!(store.publish_media(&id, "{}", 100).await.unwrap());
    id
}

/// Sets creation times directly (the store has no reason to offer that), so ties are certain.
async fn set_created_at(url: &str, id: &VideoId, at: i64) {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query(&testing::dialect(
        url,
        "UPDATE videos SET created_at = ? WHERE id = ?",
    ))
    .bind(at)
    .bind(id.as_str())
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}

async fn set_used_bytes(url: &str, user: UserId, bytes: i64) {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query(&testing::dialect(
        url,
        "UPDATE users SET used_bytes = ? WHERE id = ?",
    ))
    .bind(bytes)
    .bind(user)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}

/// Walks every page of a listing with `page` rows each; checks page sizes on the way.
async fn walk<F, Fut>(page: u32, list: F) -> Vec<VideoRow>
where
    F: Fn(Option<(i64, VideoId)>, u32) -> Fut,
    Fut: std::future::Future<Output = Vec<VideoRow>>,
{
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let rows = list(after.clone(), page).await;
        assert!(rows.len() <= page as usize);
        let Some(last) = rows.last() else { break };
        after = Some((last.created_at, last.id.clone()));
        let short = rows.len() < page as usize;
        all.extend(rows);
        if short {
            break;
        }
    }
    all
}

fn ids(rows: &[VideoRow]) -> Vec<String> {
    rows.iter().map(|v| v.id.to_string()).collect()
}

#[tokio::test]
async fn listings_are_newest_first_keyset_pages_without_gaps_or_repeats() {
    on_each_engine(|engine, store, url| async move {
        let ann = store.create_user("ann", false).await.unwrap();
        let bob = store.create_user("bob", false).await.unwrap();
        // 25 public ready videos in groups of three sharing a creation time: ties are
        // broken by id.
        let mut expected = Vec::new();
        for i in 0..25 {
            let owner = if i % 2 == 0 { ann.id } else { bob.id };
            let id = ready(
                &store,
                owner,
                Visibility::Public,
                format!("v{i}").as_bytes(),
            )
            .await;
            let at = 1_000_000 + (i / 3) as i64;
            set_created_at(&url, &id, at).await;
            expected.push((at, id.to_string()));
        }
        // Never listed publicly: private, unlisted, not ready, failed.
        let private = ready(&store, ann.id, Visibility::Private, b"p").await;
        let unlisted = ready(&store, ann.id, Visibility::Unlisted, b"u").await;
        let (processing, _) = uploaded(&store, ann.id, Visibility::Public, b"x").await;
        assert!(store.start_processing(&processing).await.unwrap());
        let (failed, _) = uploaded(&store, bob.id, Visibility::Public, b"f").await;
        assert!(store.fail_video(&failed, "broken").await.unwrap());
        for id in [&private, &unlisted, &processing, &failed] {
            set_created_at(&url, id, 1_000_005).await;
        }
        expected.sort_by(|a, b| b.cmp(a));
        let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

        for page in [1, 7, 25, 100] {
            let all = walk(page, |after, limit| {
                let store = store.clone();
                async move { store.list_public_videos(after, limit).await.unwrap() }
            })
            .await;
            assert_eq!(ids(&all), expected, "{engine:?} page {page}");
        }
        assert!(store.list_public_videos(None, 0).await.unwrap().is_empty());
        // A cursor past the end, and one on a deleted video, still work.
        let oldest = store
            .list_public_videos(None, 100)
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert!(
            store
                .list_public_videos(Some((oldest.created_at, oldest.id.clone())), 10)
                .await
                .unwrap()
                .is_empty()
        );

        // The owner's listing has everything of theirs, whatever status and visibility.
        let mine = walk(4, |after, limit| {
            let store = store.clone();
            async move {
                store
                    .list_videos_by_owner(ann.id, after, limit)
                    .await
                    .unwrap()
            }
        })
        .await;
        assert_eq!(mine.len(), 13 + 3, "{engine:?}");
        assert!(mine.iter().all(|v| v.owner_id == ann.id));
        for id in [&private, &unlisted, &processing] {
            assert!(mine.iter().any(|v| &v.id == id), "{engine:?} {id}");
        }
        let order: Vec<(i64, String)> = mine
            .iter()
            .map(|v| (v.created_at, v.id.to_string()))
            .collect();
        let mut sorted = order.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(order, sorted);
    })
    .await;
}

fn update() -> VideoUpdate {
    VideoUpdate::default()
}

/// The store writes an edit as given; checking and normalizing it is the catalog's (its
/// limits and their boundary cases are tested in `crates/catalog/src/edit.rs`).
#[tokio::test]
async fn updates_apply_in_one_statement() {
    on_each_engine(|engine, store, _url| async move {
        let ann = store.create_user("ann", false).await.unwrap();
        let (id, _) = uploaded(&store, ann.id, Visibility::Private, b"clip").await;
        let before = store.video(&id).await.unwrap().unwrap();

        let edit = VideoUpdate {
            title: Some("Holiday 2026".into()),
            description: Some("Line one\nLine two\twith a tab".into()),
            tags: Some(vec!["sea".into(), "sun".into(), "日本".into()]),
            category: Some("travel".into()),
            visibility: Some(Visibility::Public),
        };
        assert!(store.update_video(&id, &edit).await.unwrap(), "{engine:?}");
        let after = store.video(&id).await.unwrap().unwrap();
        assert_eq!(after.title, "Holiday 2026");
        assert_eq!(after.description, "Line one\nLine two\twith a tab");
        assert_eq!(after.tags, ["sea", "sun", "日本"]);
        assert_eq!(after.category, "travel");
        assert_eq!(after.visibility, Visibility::Public);
        assert!(after.updated_at >= before.updated_at);
        assert_eq!(after.status, before.status);

        // Only named fields change; an edit with nothing in it still finds the row.
        let only_title = VideoUpdate {
            title: Some("New".into()),
            ..update()
        };
        assert!(store.update_video(&id, &only_title).await.unwrap());
        let v = store.video(&id).await.unwrap().unwrap();
        assert_eq!((v.title.as_str(), v.category.as_str()), ("New", "travel"));
        assert!(store.update_video(&id, &update()).await.unwrap());
        assert!(
            store.update_video(&id, &only_title).await.unwrap(),
            "unchanged values"
        );
        let clear = VideoUpdate {
            tags: Some(vec![]),
            category: Some(String::new()),
            description: Some(String::new()),
            ..update()
        };
        assert!(store.update_video(&id, &clear).await.unwrap());
        let v = store.video(&id).await.unwrap().unwrap();
        assert!(v.tags.is_empty() && v.category.is_empty() && v.description.is_empty());
        assert!(
            !store
                .update_video(&VideoId::random(), &only_title)
                .await
                .unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn deletion_removes_rows_returns_quota_and_frees_the_blob_with_its_last_reference() {
    on_each_engine(|engine, store, url| async move {
        let ann = store.create_user("ann", false).await.unwrap();
        let bob = store.create_user("bob", false).await.unwrap();
        let content = b"the same bytes twice";
        let size = content.len() as i64;
        let hash = ContentHash::from(blake3::hash(content));
        let (first, first_upload) = uploaded(&store, ann.id, Visibility::Public, content).await;
        let (second, _) = uploaded(&store, bob.id, Visibility::Public, content).await;
        assert_eq!(store.blob(&hash).await.unwrap().unwrap().refcount, 2);
        assert!(store.job_for(PROCESS_JOB, &first).await.unwrap().is_some());
        assert_eq!(
            store.user_by_id(ann.id).await.unwrap().unwrap().used_bytes,
            size
        );

        // First deletion: the blob stays for the other video.
        let deleted = store.delete_video(&first).await.unwrap().unwrap();
        assert_eq!(deleted.blob_to_delete, None, "{engine:?}");
        assert_eq!(deleted.blob_hash, None);
        assert_eq!(deleted.uploads, vec![first_upload.clone()]);
        assert!(store.video(&first).await.unwrap().is_none());
        assert!(store.upload(&first_upload).await.unwrap().is_none());
        assert!(store.job_for(PROCESS_JOB, &first).await.unwrap().is_none());
        assert_eq!(
            store.user_by_id(ann.id).await.unwrap().unwrap().used_bytes,
            0
        );
        assert_eq!(store.blob(&hash).await.unwrap().unwrap().refcount, 1);
        assert!(
            store.delete_video(&first).await.unwrap().is_none(),
            "second delete"
        );

        // Last reference: the blob row goes and its key comes back for the file.
        let deleted = store.delete_video(&second).await.unwrap().unwrap();
        assert_eq!(
            deleted.blob_to_delete.as_deref(),
            Some(format!("blobs/{}/{}", &hash.to_hex()[..2], hash.to_hex()).as_str())
        );
        assert_eq!(deleted.blob_hash, Some(hash));
        assert!(store.blob(&hash).await.unwrap().is_none());
        assert_eq!(
            store.user_by_id(bob.id).await.unwrap().unwrap().used_bytes,
            0
        );
        // The same content can come back afterwards as a fresh blob.
        let (again, _) = uploaded(&store, bob.id, Visibility::Public, content).await;
        assert_eq!(store.blob(&hash).await.unwrap().unwrap().refcount, 1);
        assert!(store.delete_video(&again).await.unwrap().is_some());

        // An unfinished upload's video gives back the reservation; no blob is involved.
        let upload = testing::new_upload(ann.id, "half", Visibility::Private, Some(500));
        store.create_upload(&upload, 0).await.unwrap();
        assert_eq!(
            store.user_by_id(ann.id).await.unwrap().unwrap().used_bytes,
            500
        );
        let deleted = store.delete_video(&upload.video_id).await.unwrap().unwrap();
        assert_eq!(deleted.blob_to_delete, None);
        assert_eq!(deleted.uploads, vec![upload.id.clone()]);
        assert_eq!(
            store.user_by_id(ann.id).await.unwrap().unwrap().used_bytes,
            0
        );
        assert!(store.upload(&upload.id).await.unwrap().is_none());

        // Quota never goes below zero (e.g. a counter corrected by hand meanwhile).
        let (third, _) = uploaded(&store, ann.id, Visibility::Public, b"other").await;
        set_used_bytes(&url, ann.id, 2).await;
        store.delete_video(&third).await.unwrap().unwrap();
        assert_eq!(
            store.user_by_id(ann.id).await.unwrap().unwrap().used_bytes,
            0
        );
        assert!(
            store
                .delete_video(&VideoId::random())
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn view_counts_are_raised_to_totals_in_batches() {
    on_each_engine(|engine, store, _url| async move {
        let ann = store.create_user("ann", false).await.unwrap();
        let a = ready(&store, ann.id, Visibility::Public, b"a").await;
        let b = ready(&store, ann.id, Visibility::Public, b"b").await;
        let before = store.video(&a).await.unwrap().unwrap();
        assert_eq!(before.views, 0);
        store
            .raise_views(&[
                (a.clone(), 3),
                (b.clone(), 1),
                (VideoId::random(), 9),
                (a.clone(), 5),
                (b.clone(), 0),
            ])
            .await
            .unwrap();
        store.raise_views(&[]).await.unwrap();
        // A lower total (an older or slower node's) never lowers the count.
        store.raise_views(&[(a.clone(), 4)]).await.unwrap();
        let after = store.video(&a).await.unwrap().unwrap();
        assert_eq!(after.views, 5, "{engine:?}");
        assert_eq!(after.updated_at, before.updated_at, "views are not an edit");
        assert_eq!(store.video(&b).await.unwrap().unwrap().views, 1);
        assert_eq!(after.status, VideoStatus::Ready);
    })
    .await;
}

#[tokio::test]
async fn sessions_last_until_they_expire_or_are_deleted() {
    on_each_engine(|engine, store, _| async move {
        let carol = store
            .create_user_with_password("carol", "$argon2id$fake")
            .await
            .unwrap();
        assert!(matches!(
            store.create_user_with_password("carol", "x").await,
            Err(MetadataError::AlreadyExists("user"))
        ));
        let (user, hash) = store.user_with_password("carol").await.unwrap().unwrap();
        assert_eq!(
            (user, hash.as_deref()),
            (carol.clone(), Some("$argon2id$fake"))
        );
        // Token-only accounts have no password.
        store.create_user("dave", false).await.unwrap();
        assert_eq!(
            store.user_with_password("dave").await.unwrap().unwrap().1,
            None
        );
        assert!(store.user_with_password("nobody").await.unwrap().is_none());

        let live = store.create_session(carol.id, 60_000).await.unwrap();
        let session = store.session(&live.secret).await.unwrap().expect("live");
        assert_eq!(session.user, carol, "{engine:?}");
        assert_eq!(session.csrf_token, live.csrf_token);
        assert_ne!(live.secret, live.csrf_token);
        assert!(store.session("forged").await.unwrap().is_none());
        assert!(store.session(&"x".repeat(500)).await.unwrap().is_none());

        let expired = store.create_session(carol.id, -1).await.unwrap();
        assert!(store.session(&expired.secret).await.unwrap().is_none());
        assert_eq!(
            store.delete_expired_sessions(now_millis()).await.unwrap(),
            1
        );

        store.delete_session(&live.secret).await.unwrap();
        assert!(store.session(&live.secret).await.unwrap().is_none());
        store.delete_session(&live.secret).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn likes_count_once_per_user_and_go_with_the_video() {
    on_each_engine(|engine, store, _| async move {
        let owner = store.create_user("owner", false).await.unwrap();
        let fan = store.create_user("fan", false).await.unwrap();
        let id = ready(&store, owner.id, Visibility::Public, b"liked clip").await;
        let like = |user: UserId, liked: bool| {
            let (store, id) = (store.clone(), id.clone());
            async move { store.set_like(user, &id, liked).await.unwrap().unwrap() }
        };
        assert_eq!(like(fan.id, true).await.likes, 1, "{engine:?}");
        assert_eq!(
            like(fan.id, true).await.likes,
            1,
            "liking twice counts once"
        );
        let both = like(owner.id, true).await;
        assert_eq!((both.likes, both.liked), (2, true));
        assert!(store.likes_video(fan.id, &id).await.unwrap());
        let undone = like(fan.id, false).await;
        assert_eq!((undone.likes, undone.liked), (1, false));
        assert_eq!(
            like(fan.id, false).await.likes,
            1,
            "unliking twice counts once"
        );
        assert_eq!(store.video(&id).await.unwrap().unwrap().likes, 1);
        assert!(
            store
                .set_like(fan.id, &VideoId::random(), true)
                .await
                .unwrap()
                .is_none()
        );
        store.delete_video(&id).await.unwrap();
        assert!(!store.likes_video(owner.id, &id).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_failed_video_can_be_queued_again_and_channels_list_only_public_ready_videos() {
    on_each_engine(|engine, store, _| async move {
        let owner = store.create_user("maker", false).await.unwrap();
        let (failed, _) = uploaded(&store, owner.id, Visibility::Public, b"broken").await;
        assert!(
            !store.retry_processing(&failed).await.unwrap(),
            "not failed yet"
        );
        assert!(store.fail_video(&failed, "bad codec").await.unwrap());
        assert!(store.retry_processing(&failed).await.unwrap(), "{engine:?}");
        let row = store.video(&failed).await.unwrap().unwrap();
        assert_eq!((row.status, row.error), (VideoStatus::Uploaded, None));
        let job = store.job_for(PROCESS_JOB, &failed).await.unwrap().unwrap();
        assert_eq!(job.attempts, 0);
        assert!(!store.retry_processing(&failed).await.unwrap(), "only once");

        let public = ready(&store, owner.id, Visibility::Public, b"one").await;
        ready(&store, owner.id, Visibility::Private, b"two").await;
        ready(&store, owner.id, Visibility::Unlisted, b"three").await;
        let listed = store
            .list_public_videos_by_owner(owner.id, None, 10)
            .await
            .unwrap();
        assert_eq!(ids(&listed), vec![public.to_string()]);
        assert_eq!(
            store.count_public_videos_by_owner(owner.id).await.unwrap(),
            1
        );
        let (user, created_at) = store.user_created_at("maker").await.unwrap().unwrap();
        assert_eq!(user.id, owner.id);
        assert!(created_at > 0);
    })
    .await;
}
