//! Checkpoint directories, the manifest, and retention.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::format::{self, FORMAT_VERSION, HEADER_LEN};
use crate::{Error, Result};

/// How many complete checkpoints a store keeps unless told otherwise.
pub const DEFAULT_KEEP: usize = 2;

/// The name of the manifest in a checkpoint directory.
pub const MANIFEST: &str = "MANIFEST";

/// The suffix of a file being written, before its rename.
const TMP_SUFFIX: &str = ".tmp";

/// The prefix of a checkpoint directory's name; the id follows, zero-padded.
const DIR_PREFIX: &str = "chk-";

/// The number of digits of the id in a checkpoint directory's name (enough
/// for `u64::MAX`).
const ID_DIGITS: usize = 20;

/// The checkpoints of one job, in `<state_dir>/<job>/`.
///
/// One process writes a job's checkpoints at a time; the store takes no lock.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    job_dir: PathBuf,
    job: String,
    keep: usize,
}

/// A checkpoint being written: its payload files are written one by one with
/// [`CheckpointWriter::write_file`], and [`CheckpointWriter::commit`] makes it
/// complete. Dropped without a commit, it leaves an incomplete directory that
/// is never loaded and is removed by a later checkpoint.
#[derive(Debug)]
pub struct CheckpointWriter {
    job: String,
    id: u64,
    dir: PathBuf,
    job_dir: PathBuf,
    keep: usize,
    files: Vec<ManifestFile>,
    bytes: u64,
}

/// A committed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// The checkpoint id.
    pub id: u64,
    /// Bytes written: payloads, their headers and the manifest.
    pub bytes: u64,
    /// When the manifest was written, in milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// The checkpoint's directory.
    pub dir: PathBuf,
    /// Problems met while removing old checkpoints after the commit. The
    /// checkpoint itself is durable; an old directory left behind is removed by
    /// a later checkpoint.
    pub warnings: Vec<String>,
}

/// A checkpoint read back by [`CheckpointStore::latest`].
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The checkpoint id.
    pub id: u64,
    /// When the checkpoint was committed, in milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// The metadata given to [`CheckpointWriter::commit`].
    pub meta: serde_json::Value,
    /// The payload files, by name, in the order they were written.
    pub files: Vec<(String, Vec<u8>)>,
    /// One line for each newer checkpoint that was unusable and skipped.
    pub warnings: Vec<String>,
}

impl Loaded {
    /// The payload of the file `name`, if the checkpoint has one.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, payload)| payload.as_slice())
    }
}

/// The `MANIFEST` of a checkpoint directory.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format_version: u32,
    job: String,
    checkpoint_id: u64,
    created_unix_ms: u64,
    files: Vec<ManifestFile>,
    meta: serde_json::Value,
}

/// One payload file listed in a manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ManifestFile {
    name: String,
    /// The payload's length (the file is [`HEADER_LEN`] bytes longer).
    bytes: u64,
    /// The payload's CRC32.
    crc32: u32,
}

/// A directory found in the job directory.
struct Entry {
    id: u64,
    dir: PathBuf,
    complete: bool,
}

impl CheckpointStore {
    /// The store of `job`'s checkpoints under `state_dir`, creating
    /// `<state_dir>/<job>/` if needed. The job name must be usable as a
    /// directory name: not empty, no `/` or `\`, not starting with `.`.
    pub fn open(state_dir: &Path, job: &str) -> Result<CheckpointStore> {
        validate_job_name(job)?;
        let job_dir = state_dir.join(job);
        fs::create_dir_all(&job_dir).map_err(|e| Error::io(&job_dir, e))?;
        sync_dir(state_dir)?;
        Ok(CheckpointStore {
            job_dir,
            job: job.to_string(),
            keep: DEFAULT_KEEP,
        })
    }

    /// The same store keeping the newest `keep` complete checkpoints (at least
    /// one) instead of [`DEFAULT_KEEP`].
    pub fn with_keep(mut self, keep: usize) -> CheckpointStore {
        self.keep = keep.max(1);
        self
    }

    /// `<state_dir>/<job>/`.
    pub fn job_dir(&self) -> &Path {
        &self.job_dir
    }

    /// The job's name.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// How many complete checkpoints are kept.
    pub fn keep(&self) -> usize {
        self.keep
    }

    /// Starts checkpoint `id`, creating its directory. An incomplete directory
    /// of the same id (left by a crash) is removed first; a complete one is an
    /// [`Error::AlreadyComplete`]: pick ids above the last of
    /// [`completed_ids`](Self::completed_ids).
    pub fn begin(&self, id: u64) -> Result<CheckpointWriter> {
        let dir = self.job_dir.join(dir_name(id));
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {
                if is_complete(&dir)? {
                    return Err(Error::AlreadyComplete { path: dir, id });
                }
                fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            }
            Ok(_) => fs::remove_file(&dir).map_err(|e| Error::io(&dir, e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&dir, e)),
        }
        fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(CheckpointWriter {
            job: self.job.clone(),
            id,
            dir,
            job_dir: self.job_dir.clone(),
            keep: self.keep,
            files: Vec::new(),
            bytes: 0,
        })
    }

    /// The newest usable checkpoint, or `None` when there is no complete one.
    ///
    /// Complete checkpoints are tried newest first; one whose manifest or files
    /// fail verification is skipped with a line in [`Loaded::warnings`]. When
    /// every complete checkpoint is unusable the result is
    /// [`Error::NoUsableCheckpoint`], naming each file and its problem.
    /// Incomplete directories are ignored.
    pub fn latest(&self) -> Result<Option<Loaded>> {
        let complete: Vec<Entry> = list(&self.job_dir)?
            .into_iter()
            .filter(|e| e.complete)
            .collect();
        if complete.is_empty() {
            return Ok(None);
        }
        let mut warnings = Vec::new();
        let mut problems = Vec::new();
        for (i, entry) in complete.iter().enumerate().rev() {
            match self.load(entry) {
                Ok(mut loaded) => {
                    loaded.warnings = warnings;
                    return Ok(Some(loaded));
                }
                Err(e) => {
                    if let Some(previous) = i.checked_sub(1).and_then(|p| complete.get(p)) {
                        warnings.push(format!(
                            "checkpoint {} of job '{}' is unusable ({e}), falling back to checkpoint {}",
                            entry.id, self.job, previous.id
                        ));
                    }
                    problems.push(format!("checkpoint {}: {e}", entry.id));
                }
            }
        }
        Err(Error::NoUsableCheckpoint {
            job: self.job.clone(),
            problems: problems.join("; "),
        })
    }

    /// Removes every checkpoint directory of the job, complete or not (a
    /// `--fresh` start, or a job that finished). The job directory stays.
    pub fn remove_all(&self) -> Result<()> {
        for entry in list(&self.job_dir)? {
            remove_checkpoint(&entry.dir)?;
        }
        sync_dir(&self.job_dir)
    }

    /// The ids of the complete checkpoints (those with a `MANIFEST`),
    /// ascending. They are not verified.
    pub fn completed_ids(&self) -> Result<Vec<u64>> {
        Ok(list(&self.job_dir)?
            .into_iter()
            .filter(|e| e.complete)
            .map(|e| e.id)
            .collect())
    }

    /// Reads and verifies one complete checkpoint.
    fn load(&self, entry: &Entry) -> Result<Loaded> {
        let path = entry.dir.join(MANIFEST);
        let text = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let bad = |reason: String| Error::BadManifest {
            path: path.clone(),
            reason,
        };
        // The version is checked before the shape, which a newer version may
        // have changed.
        let value: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        let version = value
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| bad("no format_version".to_string()))?;
        if version != u64::from(FORMAT_VERSION) {
            return Err(Error::UnsupportedVersion {
                path,
                found: version,
            });
        }
        let manifest: Manifest = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        if manifest.job != self.job {
            return Err(Error::WrongJob {
                path,
                expected: self.job.clone(),
                found: manifest.job,
            });
        }
        if manifest.checkpoint_id != entry.id {
            return Err(bad(format!(
                "it is for checkpoint {}, in the directory of checkpoint {}",
                manifest.checkpoint_id, entry.id
            )));
        }
        let mut files = Vec::with_capacity(manifest.files.len());
        for listed in manifest.files {
            if validate_file_name(&listed.name).is_err() {
                return Err(bad(format!(
                    "it lists an invalid file name {:?}",
                    listed.name
                )));
            }
            let file = entry.dir.join(&listed.name);
            let payload = match format::read_file(&file) {
                Err(Error::Io { path, source }) if source.kind() == io::ErrorKind::NotFound => {
                    return Err(Error::MissingFile { path })
                }
                other => other?,
            };
            if payload.len() as u64 != listed.bytes {
                return Err(Error::ManifestMismatch {
                    path: file,
                    detail: format!(
                        "the manifest says {} bytes, the file holds {}",
                        listed.bytes,
                        payload.len()
                    ),
                });
            }
            let crc = crc32fast::hash(&payload);
            if crc != listed.crc32 {
                return Err(Error::ManifestMismatch {
                    path: file,
                    detail: format!(
                        "the manifest says crc32 {:08x}, the file holds {crc:08x}",
                        listed.crc32
                    ),
                });
            }
            files.push((listed.name, payload));
        }
        Ok(Loaded {
            id: entry.id,
            created_unix_ms: manifest.created_unix_ms,
            meta: manifest.meta,
            files,
            warnings: Vec::new(),
        })
    }
}

impl CheckpointWriter {
    /// The checkpoint id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The checkpoint's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the payload file `name` (header and payload to `<name>.tmp`,
    /// fsynced, then renamed to `<name>`). Names must not be empty, contain
    /// `/`, `\` or `..`, start with `.`, end with `.tmp` or be `MANIFEST`; each
    /// name is written once per checkpoint.
    pub fn write_file(&mut self, name: &str, payload: &[u8]) -> Result<()> {
        validate_file_name(name)?;
        let path = self.dir.join(name);
        if self.files.iter().any(|f| f.name == name) {
            return Err(Error::DuplicateFile { path, id: self.id });
        }
        let len = payload.len() as u64;
        let crc = crc32fast::hash(payload);
        write_durably(&path, &[&format::header(len, crc), payload])?;
        self.files.push(ManifestFile {
            name: name.to_string(),
            bytes: len,
            crc32: crc,
        });
        self.bytes += HEADER_LEN as u64 + len;
        Ok(())
    }

    /// Completes the checkpoint: writes the `MANIFEST` (with `meta`) last,
    /// fsyncs the checkpoint directory and the job directory, then removes all
    /// but the newest complete checkpoints and the incomplete directories
    /// older than the newest complete one. A problem while removing is a line
    /// in [`Completed::warnings`], not an error: the checkpoint is durable.
    pub fn commit(self, meta: serde_json::Value) -> Result<Completed> {
        let created_unix_ms = now_unix_ms();
        let path = self.dir.join(MANIFEST);
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            job: self.job,
            checkpoint_id: self.id,
            created_unix_ms,
            files: self.files,
            meta,
        };
        let json = serde_json::to_vec(&manifest).map_err(|source| Error::EncodeManifest {
            path: path.clone(),
            source,
        })?;
        write_durably(&path, &[&json])?;
        sync_dir(&self.dir)?;
        sync_dir(&self.job_dir)?;
        let warnings = apply_retention(&self.job_dir, self.keep);
        Ok(Completed {
            id: self.id,
            bytes: self.bytes + json.len() as u64,
            created_unix_ms,
            dir: self.dir,
            warnings,
        })
    }
}

/// `chk-<id>`, the id zero-padded to 20 digits so that names sort by id.
fn dir_name(id: u64) -> String {
    format!("{DIR_PREFIX}{id:0width$}", width = ID_DIGITS)
}

/// The id in a checkpoint directory's name, or `None` for another name.
fn parse_dir_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(DIR_PREFIX)?;
    if digits.len() != ID_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The checkpoint directories in `job_dir`, by ascending id.
fn list(job_dir: &Path) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let read = fs::read_dir(job_dir).map_err(|e| Error::io(job_dir, e))?;
    for item in read {
        let item = item.map_err(|e| Error::io(job_dir, e))?;
        let Some(id) = item.file_name().to_str().and_then(parse_dir_name) else {
            continue;
        };
        let dir = item.path();
        let file_type = item.file_type().map_err(|e| Error::io(&dir, e))?;
        if !file_type.is_dir() {
            continue;
        }
        let complete = is_complete(&dir)?;
        entries.push(Entry { id, dir, complete });
    }
    entries.sort_by_key(|e| e.id);
    Ok(entries)
}

/// Whether the checkpoint directory `dir` has a `MANIFEST`.
fn is_complete(dir: &Path) -> Result<bool> {
    let path = dir.join(MANIFEST);
    match fs::metadata(&path) {
        Ok(meta) => Ok(meta.is_file()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// Removes all but the newest `keep` complete checkpoints and the incomplete
/// directories older than the newest complete one; returns what went wrong.
fn apply_retention(job_dir: &Path, keep: usize) -> Vec<String> {
    let entries = match list(job_dir) {
        Ok(entries) => entries,
        Err(e) => return vec![format!("cannot apply checkpoint retention: {e}")],
    };
    let complete: Vec<u64> = entries
        .iter()
        .filter(|e| e.complete)
        .map(|e| e.id)
        .collect();
    let Some(&newest) = complete.last() else {
        return Vec::new();
    };
    let oldest_kept = complete[complete.len().saturating_sub(keep)];
    let mut warnings = Vec::new();
    let mut removed = false;
    for entry in &entries {
        let remove = if entry.complete {
            entry.id < oldest_kept
        } else {
            entry.id < newest
        };
        if remove {
            removed = true;
            if let Err(e) = remove_checkpoint(&entry.dir) {
                warnings.push(format!("cannot remove old checkpoint {}: {e}", entry.id));
            }
        }
    }
    if removed {
        if let Err(e) = sync_dir(job_dir) {
            warnings.push(format!("cannot sync after removing old checkpoints: {e}"));
        }
    }
    warnings
}

/// Removes a checkpoint directory, its `MANIFEST` first so that a crash midway
/// leaves an incomplete directory rather than a complete one with files
/// missing.
fn remove_checkpoint(dir: &Path) -> Result<()> {
    let manifest = dir.join(MANIFEST);
    match fs::remove_file(&manifest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&manifest, e)),
    }
    fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// Writes `parts` to `<path>.tmp`, fsyncs it and renames it to `path`.
fn write_durably(path: &Path, parts: &[&[u8]]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let mut file = File::create(&tmp)?;
        for part in parts {
            file.write_all(part)?;
        }
        file.sync_all()
    })();
    if let Err(e) = written {
        // Best effort: the directory is incomplete anyway without a manifest.
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(&tmp, e));
    }
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Fsyncs a directory so that the entries created or renamed in it are
/// durable.
#[cfg(unix)]
fn sync_dir(path: &Path) -> Result<()> {
    let dir = File::open(path).map_err(|e| Error::io(path, e))?;
    match dir.sync_all() {
        Ok(()) => Ok(()),
        // Some file systems refuse to fsync a directory (EINVAL).
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Fsyncs a directory where the platform allows it: elsewhere than on Unix a
/// directory usually cannot be opened as a file, and renames are made durable
/// by the file system itself.
#[cfg(not(unix))]
fn sync_dir(path: &Path) -> Result<()> {
    if let Ok(dir) = File::open(path) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Now, in milliseconds since the Unix epoch (0 for a clock before it).
fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Checks that `job` can be used as a directory name.
fn validate_job_name(job: &str) -> Result<()> {
    let reason = if job.is_empty() {
        "it is empty"
    } else if job.contains('/') || job.contains('\\') {
        "it contains a path separator"
    } else if job.starts_with('.') {
        "it starts with '.'"
    } else if job.contains('\0') {
        "it contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(Error::InvalidJobName {
        name: job.to_string(),
        reason,
    })
}

/// Checks that `name` can be used as a payload file name.
fn validate_file_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.contains('/') || name.contains('\\') {
        "it contains a path separator"
    } else if name.contains("..") {
        "it contains '..'"
    } else if name.starts_with('.') {
        "it starts with '.'"
    } else if name.eq_ignore_ascii_case(MANIFEST) {
        "MANIFEST is the checkpoint's manifest"
    } else if name.ends_with(TMP_SUFFIX) {
        "names ending in '.tmp' are files being written"
    } else if name.contains('\0') {
        "it contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(Error::InvalidFileName {
        name: name.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A store for job `job` in a fresh temporary state directory.
    fn store() -> (tempfile::TempDir, CheckpointStore) {
        let tmp = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(tmp.path(), "job").unwrap();
        (tmp, store)
    }

    /// Commits checkpoint `id` with two files whose payloads name the id.
    fn commit(store: &CheckpointStore, id: u64) -> Completed {
        let mut w = store.begin(id).unwrap();
        w.write_file("partition-0.state", format!("p0 of {id}").as_bytes())
            .unwrap();
        w.write_file("partition-1.state", format!("p1 of {id}").as_bytes())
            .unwrap();
        w.commit(json!({ "id": id })).unwrap()
    }

    fn dir_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn rewrite(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = fs::read(path).unwrap();
        f(&mut bytes);
        fs::write(path, bytes).unwrap();
    }

    #[test]
    fn round_trip_of_two_files_and_meta() {
        let (_tmp, store) = store();
        let mut w = store.begin(1).unwrap();
        w.write_file("partition-0.state", b"zero").unwrap();
        w.write_file("partition-1.state", &[0u8, 1, 2, 255])
            .unwrap();
        let meta = json!({ "offsets": { "topic": [1, 2, 3] }, "watermark": -5 });
        let done = w.commit(meta.clone()).unwrap();
        assert_eq!(done.id, 1);
        assert_eq!(done.dir, store.job_dir().join("chk-00000000000000000001"));
        assert!(done.warnings.is_empty(), "{:?}", done.warnings);
        let manifest_len = fs::metadata(done.dir.join(MANIFEST)).unwrap().len();
        assert_eq!(done.bytes, 2 * HEADER_LEN as u64 + 4 + 4 + manifest_len);
        assert_eq!(
            dir_names(&done.dir),
            ["MANIFEST", "partition-0.state", "partition-1.state"]
        );

        let loaded = store.latest().unwrap().unwrap();
        assert_eq!(loaded.id, 1);
        assert_eq!(loaded.created_unix_ms, done.created_unix_ms);
        assert!(loaded.created_unix_ms > 0);
        assert_eq!(loaded.meta, meta);
        assert_eq!(
            loaded.files,
            vec![
                ("partition-0.state".to_string(), b"zero".to_vec()),
                ("partition-1.state".to_string(), vec![0u8, 1, 2, 255]),
            ]
        );
        assert_eq!(
            loaded.file("partition-1.state"),
            Some(&[0u8, 1, 2, 255][..])
        );
        assert_eq!(loaded.file("nope"), None);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn manifest_is_the_documented_json() {
        let (_tmp, store) = store();
        let mut w = store.begin(3).unwrap();
        w.write_file("a.state", b"abc").unwrap();
        let done = w.commit(json!({ "k": 1 })).unwrap();
        let text = fs::read(done.dir.join(MANIFEST)).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(
            value,
            json!({
                "format_version": 1,
                "job": "job",
                "checkpoint_id": 3,
                "created_unix_ms": done.created_unix_ms,
                "files": [{ "name": "a.state", "bytes": 3, "crc32": crc32fast::hash(b"abc") }],
                "meta": { "k": 1 },
            })
        );
        assert_eq!(
            format::read_file(&done.dir.join("a.state")).unwrap(),
            b"abc"
        );
    }

    #[test]
    fn empty_store_has_no_latest() {
        let (tmp, store) = store();
        assert!(tmp.path().join("job").is_dir());
        assert!(store.latest().unwrap().is_none());
        assert!(store.completed_ids().unwrap().is_empty());
    }

    #[test]
    fn retention_keeps_the_newest_two_and_removes_incomplete_dirs() {
        let (_tmp, store) = store();
        commit(&store, 1);
        // A crash while writing checkpoint 2.
        let mut w = store.begin(2).unwrap();
        w.write_file("partition-0.state", b"half").unwrap();
        drop(w);
        commit(&store, 3);
        commit(&store, 4);
        // An incomplete checkpoint newer than the newest complete one is left
        // alone (it may be in progress).
        drop(store.begin(9).unwrap());
        let done = commit(&store, 5);
        assert!(done.warnings.is_empty(), "{:?}", done.warnings);
        assert_eq!(store.completed_ids().unwrap(), [4, 5]);
        assert_eq!(
            dir_names(store.job_dir()),
            [dir_name(4), dir_name(5), dir_name(9)]
        );
        assert_eq!(store.latest().unwrap().unwrap().id, 5);
    }

    #[test]
    fn retention_removes_incomplete_dirs_older_than_the_newest_complete() {
        let (_tmp, store) = store();
        drop(store.begin(1).unwrap());
        drop(store.begin(2).unwrap());
        commit(&store, 3);
        assert_eq!(dir_names(store.job_dir()), [dir_name(3)]);
    }

    #[test]
    fn keep_is_configurable_and_at_least_one() {
        let (_tmp, store) = store();
        let store = store.with_keep(0);
        assert_eq!(store.keep(), 1);
        commit(&store, 1);
        commit(&store, 2);
        assert_eq!(store.completed_ids().unwrap(), [2]);
        let store = store.with_keep(3);
        for id in 3..=6 {
            commit(&store, id);
        }
        assert_eq!(store.completed_ids().unwrap(), [4, 5, 6]);
    }

    #[test]
    fn directory_names_sort_by_id() {
        assert_eq!(dir_name(7), "chk-00000000000000000007");
        assert_eq!(dir_name(u64::MAX), "chk-18446744073709551615");
        assert!(dir_name(9) < dir_name(10));
        assert_eq!(parse_dir_name("chk-00000000000000000007"), Some(7));
        assert_eq!(parse_dir_name(&dir_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_dir_name("chk-7"), None);
        assert_eq!(parse_dir_name("chk-0000000000000000000x"), None);
        assert_eq!(parse_dir_name("chk-99999999999999999999"), None);
        assert_eq!(parse_dir_name("other"), None);
    }

    #[test]
    fn completed_ids_ignore_other_entries() {
        let (_tmp, store) = store();
        commit(&store, 10);
        commit(&store, 2);
        fs::create_dir(store.job_dir().join("chk-3")).unwrap();
        fs::write(store.job_dir().join(dir_name(11)), b"a file").unwrap();
        fs::write(store.job_dir().join("notes.txt"), b"hi").unwrap();
        assert_eq!(store.completed_ids().unwrap(), [2, 10]);
        assert_eq!(store.latest().unwrap().unwrap().id, 10);
    }

    #[test]
    fn directory_without_manifest_is_ignored() {
        let (_tmp, store) = store();
        commit(&store, 1);
        let mut w = store.begin(2).unwrap();
        w.write_file("partition-0.state", b"new").unwrap();
        w.write_file("partition-1.state", b"new").unwrap();
        drop(w);
        let loaded = store.latest().unwrap().unwrap();
        assert_eq!(loaded.id, 1);
        assert_eq!(loaded.file("partition-0.state"), Some(&b"p0 of 1"[..]));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(store.completed_ids().unwrap(), [1]);
    }

    #[test]
    fn only_a_directory_without_manifest_gives_none() {
        let (_tmp, store) = store();
        let mut w = store.begin(1).unwrap();
        w.write_file("partition-0.state", b"x").unwrap();
        drop(w);
        // Even a leftover MANIFEST.tmp does not make it complete.
        fs::write(
            store.job_dir().join(dir_name(1)).join("MANIFEST.tmp"),
            b"{}",
        )
        .unwrap();
        assert!(store.latest().unwrap().is_none());
    }

    #[test]
    fn truncated_file_falls_back_with_a_warning() {
        let (_tmp, store) = store();
        commit(&store, 6);
        let done = commit(&store, 7);
        let file = done.dir.join("partition-1.state");
        rewrite(&file, |b| b.truncate(b.len() - 2));
        let loaded = store.latest().unwrap().unwrap();
        assert_eq!(loaded.id, 6);
        assert_eq!(loaded.file("partition-1.state"), Some(&b"p1 of 6"[..]));
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        let warning = &loaded.warnings[0];
        assert!(
            warning.starts_with("checkpoint 7 of job 'job' is unusable ("),
            "{warning}"
        );
        assert!(
            warning.ends_with("), falling back to checkpoint 6"),
            "{warning}"
        );
        assert!(warning.contains(&file.display().to_string()), "{warning}");
        assert!(
            warning.contains("truncated: the header says 7 bytes, the file has 5"),
            "{warning}"
        );
    }

    #[test]
    fn flipped_byte_falls_back_with_a_warning() {
        let (_tmp, store) = store();
        commit(&store, 6);
        let done = commit(&store, 7);
        let file = done.dir.join("partition-0.state");
        rewrite(&file, |b| b[HEADER_LEN] ^= 0x20);
        let loaded = store.latest().unwrap().unwrap();
        assert_eq!(loaded.id, 6);
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        let warning = &loaded.warnings[0];
        assert!(warning.contains(&file.display().to_string()), "{warning}");
        assert!(warning.contains("bad checksum"), "{warning}");
        assert!(
            warning.contains("falling back to checkpoint 6"),
            "{warning}"
        );
    }

    #[test]
    fn fallback_skips_several_and_skips_incomplete_dirs() {
        let (_tmp, store) = store();
        let store = store.with_keep(5);
        commit(&store, 1);
        drop(store.begin(2).unwrap());
        let three = commit(&store, 3);
        let four = commit(&store, 4);
        rewrite(&three.dir.join("partition-0.state"), |b| b[HEADER_LEN] ^= 1);
        rewrite(&four.dir.join("partition-0.state"), |b| b[HEADER_LEN] ^= 1);
        let loaded = store.latest().unwrap().unwrap();
        assert_eq!(loaded.id, 1);
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains("checkpoint 4 of job 'job'"));
        assert!(loaded.warnings[0].ends_with("falling back to checkpoint 3"));
        assert!(loaded.warnings[1].contains("checkpoint 3 of job 'job'"));
        assert!(loaded.warnings[1].ends_with("falling back to checkpoint 1"));
    }

    #[test]
    fn only_checkpoint_with_bad_checksum_is_an_error() {
        let (_tmp, store) = store();
        let done = commit(&store, 1);
        let file = done.dir.join("partition-0.state");
        rewrite(&file, |b| {
            let last = b.len() - 1;
            b[last] ^= 0xff;
        });
        let err = store.latest().unwrap_err();
        assert!(matches!(err, Error::NoUsableCheckpoint { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with("no usable checkpoint of job 'job': checkpoint 1: "),
            "{msg}"
        );
        assert!(msg.contains(&file.display().to_string()), "{msg}");
        assert!(msg.contains("checksum"), "{msg}");
    }

    #[test]
    fn only_checkpoint_truncated_is_an_error() {
        let (_tmp, store) = store();
        let mut w = store.begin(1).unwrap();
        w.write_file("big.state", &[9u8; 1000]).unwrap();
        let done = w.commit(json!(null)).unwrap();
        let file = done.dir.join("big.state");
        rewrite(&file, |b| b.truncate(HEADER_LEN + 512));
        let msg = store.latest().unwrap_err().to_string();
        assert!(
            msg.contains(&format!(
                "{}: truncated: the header says 1000 bytes, the file has 512",
                file.display()
            )),
            "{msg}"
        );
    }

    #[test]
    fn missing_listed_file_is_refused() {
        let (_tmp, store) = store();
        let done = commit(&store, 1);
        let file = done.dir.join("partition-1.state");
        fs::remove_file(&file).unwrap();
        let msg = store.latest().unwrap_err().to_string();
        assert!(
            msg.contains(&format!(
                "{}: listed in the manifest but missing",
                file.display()
            )),
            "{msg}"
        );
    }

    #[test]
    fn file_from_another_checkpoint_is_refused() {
        let (_tmp, store) = store();
        let store = store.with_keep(3);
        let one = commit(&store, 1);
        let two = commit(&store, 2);
        // Well-formed, same length, but not the payload checkpoint 2 wrote.
        let file = two.dir.join("partition-0.state");
        fs::copy(one.dir.join("partition-0.state"), &file).unwrap();
        let loaded = store.latest().unwrap().unwrap();
        assert_eq!(loaded.id, 1);
        assert!(
            loaded.warnings[0].contains(&format!(
                "{}: does not match the manifest: the manifest says crc32",
                file.display()
            )),
            "{:?}",
            loaded.warnings
        );
    }

    #[test]
    fn manifest_of_another_job_is_refused() {
        let (tmp, store) = store();
        let done = commit(&store, 1);
        // The same directory seen as job `other` (renamed job directory).
        fs::rename(store.job_dir(), tmp.path().join("other")).unwrap();
        let other = CheckpointStore::open(tmp.path(), "other").unwrap();
        let err = other.latest().unwrap_err();
        let manifest = tmp
            .path()
            .join("other")
            .join(done.dir.file_name().unwrap())
            .join(MANIFEST);
        assert!(
            err.to_string().contains(&format!(
                "{}: the manifest belongs to job 'job', not 'other'",
                manifest.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn manifest_of_a_newer_format_version_is_refused() {
        let (_tmp, store) = store();
        let done = commit(&store, 1);
        let path = done.dir.join(MANIFEST);
        // A newer version may change the shape too: only the version is read.
        fs::write(&path, br#"{"format_version":2,"something":"else"}"#).unwrap();
        let msg = store.latest().unwrap_err().to_string();
        assert!(
            msg.contains(&format!(
                "{}: written by format version 2; this Velo reads version 1",
                path.display()
            )),
            "{msg}"
        );
    }

    #[test]
    fn payload_file_of_a_newer_format_version_falls_back_and_says_so() {
        let (_tmp, store) = store();
        commit(&store, 1);
        let done = commit(&store, 2);
        let file = done.dir.join("partition-0.state");
        rewrite(&file, |b| b[8..12].copy_from_slice(&2u32.to_le_bytes()));
        let loaded = store.latest().unwrap().unwrap();
        assert_eq!(loaded.id, 1);
        assert!(
            loaded.warnings[0].contains(&format!(
                "{}: written by format version 2; this Velo reads version 1",
                file.display()
            )),
            "{:?}",
            loaded.warnings
        );
    }

    #[test]
    fn malformed_manifests_are_refused() {
        let (_tmp, store) = store();
        let done = commit(&store, 1);
        let path = done.dir.join(MANIFEST);
        let cases: [(&[u8], &str); 4] = [
            (b"{not json", "not a valid manifest"),
            (br#"{"job":"job"}"#, "no format_version"),
            (
                br#"{"format_version":1,"job":"job","checkpoint_id":2,"created_unix_ms":0,"files":[],"meta":null}"#,
                "it is for checkpoint 2, in the directory of checkpoint 1",
            ),
            (
                br#"{"format_version":1,"job":"job","checkpoint_id":1,"created_unix_ms":0,"files":[{"name":"../x","bytes":0,"crc32":0}],"meta":null}"#,
                "it lists an invalid file name \"../x\"",
            ),
        ];
        for (text, expected) in cases {
            fs::write(&path, text).unwrap();
            let msg = store.latest().unwrap_err().to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains(expected), "{expected:?} not in {msg}");
        }
    }

    #[test]
    fn invalid_file_names_are_refused() {
        let (_tmp, store) = store();
        let mut w = store.begin(1).unwrap();
        for name in [
            "", "a/b", "a\\b", "..", "a..b", ".hidden", "MANIFEST", "manifest", "x.tmp", "nul\0",
        ] {
            let err = w.write_file(name, b"x").unwrap_err();
            assert!(
                matches!(err, Error::InvalidFileName { .. }),
                "{name:?}: {err:?}"
            );
            assert!(
                err.to_string().starts_with("invalid checkpoint file name"),
                "{err}"
            );
        }
        w.write_file("partition-0.state", b"x").unwrap();
        w.write_file("MANIFEST-not", b"x").unwrap();
        // Nothing but the two good files was created.
        assert_eq!(dir_names(w.dir()), ["MANIFEST-not", "partition-0.state"]);
    }

    #[test]
    fn writing_a_file_twice_is_refused() {
        let (_tmp, store) = store();
        let mut w = store.begin(1).unwrap();
        w.write_file("a.state", b"one").unwrap();
        let err = w.write_file("a.state", b"two").unwrap_err();
        assert!(matches!(err, Error::DuplicateFile { id: 1, .. }), "{err:?}");
        assert!(err.to_string().contains("a.state"), "{err}");
    }

    #[test]
    fn invalid_job_names_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        for job in ["", "a/b", "a\\b", ".", "..", ".hidden", "nul\0"] {
            let err = CheckpointStore::open(tmp.path(), job).unwrap_err();
            assert!(
                matches!(err, Error::InvalidJobName { .. }),
                "{job:?}: {err:?}"
            );
            assert!(err.to_string().starts_with("invalid job name"), "{err}");
        }
        assert!(dir_names(tmp.path()).is_empty());
        let store = CheckpointStore::open(tmp.path(), "orders-per-minute").unwrap();
        assert_eq!(store.job(), "orders-per-minute");
        assert_eq!(store.job_dir(), tmp.path().join("orders-per-minute"));
    }

    #[test]
    fn begin_replaces_a_stale_incomplete_dir() {
        let (_tmp, store) = store();
        let mut w = store.begin(4).unwrap();
        w.write_file("stale.state", b"from the crashed run")
            .unwrap();
        drop(w);
        let mut w = store.begin(4).unwrap();
        assert!(dir_names(w.dir()).is_empty());
        w.write_file("fresh.state", b"new").unwrap();
        w.commit(json!({})).unwrap();
        let loaded = store.latest().unwrap().unwrap();
        assert_eq!(loaded.id, 4);
        assert_eq!(
            loaded.files,
            vec![("fresh.state".to_string(), b"new".to_vec())]
        );
    }

    #[test]
    fn begin_refuses_a_completed_id() {
        let (_tmp, store) = store();
        let done = commit(&store, 4);
        let err = store.begin(4).unwrap_err();
        assert!(
            matches!(err, Error::AlreadyComplete { id: 4, .. }),
            "{err:?}"
        );
        assert_eq!(store.latest().unwrap().unwrap().id, 4);
        assert!(done.dir.join("partition-0.state").is_file());
    }

    #[test]
    fn commit_leaves_no_tmp_files() {
        let (_tmp, store) = store();
        let done = commit(&store, 1);
        assert!(dir_names(&done.dir).iter().all(|n| !n.ends_with(".tmp")));
    }

    #[test]
    fn remove_all_removes_every_checkpoint() {
        let (_tmp, store) = store();
        commit(&store, 1);
        commit(&store, 2);
        drop(store.begin(3).unwrap());
        fs::write(store.job_dir().join("notes.txt"), b"kept").unwrap();
        store.remove_all().unwrap();
        assert!(store.completed_ids().unwrap().is_empty());
        assert!(store.latest().unwrap().is_none());
        assert_eq!(dir_names(store.job_dir()), ["notes.txt"]);
        // The store is still usable.
        commit(&store, 1);
        assert_eq!(store.completed_ids().unwrap(), [1]);
    }

    #[test]
    fn commit_with_no_files_round_trips() {
        let (_tmp, store) = store();
        let w = store.begin(1).unwrap();
        w.commit(json!({ "empty": true })).unwrap();
        let loaded = store.latest().unwrap().unwrap();
        assert!(loaded.files.is_empty());
        assert_eq!(loaded.meta, json!({ "empty": true }));
    }
}
