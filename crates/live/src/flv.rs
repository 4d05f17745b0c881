//! The FLV tag bodies RTMP carries, read into what the packager needs: H.264 in AVCC form with
//! its decoder configuration, and raw AAC frames with their AudioSpecificConfig. Nothing
//! else is accepted (the publisher is told which codec it sent).

use bytes::Bytes;

use crate::error::LiveError;

/// One compressed frame from the publisher, timed in RTMP milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// A new H.264 decoder configuration (an `AVCDecoderConfigurationRecord`).
    VideoConfig(AvcConfig),
    /// A new AAC configuration.
    AudioConfig(AacConfig),
    /// One access unit of H.264, length-prefixed NAL units as in MP4.
    Video {
        /// Decode time, ms.
        dts_ms: u32,
        /// Presentation minus decode time, ms (non-zero only with B-frames).
        cts_ms: i32,
        /// An IDR (random access) picture.
        keyframe: bool,
        /// The NAL units.
        data: Bytes,
    },
    /// One raw AAC frame.
    Audio {
        /// Decode time, ms.
        dts_ms: u32,
        /// The frame.
        data: Bytes,
    },
}

/// An H.264 decoder configuration and what it says about the picture.
#[derive(Clone, Debug, PartialEq)]
pub struct AvcConfig {
    /// The `AVCDecoderConfigurationRecord`, as the `avcC` box holds it.
    pub record: Bytes,
    /// RFC 6381 codec string, e.g. `avc1.64001f`.
    pub codec: String,
    /// Picture width in pixels (from the SPS).
    pub width: u32,
    /// Picture height in pixels (from the SPS).
    pub height: u32,
}

/// An AAC configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct AacConfig {
    /// The `AudioSpecificConfig`, as `esds` holds it.
    pub specific: Bytes,
    /// RFC 6381 codec string, e.g. `mp4a.40.2`.
    pub codec: String,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
}

const FLV_CODEC_AVC: u8 = 7;
const FLV_SOUND_AAC: u8 = 10;

/// Reads an RTMP video message. None for messages that carry no picture (end of sequence,
/// an empty keepalive).
pub fn video(data: &Bytes, timestamp_ms: u32) -> Result<Option<Frame>, LiveError> {
    let Some(&first) = data.first() else {
        return Ok(None);
    };
    let codec = first & 0x0f;
    if first & 0x80 != 0 {
        return Err(LiveError::UnsupportedCodec(
            "enhanced RTMP video (HEVC, AV1 or VP9); send H.264".into(),
        ));
    }
    if codec != FLV_CODEC_AVC {
        return Err(LiveError::UnsupportedCodec(format!(
            "FLV video codec {codec}; send H.264"
        )));
    }
    let frame_type = first >> 4;
    if data.len() < 5 {
        return Ok(None);
    }
    let cts = i32::from_be_bytes([0, data[2], data[3], data[4]]);
    // Sign-extend the 24-bit composition time.
    let cts_ms = (cts << 8) >> 8;
    let body = data.slice(5..);
    match data[1] {
        0 => Ok(Some(Frame::VideoConfig(avc_config(body)?))),
        1 if !body.is_empty() => Ok(Some(Frame::Video {
            dts_ms: timestamp_ms,
            cts_ms,
            keyframe: frame_type == 1,
            data: body,
        })),
        _ => Ok(None),
    }
}

/// Reads an RTMP audio message. None for an empty one.
pub fn audio(data: &Bytes, timestamp_ms: u32) -> Result<Option<Frame>, LiveError> {
    let Some(&first) = data.first() else {
        return Ok(None);
    };
    let format = first >> 4;
    if format != FLV_SOUND_AAC {
        return Err(LiveError::UnsupportedCodec(format!(
            "FLV sound format {format}; send AAC"
        )));
    }
    if data.len() < 2 {
        return Ok(None);
    }
    let body = data.slice(2..);
    match data[1] {
        0 => Ok(Some(Frame::AudioConfig(aac_config(body)?))),
        _ if !body.is_empty() => Ok(Some(Frame::Audio {
            dts_ms: timestamp_ms,
            data: body,
        })),
        _ => Ok(None),
    }
}

/// FLV tag type of sound.
pub const TAG_AUDIO: u8 = 8;
/// FLV tag type of pictures.
pub const TAG_VIDEO: u8 = 9;
/// FLV tag type of script data (metadata), skipped when read.
const TAG_SCRIPT: u8 = 18;

/// The start of an FLV stream (header and the first, empty, previous-tag size): video, and
/// sound when `audio`.
pub fn stream_header(audio: bool) -> Bytes {
    let flags = if audio { 0x05 } else { 0x01 };
    Bytes::from(vec![b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0])
}

/// One FLV tag of an FLV stream (the tag body RTMP carried, its header, its size after).
pub fn stream_tag(kind: u8, timestamp_ms: u32, body: &[u8]) -> Bytes {
    let size = u32::try_from(body.len()).unwrap_or(u32::MAX) & 0x00ff_ffff;
    let mut out = Vec::with_capacity(body.len() + 15);
    out.push(kind);
    out.extend_from_slice(&size.to_be_bytes()[1..]);
    out.extend_from_slice(&timestamp_ms.to_be_bytes()[1..]);
    out.push(timestamp_ms.to_be_bytes()[0]);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&body[..size as usize]);
    out.extend_from_slice(&(size + 11).to_be_bytes());
    Bytes::from(out)
}

/// Reads an FLV stream tag by tag (what ffmpeg writes): `(kind, timestamp_ms, body)` for
/// sound and pictures, script data skipped; None at its end. Cancel-safe: what was read
/// stays buffered when a `next` is dropped (a timeout around it loses nothing).
#[derive(Debug)]
pub struct StreamReader<R> {
    reader: R,
    buffer: bytes::BytesMut,
    header_read: bool,
}

impl<R: tokio::io::AsyncRead + Unpin> StreamReader<R> {
    /// Reads from `reader`, which starts at the FLV header.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            buffer: bytes::BytesMut::with_capacity(64 * 1024),
            header_read: false,
        }
    }

    /// The next tag. Errors: I/O, or a stream that is not FLV or ends inside a tag.
    pub async fn next(&mut self) -> std::io::Result<Option<(u8, u32, Bytes)>> {
        use tokio::io::AsyncReadExt;
        loop {
            if let Some(tag) = self.parse()? {
                return Ok(Some(tag));
            }
            if self.reader.read_buf(&mut self.buffer).await? == 0 {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(std::io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// A whole tag from the buffer, when one is there.
    fn parse(&mut self) -> std::io::Result<Option<(u8, u32, Bytes)>> {
        let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned());
        loop {
            if !self.header_read {
                if self.buffer.len() < 9 {
                    return Ok(None);
                }
                if &self.buffer[..3] != b"FLV" {
                    return Err(bad("not an FLV stream"));
                }
                let offset = u32::from_be_bytes([
                    self.buffer[5],
                    self.buffer[6],
                    self.buffer[7],
                    self.buffer[8],
                ]) as usize;
                // The header, then the first (empty) previous-tag size.
                if self.buffer.len() < offset.max(9) + 4 {
                    return Ok(None);
                }
                let _ = self.buffer.split_to(offset.max(9) + 4);
                self.header_read = true;
            }
            if self.buffer.len() < 11 {
                return Ok(None);
            }
            let head = &self.buffer[..11];
            let kind = head[0] & 0x1f;
            let size = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
            let timestamp = u32::from_be_bytes([head[7], head[4], head[5], head[6]]);
            if self.buffer.len() < 11 + size + 4 {
                return Ok(None);
            }
            let mut tag = self.buffer.split_to(11 + size + 4);
            let _ = tag.split_to(11);
            tag.truncate(size);
            match kind {
                TAG_AUDIO | TAG_VIDEO => return Ok(Some((kind, timestamp, tag.freeze()))),
                TAG_SCRIPT => {}
                _ => return Err(bad("unknown FLV tag type")),
            }
        }
    }
}

fn avc_config(record: Bytes) -> Result<AvcConfig, LiveError> {
    let bad = |why: &str| LiveError::BadStream(format!("H.264 configuration: {why}"));
    if record.len() < 7 || record[0] != 1 {
        return Err(bad("not an AVCDecoderConfigurationRecord"));
    }
    if record[4] & 0x03 != 3 {
        return Err(bad("NAL unit lengths must be 4 bytes"));
    }
    let sps_count = usize::from(record[5] & 0x1f);
    if sps_count == 0 {
        return Err(bad("no sequence parameter set"));
    }
    let sps_len = usize::from(u16::from_be_bytes([
        record[6],
        *record.get(7).unwrap_or(&0),
    ]));
    let sps = record
        .get(8..8 + sps_len)
        .ok_or_else(|| bad("truncated sequence parameter set"))?;
    let (width, height) = sps_dimensions(sps).ok_or_else(|| bad("unreadable SPS"))?;
    Ok(AvcConfig {
        codec: format!("avc1.{:02x}{:02x}{:02x}", record[1], record[2], record[3]),
        record,
        width,
        height,
    })
}

const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

fn aac_config(specific: Bytes) -> Result<AacConfig, LiveError> {
    let bad = || LiveError::BadStream("AAC configuration is unreadable".into());
    if specific.len() < 2 {
        return Err(bad());
    }
    let object_type = specific[0] >> 3;
    let rate_index = usize::from(((specific[0] & 0x07) << 1) | (specific[1] >> 7));
    let channels = u16::from((specific[1] >> 3) & 0x0f);
    let sample_rate = *AAC_RATES.get(rate_index).ok_or_else(bad)?;
    if object_type == 0 || channels == 0 {
        return Err(bad());
    }
    Ok(AacConfig {
        codec: format!("mp4a.40.{object_type}"),
        specific,
        sample_rate,
        channels,
    })
}

/// Reads exp-Golomb coded fields MSB first, skipping emulation-prevention bytes.
struct BitReader<'a> {
    data: &'a [u8],
    bit: usize,
    zeros: u8,
    byte_at: usize,
    current: u8,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            bit: 8,
            zeros: 0,
            byte_at: 0,
            current: 0,
        }
    }

    fn bit(&mut self) -> Option<u32> {
        if self.bit == 8 {
            let mut byte = *self.data.get(self.byte_at)?;
            self.byte_at += 1;
            if self.zeros >= 2 && byte == 3 {
                byte = *self.data.get(self.byte_at)?;
                self.byte_at += 1;
                self.zeros = 0;
            }
            self.zeros = if byte == 0 { self.zeros + 1 } else { 0 };
            self.current = byte;
            self.bit = 0;
        }
        let value = (self.current >> (7 - self.bit)) & 1;
        self.bit += 1;
        Some(u32::from(value))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        let magnitude = i32::try_from(k.div_ceil(2)).ok()?;
        Some(if k % 2 == 1 { magnitude } else { -magnitude })
    }
}

/// Width and height of the picture an H.264 SPS (with its NAL header byte) describes.
fn sps_dimensions(sps: &[u8]) -> Option<(u32, u32)> {
    let mut r = BitReader::new(sps.get(1..)?);
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags, level
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format = r.ue()?;
        if chroma_format == 3 {
            r.bit()?; // separate_colour_plane_flag
        }
        r.ue()?; // bit_depth_luma
        r.ue()?; // bit_depth_chroma
        r.bit()?; // qpprime_y_zero_transform_bypass
        if r.bit()? == 1 {
            let lists = if chroma_format == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + r.se()? + 256) % 256;
                        }
                        last = if next == 0 { last } else { next };
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            for _ in 0..r.ue()? {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_allowed
    let width_mbs = r.ue()? + 1;
    let height_map_units = r.ue()? + 1;
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field
    }
    r.bit()?; // direct_8x8_inference
    let (mut crop_x, mut crop_y) = (0, 0);
    if r.bit()? == 1 {
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        let (unit_x, unit_y) = match chroma_format {
            0 => (1, 2 - frame_mbs_only),
            1 => (2, 2 * (2 - frame_mbs_only)),
            2 => (2, 2 - frame_mbs_only),
            _ => (1, 2 - frame_mbs_only),
        };
        crop_x = (left + right) * unit_x;
        crop_y = (top + bottom) * unit_y;
    }
    let width = (width_mbs * 16).checked_sub(crop_x)?;
    let height = ((2 - frame_mbs_only) * height_map_units * 16).checked_sub(crop_y)?;
    Some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn flv_streams_read_back_what_was_written_skipping_metadata() {
        let tags: &[(u8, u32, &[u8])] = &[
            (TAG_VIDEO, 0, &[0x17, 0, 0, 0, 0, 1, 2]),
            (TAG_SCRIPT, 0, b"onMetaData"),
            (TAG_AUDIO, 23, &[0xaf, 1, 9]),
            // Past 2^24 ms the extended byte carries the top of the timestamp.
            (TAG_VIDEO, 0x0123_4567, &[0x27, 1, 0, 0, 0]),
            (TAG_AUDIO, 5, &[]),
        ];
        let mut stream = stream_header(true).to_vec();
        for (kind, ts, body) in tags {
            stream.extend_from_slice(&stream_tag(*kind, *ts, body));
        }
        let mut reader = StreamReader::new(stream.as_slice());
        let mut read = Vec::new();
        while let Some((kind, ts, body)) = reader.next().await.unwrap() {
            read.push((kind, ts, body.to_vec()));
        }
        let expected: Vec<_> = tags
            .iter()
            .filter(|(kind, _, _)| *kind != TAG_SCRIPT)
            .map(|(kind, ts, body)| (*kind, *ts, body.to_vec()))
            .collect();
        assert_eq!(read, expected);
        // A stream cut inside a tag is an error, not a silent end.
        let mut cut = StreamReader::new(&stream[..stream.len() - 3]);
        let mut result = Ok(Some((0, 0, Bytes::new())));
        while let Ok(Some(_)) = result {
            result = cut.next().await;
        }
        assert!(result.is_err());
        assert!(StreamReader::new(&b"GIF89a..."[..]).next().await.is_err());
    }

    /// SPSs x264 (through ffmpeg 5.1) wrote for three sizes: 720 and 360 lines are cropped
    /// from 736 and 368, 854 columns from 864, and the 360p one has an emulation-prevention
    /// byte.
    #[test]
    fn sps_dimensions_come_from_the_macroblock_counts_and_cropping() {
        let cases: &[(&[u8], (u32, u32))] = &[
            (
                &[
                    0x67, 0x64, 0x00, 0x1f, 0xac, 0xb4, 0x02, 0x80, 0x2d, 0xd8, 0x08, 0x80, 0x00,
                    0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x47, 0x8c, 0x19, 0x50,
                ],
                (1280, 720),
            ),
            (
                &[
                    0x67, 0x64, 0x00, 0x1e, 0xac, 0xb4, 0x05, 0x01, 0x7f, 0xcb, 0x80, 0x88, 0x00,
                    0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x01, 0xe4, 0x78, 0xb1, 0x75,
                ],
                (640, 360),
            ),
            (
                &[
                    0x67, 0x64, 0x00, 0x1f, 0xac, 0xb4, 0x06, 0xc1, 0xef, 0x37, 0x80, 0x88, 0x00,
                    0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x01, 0xe4, 0x78, 0xc1, 0x95,
                ],
                (854, 480),
            ),
        ];
        for (sps, expected) in cases {
            assert_eq!(sps_dimensions(sps), Some(*expected));
        }
    }

    #[test]
    fn aac_configuration_gives_rate_channels_and_codec() {
        let config = aac_config(Bytes::from_static(&[0x11, 0x90])).unwrap();
        assert_eq!(
            (config.sample_rate, config.channels, config.codec.as_str()),
            (48000, 2, "mp4a.40.2")
        );
        assert!(aac_config(Bytes::from_static(&[0x11])).is_err());
    }

    #[test]
    fn codecs_other_than_h264_and_aac_are_refused_by_name() {
        let vp6 = Bytes::from_static(&[0x14, 0x00]);
        let mp3 = Bytes::from_static(&[0x2f, 0x00]);
        assert!(matches!(
            video(&vp6, 0),
            Err(LiveError::UnsupportedCodec(_))
        ));
        assert!(matches!(
            audio(&mp3, 0),
            Err(LiveError::UnsupportedCodec(_))
        ));
    }
}
