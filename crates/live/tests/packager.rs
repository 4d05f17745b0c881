//! The LL-HLS packager over synthetic frames (timing as RTMP delivers it): parts never
//! exceed the part target, segments start at keyframes, blocking waits answer when the part
//! lands, delta updates skip old segments, a reconnect continues the timeline after a
//! discontinuity, and the end closes the playlist.

use std::time::Duration;

use bytes::Bytes;
use spool_live::flv::{self, Frame};
use spool_live::{Flavour, Packager, PackagerConfig, PlaylistRequest};

const SPS_640X360: [u8; 25] = [
    0x67, 0x64, 0x00, 0x1e, 0xac, 0xb4, 0x05, 0x01, 0x7f, 0xcb, 0x80, 0x88, 0x00, 0x00, 0x03, 0x00,
    0x08, 0x00, 0x00, 0x03, 0x01, 0xe4, 0x78, 0xb1, 0x75,
];
const PPS: [u8; 6] = [0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];

/// The FLV video tag of an AVC sequence header for 640x360.
fn video_config() -> Frame {
    let mut tag = vec![0x17, 0x00, 0, 0, 0, 1, 0x64, 0x00, 0x1e, 0xff, 0xe1];
    tag.extend_from_slice(&(SPS_640X360.len() as u16).to_be_bytes());
    tag.extend_from_slice(&SPS_640X360);
    tag.push(1);
    tag.extend_from_slice(&(PPS.len() as u16).to_be_bytes());
    tag.extend_from_slice(&PPS);
    flv::video(&Bytes::from(tag), 0).unwrap().unwrap()
}

fn audio_config() -> Frame {
    flv::audio(&Bytes::from_static(&[0xaf, 0x00, 0x11, 0x90]), 0)
        .unwrap()
        .unwrap()
}

fn picture(ms: u32, keyframe: bool) -> Frame {
    Frame::Video {
        dts_ms: ms,
        cts_ms: 0,
        keyframe,
        data: Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88]),
    }
}

/// Feeds `seconds` of 30 fps video (keyframe every `gop` frames) and 48 kHz AAC starting at
/// publisher time `from_ms`.
fn feed(packager: &Packager, from_ms: u32, seconds: u32, gop: u32) {
    let frames = seconds * 30;
    let mut audio_ms = 0.0f64;
    for n in 0..frames {
        // RTMP rounds to milliseconds: 33, 34, 33, ...
        let ms = from_ms + (n * 1000) / 30;
        packager.push(picture(ms, n % gop == 0));
        while audio_ms <= f64::from((n * 1000) / 30) {
            packager.push(Frame::Audio {
                dts_ms: from_ms + audio_ms as u32,
                data: Bytes::from_static(&[0x21, 0x10, 0x04]),
            });
            audio_ms += 1024.0 * 1000.0 / 48000.0;
        }
    }
}

fn started() -> Packager {
    let packager = Packager::new(PackagerConfig {
        part_target: Duration::from_millis(334),
        segment_target: Duration::from_secs(1),
        window: Duration::from_secs(3600),
    });
    packager.push(video_config());
    packager.push(audio_config());
    packager
}

fn ll(packager: &Packager, request: PlaylistRequest) -> String {
    text(packager, Flavour::LowLatency, request)
}

fn text(packager: &Packager, flavour: Flavour, request: PlaylistRequest) -> String {
    let bytes = packager
        .playlist(flavour, &request, &[])
        .expect("a playlist");
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

fn attribute(line: &str, name: &str) -> String {
    line.split(&format!("{name}="))
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .trim_matches('"')
        .to_owned()
}

#[test]
fn parts_stay_under_the_target_and_segments_start_at_keyframes() {
    let packager = started();
    feed(&packager, 0, 6, 30);
    let playlist = ll(&packager, PlaylistRequest::default());
    let parts: Vec<f64> = playlist
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .map(|l| attribute(l, "DURATION").parse().unwrap())
        .collect();
    assert!(parts.len() >= 6, "{playlist}");
    // Parts only on the last three segments (the open one among them).
    assert!(
        playlist.matches(",INDEPENDENT=YES").count() <= 3,
        "{playlist}"
    );
    assert!(parts.iter().all(|d| *d <= 0.334 + 1e-9), "{parts:?}");
    // Whole parts of 30 fps under 334 ms are 10 frames (9 when the stamps round up).
    assert!(parts.iter().all(|d| *d >= 0.29), "{parts:?}");
    let segments: Vec<f64> = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|d| d.trim_end_matches(',').parse().unwrap())
        .collect();
    // 1 s GOPs and a 1 s target: every segment is one GOP.
    assert_eq!(segments.len(), 5, "{playlist}");
    assert!(
        segments.iter().all(|d| (d - 1.0).abs() < 0.01),
        "{segments:?}"
    );
    // Each segment's first part is independent, and only those; parts are listed for the
    // last three segments (the open one counts) only.
    for line in playlist.lines().filter(|l| l.starts_with("#EXT-X-PART:")) {
        let first = line.contains(".0.m4s\"");
        assert_eq!(line.contains("INDEPENDENT=YES"), first, "{line}");
    }
    assert_eq!(playlist.matches(".0.m4s\"").count(), 3, "{playlist}");
    assert!(!playlist.contains("URI=\"2.0.m4s\""), "{playlist}");
    assert!(playlist.contains("#EXT-X-TARGETDURATION:1\n"), "{playlist}");
    assert!(playlist.ends_with(&format!(
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}.{}.m4s\"\n",
        packager.position().msn,
        packager.position().parts
    )));
    // Every segment's bytes are its parts' bytes, each a moof + mdat.
    let segment = packager.segment(2).unwrap();
    let parts: Vec<Bytes> = (0..3).filter_map(|i| packager.part(2, i)).collect();
    assert_eq!(parts.concat(), segment.to_vec());
    assert_eq!(&segment[4..8], b"moof");
    let init = packager.init(0).unwrap();
    assert_eq!(&init[4..8], b"ftyp");
}

#[test]
fn the_plain_playlist_has_the_same_segments_without_low_latency_tags() {
    let packager = started();
    feed(&packager, 0, 4, 30);
    let plain = text(&packager, Flavour::Plain, PlaylistRequest::default());
    let ll = ll(&packager, PlaylistRequest::default());
    for tag in [
        "#EXT-X-PART",
        "#EXT-X-PRELOAD-HINT",
        "#EXT-X-SERVER-CONTROL",
    ] {
        assert!(!plain.contains(tag), "{tag} in\n{plain}");
        assert!(ll.contains(tag), "{tag} missing in\n{ll}");
    }
    let segments = |p: &str| -> Vec<String> {
        p.lines()
            .filter(|l| l.ends_with(".m4s") && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(segments(&plain), segments(&ll));
}

#[test]
fn delta_updates_skip_segments_older_than_can_skip_until() {
    let packager = started();
    feed(&packager, 0, 20, 30);
    let full = ll(&packager, PlaylistRequest::default());
    let skip_until: f64 = attribute(
        full.lines()
            .find(|l| l.starts_with("#EXT-X-SERVER-CONTROL"))
            .unwrap(),
        "CAN-SKIP-UNTIL",
    )
    .parse()
    .unwrap();
    assert_eq!(skip_until, 6.0);
    let delta = ll(
        &packager,
        PlaylistRequest {
            skip: true,
            ..Default::default()
        },
    );
    let skipped: usize = delta
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-SKIP:SKIPPED-SEGMENTS="))
        .unwrap_or_else(|| panic!("no skip in\n{delta}"))
        .parse()
        .unwrap();
    // 19 whole segments; those ending more than 6 s before the end are skipped.
    assert!((12..=14).contains(&skipped), "skipped {skipped}\n{delta}");
    assert_eq!(
        full.matches("#EXTINF").count(),
        delta.matches("#EXTINF").count() + skipped
    );
}

#[tokio::test]
async fn a_blocking_wait_answers_when_the_part_lands_and_not_before() {
    let packager = std::sync::Arc::new(started());
    feed(&packager, 0, 2, 30);
    let position = packager.position();
    let waiting = {
        let packager = packager.clone();
        tokio::spawn(async move {
            packager
                .wait_for(position.msn, Some(position.parts), Duration::from_secs(5))
                .await
        })
    };
    // Not there yet: a short wait times out.
    assert!(
        !packager
            .wait_for(
                position.msn,
                Some(position.parts),
                Duration::from_millis(50)
            )
            .await
    );
    feed(&packager, 2000, 1, 30);
    assert!(waiting.await.unwrap(), "the wait did not see the part land");
    let beyond = PlaylistRequest {
        msn: Some(packager.position().msn + 3),
        ..Default::default()
    };
    assert!(packager.check_request(&beyond).is_err());
    let orphan_part = PlaylistRequest {
        part: Some(0),
        ..Default::default()
    };
    assert!(packager.check_request(&orphan_part).is_err());
}

#[test]
fn a_reconnect_continues_the_timeline_after_a_discontinuity_and_the_end_closes_it() {
    let packager = started();
    feed(&packager, 0, 3, 30);
    packager.reconnected();
    // The new connection's clock starts again at zero.
    packager.push(video_config());
    packager.push(audio_config());
    feed(&packager, 0, 3, 30);
    packager.end();
    let playlist = ll(&packager, PlaylistRequest::default());
    assert_eq!(
        playlist.matches("#EXT-X-DISCONTINUITY\n").count(),
        1,
        "{playlist}"
    );
    assert!(playlist.ends_with("#EXT-X-ENDLIST\n"), "{playlist}");
    assert!(!playlist.contains("PRELOAD-HINT"));
    let total: f64 = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|d| d.trim_end_matches(',').parse::<f64>().unwrap())
        .sum();
    assert!((total - 6.0).abs() < 0.1, "{total}\n{playlist}");
    assert!(packager.position().ended);
}

#[test]
fn one_render_serves_every_viewer_until_the_stream_moves_on() {
    let packager = started();
    feed(&packager, 0, 2, 30);
    let request = PlaylistRequest::default();
    let first = packager
        .playlist(Flavour::LowLatency, &request, &[])
        .unwrap();
    let again = packager
        .playlist(Flavour::LowLatency, &request, &[])
        .unwrap();
    assert_eq!(first.as_ptr(), again.as_ptr(), "rendered twice");
    let plain = packager.playlist(Flavour::Plain, &request, &[]).unwrap();
    assert_ne!(plain, first, "the flavours share a render");
    feed(&packager, 2000, 1, 30);
    let later = packager
        .playlist(Flavour::LowLatency, &request, &[])
        .unwrap();
    assert_ne!(later, first, "a stale playlist after new parts");
    assert_eq!(later, ll(&packager, request));
}
