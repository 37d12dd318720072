//! Atomic file writes: write to a temporary file in the destination's folder, then rename.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use atomic_write_file::AtomicWriteFile;

/// A temporary file that becomes `dest` on [`TempFile::commit`], and disappears if dropped
/// before (the `atomic-write-file` crate removes it), so that a failed or interrupted write never
/// leaves a file under the final name.
pub(crate) struct TempFile {
    file: BufWriter<AtomicWriteFile>,
}

impl TempFile {
    /// Creates a temporary file next to `dest`, with the permissions of any new file.
    pub(crate) fn create(dest: &Path) -> io::Result<Self> {
        Ok(Self {
            file: BufWriter::with_capacity(1 << 16, AtomicWriteFile::open(dest)?),
        })
    }

    /// Flushes and syncs the data, then renames the temporary file to the destination.
    pub(crate) fn commit(self) -> io::Result<()> {
        self.file.into_inner().map_err(|e| e.into_error())?.commit()
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
