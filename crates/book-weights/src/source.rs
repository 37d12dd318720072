//! Opening a weight file: only a regular file, and never blocking on a named pipe.

use std::fs::{self, File, OpenOptions};
use std::path::Path;

use crate::Error;

/// Opens `path` to read, with its length, refusing what is not a regular file.
///
/// The path is looked at first (a folder or a device is refused without being opened); the file
/// is then opened non-blocking (on Unix), so that a named pipe put in its place meanwhile does
/// not block the open, and what was opened is checked again.
pub(crate) fn open(path: &Path) -> Result<(File, u64), Error> {
    let open_error = |source| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    let metadata = fs::metadata(path).map_err(open_error)?;
    if !metadata.is_file() {
        return Err(Error::NotAFile {
            path: path.to_path_buf(),
            kind: file_kind(&metadata.file_type()),
        });
    }
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Reads of a regular file ignore O_NONBLOCK.
        options.custom_flags(nix::libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(open_error)?;
    let metadata = file.metadata().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !metadata.is_file() {
        return Err(Error::NotAFile {
            path: path.to_path_buf(),
            kind: file_kind(&metadata.file_type()),
        });
    }
    Ok((file, metadata.len()))
}

/// What a file that is not a regular file is, for error messages.
fn file_kind(file_type: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a named pipe (fifo)";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
    }
    if file_type.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}
