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
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use byteorder::{BigEndian, ByteOrder, WriteBytesExt};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::Error;
use crate::atomic::TempFile;

/// Magic number of an `idx1` file of `u8` labels.
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Magic number of an `idx3` file of `u8` images.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// The first two bytes of every gzip stream.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Number of classes of MNIST and Fashion-MNIST: labels are `0..NUM_CLASSES`.
pub const NUM_CLASSES: usize = 10;

/// Initial buffer size when the data size cannot be checked against a file size (gzip and
/// plain readers): big enough for MNIST's 47 MB of training images in one allocation, small
/// enough that a lying header cannot make us reserve gigabytes.
const MAX_UNCHECKED_CAPACITY: usize = 64 << 20;

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

/// Reads an `idx1` labels file (raw or gzip), checking every label is below [`NUM_CLASSES`].
///
/// # Errors
/// [`Error::Missing`] if the file does not exist, and every format error listed on [`Error`].
pub fn read_labels(path: &Path) -> Result<Vec<u8>, Error> {
    let (file, len) = open(path)?;
    decode_labels(file, path, Some(len))
}

/// Reads an `idx1` labels stream (raw or gzip); `path` only names the source in errors.
///
/// # Errors
/// Every format error listed on [`Error`].
pub fn read_labels_from(reader: impl Read, path: &Path) -> Result<Vec<u8>, Error> {
    decode_labels(reader, path, None)
}

/// Reads an `idx3` images file (raw or gzip).
///
/// # Errors
/// [`Error::Missing`] if the file does not exist, and every format error listed on [`Error`].
pub fn read_images(path: &Path) -> Result<Images, Error> {
    let (file, len) = open(path)?;
    decode_images(file, path, Some(len))
}

/// Reads an `idx3` images stream (raw or gzip); `path` only names the source in errors.
///
/// # Errors
/// Every format error listed on [`Error`].
pub fn read_images_from(reader: impl Read, path: &Path) -> Result<Images, Error> {
    decode_images(reader, path, None)
}

/// Writes `labels` as an `idx1` file, atomically; gzip-compressed if `path` ends in `.gz`.
///
/// # Errors
/// [`Error::Io`] naming `path`.
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

/// Writes `images` as an `idx3` file, atomically; gzip-compressed if `path` ends in `.gz`.
///
/// # Errors
/// [`Error::Io`] naming `path`.
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
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut temp = TempFile::create(path).map_err(io_error)?;
    if path.extension().is_some_and(|ext| ext == "gz") {
        let mut encoder = GzEncoder::new(&mut temp, Compression::default());
        write(&mut encoder).map_err(io_error)?;
        encoder.finish().map_err(io_error)?;
    } else {
        write(&mut temp).map_err(io_error)?;
    }
    temp.commit().map_err(io_error)
}

fn open(path: &Path) -> Result<(File, u64), Error> {
    let file = File::open(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => Error::Missing {
            path: path.to_path_buf(),
        },
        _ => Error::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let len = file
        .metadata()
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    Ok((file, len))
}

fn decode_labels(reader: impl Read, path: &Path, file_len: Option<u64>) -> Result<Vec<u8>, Error> {
    let (_, labels) = decode(reader, path, file_len, LABELS_MAGIC, 1)?;
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

fn decode_images(reader: impl Read, path: &Path, file_len: Option<u64>) -> Result<Images, Error> {
    let (dims, pixels) = decode(reader, path, file_len, IMAGES_MAGIC, 3)?;
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

/// Detects gzip, then reads the header and exactly the data it announces.
fn decode(
    reader: impl Read,
    path: &Path,
    file_len: Option<u64>,
    magic: u32,
    ndims: usize,
) -> Result<(Vec<u32>, Vec<u8>), Error> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let head = reader.fill_buf().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if head.starts_with(&GZIP_MAGIC) {
        let corrupt = |source| Error::CorruptGzip {
            path: path.to_path_buf(),
            source,
        };
        decode_raw(GzDecoder::new(reader), path, None, magic, ndims, &corrupt)
    } else {
        let io_error = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        decode_raw(reader, path, file_len, magic, ndims, &io_error)
    }
}

fn decode_raw(
    mut reader: impl Read,
    path: &Path,
    file_len: Option<u64>,
    magic: u32,
    ndims: usize,
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

    // Check the announced size against the file before allocating anything.
    let available = file_len.map(|len| len.saturating_sub(header_len as u64));
    if let Some(available) = available
        && expected > u128::from(available)
    {
        return Err(truncated(available));
    }
    let limit = u64::try_from(expected).unwrap_or(u64::MAX);
    let capacity = usize::try_from(limit).unwrap_or(usize::MAX);
    let capacity = if available.is_some() {
        capacity
    } else {
        capacity.min(MAX_UNCHECKED_CAPACITY)
    };
    let mut data = Vec::with_capacity(capacity);
    (&mut reader)
        .take(limit)
        .read_to_end(&mut data)
        .map_err(read_error)?;
    if (data.len() as u128) < expected {
        return Err(truncated(data.len() as u64));
    }
    let extra = io::copy(&mut reader, &mut io::sink()).map_err(read_error)?;
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
