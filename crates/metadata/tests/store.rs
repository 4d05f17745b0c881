//! The metadata store on both engines: users and tokens, upload life cycle, quota, dedup.

use spool_metadata::testing::on_each_engine;
use spool_metadata::{MetadataError, NewUpload, Store, UploadState};
use spool_model::{ContentHash, UploadId, VideoId, VideoStatus, Visibility, now_millis};

fn new_upload(owner: i64, length: Option<i64>, hash: Option<ContentHash>) -> NewUpload {
    NewUpload {
        id: UploadId::random(),
        video_id: VideoId::random(),
        owner_id: owner,
        title: "Clip".into(),
        visibility: Visibility::Public,
        length,
        metadata: "filename Y2xpcC5tcDQ=".into(),
        announced_blake3: hash,
        hash_state: vec![1, 2, 3],
        expires_at: now_millis() + 60_000,
    }
}

/// Ends upload `id` as `state`: true if it was active.
async fn end(store: &Store, id: &UploadId, state: UploadState) -> bool {
    store.end_upload(id, state).await.unwrap()
}

#[tokio::test]
async fn users_and_tokens() {
    on_each_engine(|engine, store, _url| async move {
        let alice = store.create_user("alice", false).await.unwrap();
        assert!(!alice.is_admin, "{engine:?}");
        assert!(matches!(
            store.create_user("alice", true).await,
            Err(MetadataError::AlreadyExists("user"))
        ));
        assert!(matches!(
            store.create_user("../bob", false).await,
            Err(MetadataError::InvalidInput(_))
        ));
        let token = store.create_token(alice.id).await.unwrap();
        assert_eq!(
            store.user_by_token(&token).await.unwrap(),
            Some(alice.clone())
        );
        assert_eq!(store.user_by_token("spool_nope").await.unwrap(), None);
        assert_eq!(store.user_by_token("").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn upload_life_cycle_with_quota_dedup_and_jobs() {
    on_each_engine(|engine, store, _url| async move {
        let user = store.create_user("u", false).await.unwrap();
        let hash = ContentHash::from(blake3::hash(b"video bytes"));

        // Quota: 100 bytes; a 60-byte upload fits, a second one does not, nothing half-written.
        let first = new_upload(user.id, Some(60), Some(hash));
        store.create_upload(&first, 100).await.unwrap();
        let second = new_upload(user.id, Some(60), None);
        let err = store.create_upload(&second, 100).await.unwrap_err();
        assert!(
            matches!(err, MetadataError::QuotaExceeded { used: 60, .. }),
            "{engine:?} {err}"
        );
        assert!(store.video(&second.video_id).await.unwrap().is_none());
        assert!(store.upload(&second.id).await.unwrap().is_none());

        let video = store.video(&first.video_id).await.unwrap().unwrap();
        assert_eq!(video.status, VideoStatus::Uploading);
        assert_eq!(video.owner_name, "u");

        // Offsets advance only from the expected value.
        let exp = now_millis() + 60_000;
        assert!(
            store
                .commit_offset(&first.id, 0, 30, b"s", None, exp)
                .await
                .unwrap()
        );
        assert!(
            !store
                .commit_offset(&first.id, 0, 40, b"s", None, exp)
                .await
                .unwrap()
        );
        assert_eq!(store.upload(&first.id).await.unwrap().unwrap().offset, 30);

        // Lookup by announced hash.
        let found = store.uploads_by_hash(user.id, &hash).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, first.id);
        let other = store.create_user("v", false).await.unwrap();
        assert!(
            store
                .uploads_by_hash(other.id, &hash)
                .await
                .unwrap()
                .is_empty()
        );

        // Completion: blob created, video uploaded, job queued; idempotent.
        assert!(
            store
                .complete_upload(&first.id, &hash, 60, "blobs/x")
                .await
                .unwrap()
        );
        assert!(
            !store
                .complete_upload(&first.id, &hash, 60, "blobs/x")
                .await
                .unwrap()
        );
        let blob = store.blob(&hash).await.unwrap().unwrap();
        assert_eq!((blob.refcount, blob.size_bytes), (1, 60));
        let video = store.video(&first.video_id).await.unwrap().unwrap();
        assert_eq!(video.status, VideoStatus::Uploaded);
        assert_eq!(video.blake3, Some(hash));
        assert!(store.user_owns_content(user.id, &hash).await.unwrap());
        assert!(!store.user_owns_content(other.id, &hash).await.unwrap());

        // The same content from another user shares the blob.
        let dup = new_upload(other.id, Some(60), Some(hash));
        store.create_upload(&dup, 0).await.unwrap();
        assert!(
            store
                .complete_upload(&dup.id, &hash, 60, "blobs/y")
                .await
                .unwrap()
        );
        let blob = store.blob(&hash).await.unwrap().unwrap();
        assert_eq!((blob.refcount, blob.storage_key.as_str()), (2, "blobs/x"));

        // Termination releases the reservation and removes the unfinished video.
        let third = new_upload(user.id, Some(40), None);
        store.create_upload(&third, 100).await.unwrap();
        assert_eq!(
            store.user_by_id(user.id).await.unwrap().unwrap().used_bytes,
            100
        );
        assert!(end(&store, &third.id, UploadState::Terminated).await);
        assert!(!end(&store, &third.id, UploadState::Terminated).await);
        assert_eq!(
            store.user_by_id(user.id).await.unwrap().unwrap().used_bytes,
            60
        );
        assert!(store.video(&third.video_id).await.unwrap().is_none());
        assert_eq!(
            store.upload(&third.id).await.unwrap().unwrap().state,
            UploadState::Terminated
        );
    })
    .await;
}

#[tokio::test]
async fn deferred_length_expiry_and_proof_challenges() {
    on_each_engine(|_engine, store, _url| async move {
        let user = store.create_user("d", false).await.unwrap();
        let mut deferred = new_upload(user.id, None, None);
        deferred.expires_at = now_millis() - 1;
        store.create_upload(&deferred, 50).await.unwrap();
        assert!(matches!(
            store.declare_length(&deferred.id, 51, 50).await,
            Err(MetadataError::QuotaExceeded { .. })
        ));
        assert!(store.declare_length(&deferred.id, 50, 50).await.unwrap());
        assert!(!store.declare_length(&deferred.id, 50, 50).await.unwrap());

        store
            .set_proof_challenge(&deferred.id, "n1", "0-10")
            .await
            .unwrap();
        let row = store.upload(&deferred.id).await.unwrap().unwrap();
        assert_eq!(row.proof, Some(("n1".into(), "0-10".into())));
        assert!(
            !store
                .spend_proof_challenge(&deferred.id, "n2")
                .await
                .unwrap()
        );
        assert!(
            store
                .spend_proof_challenge(&deferred.id, "n1")
                .await
                .unwrap()
        );
        assert!(
            !store
                .spend_proof_challenge(&deferred.id, "n1")
                .await
                .unwrap()
        );

        let expired = store.expired_uploads(now_millis(), 10).await.unwrap();
        assert_eq!(
            expired.iter().map(|u| &u.id).collect::<Vec<_>>(),
            vec![&deferred.id]
        );
        assert!(end(&store, &deferred.id, UploadState::Expired).await);
        assert!(
            store
                .expired_uploads(now_millis(), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.user_by_id(user.id).await.unwrap().unwrap().used_bytes,
            0
        );
    })
    .await;
}

#[tokio::test]
async fn jobs_leases_and_workers() {
    use spool_metadata::JobState;
    on_each_engine(|engine, store, _url| async move {
        let video = VideoId::random();
        let now = now_millis();

        // Workers: heartbeat is an upsert; live means seen since the cutoff.
        store.heartbeat_worker("w1", now - 10_000).await.unwrap();
        store.heartbeat_worker("w2", now).await.unwrap();
        store.heartbeat_worker("w2", now).await.unwrap(); // same value again is fine
        assert_eq!(
            store.live_workers(now - 5_000).await.unwrap(),
            ["w2"],
            "{engine:?}"
        );
        store.heartbeat_worker("w1", now).await.unwrap();
        assert_eq!(store.live_workers(now - 5_000).await.unwrap(), ["w1", "w2"]);
        store.remove_worker("w1").await.unwrap();
        assert_eq!(store.live_workers(0).await.unwrap(), ["w2"]);
        assert!(store.heartbeat_worker(&"w".repeat(65), now).await.is_err());

        // Enqueue is idempotent per (kind, video).
        assert!(store.enqueue("probe", &video).await.unwrap());
        assert!(!store.enqueue("probe", &video).await.unwrap());
        assert!(store.enqueue("covers", &video).await.unwrap());
        assert!(store.enqueue("", &video).await.is_err());
        let probe = store.job_for("probe", &video).await.unwrap().unwrap();
        assert_eq!((probe.state, probe.attempts), (JobState::Queued, 0));
        let now = now_millis();
        assert_eq!(store.runnable_jobs(now, 10).await.unwrap().len(), 2);
        assert_eq!(store.runnable_jobs(now, 1).await.unwrap().len(), 1);
        let first = store.runnable_jobs_after(now, 0, 1).await.unwrap();
        assert_eq!(first[0].id, probe.id);
        let second = store
            .runnable_jobs_after(now, first[0].id, 1)
            .await
            .unwrap();
        assert_eq!(second[0].kind, "covers");
        assert!(
            store
                .runnable_jobs_after(now, second[0].id, 1)
                .await
                .unwrap()
                .is_empty()
        );

        // Exactly one claim wins; the holder alone renews, finishes or fails.
        assert!(store.claim_job(probe.id, "w1", now, 1_000).await.unwrap());
        assert!(!store.claim_job(probe.id, "w2", now, 1_000).await.unwrap());
        let held = store.job(probe.id).await.unwrap().unwrap();
        assert_eq!(held.state, JobState::Running);
        assert_eq!(held.worker_id.as_deref(), Some("w1"));
        assert_eq!((held.attempts, held.lease_until), (1, Some(now + 1_000)));
        assert_eq!(store.runnable_jobs(now, 10).await.unwrap().len(), 1);
        assert!(
            store
                .renew_lease(probe.id, "w1", now + 2_000)
                .await
                .unwrap()
        );
        assert!(
            store
                .renew_lease(probe.id, "w1", now + 2_000)
                .await
                .unwrap()
        ); // unchanged value
        assert!(
            !store
                .renew_lease(probe.id, "w2", now + 9_000)
                .await
                .unwrap()
        );
        assert!(!store.finish_job(probe.id, "w2").await.unwrap());

        // A passed lease makes the job runnable again: another worker takes it over.
        let later = now + 2_001;
        let runnable = store.runnable_jobs(later, 10).await.unwrap();
        assert!(runnable.iter().any(|j| j.id == probe.id));
        assert!(store.claim_job(probe.id, "w2", later, 1_000).await.unwrap());
        assert!(
            !store
                .renew_lease(probe.id, "w1", later + 5_000)
                .await
                .unwrap()
        );
        assert!(!store.fail_job(probe.id, "w1", "late", None).await.unwrap());

        // Retry: back to queued, not runnable before retry_at.
        assert!(
            store
                .fail_job(probe.id, "w2", "flaky", Some(later + 500))
                .await
                .unwrap()
        );
        let queued = store.job(probe.id).await.unwrap().unwrap();
        assert_eq!(queued.state, JobState::Queued);
        assert_eq!(queued.last_error.as_deref(), Some("flaky"));
        assert_eq!((queued.attempts, queued.worker_id), (2, None));
        assert!(
            !store
                .claim_job(probe.id, "w1", later + 499, 1_000)
                .await
                .unwrap()
        );
        assert!(
            store
                .claim_job(probe.id, "w1", later + 500, 1_000)
                .await
                .unwrap()
        );
        assert!(store.finish_job(probe.id, "w1").await.unwrap());
        let done = store.job(probe.id).await.unwrap().unwrap();
        assert_eq!((done.state, done.attempts), (JobState::Done, 3));
        assert!(
            !store
                .claim_job(probe.id, "w1", later + 99_999, 1_000)
                .await
                .unwrap()
        );

        // Dead: the reason stays, bounded to what the column holds.
        let covers = store.job_for("covers", &video).await.unwrap().unwrap();
        assert!(store.claim_job(covers.id, "w1", now, 1_000).await.unwrap());
        let reason = "é".repeat(3_000);
        assert!(
            store
                .fail_job(covers.id, "w1", &reason, None)
                .await
                .unwrap()
        );
        let dead = store.job(covers.id).await.unwrap().unwrap();
        assert_eq!(dead.state, JobState::Dead);
        assert_eq!(dead.last_error.unwrap().chars().count(), 2_000);
        assert!(
            store
                .runnable_jobs(later + 99_999, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.job(-1).await.unwrap(), None);
    })
    .await;
}
