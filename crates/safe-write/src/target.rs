//! Where an output really goes: its symbolic links followed, and what stands there checked.

use std::fs::{self, FileType, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use crate::Error;

/// Symbolic links followed at most before calling it a loop (Linux's own limit).
const MAX_LINKS: usize = 40;

/// An output's real target: the file at the end of its symbolic links.
#[derive(Debug)]
pub(crate) struct Target {
    /// The path to write: the given one, or where its links lead.
    pub path: PathBuf,
    /// The regular file there now, if any.
    pub existing: Option<Metadata>,
}

impl Target {
    /// Follows `given`'s symbolic links to the file they lead to (which need not exist), and
    /// refuses what is not a regular file.
    pub(crate) fn resolve(given: &Path) -> Result<Self, Error> {
        let mut path = given.to_path_buf();
        for _ in 0..MAX_LINKS {
            let metadata = match fs::symlink_metadata(&path) {
                Ok(metadata) => metadata,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Ok(Self {
                        path,
                        existing: None,
                    });
                }
                Err(source) => return Err(Error::Inspect { path, source }),
            };
            let file_type = metadata.file_type();
            if file_type.is_symlink() {
                let link = fs::read_link(&path).map_err(|source| Error::Inspect {
                    path: path.clone(),
                    source,
                })?;
                path = folder_of(&path).join(link);
            } else if file_type.is_file() {
                return Ok(Self {
                    path,
                    existing: Some(metadata),
                });
            } else {
                let kind = if path == given {
                    kind_of(&file_type).to_owned()
                } else {
                    format!(
                        "a symbolic link to {}, {}",
                        path.display(),
                        kind_of(&file_type)
                    )
                };
                return Err(Error::NotAFile {
                    path: given.to_path_buf(),
                    kind,
                });
            }
        }
        Err(Error::SymlinkLoop {
            path: given.to_path_buf(),
        })
    }

    /// The folder the file goes in (`.` for a bare file name).
    pub(crate) fn folder(&self) -> &Path {
        folder_of(&self.path)
    }
}

/// The folder `path` is in, `.` for a bare name.
pub(crate) fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// What a file that is not a regular file is, for messages.
pub(crate) fn kind_of(file_type: &FileType) -> &'static str {
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
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "a special file"
    }
}

/// `path` made absolute: its longest existing ancestor canonicalized (links and `..` resolved),
/// the rest (which does not exist yet, so holds no links) with `.` and `..` applied.
fn normalize(path: &Path) -> PathBuf {
    let Ok(absolute) = std::path::absolute(path) else {
        return path.to_path_buf();
    };
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    let mut base = loop {
        if let Ok(canonical) = fs::canonicalize(existing) {
            break canonical;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            // `..` or the root: give up canonicalizing, apply the components as they are.
            _ => {
                rest.clear();
                break PathBuf::new();
            }
        }
    };
    if base.as_os_str().is_empty() {
        for component in absolute.components() {
            match component {
                std::path::Component::ParentDir => {
                    base.pop();
                }
                std::path::Component::CurDir => {}
                other => base.push(other),
            }
        }
        return base;
    }
    for name in rest.into_iter().rev() {
        match name.to_str() {
            Some("..") => {
                base.pop();
            }
            Some(".") => {}
            _ => base.push(name),
        }
    }
    base
}

/// What makes two paths the same file: the same device and inode when it exists, else the same
/// absolute path once links and `..` are resolved.
#[derive(Debug)]
pub(crate) struct Identity {
    path: PathBuf,
    #[cfg(unix)]
    inode: Option<(u64, u64)>,
}

impl Identity {
    /// The identity of the file `path` names (or would name, once written through its links).
    pub(crate) fn of(path: &Path) -> Self {
        let resolved = Target::resolve(path).map_or_else(|_| path.to_path_buf(), |t| t.path);
        Self {
            path: normalize(&resolved),
            #[cfg(unix)]
            inode: fs::metadata(&resolved).ok().map(|m| {
                use std::os::unix::fs::MetadataExt;
                (m.dev(), m.ino())
            }),
        }
    }

    /// Whether both name the same file.
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        #[cfg(unix)]
        if let (Some(a), Some(b)) = (self.inode, other.inode) {
            return a == b;
        }
        self.path == other.path
    }
}
