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
    /// The operating system failed to read or write the file.
    #[error("{path}: {source}")]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
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
        "{path}: {extra} unexpected bytes after the {expected} bytes of data the header announces"
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
