//! Just enough ISO BMFF (MP4) reading to describe the CMAF files ffmpeg wrote: the track's
//! timescale and RFC 6381 codec string from `init.mp4` (`avcC`, `esds`), and each media
//! segment's decode time and true duration from its `moof` boxes (`tfdt`, `tfhd`, `trun`).
//! Manifests are built from these numbers rather than from ffmpeg's rounded playlists.

/// What an initialization segment says about its (first) track.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct InitInfo {
    /// Ticks per second of the track (`mdhd`).
    pub timescale: u32,
    /// RFC 6381 codec string: "avc1.64001f", "mp4a.40.2".
    pub codecs: String,
    /// `trex` default sample duration (used when fragments give none).
    pub default_duration: u32,
}

/// Timing of one media segment, in the track's timescale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct FragmentTiming {
    /// `tfdt` base media decode time of the first fragment.
    pub decode_time: u64,
    /// Sum of all sample durations in the segment.
    pub duration: u64,
}

/// Iterates the boxes in `data` as `(type, payload)`; stops at the first malformed header.
fn boxes(data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.len() < 8 {
            return None;
        }
        let size32 = u32::from_be_bytes(rest[0..4].try_into().ok()?);
        let kind: [u8; 4] = rest[4..8].try_into().ok()?;
        let (header, size) = match size32 {
            0 => (8, rest.len()),
            1 => {
                let large = u64::from_be_bytes(rest.get(8..16)?.try_into().ok()?);
                (16, usize::try_from(large).ok()?)
            }
            n => (8, n as usize),
        };
        if size < header || size > rest.len() {
            rest = &[];
            return None;
        }
        let payload = &rest[header..size];
        rest = &rest[size..];
        Some((kind, payload))
    })
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).find(|(k, _)| k == kind).map(|(_, p)| p)
}

fn path<'a>(data: &'a [u8], kinds: &[&[u8; 4]]) -> Option<&'a [u8]> {
    kinds.iter().try_fold(data, |d, k| child(d, k))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

/// Reads the first track of an initialization segment.
pub(crate) fn parse_init(data: &[u8]) -> Result<InitInfo, String> {
    let moov = child(data, b"moov").ok_or("no moov box")?;
    let trak = child(moov, b"trak").ok_or("no trak box")?;
    let mdhd = path(trak, &[b"mdia", b"mdhd"]).ok_or("no mdhd box")?;
    let timescale = match mdhd.first() {
        Some(1) => u32_at(mdhd, 20),
        _ => u32_at(mdhd, 12),
    }
    .filter(|&t| t > 0)
    .ok_or("bad mdhd timescale")?;
    let stsd = path(trak, &[b"mdia", b"minf", b"stbl", b"stsd"]).ok_or("no stsd box")?;
    let (entry_kind, entry) = boxes(stsd.get(8..).ok_or("short stsd")?)
        .next()
        .ok_or("empty stsd")?;
    let codecs = match &entry_kind {
        b"avc1" | b"avc3" => {
            let avcc = child(entry.get(78..).ok_or("short avc1")?, b"avcC").ok_or("no avcC box")?;
            let bytes = avcc.get(1..4).ok_or("short avcC")?;
            format!(
                "{}.{:02x}{:02x}{:02x}",
                String::from_utf8_lossy(&entry_kind),
                bytes[0],
                bytes[1],
                bytes[2]
            )
        }
        b"mp4a" => {
            let esds = child(entry.get(28..).ok_or("short mp4a")?, b"esds").ok_or("no esds box")?;
            mp4a_codecs(esds.get(4..).ok_or("short esds")?).ok_or("unreadable esds")?
        }
        other => {
            return Err(format!(
                "unexpected sample entry {}",
                String::from_utf8_lossy(other)
            ));
        }
    };
    let default_duration = path(moov, &[b"mvex", b"trex"])
        .and_then(|trex| u32_at(trex, 12))
        .unwrap_or(0);
    Ok(InitInfo {
        timescale,
        codecs,
        default_duration,
    })
}

/// Reads an MPEG-4 descriptor header at `at`: (tag, payload start, payload length).
fn descriptor(data: &[u8], at: usize) -> Option<(u8, usize, usize)> {
    let tag = *data.get(at)?;
    let mut len = 0usize;
    let mut i = at + 1;
    for _ in 0..4 {
        let b = *data.get(i)?;
        i += 1;
        len = (len << 7) | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            break;
        }
    }
    Some((tag, i, len))
}

/// "mp4a.<objectTypeIndication hex>.<audio object type>" from an `esds` payload.
fn mp4a_codecs(es: &[u8]) -> Option<String> {
    let (tag, start, _) = descriptor(es, 0)?;
    if tag != 0x03 {
        return None;
    }
    let flags = *es.get(start + 2)?;
    let mut at = start + 3;
    if flags & 0x80 != 0 {
        at += 2;
    }
    if flags & 0x40 != 0 {
        at += 1 + usize::from(*es.get(at)?);
    }
    if flags & 0x20 != 0 {
        at += 2;
    }
    let (tag, dcd, _) = descriptor(es, at)?;
    if tag != 0x04 {
        return None;
    }
    let oti = *es.get(dcd)?;
    let (tag, dsi, _) = descriptor(es, dcd + 13)?;
    if tag != 0x05 {
        return Some(format!("mp4a.{oti:02x}"));
    }
    let first = *es.get(dsi)?;
    let mut aot = first >> 3;
    if aot == 31 {
        let second = *es.get(dsi + 1)?;
        aot = 32 + (((first & 0x07) << 3) | (second >> 5));
    }
    Some(format!("mp4a.{oti:02x}.{aot}"))
}

/// Reads the timing of a media segment (one or more `moof`+`mdat` pairs).
pub(crate) fn parse_fragment(data: &[u8], default_duration: u32) -> Result<FragmentTiming, String> {
    let mut decode_time = None;
    let mut duration = 0u64;
    for (kind, moof) in boxes(data) {
        if &kind != b"moof" {
            continue;
        }
        for (kind, traf) in boxes(moof) {
            if &kind != b"traf" {
                continue;
            }
            let tfhd = child(traf, b"tfhd").ok_or("no tfhd box")?;
            let flags = u32_at(tfhd, 0).ok_or("short tfhd")? & 0x00ff_ffff;
            let mut at = 8;
            if flags & 0x1 != 0 {
                at += 8;
            }
            if flags & 0x2 != 0 {
                at += 4;
            }
            let default = if flags & 0x8 != 0 {
                u32_at(tfhd, at).ok_or("short tfhd")?
            } else {
                default_duration
            };
            if decode_time.is_none() {
                let tfdt = child(traf, b"tfdt").ok_or("no tfdt box")?;
                decode_time = Some(
                    match tfdt.first() {
                        Some(1) => u64_at(tfdt, 4),
                        _ => u32_at(tfdt, 4).map(u64::from),
                    }
                    .ok_or("short tfdt")?,
                );
            }
            for (kind, trun) in boxes(traf) {
                if &kind != b"trun" {
                    continue;
                }
                duration += trun_duration(trun, default).ok_or("short trun")?;
            }
        }
    }
    let decode_time = decode_time.ok_or("no moof box")?;
    Ok(FragmentTiming {
        decode_time,
        duration,
    })
}

fn trun_duration(trun: &[u8], default: u32) -> Option<u64> {
    let flags = u32_at(trun, 0)? & 0x00ff_ffff;
    let count = u32_at(trun, 4)?;
    if flags & 0x100 == 0 {
        return Some(u64::from(count) * u64::from(default));
    }
    let mut at = 8;
    if flags & 0x1 != 0 {
        at += 4;
    }
    if flags & 0x4 != 0 {
        at += 4;
    }
    let stride = 4 * [0x100, 0x200, 0x400, 0x800]
        .iter()
        .filter(|&&f| flags & f != 0)
        .count();
    let mut total = 0u64;
    for i in 0..count as usize {
        total += u64::from(u32_at(trun, at + i * stride)?);
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkbox(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn fragment_timing() {
        // tfhd with default-sample-duration (flag 0x8) = 512; trun without durations (3
        // samples) plus a second trun with explicit durations and sizes.
        let tfhd = mkbox(
            b"tfhd",
            &cat(&[
                &0x0000_0008u32.to_be_bytes(),
                &1u32.to_be_bytes(),
                &512u32.to_be_bytes(),
            ]),
        );
        let tfdt = mkbox(b"tfdt", &cat(&[&[1, 0, 0, 0], &90_000u64.to_be_bytes()]));
        let trun1 = mkbox(
            b"trun",
            &cat(&[
                &0x0000_0001u32.to_be_bytes(),
                &3u32.to_be_bytes(),
                &0u32.to_be_bytes(),
            ]),
        );
        let trun2 = mkbox(
            b"trun",
            &cat(&[
                &0x0000_0300u32.to_be_bytes(),
                &2u32.to_be_bytes(),
                &100u32.to_be_bytes(),
                &7u32.to_be_bytes(),
                &200u32.to_be_bytes(),
                &9u32.to_be_bytes(),
            ]),
        );
        let traf = mkbox(b"traf", &cat(&[&tfhd, &tfdt, &trun1, &trun2]));
        let moof = mkbox(b"moof", &cat(&[&mkbox(b"mfhd", &[0; 8]), &traf]));
        let segment = cat(&[&mkbox(b"styp", b"msdh"), &moof, &mkbox(b"mdat", &[0; 16])]);
        assert_eq!(
            parse_fragment(&segment, 0),
            Ok(FragmentTiming {
                decode_time: 90_000,
                duration: 3 * 512 + 300
            })
        );
        assert!(parse_fragment(&mkbox(b"mdat", &[0; 4]), 0).is_err());
        assert!(parse_fragment(&segment[..20], 0).is_err());
    }

    #[test]
    fn audio_codec_strings() {
        // ES_Descriptor { ES_ID 1, flags 0, DecoderConfig { oti 0x40, ..., DSI [0x11, 0x90] } }
        let dsi = [0x05, 0x02, 0x11, 0x90];
        let mut dcd = vec![0x04, (13 + dsi.len()) as u8, 0x40, 0x15, 0, 0, 0];
        dcd.extend_from_slice(&[0; 8]);
        dcd.extend_from_slice(&dsi);
        let mut es = vec![0x03, 0x80, 0x80, 0x80, (3 + dcd.len()) as u8, 0, 1, 0];
        es.extend_from_slice(&dcd);
        assert_eq!(mp4a_codecs(&es).as_deref(), Some("mp4a.40.2"));
        // HE-AAC (object type 5).
        let last = es.len() - 2;
        es[last] = 0x2b;
        assert_eq!(mp4a_codecs(&es).as_deref(), Some("mp4a.40.5"));
        assert_eq!(mp4a_codecs(&[0x04, 0]), None);
    }

    #[test]
    fn malformed_boxes_stop_iteration() {
        let mut data = mkbox(b"free", &[1, 2, 3]);
        data.extend_from_slice(&[0, 0, 0, 200, b'm', b'o', b'o', b'v']);
        let kinds: Vec<_> = boxes(&data).map(|(k, _)| k).collect();
        assert_eq!(kinds, [*b"free"]);
        assert!(parse_init(&data).is_err());
    }
}
