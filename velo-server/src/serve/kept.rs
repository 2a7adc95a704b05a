//! Apps submitted over HTTP outlive a restart of the server, as ksqlDB's
//! persistent queries do: each is kept as `STATE_DIR/submitted/NNNNNN.sql`
//! (its SQL text, written to a temporary file, synced and renamed) from the
//! moment it is accepted until its last job ends by itself: it finished, it
//! failed, or it was stopped with `DELETE /jobs/{id}`. Jobs ended by the
//! server's own shutdown (SIGINT / SIGTERM), or not ended at all because the
//! process was killed, leave it there, and the next `serve` with the same
//! `--state-dir` submits the kept apps again at start, in the order they
//! were first accepted, after `--app`: their jobs resume from their
//! checkpoints like any job. A kept app that no longer plans (a file it
//! names is gone, say) is set aside as `NNNNNN.sql.refused` with an error in
//! the log, so it is not retried at every start.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// The folder of the kept apps under the state directory.
pub const KEPT_DIR: &str = "submitted";

/// The kept apps of one state directory.
#[derive(Debug)]
pub struct KeptApps {
    dir: PathBuf,
    /// The number of the next app to keep.
    next: AtomicU64,
    /// Set when the server shuts down: jobs ending then keep their apps.
    closing: Arc<AtomicBool>,
}

impl KeptApps {
    /// The kept apps under `state_dir` (nothing is created until one is kept).
    pub fn new(state_dir: &Path) -> KeptApps {
        let dir = state_dir.join(KEPT_DIR);
        let next = kept_files(&dir)
            .iter()
            .filter_map(|(n, _)| n.checked_add(1))
            .max()
            .unwrap_or(1);
        KeptApps {
            dir,
            next: AtomicU64::new(next),
            closing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// From now on, jobs that end keep their apps (the server is shutting
    /// down).
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }

    /// Keeps `text`, an app just accepted, for `jobs` jobs.
    pub fn keep(&self, text: &str, jobs: usize) -> std::io::Result<Arc<KeptApp>> {
        std::fs::create_dir_all(&self.dir)?;
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let path = self.dir.join(format!("{n:06}.sql"));
        let tmp = self.dir.join(format!("{n:06}.sql.tmp"));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(self.kept(path, jobs))
    }

    /// An app kept before, submitted again with `jobs` jobs.
    pub fn kept(&self, path: PathBuf, jobs: usize) -> Arc<KeptApp> {
        Arc::new(KeptApp {
            path,
            live: AtomicUsize::new(jobs),
            closing: self.closing.clone(),
        })
    }

    /// The kept apps, oldest first: each file and its text (files that
    /// cannot be read are skipped with a warning).
    pub fn load(&self) -> Vec<(PathBuf, String)> {
        let mut apps = Vec::new();
        for (_, path) in kept_files(&self.dir) {
            match std::fs::read_to_string(&path) {
                Ok(text) => apps.push((path, text)),
                Err(e) => tracing::warn!("cannot read the kept app {}: {e}", path.display()),
            }
        }
        apps
    }

    /// Sets a kept app aside that can no longer run, so that it is not
    /// submitted again at every start.
    pub fn refuse(&self, path: &Path) {
        let mut aside = path.as_os_str().to_owned();
        aside.push(".refused");
        if let Err(e) = std::fs::rename(path, &aside) {
            tracing::warn!("cannot set aside the kept app {}: {e}", path.display());
        }
    }
}

/// The `NNNNNN.sql` files of `dir`, by number.
fn kept_files(dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let n = name.to_str()?.strip_suffix(".sql")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    files.sort();
    files
}

/// One kept app, shared by its jobs: its file goes when the last one ends,
/// unless the server is shutting down.
#[derive(Debug)]
pub struct KeptApp {
    path: PathBuf,
    live: AtomicUsize,
    closing: Arc<AtomicBool>,
}

impl KeptApp {
    /// Called once by each of the app's jobs as it ends.
    pub fn job_ended(&self) {
        if self.live.fetch_sub(1, Ordering::SeqCst) == 1 && !self.closing.load(Ordering::SeqCst) {
            self.forget();
        }
    }

    /// Removes the file: the app is not submitted again.
    pub fn forget(&self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot remove the kept app {}: {e}", self.path.display());
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_is_kept_until_its_last_job_ends_but_not_past_a_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let kept = KeptApps::new(dir.path());
        let a = kept.keep("SELECT 1", 2).unwrap();
        let b = kept.keep("SELECT 2", 1).unwrap();
        assert_eq!(a.path().file_name().unwrap(), "000001.sql");
        assert_eq!(
            kept.load()
                .iter()
                .map(|(_, t)| t.as_str())
                .collect::<Vec<_>>(),
            ["SELECT 1", "SELECT 2"]
        );
        a.job_ended();
        assert!(a.path().is_file(), "one of its two jobs is still running");
        a.job_ended();
        assert!(!a.path().exists());
        kept.close();
        b.job_ended();
        assert!(b.path().is_file(), "ended by the shutdown: kept");
        // A new server numbers on after what is kept, and can set one aside.
        let again = KeptApps::new(dir.path());
        assert_eq!(
            again
                .keep("SELECT 3", 1)
                .unwrap()
                .path()
                .file_name()
                .unwrap(),
            "000003.sql"
        );
        again.refuse(b.path());
        assert_eq!(again.load().len(), 1);
        assert!(dir.path().join("submitted/000002.sql.refused").is_file());
    }
}
