//! NumPy's `.npz`: a zip archive (stored by `numpy.savez`, deflated by
//! `numpy.savez_compressed`) of one `.npy` file per array, named after it (`W1.npy`).
//!
//! The zip crate reads the central directory; every entry's name, compression and declared size
//! are looked at there, then its `.npy` header is decompressed (at most the header's bound). The
//! data of an array is read only once every header is checked, and only when the size its entry
//! declares is exactly what its header and the expected shape make: decompression stops there
//! (and one byte further, where the zip reader checks the CRC-32), whatever the entry inflates to.

use std::io::{self, BufReader, Read, Seek};
use std::path::Path;

use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

use crate::npy::{self, HeaderError};
use crate::{Error, Found, Limits, Location};

/// An open archive.
pub(crate) type Archive<R> = ZipArchive<BufReader<R>>;

/// Opens the archive in `source` (reading its central directory).
pub(crate) fn open<R: Read + Seek>(source: R, path: &Path) -> Result<Archive<R>, Error> {
    ZipArchive::new(BufReader::new(source)).map_err(|e| zip_error(path, e))
}

fn zip_error(path: &Path, error: ZipError) -> Error {
    match error {
        ZipError::Io(source) if source.kind() == io::ErrorKind::UnexpectedEof => Error::Truncated {
            path: path.to_path_buf(),
            what: "the zip archive".to_owned(),
        },
        ZipError::Io(source) => Error::Io {
            path: path.to_path_buf(),
            source,
        },
        other => Error::Zip {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    }
}

/// The name of the array an entry holds: its file name without `.npy`.
fn array_name(entry: &str) -> &str {
    entry.strip_suffix(".npy").unwrap_or(entry)
}

/// The header of every array of the archive.
pub(crate) fn scan<R: Read + Seek>(
    archive: &mut Archive<R>,
    path: &Path,
    limits: &Limits,
) -> Result<Vec<Found>, Error> {
    if archive.len() > limits.max_arrays {
        return Err(Error::TooManyArrays {
            path: path.to_path_buf(),
            limit: limits.max_arrays,
        });
    }
    let mut found = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let (name, declared) = {
            let entry = archive
                .by_index_data(index)
                .map_err(|e| zip_error(path, e))?;
            let name = entry.name().map_err(|e| zip_error(path, e))?;
            let name = array_name(&name).to_owned();
            let refuse = |reason: String| Error::Zip {
                path: path.to_path_buf(),
                reason,
            };
            if entry.encrypted() {
                return Err(refuse(format!("array {name} is encrypted")));
            }
            if !matches!(
                entry.compression(),
                CompressionMethod::Stored | CompressionMethod::Deflated
            ) {
                return Err(refuse(format!(
                    "array {name} is compressed with a method other than the stored and \
                     deflated entries NumPy writes"
                )));
            }
            (name, entry.size())
        };
        let what = format!("array {name}");
        let mut entry = archive.by_index(index).map_err(|e| zip_error(path, e))?;
        // The magic, version and length (12 bytes at most), then the text.
        let bound = 12 + limits.max_npy_header as u64;
        let header = npy::read_header(&mut (&mut entry).take(bound), limits.max_npy_header)
            .map_err(|e| header_error(path, &what, e))?;
        found.push(Found {
            name: Some(name),
            shape: header.shape,
            dtype: header.dtype,
            fortran: header.fortran,
            location: Location::Npz {
                index,
                header_len: header.len,
                declared,
            },
        });
    }
    Ok(found)
}

/// The error of a header that could not be read.
pub(crate) fn header_error(path: &Path, what: &str, error: HeaderError) -> Error {
    match error {
        HeaderError::Problem(problem) => Error::Npy {
            path: path.to_path_buf(),
            what: what.to_owned(),
            problem,
        },
        HeaderError::Io(e) => data_error(path, what, e),
    }
}

/// The error of data that could not be read: an early end, or damage the zip reader found
/// (a CRC-32 that does not match, a deflate stream that cannot be decoded).
pub(crate) fn data_error(path: &Path, what: &str, error: io::Error) -> Error {
    match error.kind() {
        io::ErrorKind::UnexpectedEof => Error::Truncated {
            path: path.to_path_buf(),
            what: what.to_owned(),
        },
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::Other => {
            let reason = error.to_string();
            Error::Damaged {
                path: path.to_path_buf(),
                what: what.to_owned(),
                reason: if reason.contains("checksum") {
                    "its checksum (CRC-32) does not match its data".to_owned()
                } else if reason.contains("larger than its declared") {
                    "it inflates to more than the size its entry declares".to_owned()
                } else {
                    reason
                },
            }
        }
        _ => Error::Io {
            path: path.to_path_buf(),
            source: error,
        },
    }
}

/// The data of the array at `found`, whose header is checked: `shape` (expected) in C order.
pub(crate) fn load<R: Read + Seek>(
    archive: &mut Archive<R>,
    path: &Path,
    found: &Found,
    shape: &[usize],
    data_bytes: u64,
) -> Result<Vec<f64>, Error> {
    let Location::Npz {
        index,
        header_len,
        declared,
    } = found.location
    else {
        unreachable!("an array of an archive");
    };
    let what = format!("array {}", found.display_name());
    let needed = header_len.saturating_add(data_bytes);
    if declared != needed {
        return Err(Error::Damaged {
            path: path.to_path_buf(),
            what,
            reason: format!(
                "its entry declares {declared} bytes where its header and shape make {needed}"
            ),
        });
    }
    let mut entry = archive.by_index(index).map_err(|e| zip_error(path, e))?;
    // The data and one byte more: there the entry must end (and the zip reader checks its
    // CRC-32); nothing further is decompressed.
    let mut limited = (&mut entry).take(needed + 1);
    let skipped = io::copy(&mut (&mut limited).take(header_len), &mut io::sink())
        .map_err(|e| data_error(path, &what, e))?;
    if skipped < header_len {
        return Err(data_error(path, &what, io::ErrorKind::UnexpectedEof.into()));
    }
    let values = npy::decode(&mut limited, shape, &found.dtype, found.fortran)
        .map_err(|e| data_error(path, &what, e))?;
    let mut one = [0u8; 1];
    match limited.read(&mut one) {
        Ok(0) => Ok(values),
        Ok(_) => Err(Error::Damaged {
            path: path.to_path_buf(),
            what,
            reason: "it holds more data than its header declares".to_owned(),
        }),
        Err(e) => Err(data_error(path, &what, e)),
    }
}
