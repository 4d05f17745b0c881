//! Proof of possession: the keyed BLAKE3 hashes over byte ranges of the local file that
//! answer the server's instant-upload challenge (`Spool-Proof-Nonce`, `Spool-Proof-Ranges`).

use std::io::{self, Read, Seek, SeekFrom};

use crate::tus::ByteRange;

/// Computes proof *i* = `blake3::keyed_hash(key, data[offset_i .. offset_i + length_i])` as
/// lowercase hex, streaming each range from `data` (memory stays bounded whatever the range size).
///
/// A range reaching past the end of `data` is an [`io::ErrorKind::UnexpectedEof`] error.
pub fn compute_proofs<R: Read + Seek>(
    data: &mut R,
    key: &[u8; 32],
    ranges: &[ByteRange],
) -> io::Result<Vec<String>> {
    ranges
        .iter()
        .map(|r| {
            data.seek(SeekFrom::Start(r.offset))?;
            let mut hasher = blake3::Hasher::new_keyed(key);
            let copied = io::copy(&mut data.by_ref().take(r.length), &mut hasher)?;
            if copied != r.length {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "proof range {}-{} reaches past the end of the file",
                        r.offset, r.length
                    ),
                ));
            }
            Ok(hasher.finalize().to_hex().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn check(len: usize, ranges: &[(u64, u64)]) {
        let bytes = data(len);
        let key = *blake3::hash(b"nonce").as_bytes();
        let ranges: Vec<_> = ranges
            .iter()
            .map(|&(offset, length)| ByteRange { offset, length })
            .collect();
        let got = compute_proofs(&mut Cursor::new(&bytes), &key, &ranges).unwrap();
        let want: Vec<String> = ranges
            .iter()
            .map(|r| {
                let slice = &bytes[r.offset as usize..(r.offset + r.length) as usize];
                blake3::keyed_hash(&key, slice).to_hex().to_string()
            })
            .collect();
        assert_eq!(got, want, "{ranges:?}");
    }

    #[test]
    fn proofs_match_keyed_hash_of_slices() {
        check(10, &[(0, 10)]);
        check(10, &[(3, 0)]);
        check(
            300_000,
            &[(0, 4096), (150_000, 70_000), (299_999, 1), (0, 300_000)],
        );
        // Overlapping and out-of-order ranges are each hashed on their own.
        check(5000, &[(4000, 1000), (0, 4500), (10, 10)]);
    }

    #[test]
    fn known_vector() {
        // Independently: keyed_hash(key = 32 zero bytes, "abc").
        let key = [0u8; 32];
        let got = compute_proofs(
            &mut Cursor::new(b"xxabcxx"),
            &key,
            &[ByteRange {
                offset: 2,
                length: 3,
            }],
        )
        .unwrap();
        assert_eq!(
            got,
            vec![blake3::keyed_hash(&key, b"abc").to_hex().to_string()]
        );
        assert_ne!(got[0], blake3::hash(b"abc").to_hex().to_string());
    }

    #[test]
    fn range_past_end_is_an_error() {
        let err = compute_proofs(
            &mut Cursor::new(data(100)),
            &[7; 32],
            &[ByteRange {
                offset: 90,
                length: 11,
            }],
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
