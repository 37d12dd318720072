//! Output files written so that nothing is ever destroyed.
//!
//! - **Atomic**: an [`AtomicFile`] is a temporary file next to its target, synced, then renamed
//!   over it ([`AtomicFile::commit`]): a reader, a crash or an error never sees half a file, and
//!   an older file stays intact until the new one is whole.
//! - **Through symbolic links**: when the target is a symbolic link (or a chain of them), the
//!   file it points to is written and the link stays, as a shell's `>` or an editor would do;
//!   the temporary file goes in that file's folder, so the rename never crosses file systems.
//!   (Replacing the link by a regular file, as a plain rename does, breaks a user's setup
//!   without a word; refusing would make a common setup unusable.)
//! - **Only over regular files**: a folder, a device such as `/dev/null`, a named pipe or a
//!   socket at the target is refused with [`Error::NotAFile`] before anything is written.
//! - **Usual permissions**: a new file gets `0666` less the umask (`0644` usually), like any
//!   file a program creates; a replaced file keeps its permission bits.
//! - **Nothing left behind**: the temporary file is removed when the write fails, when the
//!   rename fails, when the [`AtomicFile`] is dropped uncommitted, and when the process gets
//!   SIGINT or SIGTERM ([`interrupt`]): a registry of the live temporary files is emptied by a
//!   signal thread, which then ends the process as the signal would have.
//! - **Several outputs or none**: a [`Batch`] prepares every file, and replaces the targets only
//!   once all of them are written; if a rename still fails, the targets already replaced are
//!   restored.
//! - **Outputs distinct from inputs**: [`check_distinct`] refuses an output that is an input, or
//!   two outputs that are the same file (through links, hard links and `..` alike), naming the
//!   flags.
//!
//! ```
//! use std::io::Write;
//!
//! let dir = tempfile::tempdir()?;
//! let (model, history) = (dir.path().join("params.ron"), dir.path().join("history.csv"));
//!
//! // One file.
//! safe_write::write(&model, b"(old)")?;
//!
//! // Several, all or none.
//! let mut batch = safe_write::Batch::new();
//! batch.write(&model, b"(new)")?;
//! batch.write_with(&history, |w| writeln!(w, "iteration,loss"))?;
//! batch.commit()?;
//! assert_eq!(std::fs::read(&model)?, b"(new)");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod batch;
mod distinct;
mod error;
mod file;
pub mod interrupt;
mod target;

pub use batch::Batch;
pub use distinct::check_distinct;
pub use error::Error;
pub use file::{AtomicFile, write, write_with};
