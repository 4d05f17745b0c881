//! Live rooms on both engines: a broadcast starts once (with its recording's video, in one
//! transaction), racing starts cannot both win, the key is found by its hash only, and the
//! end points the room at its recording.

use spool_metadata::NewRoom;
use spool_metadata::testing::on_each_engine;
use spool_model::{LiveStatus, VideoStatus, Visibility};

#[tokio::test]
async fn a_broadcast_starts_once_with_its_recording_and_ends_pointing_at_it() {
    on_each_engine(|engine, store, _url| async move {
        let ann = store.create_user("ann", false).await.unwrap();
        let (room, key) = store
            .create_room(&NewRoom {
                owner_id: ann.id,
                title: "Evening show",
                description: "Q&A",
                visibility: Visibility::Unlisted,
            })
            .await
            .unwrap();
        assert_eq!(room.status, LiveStatus::Idle, "{engine:?}");
        assert_eq!(
            store.room_by_key(&key).await.unwrap().map(|r| r.id),
            Some(room.id.clone())
        );
        assert!(store.room_by_key("not-the-key").await.unwrap().is_none());

        // Two starts race: exactly one wins, and only its video exists.
        let (a, b) = tokio::join!(
            store.start_broadcast(&room.id),
            store.start_broadcast(&room.id)
        );
        let winners: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(winners.len(), 1, "{engine:?}: {winners:?}");
        let video = &winners[0];
        let row = store
            .video(video)
            .await
            .unwrap()
            .expect("the recording's video");
        assert_eq!(
            (
                row.status,
                row.owner_id,
                row.title.as_str(),
                row.description.as_str(),
                row.visibility
            ),
            (
                VideoStatus::Processing,
                ann.id,
                "Evening show",
                "Q&A",
                Visibility::Unlisted
            ),
            "{engine:?}"
        );
        let live = store.room(&room.id).await.unwrap().unwrap();
        assert_eq!(live.status, LiveStatus::Live);
        assert_eq!(live.recording_id.as_ref(), Some(video));
        assert!(live.started_at.is_some());

        assert!(store.end_room(&room.id, Some(video)).await.unwrap());
        assert!(
            !store.end_room(&room.id, Some(video)).await.unwrap(),
            "ended twice"
        );
        let ended = store.room(&room.id).await.unwrap().unwrap();
        assert_eq!(ended.status, LiveStatus::Ended);
        assert_eq!(ended.recording_id.as_ref(), Some(video));

        // A room is reusable: the next broadcast is a new video.
        let next = store.start_broadcast(&room.id).await.unwrap().unwrap();
        assert_ne!(&next, video);
        assert!(store.end_room(&room.id, None).await.unwrap());
        assert_eq!(
            store.room(&room.id).await.unwrap().unwrap().recording_id,
            None
        );
    })
    .await;
}
