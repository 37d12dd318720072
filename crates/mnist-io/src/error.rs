//! The error type of reading and writing IDX files and of loading a dataset folder.

use std::path::PathBuf;

/// What went wrong while reading, writing or loading IDX files.
///
/// Every variant that concerns a file names it, says what is wrong with it, and (where there is
/// one) what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file of the dataset is absent from the folder, under every accepted name.
    #[error(
        "{path}: not found; run `cargo xtask fetch-mnist` to download the dataset \
         (a dataset folder may also hold `.gz` files or dotted names like `train-images.idx3-ubyte`)"
    )]
    Missing {
        /// The canonical path that was looked for.
        path: PathBuf,
    },
    /// What stands at a data file's path is not a regular file (a folder, a named pipe, a
    /// device...).
    #[error(
        "{path}: is {kind}, not a regular file; the dataset's files must be regular files \
         (remove or rename it, then run `cargo xtask fetch-mnist`)"
    )]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is, such as `a folder`.
        kind: &'static str,
    },
    /// A data file's path is a symbolic link to nothing.
    #[error("{path}: is a symbolic link to {target}, which does not exist; fix or remove the link")]
    DanglingLink {
        /// The link.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// The header announces more data than the reader's limits allow.
    #[error(
        "{path}: the header announces {} = {expected} bytes of data, above the limit of {limit} \
         bytes (MNIST's largest file holds 47040000); is this the right file? If it is, read it \
         with a larger `mnist_io::idx::Limits`",
        describe_dims(dims)
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The sizes the header gives.
        dims: Vec<u32>,
        /// Bytes of data announced by the header.
        expected: u128,
        /// [`crate::idx::Limits::max_data_bytes`].
        limit: u64,
    },
    /// The header announces more data than the file could hold, even decompressed.
    #[error(
        "{path}: the header announces {expected} bytes of data, more than a gzip file of this \
         size can hold ({most} at most); the file is corrupt or truncated, download it again"
    )]
    ImpossibleSize {
        /// The file.
        path: PathBuf,
        /// Bytes of data announced by the header.
        expected: u128,
        /// The most bytes of data the file can hold.
        most: u64,
    },
    /// The operating system failed to read or write the file.
    #[error("{path}: {source}")]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing a file failed; nothing was replaced (see the `safe-write` crate).
    #[error(transparent)]
    Write(#[from] safe_write::Error),
    /// The file starts with gzip's magic bytes but does not decompress.
    #[error("{path}: corrupt gzip data ({source}); delete the file and download it again")]
    CorruptGzip {
        /// The compressed file.
        path: PathBuf,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// The first four bytes are not the expected IDX magic number.
    #[error(
        "{path}: magic number {found:#010x}, expected {expected:#010x} ({kind}); \
         is this the right file?"
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number read.
        found: u32,
        /// The magic number of the expected kind of file.
        expected: u32,
        /// `"idx1 labels"` or `"idx3 images"`.
        kind: &'static str,
    },
    /// The file ends inside its header.
    #[error("{path}: truncated header: {found} bytes, the header needs {needed}")]
    TruncatedHeader {
        /// The file.
        path: PathBuf,
        /// How many bytes the file holds.
        found: usize,
        /// How many bytes the header takes.
        needed: usize,
    },
    /// The file ends before the data its header announces.
    #[error(
        "{path}: truncated: the header announces {expected} bytes of data, the file holds {found}; \
         download it again"
    )]
    TruncatedBody {
        /// The file.
        path: PathBuf,
        /// Bytes of data announced by the header.
        expected: u128,
        /// Bytes of data present.
        found: u64,
    },
    /// The file goes on after the data its header announces.
    #[error(
        "{path}: unexpected data after the {expected} bytes the header announces \
         ({extra} bytes or more)"
    )]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Bytes of data announced by the header.
        expected: u64,
        /// How many bytes follow (at least this many).
        extra: u64,
    },
    /// The header of an images file gives a height or width of zero.
    #[error(
        "{path}: images of {rows}x{cols} pixels: the header's height and width must be above 0"
    )]
    EmptyImageSize {
        /// The images file.
        path: PathBuf,
        /// Height read from the header.
        rows: u32,
        /// Width read from the header.
        cols: u32,
    },
    /// A label is not a class index `0..=9`.
    #[error("{path}: label {label} at index {index} is above 9")]
    LabelOutOfRange {
        /// The labels file.
        path: PathBuf,
        /// Position of the label in the file.
        index: usize,
        /// The offending value.
        label: u8,
    },
    /// The images file and the labels file of a split hold different numbers of samples.
    #[error("{images} holds {image_count} images but {labels} holds {label_count} labels")]
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// The labels file.
        labels: PathBuf,
        /// Number of images.
        image_count: usize,
        /// Number of labels.
        label_count: usize,
    },
    /// An in-memory buffer does not match the shape it is given with.
    #[error("{what}: {len} values do not fit the shape {shape}")]
    Shape {
        /// The buffer (`"pixels"`, `"labels"`).
        what: &'static str,
        /// Its length.
        len: usize,
        /// The shape it was given, such as `3 images of 28x28`.
        shape: String,
    },
}

/// `3 images of 28x28` or `60000 labels`, from an IDX header's sizes.
fn describe_dims(dims: &[u32]) -> String {
    match dims {
        [count] => format!("{count} labels"),
        [count, rows, cols] => format!("{count} images of {rows}x{cols}"),
        other => format!("{other:?}"),
    }
}
