//! The crate's error type.

use std::io;
use std::path::{Path, PathBuf};

use crate::format::{FORMAT_VERSION, HEADER_LEN};

/// What can go wrong when writing or reading checkpoints. Every variant that
/// concerns a file or directory names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory the operation was about.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A job name that cannot be used as a directory name.
    #[error("invalid job name {name:?}: {reason}")]
    InvalidJobName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A payload file name that cannot be used inside a checkpoint directory.
    #[error("invalid checkpoint file name {name:?}: {reason}")]
    InvalidFileName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The same payload file was written twice to one checkpoint.
    #[error("{}: written twice to checkpoint {id}", path.display())]
    DuplicateFile {
        /// The file's path.
        path: PathBuf,
        /// The checkpoint being written.
        id: u64,
    },
    /// [`CheckpointStore::begin`](crate::CheckpointStore::begin) was given the
    /// id of a checkpoint that is already complete.
    #[error("{}: checkpoint {id} is already complete; checkpoint ids are never reused", path.display())]
    AlreadyComplete {
        /// The checkpoint's directory.
        path: PathBuf,
        /// The checkpoint id.
        id: u64,
    },
    /// A file that does not start with the magic bytes `VELOSTAT`.
    #[error("{}: not a Velo checkpoint file (bad magic bytes)", path.display())]
    BadMagic {
        /// The file's path.
        path: PathBuf,
    },
    /// A file or manifest written by another format version (usually a newer
    /// Velo).
    #[error(
        "{}: written by format version {found}; this Velo reads version {FORMAT_VERSION}",
        path.display()
    )]
    UnsupportedVersion {
        /// The file's path.
        path: PathBuf,
        /// The format version the file declares.
        found: u64,
    },
    /// A file shorter than the header.
    #[error(
        "{}: truncated: the file has {actual} bytes, less than the {HEADER_LEN}-byte header",
        path.display()
    )]
    TruncatedHeader {
        /// The file's path.
        path: PathBuf,
        /// The file's size in bytes.
        actual: u64,
    },
    /// A file whose payload is shorter than its header says.
    #[error(
        "{}: truncated: the header says {expected} bytes, the file has {actual} after the header",
        path.display()
    )]
    Truncated {
        /// The file's path.
        path: PathBuf,
        /// The payload length in the header.
        expected: u64,
        /// The payload bytes present.
        actual: u64,
    },
    /// A file with bytes after the payload its header announces.
    #[error(
        "{}: {extra} unexpected bytes after the {expected}-byte payload the header announces",
        path.display()
    )]
    TrailingBytes {
        /// The file's path.
        path: PathBuf,
        /// The payload length in the header.
        expected: u64,
        /// How many bytes follow it.
        extra: u64,
    },
    /// A payload whose CRC32 differs from the one in its header.
    #[error(
        "{}: bad checksum: the header says crc32 {expected:08x}, the payload has {actual:08x}",
        path.display()
    )]
    BadChecksum {
        /// The file's path.
        path: PathBuf,
        /// The CRC32 in the header.
        expected: u32,
        /// The CRC32 of the payload read.
        actual: u32,
    },
    /// A `MANIFEST` that is not valid JSON or lacks what a manifest holds.
    #[error("{}: not a valid manifest: {reason}", path.display())]
    BadManifest {
        /// The manifest's path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A `MANIFEST` written for another job.
    #[error("{}: the manifest belongs to job '{found}', not '{expected}'", path.display())]
    WrongJob {
        /// The manifest's path.
        path: PathBuf,
        /// The job this store is for.
        expected: String,
        /// The job the manifest names.
        found: String,
    },
    /// A file listed in the manifest that does not exist.
    #[error("{}: listed in the manifest but missing", path.display())]
    MissingFile {
        /// The file's path.
        path: PathBuf,
    },
    /// A well-formed file whose length or checksum is not the one the manifest
    /// lists (a file from another checkpoint, for instance).
    #[error("{}: does not match the manifest: {detail}", path.display())]
    ManifestMismatch {
        /// The file's path.
        path: PathBuf,
        /// How it differs.
        detail: String,
    },
    /// The manifest could not be encoded (the caller's metadata holds
    /// something JSON cannot represent).
    #[error("{}: cannot encode the manifest: {source}", path.display())]
    EncodeManifest {
        /// The manifest's path.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// Complete checkpoints exist but none of them can be loaded.
    #[error("no usable checkpoint of job '{job}': {problems}")]
    NoUsableCheckpoint {
        /// The job.
        job: String,
        /// What is wrong with each checkpoint, newest first (`checkpoint 7:
        /// <path>: bad checksum: ...; checkpoint 6: ...`).
        problems: String,
    },
}

impl Error {
    /// An [`Error::Io`] about `path`.
    pub(crate) fn io(path: &Path, source: io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
