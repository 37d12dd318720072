//! The IDX file format of MNIST: `idx1` label files and `idx3` image files.
//!
//! An IDX file is a big-endian header (a magic number, then one `u32` size per dimension)
//! followed by the `u8` data, row-major. Files may be gzip-compressed: readers detect gzip by its
//! magic bytes (`1f 8b`), whatever the file is called, and writers compress when the path ends
//! in `.gz`.
//!
//! ```
//! use mnist_io::idx::{self, Images};
//!
//! let mut file = Vec::new();
//! let images = Images::new(2, 2, vec![0, 64, 128, 255, 1, 2, 3, 4]).unwrap();
//! idx::write_images_to(&mut file, &images).unwrap();
//! assert_eq!(&file[..4], &[0, 0, 8, 3]); // the idx3 magic number 0x00000803
//!
//! let back = idx::read_images_from(&file[..], "in-memory".as_ref()).unwrap();
//! assert_eq!((back.count(), back.rows(), back.cols()), (2, 2, 2));
//! assert_eq!(back.image(1), &[1, 2, 3, 4]);
//! ```

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use byteorder::{BigEndian, ByteOrder, WriteBytesExt};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use crate::Error;

/// Magic number of an `idx1` file of `u8` labels.
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Magic number of an `idx3` file of `u8` images.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// The first two bytes of every gzip stream.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Number of classes of MNIST and Fashion-MNIST: labels are `0..NUM_CLASSES`.
pub const NUM_CLASSES: usize = 10;

/// The most a gzip stream can expand: deflate's best case is 258 bytes from about 2 bits,
/// 1032:1 (zlib's FAQ), so a gzip file of `n` bytes holds at most `1032 n` bytes.
const MAX_GZIP_RATIO: u64 = 1032;

/// First allocation for data whose size could not be checked against the file's (gzip and
/// streams): the buffer then doubles as data arrives, so a header that lies costs nothing.
const INITIAL_CAPACITY: u64 = 1 << 20;

/// Trailing bytes read at most to report how many follow the data (`at least` this many).
const MAX_TRAILING_PROBE: u64 = 1 << 20;

/// Bounds on what reading an IDX file may claim, and so allocate.
///
/// A header announces the size of the data; a lying header must not make the reader allocate or
/// decompress gigabytes. Raw files are checked against their size on disk; gzip files and streams
/// cannot be, so every file is also held to [`Limits::max_data_bytes`], and the buffer grows as
/// data arrives instead of being sized by the header.
///
/// ```
/// use mnist_io::idx::Limits;
///
/// // EMNIST's "byclass" training images hold 547 MB: raise the limit to read them.
/// let limits = Limits { max_data_bytes: 600_000_000 };
/// # let _ = limits;
/// assert_eq!(Limits::default().max_data_bytes, 64 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes of data (after the header, decompressed) a file may announce.
    pub max_data_bytes: u64,
}

impl Limits {
    /// The default [`Limits::max_data_bytes`]: 64 MiB, MNIST's (and Fashion-MNIST's) largest
    /// file, the 47 040 000 pixels of the training images, with 40 % to spare; small enough that
    /// a hostile file read to the limit stays under 100 MB of memory.
    pub const DEFAULT_MAX_DATA_BYTES: u64 = 64 << 20;

    /// Reads an `idx1` labels file (raw or gzip) within these limits; see [`read_labels`].
    ///
    /// # Errors
    /// As [`read_labels`].
    pub fn read_labels(&self, path: &Path) -> Result<Vec<u8>, Error> {
        let (file, len) = open(path)?;
        decode_labels(file, path, Some(len), self)
    }

    /// Reads an `idx1` labels stream (raw or gzip) within these limits; see [`read_labels_from`].
    ///
    /// # Errors
    /// As [`read_labels_from`].
    pub fn read_labels_from(&self, reader: impl Read, path: &Path) -> Result<Vec<u8>, Error> {
        decode_labels(reader, path, None, self)
    }

    /// Reads an `idx3` images file (raw or gzip) within these limits; see [`read_images`].
    ///
    /// # Errors
    /// As [`read_images`].
    pub fn read_images(&self, path: &Path) -> Result<Images, Error> {
        let (file, len) = open(path)?;
        decode_images(file, path, Some(len), self)
    }

    /// Reads an `idx3` images stream (raw or gzip) within these limits; see
    /// [`read_images_from`].
    ///
    /// # Errors
    /// As [`read_images_from`].
    pub fn read_images_from(&self, reader: impl Read, path: &Path) -> Result<Images, Error> {
        decode_images(reader, path, None, self)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_data_bytes: Self::DEFAULT_MAX_DATA_BYTES,
        }
    }
}

/// A set of `count` grayscale images of `rows × cols` `u8` pixels, stored contiguously, one image
/// after another, each row-major (the book's `flatten=True` layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    count: usize,
    rows: usize,
    cols: usize,
    pixels: Vec<u8>,
}

impl Images {
    /// Wraps `pixels`, which must hold a whole number of `rows × cols` images.
    ///
    /// # Errors
    /// [`Error::Shape`] if `rows` or `cols` is zero or `pixels.len()` is not a multiple of
    /// `rows × cols`.
    pub fn new(rows: usize, cols: usize, pixels: Vec<u8>) -> Result<Self, Error> {
        let size = rows.checked_mul(cols).unwrap_or(0);
        if size == 0 || !pixels.len().is_multiple_of(size) {
            return Err(Error::Shape {
                what: "pixels",
                len: pixels.len(),
                shape: format!("images of {rows}x{cols}"),
            });
        }
        Ok(Self {
            count: pixels.len() / size,
            rows,
            cols,
            pixels,
        })
    }

    /// Number of images.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Height of each image, in pixels.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Width of each image, in pixels.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Pixels per image, `rows × cols` (784 for MNIST).
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    /// All the pixels, image after image.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The pixels of image `i`, row-major.
    ///
    /// # Panics
    /// If `i >= self.count()`.
    pub fn image(&self, i: usize) -> &[u8] {
        let size = self.pixels_per_image();
        &self.pixels[i * size..(i + 1) * size]
    }

    /// Gives the pixel buffer back.
    pub fn into_pixels(self) -> Vec<u8> {
        self.pixels
    }
}

/// Reads an `idx1` labels file (raw, gzip or multi-member gzip), checking every label is below
/// [`NUM_CLASSES`], within the [default limits](Limits::default).
///
/// # Errors
/// [`Error::Missing`] if the file does not exist, [`Error::NotAFile`] if it is a folder or
/// another kind of non-regular file, [`Error::TooLarge`] if its header announces more than the
/// limits allow, and every format error listed on [`Error`].
pub fn read_labels(path: &Path) -> Result<Vec<u8>, Error> {
    Limits::default().read_labels(path)
}

/// Reads an `idx1` labels stream (raw or gzip) within the [default limits](Limits::default);
/// `path` only names the source in errors.
///
/// # Errors
/// Every format error listed on [`Error`].
pub fn read_labels_from(reader: impl Read, path: &Path) -> Result<Vec<u8>, Error> {
    Limits::default().read_labels_from(reader, path)
}

/// Reads an `idx3` images file (raw, gzip or multi-member gzip) within the
/// [default limits](Limits::default).
///
/// # Errors
/// As [`read_labels`].
pub fn read_images(path: &Path) -> Result<Images, Error> {
    Limits::default().read_images(path)
}

/// Reads an `idx3` images stream (raw or gzip) within the [default limits](Limits::default);
/// `path` only names the source in errors.
///
/// # Errors
/// Every format error listed on [`Error`].
pub fn read_images_from(reader: impl Read, path: &Path) -> Result<Images, Error> {
    Limits::default().read_images_from(reader, path)
}

/// Writes `labels` as an `idx1` file, atomically and through symbolic links (the
/// `safe-write` crate); gzip-compressed if `path` ends in `.gz`.
///
/// # Errors
/// [`Error::Write`] naming `path`.
pub fn write_labels(path: &Path, labels: &[u8]) -> Result<(), Error> {
    write_atomically(path, |w| write_labels_to(w, labels))
}

/// Writes `labels` as an uncompressed `idx1` stream.
///
/// # Errors
/// The writer's errors.
pub fn write_labels_to(mut writer: impl Write, labels: &[u8]) -> io::Result<()> {
    writer.write_u32::<BigEndian>(LABELS_MAGIC)?;
    writer.write_u32::<BigEndian>(dim(labels.len())?)?;
    writer.write_all(labels)
}

/// Writes `images` as an `idx3` file, atomically and through symbolic links (the `safe-write`
/// crate); gzip-compressed if `path` ends in `.gz`.
///
/// # Errors
/// [`Error::Write`] naming `path`.
pub fn write_images(path: &Path, images: &Images) -> Result<(), Error> {
    write_atomically(path, |w| write_images_to(w, images))
}

/// Writes `images` as an uncompressed `idx3` stream.
///
/// # Errors
/// The writer's errors.
pub fn write_images_to(mut writer: impl Write, images: &Images) -> io::Result<()> {
    writer.write_u32::<BigEndian>(IMAGES_MAGIC)?;
    for size in [images.count, images.rows, images.cols] {
        writer.write_u32::<BigEndian>(dim(size)?)?;
    }
    writer.write_all(&images.pixels)
}

fn dim(size: usize) -> io::Result<u32> {
    u32::try_from(size).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{size} does not fit an IDX size (u32)"),
        )
    })
}

fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), Error> {
    let gzip = path.extension().is_some_and(|ext| ext == "gz");
    safe_write::write_with(path, |file| {
        if gzip {
            let mut encoder = GzEncoder::new(file, Compression::default());
            write(&mut encoder)?;
            encoder.finish().map(drop)
        } else {
            write(file)
        }
    })?;
    Ok(())
}

/// Opens a file to read, refusing what is not a regular file (a folder, a fifo that would block,
/// a device) and telling a dangling symbolic link from an absent file.
fn open(path: &Path) -> Result<(File, u64), Error> {
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(source) if source.kind() == io::ErrorKind::NotFound => {
            return Err(match std::fs::read_link(path) {
                Ok(target) => Error::DanglingLink {
                    path: path.to_path_buf(),
                    target,
                },
                Err(_) => Error::Missing {
                    path: path.to_path_buf(),
                },
            });
        }
        // A symbolic link loop (ELOOP) and permission errors say so themselves.
        Err(source) => return Err(io_error(source)),
    };
    if !metadata.is_file() {
        return Err(Error::NotAFile {
            path: path.to_path_buf(),
            kind: file_kind(&metadata.file_type()),
        });
    }
    let file = File::open(path).map_err(io_error)?;
    Ok((file, metadata.len()))
}

/// What a file that is not a regular file is, for error messages.
pub(crate) fn file_kind(file_type: &std::fs::FileType) -> &'static str {
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
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

fn decode_labels(
    reader: impl Read,
    path: &Path,
    file_len: Option<u64>,
    limits: &Limits,
) -> Result<Vec<u8>, Error> {
    let (_, labels) = decode(reader, path, file_len, LABELS_MAGIC, 1, limits)?;
    if let Some(index) = labels
        .iter()
        .position(|&label| usize::from(label) >= NUM_CLASSES)
    {
        return Err(Error::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            label: labels[index],
        });
    }
    Ok(labels)
}

fn decode_images(
    reader: impl Read,
    path: &Path,
    file_len: Option<u64>,
    limits: &Limits,
) -> Result<Images, Error> {
    let (dims, pixels) = decode(reader, path, file_len, IMAGES_MAGIC, 3, limits)?;
    if dims[1] == 0 || dims[2] == 0 {
        return Err(Error::EmptyImageSize {
            path: path.to_path_buf(),
            rows: dims[1],
            cols: dims[2],
        });
    }
    // The header's sizes are u32 and the data matched them, so these conversions are exact.
    let [count, rows, cols] = [dims[0], dims[1], dims[2]].map(|d| d as usize);
    Ok(Images {
        count,
        rows,
        cols,
        pixels,
    })
}

/// What the data may hold at most, and why: the bound a header's claim is checked against.
struct Bound {
    /// Bytes of data the source can hold at most.
    bytes: u64,
    /// The source's raw size is exact (a raw file): reserve the whole claim at once.
    exact: bool,
}

/// Detects gzip from the first two bytes (read whole, however the reader splits them), then
/// reads the header and exactly the data it announces.
fn decode(
    mut reader: impl Read,
    path: &Path,
    file_len: Option<u64>,
    magic: u32,
    ndims: usize,
    limits: &Limits,
) -> Result<(Vec<u32>, Vec<u8>), Error> {
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut head = [0u8; 2];
    let n = read_full(&mut reader, &mut head).map_err(io_error)?;
    let reader = (&head[..n]).chain(reader);
    let header_len = 4 * (1 + ndims) as u64;
    if head[..n] == GZIP_MAGIC {
        let corrupt = |source| Error::CorruptGzip {
            path: path.to_path_buf(),
            source,
        };
        let bound = Bound {
            // Each gzip member expands at most MAX_GZIP_RATIO times.
            bytes: file_len.map_or(u64::MAX, |len| {
                len.saturating_mul(MAX_GZIP_RATIO)
                    .saturating_sub(header_len)
            }),
            exact: false,
        };
        decode_raw(
            MultiGzDecoder::new(reader),
            path,
            bound,
            magic,
            ndims,
            limits,
            &corrupt,
        )
    } else {
        let bound = Bound {
            bytes: file_len.map_or(u64::MAX, |len| len.saturating_sub(header_len)),
            exact: file_len.is_some(),
        };
        decode_raw(reader, path, bound, magic, ndims, limits, &io_error)
    }
}

fn decode_raw(
    mut reader: impl Read,
    path: &Path,
    bound: Bound,
    magic: u32,
    ndims: usize,
    limits: &Limits,
    read_error: &dyn Fn(io::Error) -> Error,
) -> Result<(Vec<u32>, Vec<u8>), Error> {
    let header_len = 4 * (1 + ndims);
    let mut header = [0u8; 16];
    let header = &mut header[..header_len];
    let found = read_full(&mut reader, header).map_err(read_error)?;
    if found >= 4 && BigEndian::read_u32(header) != magic {
        let kind = if magic == LABELS_MAGIC {
            "idx1 labels"
        } else {
            "idx3 images"
        };
        let found = BigEndian::read_u32(header);
        return Err(Error::BadMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
            kind,
        });
    }
    if found < header_len {
        return Err(Error::TruncatedHeader {
            path: path.to_path_buf(),
            found,
            needed: header_len,
        });
    }
    let dims: Vec<u32> = header[4..]
        .chunks_exact(4)
        .map(BigEndian::read_u32)
        .collect();
    let expected: u128 = dims.iter().map(|&d| u128::from(d)).product();
    let truncated = |found| Error::TruncatedBody {
        path: path.to_path_buf(),
        expected,
        found,
    };

    // Check the announced size against the file and the limits before allocating anything.
    if bound.exact && expected > u128::from(bound.bytes) {
        return Err(truncated(bound.bytes));
    }
    if expected > u128::from(limits.max_data_bytes) {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            dims,
            expected,
            limit: limits.max_data_bytes,
        });
    }
    if expected > u128::from(bound.bytes) {
        return Err(Error::ImpossibleSize {
            path: path.to_path_buf(),
            expected,
            most: bound.bytes,
        });
    }
    // Below the limit, so it fits a u64 and (on 64-bit targets) a usize.
    let limit = expected as u64;
    let capacity = if bound.exact {
        limit
    } else {
        limit.min(INITIAL_CAPACITY)
    };
    let mut data = Vec::new();
    data.try_reserve_exact(usize::try_from(capacity).unwrap_or(usize::MAX))
        .map_err(|e| read_error(io::Error::new(io::ErrorKind::OutOfMemory, e)))?;
    // `read_to_end` doubles the buffer as data arrives: never more than twice what came.
    (&mut reader)
        .take(limit)
        .read_to_end(&mut data)
        .map_err(read_error)?;
    if (data.len() as u64) < limit {
        return Err(truncated(data.len() as u64));
    }
    let extra =
        io::copy(&mut reader.take(MAX_TRAILING_PROBE), &mut io::sink()).map_err(read_error)?;
    if extra > 0 {
        return Err(Error::TrailingBytes {
            path: path.to_path_buf(),
            expected: limit,
            extra,
        });
    }
    Ok((dims, data))
}

/// Reads until `buf` is full or the stream ends; returns the number of bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
