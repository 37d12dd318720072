//! Atomic file writes: write to a temporary file in the destination's folder, then rename.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// A temporary file that becomes `dest` on [`TempFile::commit`], and disappears if dropped
/// before, so that a failed or interrupted write never leaves a file under the final name.
pub(crate) struct TempFile {
    temp: PathBuf,
    dest: PathBuf,
    file: BufWriter<File>,
    committed: bool,
}

impl TempFile {
    /// Creates `.<name>.<pid>.tmp` next to `dest`.
    pub(crate) fn create(dest: &Path) -> io::Result<Self> {
        let name = dest
            .file_name()
            .map_or_else(|| "file".into(), |name| name.to_string_lossy().into_owned());
        let temp = dest.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let file = BufWriter::with_capacity(1 << 16, File::create(&temp)?);
        Ok(Self {
            temp,
            dest: dest.to_path_buf(),
            file,
            committed: false,
        })
    }

    /// Flushes and syncs the data, then renames the temporary file to the destination.
    pub(crate) fn commit(mut self) -> io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        std::fs::rename(&self.temp, &self.dest)?;
        self.committed = true;
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

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the temporary name never looks like a finished file anyway.
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}
