//! What can go wrong while writing an output file.

use std::io;
use std::path::PathBuf;

/// Why an output file was not written. Every variant names the path as the caller gave it; in
/// every case the target was left as it was and no temporary file was left behind.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What stands at the target (or at the end of its symbolic links) is not a regular file.
    #[error(
        "{path}: is {kind}, not a regular file; refusing to replace it (give the path of a \
         file to write)"
    )]
    NotAFile {
        /// The target, as given.
        path: PathBuf,
        /// What it is: `a folder`, `a device`, `a symbolic link to /dev/null, a device`...
        kind: String,
    },
    /// The target's symbolic links do not end (a loop, or more than 40 in a row).
    #[error(
        "{path}: too many levels of symbolic links (a loop?); fix the link or give another path"
    )]
    SymlinkLoop {
        /// The target, as given.
        path: PathBuf,
    },
    /// The target's symbolic link, or the target's metadata, cannot be read.
    #[error("{path}: cannot examine it: {source}")]
    Inspect {
        /// The path that could not be examined.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The temporary file cannot be created in the target's folder.
    #[error("{path}: cannot create a temporary file in {}: {source}", dir.display())]
    Create {
        /// The target, as given.
        path: PathBuf,
        /// The folder the temporary file goes in.
        dir: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Writing or syncing the temporary file failed (disk full, I/O error, or the caller's own
    /// writer failed).
    #[error("{path}: cannot write it: {source}")]
    Write {
        /// The target, as given.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A SIGINT or SIGTERM arrived before the outputs replaced their targets (see
    /// [`Batch::commit_unless_interrupted`](crate::Batch::commit_unless_interrupted)).
    #[error("interrupted by {signal} before the outputs were written: none was written")]
    Interrupted {
        /// The signal.
        signal: crate::interrupt::Signal,
    },
    /// Renaming the finished temporary file over the target failed.
    #[error("{path}: cannot replace it with the new file: {source}")]
    Commit {
        /// The target, as given.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// An output is also an input of the same run.
    #[error(
        "{output} is the same file as the input {input}: writing it would destroy the input; \
         choose another path"
    )]
    OutputIsInput {
        /// The output: its flag and path, such as `--out data/mnist/t10k-labels-idx1-ubyte`.
        output: String,
        /// The input: its flag and path.
        input: String,
    },
    /// Two outputs of the same run are the same file: the second would replace the first.
    #[error("{first} and {second} are the same file: give each output its own path")]
    SameOutput {
        /// One output: its flag (if any) and path.
        first: String,
        /// The other.
        second: String,
    },
}
