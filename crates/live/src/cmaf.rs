//! CMAF (fragmented MP4) writing for live: an initialization segment with one H.264 track
//! and an optional AAC track, and fragments (`moof` + `mdat`) holding both tracks' samples
//! for one part. Written by hand: the boxes are few and fixed, and a muxing crate would
//! bring a demuxer and an allocation per box we do not need.

use bytes::{BufMut, Bytes, BytesMut};

use crate::flv::{AacConfig, AvcConfig};

/// Video timescale: 90 kHz, as MPEG systems use.
pub const VIDEO_TIMESCALE: u32 = 90_000;
/// Track id of the video track.
const VIDEO_TRACK: u32 = 1;
/// Track id of the audio track.
const AUDIO_TRACK: u32 = 2;

/// One sample of a track, timed in its timescale.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Decode time.
    pub dts: u64,
    /// Duration.
    pub duration: u32,
    /// Presentation minus decode time.
    pub cts_offset: i32,
    /// A sync sample.
    pub keyframe: bool,
    /// The bytes.
    pub data: Bytes,
}

/// Appends a box: size, type, then what `body` writes.
fn mp4_box(out: &mut BytesMut, kind: &[u8; 4], body: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_u32(0);
    out.put_slice(kind);
    body(out);
    let size = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// A full box: a box with version and flags.
fn full_box(
    out: &mut BytesMut,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut BytesMut),
) {
    mp4_box(out, kind, |out| {
        out.put_u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
        body(out);
    });
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// The initialization segment: `ftyp` and `moov` for the tracks.
pub fn init_segment(video: &AvcConfig, audio: Option<&AacConfig>) -> Bytes {
    let mut out = BytesMut::with_capacity(1024);
    mp4_box(&mut out, b"ftyp", |o| {
        o.put_slice(b"iso6");
        o.put_u32(0);
        for brand in [b"iso6", b"cmfc", b"mp41", b"dash"] {
            o.put_slice(brand);
        }
    });
    mp4_box(&mut out, b"moov", |o| {
        full_box(o, b"mvhd", 0, 0, |o| {
            o.put_u32(0); // creation
            o.put_u32(0); // modification
            o.put_u32(1000); // timescale
            o.put_u32(0); // duration: unknown (fragmented)
            o.put_u32(0x0001_0000); // rate 1.0
            o.put_u16(0x0100); // volume 1.0
            o.put_bytes(0, 10);
            MATRIX.iter().for_each(|m| o.put_u32(*m));
            o.put_bytes(0, 24);
            o.put_u32(AUDIO_TRACK + 1); // next track id
        });
        track(o, VIDEO_TRACK, TrackKind::Video(video));
        if let Some(audio) = audio {
            track(o, AUDIO_TRACK, TrackKind::Audio(audio));
        }
        mp4_box(o, b"mvex", |o| {
            for id in [Some(VIDEO_TRACK), audio.map(|_| AUDIO_TRACK)]
                .into_iter()
                .flatten()
            {
                full_box(o, b"trex", 0, 0, |o| {
                    o.put_u32(id);
                    o.put_u32(1); // sample description index
                    o.put_u32(0);
                    o.put_u32(0);
                    o.put_u32(0);
                });
            }
        });
    });
    out.freeze()
}

enum TrackKind<'a> {
    Video(&'a AvcConfig),
    Audio(&'a AacConfig),
}

fn track(out: &mut BytesMut, id: u32, kind: TrackKind<'_>) {
    let (timescale, handler, width, height) = match &kind {
        TrackKind::Video(v) => (VIDEO_TIMESCALE, b"vide", v.width, v.height),
        TrackKind::Audio(a) => (a.sample_rate, b"soun", 0, 0),
    };
    mp4_box(out, b"trak", |o| {
        // enabled | in movie | in preview
        full_box(o, b"tkhd", 0, 0x7, |o| {
            o.put_bytes(0, 8); // creation, modification
            o.put_u32(id);
            o.put_bytes(0, 16); // reserved, duration (unknown), reserved
            o.put_bytes(0, 4); // layer, alternate group
            o.put_u16(if handler == b"soun" { 0x0100 } else { 0 });
            o.put_u16(0);
            MATRIX.iter().for_each(|m| o.put_u32(*m));
            o.put_u32(width << 16);
            o.put_u32(height << 16);
        });
        mp4_box(o, b"mdia", |o| {
            full_box(o, b"mdhd", 0, 0, |o| {
                o.put_bytes(0, 8); // creation, modification
                o.put_u32(timescale);
                o.put_u32(0); // duration: unknown
                o.put_u16(0x55c4); // language "und"
                o.put_u16(0);
            });
            full_box(o, b"hdlr", 0, 0, |o| {
                o.put_u32(0);
                o.put_slice(handler);
                o.put_bytes(0, 12);
                o.put_slice(b"Spool\0");
            });
            mp4_box(o, b"minf", |o| {
                match &kind {
                    TrackKind::Video(_) => full_box(o, b"vmhd", 0, 1, |o| o.put_bytes(0, 8)),
                    TrackKind::Audio(_) => full_box(o, b"smhd", 0, 0, |o| o.put_u32(0)),
                }
                mp4_box(o, b"dinf", |o| {
                    full_box(o, b"dref", 0, 0, |o| {
                        o.put_u32(1);
                        full_box(o, b"url ", 0, 1, |_| {});
                    });
                });
                mp4_box(o, b"stbl", |o| {
                    full_box(o, b"stsd", 0, 0, |o| {
                        o.put_u32(1);
                        match &kind {
                            TrackKind::Video(v) => avc1(o, v),
                            TrackKind::Audio(a) => mp4a(o, a),
                        }
                    });
                    for empty in [b"stts", b"stsc", b"stco"] {
                        full_box(o, empty, 0, 0, |o| o.put_u32(0));
                    }
                    full_box(o, b"stsz", 0, 0, |o| {
                        o.put_u32(0);
                        o.put_u32(0);
                    });
                });
            });
        });
    });
}

fn avc1(out: &mut BytesMut, video: &AvcConfig) {
    mp4_box(out, b"avc1", |o| {
        o.put_bytes(0, 6);
        o.put_u16(1); // data reference index
        o.put_bytes(0, 16);
        o.put_u16(u16::try_from(video.width).unwrap_or(u16::MAX));
        o.put_u16(u16::try_from(video.height).unwrap_or(u16::MAX));
        o.put_u32(0x0048_0000); // 72 dpi
        o.put_u32(0x0048_0000);
        o.put_u32(0);
        o.put_u16(1); // frames per sample
        o.put_bytes(0, 32); // compressor name
        o.put_u16(0x0018); // depth
        o.put_i16(-1);
        mp4_box(o, b"avcC", |o| o.put_slice(&video.record));
    });
}

fn mp4a(out: &mut BytesMut, audio: &AacConfig) {
    mp4_box(out, b"mp4a", |o| {
        o.put_bytes(0, 6);
        o.put_u16(1);
        o.put_bytes(0, 8);
        o.put_u16(audio.channels);
        o.put_u16(16); // sample size
        o.put_u32(0);
        o.put_u32(audio.sample_rate.min(0xffff) << 16);
        full_box(o, b"esds", 0, 0, |o| {
            let specific = &audio.specific;
            let specific_len = u8::try_from(specific.len()).unwrap_or(u8::MAX);
            // ES_Descriptor { ES_ID, flags, DecoderConfigDescriptor, SLConfigDescriptor }
            o.put_u8(0x03);
            o.put_u8(3 + 2 + 13 + 2 + specific_len + 3);
            o.put_u16(0);
            o.put_u8(0);
            o.put_u8(0x04);
            o.put_u8(13 + 2 + specific_len);
            o.put_u8(0x40); // MPEG-4 audio
            o.put_u8(0x15); // audio stream
            o.put_slice(&[0, 0, 0]); // buffer size
            o.put_u32(0); // max bitrate
            o.put_u32(0); // average bitrate
            o.put_u8(0x05);
            o.put_u8(specific_len);
            o.put_slice(specific);
            o.put_u8(0x06);
            o.put_u8(1);
            o.put_u8(0x02);
        });
    });
}

const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;

/// One fragment (`moof` + `mdat`) holding `video` and `audio` samples; `sequence` numbers
/// fragments from 1. Either list may be empty, not both.
pub fn fragment(sequence: u32, video: &[Sample], audio: &[Sample]) -> Bytes {
    let tracks: Vec<(u32, &[Sample])> = [(VIDEO_TRACK, video), (AUDIO_TRACK, audio)]
        .into_iter()
        .filter(|(_, samples)| !samples.is_empty())
        .collect();
    let payload: usize = tracks
        .iter()
        .flat_map(|(_, s)| s.iter())
        .map(|s| s.data.len())
        .sum();
    let mut out = BytesMut::with_capacity(payload + 256);
    // Where each trun's data_offset field sits, to patch once the moof's size is known.
    let mut offset_fields = Vec::with_capacity(tracks.len());
    mp4_box(&mut out, b"moof", |o| {
        full_box(o, b"mfhd", 0, 0, |o| o.put_u32(sequence));
        for (id, samples) in &tracks {
            mp4_box(o, b"traf", |o| {
                // default-base-is-moof: offsets count from the moof's first byte.
                full_box(o, b"tfhd", 0, 0x02_0000, |o| o.put_u32(*id));
                full_box(o, b"tfdt", 1, 0, |o| o.put_u64(samples[0].dts));
                // data offset, duration, size, flags, composition offset (signed, v1)
                full_box(o, b"trun", 1, 0x0f01, |o| {
                    o.put_u32(u32::try_from(samples.len()).unwrap_or(u32::MAX));
                    offset_fields.push(o.len());
                    o.put_u32(0);
                    for s in samples.iter() {
                        o.put_u32(s.duration);
                        o.put_u32(u32::try_from(s.data.len()).unwrap_or(u32::MAX));
                        o.put_u32(if s.keyframe {
                            SYNC_SAMPLE_FLAGS
                        } else {
                            NON_SYNC_SAMPLE_FLAGS
                        });
                        o.put_i32(s.cts_offset);
                    }
                });
            });
        }
    });
    let moof_len = out.len();
    let mut data_at = moof_len + 8;
    for (field, (_, samples)) in offset_fields.into_iter().zip(&tracks) {
        let offset = u32::try_from(data_at).unwrap_or(u32::MAX);
        out[field..field + 4].copy_from_slice(&offset.to_be_bytes());
        data_at += samples.iter().map(|s| s.data.len()).sum::<usize>();
    }
    mp4_box(&mut out, b"mdat", |o| {
        for (_, samples) in &tracks {
            for s in samples.iter() {
                o.put_slice(&s.data);
            }
        }
    });
    out.freeze()
}
