//! Several output files that replace their targets together, or not at all.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use tempfile::TempPath;

use crate::Error;
use crate::file::{AtomicFile, sync_folder};
use crate::interrupt;
use crate::target::Identity;

/// The outputs of one run (a model, its history, its plot...): each is written to its own
/// temporary file as it is added, and [`Batch::commit`] replaces the targets only once every
/// one of them is written and synced.
///
/// If a rename still fails during the commit (a rare event once every file is written: the
/// target's folder became read-only, or a folder took a target's place), the targets already
/// replaced are put back from hard-linked backups taken just before, so that on any error
/// nothing is replaced; on a file system without hard links, a target replaced before the
/// failure stays replaced. A dropped batch replaces nothing and removes its temporary files.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
/// std::fs::write(&a, "old a")?;
///
/// let mut batch = safe_write::Batch::new();
/// batch.write(&a, b"new a")?;
/// // The second output cannot be written: the batch fails, `a` keeps its old contents.
/// let failed = batch.write(dir.path().join("missing-folder/b.txt"), b"new b");
/// assert!(failed.is_err());
/// drop(batch);
/// assert_eq!(std::fs::read_to_string(&a)?, "old a");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Batch {
    files: Vec<AtomicFile>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an output to write: its temporary file is created now (see
    /// [`AtomicFile::create`]); write into the returned file, then add the next one.
    ///
    /// # Errors
    /// As [`AtomicFile::create`], and [`Error::SameOutput`] if `path` is the same file as an
    /// output already in the batch.
    pub fn create(&mut self, path: impl AsRef<Path>) -> Result<&mut AtomicFile, Error> {
        let path = path.as_ref();
        let identity = Identity::of(path);
        if let Some(earlier) = self
            .files
            .iter()
            .find(|f| Identity::of(f.path()).same_as(&identity))
        {
            return Err(Error::SameOutput {
                first: earlier.path().display().to_string(),
                second: path.display().to_string(),
            });
        }
        let file = AtomicFile::create(path)?;
        self.files.push(file);
        Ok(self.files.last_mut().expect("just pushed"))
    }

    /// Adds an output holding `bytes`.
    ///
    /// # Errors
    /// As [`Batch::create`], and [`Error::Write`].
    pub fn write(&mut self, path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), Error> {
        self.write_with(path, |w| w.write_all(bytes))
    }

    /// Adds an output holding what `write` puts into the writer it is given; if `write` fails,
    /// its error is returned as [`Error::Write`] (and the batch should be dropped).
    ///
    /// # Errors
    /// As [`Batch::create`], and [`Error::Write`].
    pub fn write_with(
        &mut self,
        path: impl AsRef<Path>,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), Error> {
        let file = self.create(path)?;
        write(file).map_err(|source| Error::Write {
            path: file.path().to_path_buf(),
            source,
        })
    }

    /// Replaces every target with its new file, or none.
    ///
    /// # Errors
    /// The first error met ([`Error::Write`] while syncing, [`Error::NotAFile`] if a target was
    /// replaced by a folder or a device meanwhile, [`Error::Commit`] for a rename); the targets
    /// are then as they were before (see [`Batch`]) and every temporary file is removed.
    pub fn commit(self) -> Result<(), Error> {
        self.commit_unless(None)
    }

    /// [`commit`](Self::commit), unless the process received the SIGINT or SIGTERM that
    /// `interrupts` defers: then no target is replaced, every temporary file is removed, and the
    /// error is [`Error::Interrupted`]. The signal thread records a signal under the lock under
    /// which the targets are replaced, so a signal is either seen here, and nothing is
    /// replaced, or arrives after every target is.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let interrupts = safe_write::interrupt::defer();
    /// let mut batch = safe_write::Batch::new();
    /// batch.write(dir.path().join("model.ron"), b"(weights)")?;
    /// batch.commit_unless_interrupted(&interrupts)?; // no signal came: written
    /// assert!(dir.path().join("model.ron").exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`commit`](Self::commit), and [`Error::Interrupted`].
    pub fn commit_unless_interrupted(self, interrupts: &interrupt::Deferred) -> Result<(), Error> {
        self.commit_unless(Some(interrupts))
    }

    fn commit_unless(mut self, interrupts: Option<&interrupt::Deferred>) -> Result<(), Error> {
        // Everything that can fail slowly happens before any target is touched.
        let mut temps = Vec::with_capacity(self.files.len());
        for file in &mut self.files {
            temps.push(file.finish()?);
        }
        for file in &self.files {
            file.check_target()?;
        }
        let files = &mut self.files;
        interrupt::while_locked(|live| {
            if let Some(signal) = interrupts.and_then(interrupt::Deferred::received) {
                drop(temps);
                for file in files.iter_mut() {
                    file.registration().done(live);
                }
                return Err(Error::Interrupted { signal });
            }
            // Backups of the targets that exist, hard links beside them: cheap, and a rename
            // over the target leaves the backup holding the old contents.
            let backups: Vec<Option<TempPath>> = files.iter().map(|f| backup(f.target())).collect();
            let mut replaced = 0;
            let mut failure = None;
            for (k, (file, temp)) in files.iter_mut().zip(temps).enumerate() {
                let result = if tests::fail_rename(k) {
                    Err(io::Error::other("injected rename failure"))
                } else {
                    temp.persist(file.target()).map(drop).map_err(|e| e.error)
                };
                file.registration().done(live);
                if let Err(source) = result {
                    failure = Some(Error::Commit {
                        path: file.path().to_path_buf(),
                        source,
                    });
                    break;
                }
                replaced += 1;
            }
            // Unregister what the loop did not reach; their temporary files went with `temps`.
            for file in files.iter_mut() {
                file.registration().done(live);
            }
            let Some(failure) = failure else {
                // Success: the backups go (TempPath removes them on drop).
                return Ok(());
            };
            for (file, backup) in files.iter().zip(backups).take(replaced) {
                match backup {
                    Some(backup) => {
                        let _ = backup.persist(file.target());
                    }
                    // There was no file before: remove the new one.
                    None if !file.existed() => {
                        let _ = fs::remove_file(file.target());
                    }
                    None => {}
                }
            }
            Err(failure)
        })?;
        for file in &self.files {
            sync_folder(file.target());
        }
        Ok(())
    }
}

/// A hard link to `target` under a fresh temporary name beside it, removed when dropped; `None`
/// if there is no target, or the file system refuses hard links.
fn backup(target: &Path) -> Option<TempPath> {
    let name = target.file_name()?.to_string_lossy().into_owned();
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".bak")
        .make_in(crate::target::folder_of(target), |path| {
            fs::hard_link(target, path)
        })
        .ok()
        .map(tempfile::NamedTempFile::into_temp_path)
}

#[cfg(not(test))]
mod tests {
    /// Fault injection for the unit tests; never fails outside them.
    pub(super) fn fail_rename(_: usize) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// The index of the rename to fail in this thread's next commit.
        static FAIL_RENAME: Cell<Option<usize>> = const { Cell::new(None) };
    }

    pub(super) fn fail_rename(k: usize) -> bool {
        FAIL_RENAME.with(|f| f.get() == Some(k))
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_rename_failing_mid_commit_puts_back_the_targets_already_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let [a, b, c] = ["a", "b", "c"].map(|n| dir.path().join(n));
        fs::write(&a, "old a").unwrap();
        fs::write(&c, "old c").unwrap();
        let mut batch = Batch::new();
        batch.write(&a, b"new a").unwrap();
        batch.write(&b, b"new b").unwrap(); // did not exist
        batch.write(&c, b"new c").unwrap();
        FAIL_RENAME.with(|f| f.set(Some(2)));
        let err = batch.commit().unwrap_err();
        FAIL_RENAME.with(|f| f.set(None));
        assert!(matches!(err, Error::Commit { .. }), "{err:?}");
        assert!(err.to_string().contains("injected"), "{err}");
        assert_eq!(fs::read_to_string(&a).unwrap(), "old a");
        assert!(!b.exists(), "b was created by the failed commit");
        assert_eq!(fs::read_to_string(&c).unwrap(), "old c");
        assert_eq!(
            entries(dir.path()),
            ["a", "c"],
            "no temporary file or backup left"
        );
    }
}
