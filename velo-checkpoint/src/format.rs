//! The format of one payload file: a fixed 24-byte header, then the payload.
//!
//! | offset | size | field                                  |
//! |-------:|-----:|----------------------------------------|
//! |      0 |    8 | magic `b"VELOSTAT"`                    |
//! |      8 |    4 | format version, u32 little-endian      |
//! |     12 |    8 | payload length, u64 little-endian      |
//! |     20 |    4 | CRC32 of the payload, u32 little-endian|
//! |     24 |    n | the payload                            |

use std::fs;
use std::path::Path;

use crate::{Error, Result};

/// The first eight bytes of every payload file.
pub const MAGIC: [u8; 8] = *b"VELOSTAT";

/// The format version this crate writes and the only one it reads. It is
/// written in every payload file header and in every manifest.
pub const FORMAT_VERSION: u32 = 1;

/// The length of a payload file header in bytes.
pub const HEADER_LEN: usize = 24;

/// The header of a payload of `len` bytes whose CRC32 is `crc`.
pub(crate) fn header(len: u64, crc: u32) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[0..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[12..20].copy_from_slice(&len.to_le_bytes());
    out[20..24].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The bytes of a payload file holding `payload`: the header, then the
/// payload. [`read_file`] reads them back; test fixtures of other crates can be
/// written with it.
pub fn encode_file(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&header(payload.len() as u64, crc32fast::hash(payload)));
    out.extend_from_slice(payload);
    out
}

/// Reads the payload file at `path` and returns its payload after checking the
/// magic bytes, the format version, the payload length and the CRC32. Every
/// error names `path`.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(path, bytes)
}

/// Checks the header of `bytes`, the contents of the file at `path`, and
/// returns the payload.
pub(crate) fn decode(path: &Path, mut bytes: Vec<u8>) -> Result<Vec<u8>> {
    if bytes.len() < HEADER_LEN {
        // A file cut short inside its header: call it truncated unless what is
        // there already disagrees with the magic bytes.
        let n = bytes.len().min(MAGIC.len());
        if bytes[..n] != MAGIC[..n] {
            return Err(Error::BadMagic {
                path: path.to_path_buf(),
            });
        }
        return Err(Error::TruncatedHeader {
            path: path.to_path_buf(),
            actual: bytes.len() as u64,
        });
    }
    if bytes[0..8] != MAGIC {
        return Err(Error::BadMagic {
            path: path.to_path_buf(),
        });
    }
    let version = le_u32(&bytes[8..12]);
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: u64::from(version),
        });
    }
    let expected = le_u64(&bytes[12..20]);
    let expected_crc = le_u32(&bytes[20..24]);
    let actual = (bytes.len() - HEADER_LEN) as u64;
    if actual < expected {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            expected,
            actual,
        });
    }
    if actual > expected {
        return Err(Error::TrailingBytes {
            path: path.to_path_buf(),
            expected,
            extra: actual - expected,
        });
    }
    let actual_crc = crc32fast::hash(&bytes[HEADER_LEN..]);
    if actual_crc != expected_crc {
        return Err(Error::BadChecksum {
            path: path.to_path_buf(),
            expected: expected_crc,
            actual: actual_crc,
        });
    }
    bytes.drain(..HEADER_LEN);
    Ok(bytes)
}

/// A little-endian u32 from a 4-byte slice.
fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    u32::from_le_bytes(a)
}

/// A little-endian u64 from an 8-byte slice.
fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn p() -> PathBuf {
        PathBuf::from("/x/partition-0.state")
    }

    #[test]
    fn header_layout_is_as_documented() {
        let bytes = encode_file(b"hello");
        assert_eq!(bytes.len(), HEADER_LEN + 5);
        assert_eq!(&bytes[0..8], b"VELOSTAT");
        assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
        assert_eq!(&bytes[12..20], &5u64.to_le_bytes());
        assert_eq!(&bytes[20..24], &crc32fast::hash(b"hello").to_le_bytes());
        assert_eq!(&bytes[24..], b"hello");
    }

    #[test]
    fn encode_then_decode_round_trips() {
        for payload in [&b""[..], b"x", &[0u8; 1000][..]] {
            assert_eq!(decode(&p(), encode_file(payload)).unwrap(), payload);
        }
    }

    #[test]
    fn read_file_reads_an_encoded_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.state");
        fs::write(&path, encode_file(b"payload")).unwrap();
        assert_eq!(read_file(&path).unwrap(), b"payload");
        let missing = dir.path().join("missing.state");
        let err = read_file(&missing).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("missing.state"), "{err}");
    }

    #[test]
    fn bad_magic_is_refused() {
        let mut bytes = encode_file(b"abc");
        bytes[0] = b'X';
        let err = decode(&p(), bytes).unwrap_err();
        assert!(matches!(err, Error::BadMagic { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "/x/partition-0.state: not a Velo checkpoint file (bad magic bytes)"
        );
        let err = decode(&p(), b"JSON".to_vec()).unwrap_err();
        assert!(matches!(err, Error::BadMagic { .. }), "{err:?}");
    }

    #[test]
    fn short_header_is_truncated() {
        let bytes = encode_file(b"abc");
        let err = decode(&p(), bytes[..10].to_vec()).unwrap_err();
        assert!(
            matches!(err, Error::TruncatedHeader { actual: 10, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("truncated"), "{err}");
        let err = decode(&p(), Vec::new()).unwrap_err();
        assert!(
            matches!(err, Error::TruncatedHeader { actual: 0, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn short_payload_is_truncated() {
        let mut bytes = encode_file(&[7u8; 1000]);
        bytes.truncate(HEADER_LEN + 512);
        let err = decode(&p(), bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/x/partition-0.state: truncated: the header says 1000 bytes, the file has 512 after the header"
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encode_file(b"abc");
        bytes.extend_from_slice(b"zz");
        let err = decode(&p(), bytes).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TrailingBytes {
                    expected: 3,
                    extra: 2,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn flipped_payload_byte_is_a_bad_checksum() {
        let mut bytes = encode_file(b"some state");
        bytes[HEADER_LEN + 3] ^= 0x01;
        let err = decode(&p(), bytes).unwrap_err();
        assert!(matches!(err, Error::BadChecksum { .. }), "{err:?}");
        assert!(err.to_string().contains("bad checksum"), "{err}");
    }

    #[test]
    fn newer_format_version_says_so() {
        let mut bytes = encode_file(b"abc");
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        let err = decode(&p(), bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/x/partition-0.state: written by format version 2; this Velo reads version 1"
        );
    }
}
