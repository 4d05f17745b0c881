//! Manifests: the persisted description of a video's renditions ([`Rendition`],
//! [`AudioTrack`], stored as JSON by the caller) and everything rendered from it — the HLS
//! master playlist, the HLS media playlists, the static DASH MPD over the same CMAF segments,
//! and the storyboard's WebVTT thumbnail track. Pure functions: no I/O, no ffmpeg.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::ladder::fps_rational;
use crate::transcode::{AudioOutput, RenditionOutput, SegmentInfo, StoryboardOutput};

/// The RFC 6381 codec string of the AAC-LC audio Spool encodes.
pub const AAC_LC: &str = "mp4a.40.2";

/// One video rendition, as the master playlist needs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rendition {
    /// "720p"; the rendition's directory (`720p/index.m3u8`).
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Constant frame rate.
    pub frame_rate: f64,
    /// Peak segment bit rate (bits/s, container included), per the HLS definition: the
    /// highest rate over runs of segments lasting 0.5–1.5 target durations.
    pub bandwidth: u64,
    /// Total segment bits / duration.
    pub average_bandwidth: u64,
    /// RFC 6381 codec string read from `init.mp4`, e.g. "avc1.64001f".
    pub codecs: String,
}

/// The audio rendition (one per video; `audio/index.m3u8`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AudioTrack {
    /// RFC 6381 codec string read from `init.mp4`: "mp4a.40.2".
    pub codecs: String,
    /// Peak segment bit rate (bits/s), as for [`Rendition::bandwidth`].
    pub bandwidth: u64,
    /// Total segment bits / duration.
    pub average_bandwidth: u64,
    /// Channel count (2).
    pub channels: u32,
}

/// The HLS master playlist. `prefix` is prepended to every URI (e.g. "g7Xk2/" gives
/// "g7Xk2/720p/index.m3u8"). `first` is the index into `renditions` of the variant to list
/// first (players start with the first variant); the rest follow highest first. Without
/// renditions (an audio-only source) the one variant is the audio playlist.
pub fn master_playlist(
    renditions: &[Rendition],
    audio: Option<&AudioTrack>,
    prefix: &str,
    first: Option<usize>,
) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    if renditions.is_empty() {
        if let Some(audio) = audio {
            let _ = write!(
                out,
                "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\"\n{prefix}audio/index.m3u8\n",
                audio.bandwidth, audio.average_bandwidth, audio.codecs
            );
        }
        return out;
    }
    if let Some(audio) = audio {
        let _ = writeln!(
            out,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"{}\",URI=\"{prefix}audio/index.m3u8\"",
            audio.channels
        );
    }
    let mut order: Vec<usize> = (0..renditions.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (&renditions[a], &renditions[b]);
        (u64::from(rb.width) * u64::from(rb.height), rb.bandwidth)
            .cmp(&(u64::from(ra.width) * u64::from(ra.height), ra.bandwidth))
    });
    if let Some(first) = first.filter(|&f| f < renditions.len()) {
        order.retain(|&i| i != first);
        order.insert(0, first);
    }
    for i in order {
        let r = &renditions[i];
        let (peak, average, codecs, group) = match audio {
            Some(a) => (
                r.bandwidth + a.bandwidth,
                r.average_bandwidth + a.average_bandwidth,
                format!("{},{}", r.codecs, a.codecs),
                ",AUDIO=\"audio\"",
            ),
            None => (r.bandwidth, r.average_bandwidth, r.codecs.clone(), ""),
        };
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},CODECS=\"{codecs}\",RESOLUTION={}x{},FRAME-RATE={:.3}{group}\n{prefix}{}/index.m3u8\n",
            r.width, r.height, r.frame_rate, r.name
        );
    }
    out
}

/// An HLS media playlist (VOD, fMP4) over `segments`, whose exact durations are in ticks of
/// `timescale`. URIs are relative to the playlist (`init.mp4`, `seg_1.m4s`, ...).
pub fn media_playlist(segments: &[SegmentInfo], timescale: u32) -> String {
    let timescale = u64::from(timescale.max(1));
    let target = segments
        .iter()
        .map(|s| s.duration_ticks.div_ceil(timescale))
        .max()
        .unwrap_or(1)
        .max(1);
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n"
    );
    for s in segments {
        let _ = write!(out, "#EXTINF:{:.6},\n{}\n", s.duration_s, s.uri);
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// A static DASH MPD over the same fMP4 segments as the HLS playlists: one video
/// AdaptationSet (one Representation per rendition) and one audio AdaptationSet, each
/// Representation with a `SegmentTemplate` (`$Number$` from 1) and an exact
/// `SegmentTimeline`. URIs are under `prefix`.
pub fn dash_mpd(
    duration_s: f64,
    renditions: &[RenditionOutput],
    audio: Option<&AudioOutput>,
    prefix: &str,
) -> String {
    let prefix = xml_escape(prefix);
    let max_segment = renditions
        .iter()
        .flat_map(|r| &r.segments)
        .chain(audio.iter().flat_map(|a| &a.segments))
        .map(|s| s.duration_s)
        .fold(0.0f64, f64::max);
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" \
         type=\"static\" mediaPresentationDuration=\"{}\" minBufferTime=\"{}\">\n  <Period id=\"0\" start=\"PT0S\">\n",
        iso_duration(duration_s),
        iso_duration(max_segment.ceil().max(1.0)),
    );
    let mut set_id = 0;
    if !renditions.is_empty() {
        let max_w = renditions
            .iter()
            .map(|r| r.rendition.width)
            .max()
            .unwrap_or(0);
        let max_h = renditions
            .iter()
            .map(|r| r.rendition.height)
            .max()
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "    <AdaptationSet id=\"{set_id}\" contentType=\"video\" mimeType=\"video/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\" maxWidth=\"{max_w}\" maxHeight=\"{max_h}\">"
        );
        set_id += 1;
        let mut sorted: Vec<&RenditionOutput> = renditions.iter().collect();
        sorted.sort_by_key(|r| std::cmp::Reverse(r.rendition.bandwidth));
        for r in sorted {
            let v = &r.rendition;
            let (num, den) = fps_rational(v.frame_rate);
            let frame_rate = if den == 1 {
                num.to_string()
            } else {
                format!("{num}/{den}")
            };
            let name = xml_escape(&v.name);
            let _ = writeln!(
                out,
                "      <Representation id=\"{name}\" bandwidth=\"{}\" width=\"{}\" height=\"{}\" sar=\"1:1\" frameRate=\"{frame_rate}\" codecs=\"{}\">",
                v.bandwidth,
                v.width,
                v.height,
                xml_escape(&v.codecs)
            );
            segment_template(
                &mut out,
                &format!("{prefix}{name}/"),
                r.timescale,
                &r.segments,
            );
            out.push_str("      </Representation>\n");
        }
        out.push_str("    </AdaptationSet>\n");
    }
    if let Some(a) = audio {
        let _ = write!(
            out,
            "    <AdaptationSet id=\"{set_id}\" contentType=\"audio\" mimeType=\"audio/mp4\" lang=\"und\" segmentAlignment=\"true\" startWithSAP=\"1\">\n\
             \x20     <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"{}\"/>\n\
             \x20     <Representation id=\"audio\" bandwidth=\"{}\" audioSamplingRate=\"{}\" codecs=\"{}\">\n",
            a.track.channels,
            a.track.bandwidth,
            a.timescale,
            xml_escape(&a.track.codecs)
        );
        segment_template(
            &mut out,
            &format!("{prefix}audio/"),
            a.timescale,
            &a.segments,
        );
        out.push_str("      </Representation>\n    </AdaptationSet>\n");
    }
    out.push_str("  </Period>\n</MPD>\n");
    out
}

fn segment_template(out: &mut String, base: &str, timescale: u32, segments: &[SegmentInfo]) {
    let _ = writeln!(
        out,
        "        <SegmentTemplate timescale=\"{timescale}\" initialization=\"{base}init.mp4\" media=\"{base}seg_$Number$.m4s\" startNumber=\"1\">"
    );
    out.push_str("          <SegmentTimeline>\n");
    let mut i = 0;
    while i < segments.len() {
        let d = segments[i].duration_ticks;
        let mut repeat = 0;
        while i + repeat + 1 < segments.len()
            && segments[i + repeat + 1].duration_ticks == d
            && segments[i + repeat + 1].start_ticks
                == segments[i + repeat].start_ticks + segments[i + repeat].duration_ticks
        {
            repeat += 1;
        }
        let _ = write!(
            out,
            "            <S t=\"{}\" d=\"{d}\"",
            segments[i].start_ticks
        );
        if repeat > 0 {
            let _ = write!(out, " r=\"{repeat}\"");
        }
        out.push_str("/>\n");
        i += repeat + 1;
    }
    out.push_str("          </SegmentTimeline>\n        </SegmentTemplate>\n");
}

/// The storyboard's WebVTT thumbnails track: one cue per thumbnail, `sb_<n>.jpg#xywh=x,y,w,h`
/// (sheet URIs under `prefix`), the cues covering `0..duration_s` without gaps.
pub fn storyboard_vtt(sb: &StoryboardOutput, duration_s: f64, prefix: &str) -> String {
    let mut out = String::from("WEBVTT\n\n");
    let per_sheet = (sb.columns * sb.rows).max(1);
    let interval = f64::from(sb.interval_s.max(1));
    let count = sb.count.min(sb.tiles * per_sheet);
    for i in 0..count {
        let start = f64::from(i) * interval;
        let end = if i + 1 == count {
            duration_s.max(start + 0.001)
        } else {
            (start + interval).min(duration_s.max(start + 0.001))
        };
        let sheet = i / per_sheet + 1;
        let cell = i % per_sheet;
        let x = (cell % sb.columns.max(1)) * sb.thumb_width;
        let y = (cell / sb.columns.max(1)) * sb.thumb_height;
        let _ = write!(
            out,
            "{} --> {}\n{prefix}sb_{sheet}.jpg#xywh={x},{y},{},{}\n\n",
            vtt_time(start),
            vtt_time(end),
            sb.thumb_width,
            sb.thumb_height
        );
    }
    out
}

/// Picks the start rendition for a client whose measured throughput is `kbps`: the index of
/// the highest rendition whose average bandwidth plus the audio's fits in it. `None` when
/// `kbps` is 0 (unknown) or nothing fits (then the player's own choice stands).
pub fn start_rendition(
    renditions: &[Rendition],
    audio: Option<&AudioTrack>,
    kbps: u64,
) -> Option<usize> {
    if kbps == 0 {
        return None;
    }
    let budget = kbps.saturating_mul(1000);
    let audio_bits = audio.map_or(0, |a| a.average_bandwidth);
    renditions
        .iter()
        .enumerate()
        .filter(|(_, r)| r.average_bandwidth + audio_bits <= budget)
        .max_by_key(|(_, r)| {
            (
                r.average_bandwidth,
                u64::from(r.width) * u64::from(r.height),
            )
        })
        .map(|(i, _)| i)
}

/// "PT6.040S".
fn iso_duration(seconds: f64) -> String {
    format!("PT{:.3}S", seconds.max(0.0))
}

/// "00:01:02.345".
fn vtt_time(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendition(name: &str, w: u32, h: u32, avg: u64) -> Rendition {
        Rendition {
            name: name.into(),
            width: w,
            height: h,
            frame_rate: 30.0,
            bandwidth: avg * 3 / 2,
            average_bandwidth: avg,
            codecs: "avc1.64001f".into(),
        }
    }

    fn audio() -> AudioTrack {
        AudioTrack {
            codecs: AAC_LC.into(),
            bandwidth: 140_000,
            average_bandwidth: 130_000,
            channels: 2,
        }
    }

    fn ladder() -> Vec<Rendition> {
        vec![
            rendition("360p", 640, 360, 600_000),
            rendition("720p", 1280, 720, 2_000_000),
            rendition("240p", 426, 240, 300_000),
        ]
    }

    #[test]
    fn master() {
        let got = master_playlist(&ladder(), Some(&audio()), "g7Xk2/", Some(0));
        assert_eq!(
            got,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"g7Xk2/audio/index.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1040000,AVERAGE-BANDWIDTH=730000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=640x360,FRAME-RATE=30.000,AUDIO=\"audio\"\n\
             g7Xk2/360p/index.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=3140000,AVERAGE-BANDWIDTH=2130000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO=\"audio\"\n\
             g7Xk2/720p/index.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=590000,AVERAGE-BANDWIDTH=430000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=426x240,FRAME-RATE=30.000,AUDIO=\"audio\"\n\
             g7Xk2/240p/index.m3u8\n"
        );
    }

    #[test]
    fn master_orders() {
        fn order(first: Option<usize>, audio: Option<&AudioTrack>) -> Vec<String> {
            master_playlist(&ladder(), audio, "", first)
                .lines()
                .filter(|l| l.ends_with("index.m3u8") && !l.starts_with('#'))
                .map(str::to_owned)
                .collect()
        }
        assert_eq!(
            order(None, None),
            ["720p/index.m3u8", "360p/index.m3u8", "240p/index.m3u8"]
        );
        assert_eq!(
            order(Some(2), None),
            ["240p/index.m3u8", "720p/index.m3u8", "360p/index.m3u8"]
        );
        assert_eq!(
            order(Some(9), None),
            ["720p/index.m3u8", "360p/index.m3u8", "240p/index.m3u8"]
        );
        let no_audio = master_playlist(&ladder(), None, "", None);
        assert!(
            !no_audio.contains("EXT-X-MEDIA")
                && !no_audio.contains("AUDIO=")
                && !no_audio.contains("mp4a")
        );
        assert!(
            no_audio.contains("BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2000000,CODECS=\"avc1.64001f\"")
        );
    }

    #[test]
    fn audio_only_master() {
        assert_eq!(
            master_playlist(&[], Some(&audio()), "p/", None),
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=140000,AVERAGE-BANDWIDTH=130000,CODECS=\"mp4a.40.2\"\np/audio/index.m3u8\n"
        );
    }

    fn seg(n: u32, start: u64, ticks: u64) -> SegmentInfo {
        SegmentInfo {
            uri: format!("seg_{n}.m4s"),
            duration_s: ticks as f64 / 1000.0,
            bytes: 1000,
            start_ticks: start,
            duration_ticks: ticks,
        }
    }

    #[test]
    fn media() {
        let segments = [seg(1, 0, 4000), seg(2, 4000, 4001), seg(3, 8001, 1500)];
        assert_eq!(
            media_playlist(&segments, 1000),
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:5\n#EXT-X-PLAYLIST-TYPE:VOD\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n\
             #EXTINF:4.000000,\nseg_1.m4s\n#EXTINF:4.001000,\nseg_2.m4s\n#EXTINF:1.500000,\nseg_3.m4s\n#EXT-X-ENDLIST\n"
        );
        assert!(media_playlist(&segments[..1], 1000).contains("#EXT-X-TARGETDURATION:4\n"));
    }

    #[test]
    fn dash() {
        let video = RenditionOutput {
            rendition: rendition("720p", 1280, 720, 2_000_000),
            segments: vec![
                seg(1, 0, 4000),
                seg(2, 4000, 4000),
                seg(3, 8000, 4000),
                seg(4, 12000, 1000),
            ],
            timescale: 1000,
        };
        let audio = AudioOutput {
            track: audio(),
            segments: vec![seg(1, 0, 4010), seg(2, 4010, 2000)],
            timescale: 48000,
        };
        let mpd = dash_mpd(13.0, &[video], Some(&audio), "a&b/");
        assert!(
            mpd.contains("mediaPresentationDuration=\"PT13.000S\""),
            "{mpd}"
        );
        assert!(mpd.contains("initialization=\"a&amp;b/720p/init.mp4\" media=\"a&amp;b/720p/seg_$Number$.m4s\" startNumber=\"1\""), "{mpd}");
        assert!(
            mpd.contains(
                "<S t=\"0\" d=\"4000\" r=\"2\"/>\n            <S t=\"12000\" d=\"1000\"/>"
            ),
            "{mpd}"
        );
        assert!(
            mpd.contains("<S t=\"0\" d=\"4010\"/>\n            <S t=\"4010\" d=\"2000\"/>"),
            "{mpd}"
        );
        assert!(
            mpd.contains("frameRate=\"30\" codecs=\"avc1.64001f\""),
            "{mpd}"
        );
        assert!(
            mpd.contains("audioSamplingRate=\"48000\" codecs=\"mp4a.40.2\""),
            "{mpd}"
        );
        assert!(mpd.contains("contentType=\"video\"") && mpd.contains("contentType=\"audio\""));
        let audio_only = dash_mpd(6.0, &[], Some(&audio), "");
        assert!(!audio_only.contains("contentType=\"video\""));
    }

    #[test]
    fn vtt() {
        let sb = StoryboardOutput {
            tiles: 2,
            thumb_width: 160,
            thumb_height: 90,
            columns: 2,
            rows: 2,
            interval_s: 2,
            count: 5,
        };
        assert_eq!(
            storyboard_vtt(&sb, 9.5, ""),
            "WEBVTT\n\n\
             00:00:00.000 --> 00:00:02.000\nsb_1.jpg#xywh=0,0,160,90\n\n\
             00:00:02.000 --> 00:00:04.000\nsb_1.jpg#xywh=160,0,160,90\n\n\
             00:00:04.000 --> 00:00:06.000\nsb_1.jpg#xywh=0,90,160,90\n\n\
             00:00:06.000 --> 00:00:08.000\nsb_1.jpg#xywh=160,90,160,90\n\n\
             00:00:08.000 --> 00:00:09.500\nsb_2.jpg#xywh=0,0,160,90\n\n"
        );
        assert_eq!(vtt_time(3723.4567), "01:02:03.457");
    }

    #[test]
    fn start() {
        let ladder = ladder();
        let a = audio();
        for (kbps, expect) in [
            (0, None),
            (100, None),
            (430, Some(2)),
            (729, Some(2)),
            (730, Some(0)),
            (2129, Some(0)),
            (2130, Some(1)),
            (100_000, Some(1)),
        ] {
            assert_eq!(
                start_rendition(&ladder, Some(&a), kbps),
                expect,
                "{kbps} kbps"
            );
        }
        assert_eq!(start_rendition(&ladder, None, 600), Some(0));
        assert_eq!(start_rendition(&[], Some(&a), 600), None);
    }
}
