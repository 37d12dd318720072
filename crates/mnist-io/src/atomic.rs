//! Atomic file writes: write to a temporary file in the destination's folder, then rename.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A temporary file that becomes `dest` on [`TempFile::commit`], and disappears if dropped
/// before (the `tempfile` crate removes it), so that a failed or interrupted write never leaves a
/// file under the final name.
pub(crate) struct TempFile {
    dest: PathBuf,
    file: BufWriter<NamedTempFile>,
}

impl TempFile {
    /// Creates a uniquely named temporary file next to `dest`, readable by all like any new file
    /// (tempfile's default is owner-only).
    pub(crate) fn create(dest: &Path) -> io::Result<Self> {
        let dir = match dest.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix(".").suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(fs::Permissions::from_mode(0o644));
        }
        Ok(Self {
            dest: dest.to_path_buf(),
            file: BufWriter::with_capacity(1 << 16, builder.tempfile_in(dir)?),
        })
    }

    /// Flushes and syncs the data, then renames the temporary file to the destination.
    pub(crate) fn commit(self) -> io::Result<()> {
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.as_file().sync_all()?;
        file.persist(&self.dest)?;
        Ok(())
    }
}

impl Write for TempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
