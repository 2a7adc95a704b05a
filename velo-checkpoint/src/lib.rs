//! Velo's checkpoint store: where a job's checkpoints live on disk.
//!
//! The crate knows nothing of SQL or operators. A caller writes a checkpoint as
//! opaque byte payloads, one per file, plus a JSON metadata value
//! ([`CheckpointStore::begin`], [`CheckpointWriter::write_file`],
//! [`CheckpointWriter::commit`]), and gets the newest usable one back
//! ([`CheckpointStore::latest`]).
//!
//! # Layout
//!
//! ```text
//! <state_dir>/<job>/
//!     chk-00000000000000000006/
//!         partition-0.state     header + payload
//!         partition-1.state
//!         MANIFEST              JSON, written last
//!     chk-00000000000000000007/
//!         ...
//! ```
//!
//! One directory per checkpoint, `chk-<id>` with the id zero-padded to 20
//! digits so that names sort by id. Each payload file (the name is the
//! caller's; it must not contain `/`, `\` or `..`, start with `.`, end with
//! `.tmp` or be `MANIFEST`) is the 8-byte magic `b"VELOSTAT"`, the
//! [`FORMAT_VERSION`] as a u32 LE, the payload length as a u64 LE, the CRC32
//! of the payload as a u32 LE, then the payload ([`encode_file`],
//! [`read_file`]). The `MANIFEST` is JSON:
//!
//! ```text
//! {"format_version":1,"job":"...","checkpoint_id":7,"created_unix_ms":1700000000000,
//!  "files":[{"name":"partition-0.state","bytes":1234,"crc32":305419896}],"meta":{...}}
//! ```
//!
//! where `bytes` is the payload length and `meta` the caller's value.
//!
//! # Guarantees
//!
//! - Every file is written to `<name>.tmp`, fsynced and renamed. The `MANIFEST`
//!   is written the same way after every payload file, then the checkpoint
//!   directory and the job directory are fsynced. A checkpoint is complete once
//!   its `MANIFEST` exists; a directory without one (a crash mid-write) is never
//!   loaded.
//! - [`CheckpointStore::latest`] verifies the newest complete checkpoint: the
//!   manifest's format version, job name and id, and for every listed file its
//!   magic bytes, format version, length and checksum, against the header and
//!   the manifest. An unusable checkpoint is skipped with a warning naming the
//!   file and the problem, and the previous one is tried; when none is usable
//!   the result is an error that says why for each. A file or manifest of
//!   another format version is refused as such, never read.
//! - After a commit, all but the newest `keep` complete checkpoints
//!   ([`DEFAULT_KEEP`], [`CheckpointStore::with_keep`]) are removed, and so are
//!   incomplete directories older than the newest complete one.
//!
//! One process writes a job's checkpoints at a time; the store takes no lock.
//! Errors are [`Error`], and name the file or directory concerned.

mod error;
mod format;
mod store;

pub use error::{Error, Result};
pub use format::{encode_file, read_file, FORMAT_VERSION, HEADER_LEN, MAGIC};
pub use store::{CheckpointStore, CheckpointWriter, Completed, Loaded, DEFAULT_KEEP, MANIFEST};
