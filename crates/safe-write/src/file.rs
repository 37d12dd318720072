//! One output file: a temporary file beside its target, renamed over it when complete.

use std::fs::{File, Permissions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::Error;
use crate::interrupt::{self, Registration};
use crate::target::Target;

/// Permissions asked for a new file: the kernel takes the umask off (so `0644` usually), as for
/// any file a program creates.
#[cfg(unix)]
fn new_file_permissions() -> Permissions {
    use std::os::unix::fs::PermissionsExt;
    Permissions::from_mode(0o666)
}

/// A file being written: a temporary file in its target's folder, which replaces the target on
/// [`AtomicFile::commit`] and disappears if dropped before (or if the process gets SIGINT or
/// SIGTERM, see [`crate::interrupt`]).
///
/// Writes are buffered. The target is resolved when the file is created: through its symbolic
/// links, refused if it is not a regular file (see the [crate documentation](crate)).
#[derive(Debug)]
pub struct AtomicFile {
    /// The path as the caller gave it, for messages.
    path: PathBuf,
    /// Where the file goes: `path`, or the file its links lead to.
    target: PathBuf,
    /// `None` only while committing or dropping.
    temp: Option<BufWriter<NamedTempFile>>,
    /// The entry of the temporary file in the registry cleaned on signals.
    registration: Registration,
    /// Whether a file stood at the target when this one was created.
    existed: bool,
}

impl AtomicFile {
    /// Creates the temporary file for `path` (`.<name>.<random>.tmp` in the target's folder),
    /// with the permissions of a new file, or of the file it will replace.
    ///
    /// # Errors
    /// [`Error::NotAFile`] if `path` (or the end of its links) is a folder, a device, a named
    /// pipe or a socket, [`Error::SymlinkLoop`], [`Error::Inspect`], and [`Error::Create`] if the
    /// folder does not exist or cannot be written.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let target = Target::resolve(path)?;
        let name = target
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let create_error = |source| Error::Create {
            path: path.to_path_buf(),
            dir: target.folder().to_path_buf(),
            source,
        };
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        builder.permissions(new_file_permissions());
        let (temp, registration) =
            interrupt::register(|| builder.tempfile_in(target.folder())).map_err(create_error)?;
        if let Some(existing) = &target.existing {
            // Keep the replaced file's permission bits (not its owner: only root could).
            temp.as_file()
                .set_permissions(existing.permissions())
                .map_err(|source| Error::Write {
                    path: path.to_path_buf(),
                    source,
                })?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            target: target.path,
            temp: Some(BufWriter::with_capacity(1 << 16, temp)),
            registration,
            existed: target.existing.is_some(),
        })
    }

    /// The path as given to [`AtomicFile::create`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file that [`AtomicFile::commit`] replaces: the path as given, or the file its
    /// symbolic links lead to.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes and syncs the data, then renames the temporary file over the target, and syncs
    /// the folder (where the file system allows).
    ///
    /// # Errors
    /// [`Error::Write`] if the data cannot be written or synced, [`Error::NotAFile`] if
    /// something other than a regular file took the target's place meanwhile, [`Error::Commit`]
    /// if the rename fails. The temporary file is removed in every case; the target is left as
    /// it was.
    pub fn commit(mut self) -> Result<(), Error> {
        let temp = self.finish()?;
        self.check_target()?;
        interrupt::while_locked(|live| {
            // On failure the temporary file is removed here (PersistError's file is dropped).
            let result = temp.persist(&self.target).map(drop);
            self.registration.done(live);
            result.map_err(|e| Error::Commit {
                path: self.path.clone(),
                source: e.error,
            })
        })?;
        sync_folder(&self.target);
        Ok(())
    }

    /// Flushes the buffer and syncs the temporary file, handing it over.
    pub(crate) fn finish(&mut self) -> Result<NamedTempFile, Error> {
        let write_error = |source| Error::Write {
            path: self.path.clone(),
            source,
        };
        let temp = self
            .temp
            .take()
            .expect("an AtomicFile is finished once, by commit")
            .into_inner()
            .map_err(|e| write_error(e.into_error()))?;
        temp.as_file().sync_all().map_err(write_error)?;
        Ok(temp)
    }

    /// Refuses a target that something other than a regular file replaced since creation.
    pub(crate) fn check_target(&self) -> Result<(), Error> {
        let target = Target::resolve(&self.target).map_err(|e| match e {
            Error::NotAFile { kind, .. } => Error::NotAFile {
                path: self.path.clone(),
                kind,
            },
            other => other,
        })?;
        if target.path != self.target {
            // The target became a symbolic link meanwhile: never rename over a link.
            return Err(Error::NotAFile {
                path: self.path.clone(),
                kind: format!("now a symbolic link to {}", target.path.display()),
            });
        }
        Ok(())
    }

    pub(crate) fn registration(&mut self) -> &mut Registration {
        &mut self.registration
    }

    pub(crate) fn existed(&self) -> bool {
        self.existed
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer()?.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer()?.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer()?.flush()
    }
}

impl AtomicFile {
    fn writer(&mut self) -> io::Result<&mut BufWriter<NamedTempFile>> {
        self.temp
            .as_mut()
            .ok_or_else(|| io::Error::other("the file was already committed"))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Remove the temporary file (NamedTempFile's drop) while the registry still holds it, so
        // that a signal arriving now finds it either present and listed, or gone.
        let temp = self.temp.take();
        interrupt::while_locked(|live| {
            drop(temp);
            self.registration.done(live);
        });
    }
}

/// Syncs the folder holding `path`, so that the rename survives a crash; ignored where the
/// file system cannot sync a folder.
pub(crate) fn sync_folder(path: &Path) {
    let folder = crate::target::folder_of(path);
    if let Ok(dir) = File::open(folder) {
        let _ = dir.sync_all();
    }
}

/// Writes `bytes` to `path` atomically (see [`AtomicFile`]).
///
/// # Errors
/// As [`AtomicFile::create`] and [`AtomicFile::commit`].
pub fn write(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), Error> {
    write_with(path, |w| w.write_all(bytes))
}

/// Writes `path` atomically with whatever `write` puts into the (buffered) writer it is given.
/// If `write` fails, nothing is replaced and its error is returned as [`Error::Write`].
///
/// ```
/// use std::io::Write;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("history.csv");
/// safe_write::write_with(&path, |w| writeln!(w, "iteration,loss"))?;
/// assert_eq!(std::fs::read_to_string(&path)?, "iteration,loss\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`AtomicFile::create`] and [`AtomicFile::commit`].
pub fn write_with(
    path: impl AsRef<Path>,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), Error> {
    let mut file = AtomicFile::create(path)?;
    write(&mut file).map_err(|source| Error::Write {
        path: file.path().to_path_buf(),
        source,
    })?;
    file.commit()
}
