//! The book's weight files: NumPy `.npz`/`.npy` and Python pickles of NumPy arrays, read within
//! bounds.
//!
//! *Deep Learning from Scratch* publishes its trained parameters as a pickled dict of NumPy
//! arrays (`params.pkl`, keys `W1`, `b1`, `W2`...); the same arrays saved by `numpy.savez` make
//! a `.npz`. The caller says which arrays it expects ([`Expected`]: names, shapes, accepted
//! float types) and gets them as `f64` in C order ([`Arrays`]), or an [`Error`] that names the
//! file and the array and says what to do.
//!
//! ```no_run
//! use book_weights::{Expected, Float};
//!
//! let floats = [Float::F32, Float::F64];
//! let expected = Expected::new()
//!     .array("W1", &[784, 50], &floats)
//!     .array("b1", &[50], &floats);
//! let arrays = book_weights::read("sample_weight.npz".as_ref(), &expected)?;
//! assert_eq!(arrays.get("W1").unwrap().data.len(), 784 * 50);
//! # Ok::<(), book_weights::Error>(())
//! ```
//!
//! # Headers first, data within what the expected shapes need
//!
//! Every file is read in two passes. The first reads only the structure: the zip archive's
//! central directory and each entry's `.npy` header, or the pickle's opcodes (the bytes of the
//! arrays skipped, their place noted). Names, shapes and dtypes are then checked against the
//! expected ones (all of them, so that an error can list what the file holds:
//! [`Error::found`]). Only then is data read, array by array, exactly the bytes the expected
//! shape makes:
//!
//! - `.npy` header: its declared length is bounded ([`Limits::max_npy_header`], NumPy's own
//!   10 000 bytes) before it is allocated; the dict is parsed without recursion; shapes whose
//!   element count overflows are refused.
//! - `.npz`: each entry's declared uncompressed size must be exactly what its header and shape
//!   make, or the array is refused before its data is decompressed; the data is read through a
//!   bound of that size (plus the one byte where the zip reader checks the CRC-32), so a zip bomb
//!   inflates no further. At most [`Limits::max_arrays`] entries.
//! - Pickle: the machine of the first pass holds small stand-ins, never the arrays' bytes, and is
//!   bounded in nesting depth, MARKs open at once, stack items, memo entries and the bytes its
//!   structure takes ([`PickleLimits`]). It does not recurse, so no nesting overflows the stack.
//! - A path that is not a regular file (a folder, a named pipe, a device) is refused without
//!   being read, and a named pipe is never opened in a blocking way.
//!
//! So the memory a read takes is the expected arrays (as `f64`) plus a bounded structure, what
//! ever the file holds.
//!
//! # Why not npyz and serde-pickle
//!
//! The reading of zip archives is the zip crate's (its central directory parsing, deflate, CRC).
//! The two other formats are read here, small as they are, because the crates at hand cannot be
//! bounded from outside:
//!
//! - npyz allocates the header length the file declares (the 4 GB of a length of `0xFFFF_FFF0`),
//!   parses the header with a recursive Python-literal parser, and multiplies the shape without
//!   checking for overflow (a panic in debug builds). Bounding all three would take parsing the
//!   header first, which is all there is to it: a dict of three keys.
//! - serde-pickle materialises every `bytes` before any shape can be looked at, allocates a
//!   128-slot vector per MARK (the 4 GB of a million MARKs), clones memoised values on each
//!   fetch, and recurses over nested values (the stack overflow of a 10 000-deep pickle). A
//!   pre-scan that bounds all of that has to simulate the same stack machine, at which point the
//!   arrays' shapes, dtypes and places are known and serde-pickle would only parse the file a
//!   second time. Nor could it write the book's pickles (NumPy arrays are pickled as calls to
//!   NumPy's functions, outside serde's data model).
//!
//! # Writing
//!
//! [`write_npy`], [`write_npz`] and [`pickle_bytes`] write the same formats, one module beside
//! each reader's (`write`): a `.npy` header exactly as NumPy writes it, an `.npz` through the
//! zip crate's `ZipWriter`, and a pickle of the opcodes this reader recognises (`_reconstruct`,
//! `dtype`, `BUILD`), so that `numpy.load`, `pickle.load` and the book's `load_params` read the
//! parameters of a network trained here ([`NamedArray`]: a name, a shape, `float32` or `float64`
//! values in C order).

mod dtype;
mod error;
mod npy;
mod npz;
mod pickle;
mod source;
mod write;

use std::fmt::Display;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

pub use dtype::{DType, Float};
pub use error::{Error, Mismatch, NpyProblem, PickleProblem};
pub use write::{
    Data, NamedArray, WriteError, npz_bytes, pickle_bytes, write_npy, write_npz, write_pickle,
};

/// The format of a weight file, told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A NumPy `.npz`: a zip archive of `.npy` files (`PK`).
    Npz,
    /// A single NumPy `.npy` array (`\x93NUMPY`).
    Npy,
    /// A Python pickle of protocol 2 or higher (`\x80`).
    Pickle,
}

impl Format {
    /// The format of a file that starts with `first` (its first 8 bytes, or fewer if the file is
    /// shorter), if it is one of these.
    pub fn sniff(first: &[u8]) -> Option<Format> {
        if first.starts_with(b"PK") {
            Some(Format::Npz)
        } else if first.starts_with(npy::MAGIC) {
            Some(Format::Npy)
        } else if first.first() == Some(&0x80) {
            Some(Format::Pickle)
        } else {
            None
        }
    }
}

/// An array a caller expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArraySpec {
    /// Its name (the `.npz` entry without `.npy`, the pickled dict's key).
    pub name: String,
    /// Its shape, as NumPy gives it.
    pub shape: Vec<usize>,
    /// The element types accepted.
    pub accepts: Vec<Float>,
}

impl ArraySpec {
    /// Bytes of data of this array in `float`, if the count fits in 64 bits.
    fn data_bytes(&self, float: Float) -> Option<u64> {
        self.shape
            .iter()
            .try_fold(float.size() as u64, |n, &d| n.checked_mul(d as u64))
    }
}

/// The arrays a caller expects, in its order: a file must hold exactly these (no array missing,
/// none left over), each of its shape and of an accepted type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    arrays: Vec<ArraySpec>,
}

impl Expected {
    /// No array yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// And the array `name` of `shape`, in one of the types of `accepts`.
    pub fn array(mut self, name: impl Into<String>, shape: &[usize], accepts: &[Float]) -> Self {
        self.arrays.push(ArraySpec {
            name: name.into(),
            shape: shape.to_vec(),
            accepts: accepts.to_vec(),
        });
        self
    }

    /// The arrays, in order.
    pub fn arrays(&self) -> &[ArraySpec] {
        &self.arrays
    }

    /// The names, space-separated.
    fn names(&self) -> String {
        let names: Vec<&str> = self.arrays.iter().map(|a| a.name.as_str()).collect();
        names.join(" ")
    }

    /// Whether `found` (a file's arrays as [`Error::found`] lists them) is exactly these arrays:
    /// the same names, each of the expected shape and of an accepted type.
    pub fn matches(&self, found: &[ArrayInfo]) -> bool {
        found.len() == self.arrays.len()
            && self.arrays.iter().all(|spec| {
                found.iter().any(|info| {
                    info.name == spec.name
                        && same_shape(&info.shape, &spec.shape)
                        && info
                            .dtype
                            .float()
                            .is_some_and(|(float, _)| spec.accepts.contains(&float))
                })
            })
    }
}

fn same_shape(found: &[u64], expected: &[usize]) -> bool {
    found.len() == expected.len() && found.iter().zip(expected).all(|(&f, &e)| f == e as u64)
}

/// An array as a file's headers declare it, before any data is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayInfo {
    /// Its name (for a lone `.npy` or a pickle of one array: the file's name without extension).
    pub name: String,
    /// Its shape.
    pub shape: Vec<u64>,
    /// Its element type.
    pub dtype: DType,
    /// Whether its data is in Fortran (column-major) order.
    pub fortran_order: bool,
}

/// An array read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// Its name.
    pub name: String,
    /// Its shape (the expected one).
    pub shape: Vec<usize>,
    /// Its element type in the file.
    pub dtype: DType,
    /// Its values in C order (row-major: the last index varies fastest), converted to `f64`
    /// exactly; an array stored in Fortran order is reordered.
    pub data: Vec<f64>,
}

/// The arrays read from a file, in the order of the [`Expected`] arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrays {
    arrays: Vec<Array>,
}

impl Arrays {
    /// The array named `name`.
    pub fn get(&self, name: &str) -> Option<&Array> {
        self.arrays.iter().find(|a| a.name == name)
    }

    /// The arrays, in the expected order.
    pub fn iter(&self) -> std::slice::Iter<'_, Array> {
        self.arrays.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.arrays.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.arrays.is_empty()
    }

    /// The arrays, in the expected order.
    pub fn into_vec(self) -> Vec<Array> {
        self.arrays
    }
}

impl IntoIterator for Arrays {
    type Item = Array;
    type IntoIter = std::vec::IntoIter<Array>;

    fn into_iter(self) -> Self::IntoIter {
        self.arrays.into_iter()
    }
}

/// The bounds of the pickle machine. A dict of arrays as Python pickles it (protocols 2 to 5, the
/// book's files among them) needs depth 5, 3 MARKs, a stack of under 20 items, and per array
/// under 20 memo entries and 3 KB of structure (measured by the tests): the defaults leave room
/// for thousands of arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PickleLimits {
    /// How deep containers may nest (a tuple in a tuple is 2).
    pub max_depth: usize,
    /// How many MARKs may be open at once.
    pub max_marks: usize,
    /// How many items the stack may hold (above and below all MARKs).
    pub max_stack: usize,
    /// How many entries the memo may hold.
    pub max_memo: usize,
    /// How many bytes the structure may take: every object's stand-in, container slots, short
    /// text, memo entries; not the arrays' data, which stays in the file until read.
    pub max_structure_bytes: usize,
    /// Text and bytes up to this length are kept (names, module names, dtype strings); longer
    /// ones are only located.
    pub max_short_string: usize,
}

impl Default for PickleLimits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_marks: 64,
            max_stack: 10_000,
            max_memo: 100_000,
            max_structure_bytes: 16 << 20,
            max_short_string: 256,
        }
    }
}

/// The bounds of a read; [`Limits::default`] fits any file of weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How many arrays a file may hold.
    pub max_arrays: usize,
    /// How long a `.npy` header's text may be (NumPy reads at most 10 000 bytes).
    pub max_npy_header: usize,
    /// The pickle machine's bounds.
    pub pickle: PickleLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_arrays: 4096,
            max_npy_header: 10_000,
            pickle: PickleLimits::default(),
        }
    }
}

/// Reads the `expected` arrays from the file at `path` (`.npz`, `.npy` or pickle, told by its
/// first bytes) within [`Limits::default`].
///
/// # Errors
/// See [`Error`]: the file cannot be opened or is not a regular file, is of another format, is
/// truncated or damaged, exceeds a bound, or does not hold exactly the expected arrays.
pub fn read(path: &Path, expected: &Expected) -> Result<Arrays, Error> {
    Limits::default().read(path, expected)
}

/// The arrays the file at `path` holds, from its headers, without reading their data, within
/// [`Limits::default`].
///
/// # Errors
/// As [`read`], but for the comparison with expected arrays.
pub fn inventory(path: &Path) -> Result<Vec<ArrayInfo>, Error> {
    Limits::default().inventory(path)
}

/// An array found in a file's headers, and where its data is.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// `None` for a lone array.
    pub name: Option<String>,
    pub shape: Vec<u64>,
    pub dtype: DType,
    pub fortran: bool,
    pub location: Location,
}

impl Found {
    fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("(the only one)")
    }

    fn info(&self, path: &Path) -> ArrayInfo {
        let name = self.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(|| "array".to_owned(), |s| s.to_string_lossy().into_owned())
        });
        ArrayInfo {
            name,
            shape: self.shape.clone(),
            dtype: self.dtype.clone(),
            fortran_order: self.fortran,
        }
    }
}

/// Where an array's data is.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    /// Entry `index` of the archive; its header takes `header_len` bytes, the entry declares
    /// `declared` bytes uncompressed.
    Npz {
        index: usize,
        header_len: u64,
        declared: u64,
    },
    /// After `header_len` bytes of a `.npy` file.
    Npy { header_len: u64 },
    /// In the pickle.
    Pickle(pickle::Blob),
}

/// A file whose headers are read.
enum Opened<R> {
    Npz(npz::Archive<R>),
    Single(R, u64),
}

impl Limits {
    /// Reads the `expected` arrays from the file at `path` within these limits; see [`read`].
    ///
    /// # Errors
    /// See [`read`].
    pub fn read(&self, path: &Path, expected: &Expected) -> Result<Arrays, Error> {
        let (file, _) = source::open(path)?;
        self.read_from(file, path, expected)
    }

    /// Reads the `expected` arrays from `source`, a whole file, named `path` in errors.
    ///
    /// # Errors
    /// See [`read`].
    pub fn read_from<R: Read + Seek>(
        &self,
        source: R,
        path: &Path,
        expected: &Expected,
    ) -> Result<Arrays, Error> {
        let (mut opened, found) = self.scan(source, path)?;
        let found = check(path, expected, found)?;
        let mut arrays = Vec::with_capacity(found.len());
        for (spec, found) in expected.arrays.iter().zip(&found) {
            let data = load(&mut opened, path, spec, found)?;
            arrays.push(Array {
                name: spec.name.clone(),
                shape: spec.shape.clone(),
                dtype: found.dtype.clone(),
                data,
            });
        }
        Ok(Arrays { arrays })
    }

    /// The arrays the file at `path` holds; see [`inventory`].
    ///
    /// # Errors
    /// See [`inventory`].
    pub fn inventory(&self, path: &Path) -> Result<Vec<ArrayInfo>, Error> {
        let (file, _) = source::open(path)?;
        self.inventory_from(file, path)
    }

    /// The arrays `source` (a whole file, named `path` in errors) holds, from its headers.
    ///
    /// # Errors
    /// See [`inventory`].
    pub fn inventory_from<R: Read + Seek>(
        &self,
        source: R,
        path: &Path,
    ) -> Result<Vec<ArrayInfo>, Error> {
        let (_, found) = self.scan(source, path)?;
        Ok(found.iter().map(|f| f.info(path)).collect())
    }

    /// The first pass: the headers of every array of the file.
    fn scan<R: Read + Seek>(
        &self,
        mut source: R,
        path: &Path,
    ) -> Result<(Opened<R>, Vec<Found>), Error> {
        let io_error = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let len = source.seek(SeekFrom::End(0)).map_err(io_error)?;
        source.seek(SeekFrom::Start(0)).map_err(io_error)?;
        let mut first = [0u8; 8];
        let n = npy::read_up_to(&mut source, &mut first).map_err(io_error)?;
        if n == 0 {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        source.seek(SeekFrom::Start(0)).map_err(io_error)?;
        let Some(format) = Format::sniff(&first[..n]) else {
            return Err(Error::UnknownFormat {
                path: path.to_path_buf(),
            });
        };
        match format {
            Format::Npz => {
                let mut archive = npz::open(source, path)?;
                let found = npz::scan(&mut archive, path, self)?;
                Ok((Opened::Npz(archive), found))
            }
            Format::Npy => {
                let header = {
                    let mut reader = BufReader::new(&mut source);
                    npy::read_header(&mut reader, self.max_npy_header)
                        .map_err(|e| npz::header_error(path, "its array", e))?
                };
                let found = Found {
                    name: None,
                    shape: header.shape,
                    dtype: header.dtype,
                    fortran: header.fortran,
                    location: Location::Npy {
                        header_len: header.len,
                    },
                };
                Ok((Opened::Single(source, len), vec![found]))
            }
            Format::Pickle => {
                let arrays =
                    pickle::scan(&mut source, len, &self.pickle).map_err(|stop| match stop {
                        pickle::Stop::Truncated => Error::Truncated {
                            path: path.to_path_buf(),
                            what: "the pickle".to_owned(),
                        },
                        pickle::Stop::Io(source) => io_error(source),
                        pickle::Stop::Problem(offset, problem) => Error::Pickle {
                            path: path.to_path_buf(),
                            offset,
                            problem,
                        },
                    })?;
                if arrays.len() > self.max_arrays {
                    return Err(Error::TooManyArrays {
                        path: path.to_path_buf(),
                        limit: self.max_arrays,
                    });
                }
                let found = arrays
                    .into_iter()
                    .map(|a| Found {
                        name: a.name,
                        shape: a.shape,
                        dtype: a.dtype,
                        fortran: a.fortran,
                        location: Location::Pickle(a.data),
                    })
                    .collect();
                Ok((Opened::Single(source, len), found))
            }
        }
    }
}

/// `(2, 3)`, `(3,)`, `()`: a shape as Python writes it.
pub(crate) fn shape_text<T: Display>(shape: &[T]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(T::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// The arrays found, checked against the expected ones and put in their order: the names, then
/// the shapes, then the dtypes.
fn check(path: &Path, expected: &Expected, mut found: Vec<Found>) -> Result<Vec<Found>, Error> {
    // What the file holds, as the inventory lists it (a lone array under the file's name).
    let infos: Vec<ArrayInfo> = found.iter().map(|f| f.info(path)).collect();
    if let [lone] = found.as_mut_slice()
        && lone.name.is_none()
    {
        match expected.arrays.as_slice() {
            [only] => lone.name = Some(only.name.clone()),
            _ => {
                return Err(Error::LoneArray {
                    path: path.to_path_buf(),
                    expected: expected.arrays.len(),
                    names: expected.names(),
                });
            }
        }
    }
    for (i, f) in found.iter().enumerate() {
        if found[..i].iter().any(|g| g.name == f.name) {
            return Err(Error::Duplicate {
                path: path.to_path_buf(),
                name: f.display_name().to_owned(),
            });
        }
    }
    let mismatch = |problem| Error::Mismatch {
        path: path.to_path_buf(),
        found: infos.clone(),
        problem: Box::new(problem),
    };
    let find = |name: &str| found.iter().position(|f| f.name.as_deref() == Some(name));
    let missing: Vec<String> = expected
        .arrays
        .iter()
        .filter(|spec| find(&spec.name).is_none())
        .map(|spec| spec.name.clone())
        .collect();
    let extra: Vec<String> = found
        .iter()
        .filter(|f| {
            !expected
                .arrays
                .iter()
                .any(|spec| f.name.as_deref() == Some(&spec.name))
        })
        .map(|f| f.display_name().to_owned())
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Err(mismatch(Mismatch::Names {
            found: found.iter().map(|f| f.display_name().to_owned()).collect(),
            expected: expected.arrays.iter().map(|a| a.name.clone()).collect(),
            missing,
            extra,
        }));
    }
    for spec in &expected.arrays {
        let f = &found[find(&spec.name).expect("no name is missing")];
        if !same_shape(&f.shape, &spec.shape) {
            return Err(mismatch(Mismatch::Shape {
                name: spec.name.clone(),
                found: f.shape.clone(),
                expected: spec.shape.clone(),
            }));
        }
    }
    for spec in &expected.arrays {
        let f = &found[find(&spec.name).expect("no name is missing")];
        let accepted = f
            .dtype
            .float()
            .is_some_and(|(float, _)| spec.accepts.contains(&float));
        if !accepted {
            return Err(mismatch(Mismatch::DType {
                name: spec.name.clone(),
                found: f.dtype.clone(),
                accepted: spec.accepts.clone(),
            }));
        }
    }
    let mut ordered = Vec::with_capacity(found.len());
    for spec in &expected.arrays {
        let i = find(&spec.name).expect("no name is missing");
        ordered.push(found[i].clone());
    }
    Ok(ordered)
}

/// The second pass: the data of one array whose header is checked against `spec`.
fn load<R: Read + Seek>(
    opened: &mut Opened<R>,
    path: &Path,
    spec: &ArraySpec,
    found: &Found,
) -> Result<Vec<f64>, Error> {
    let (float, _) = found.dtype.float().expect("the dtype is checked");
    let what = format!("array {}", spec.name);
    let damaged = |reason: String| Error::Damaged {
        path: path.to_path_buf(),
        what: what.clone(),
        reason,
    };
    let data_bytes = spec
        .data_bytes(float)
        .ok_or_else(|| damaged("it declares more elements than can be counted".to_owned()))?;
    let io_error = |e: io::Error| npz::data_error(path, &what, e);
    match (opened, &found.location) {
        (Opened::Npz(archive), _) => npz::load(archive, path, found, &spec.shape, data_bytes),
        (Opened::Single(source, len), Location::Npy { header_len }) => {
            let needed = header_len.saturating_add(data_bytes);
            if *len < needed {
                return Err(Error::Truncated {
                    path: path.to_path_buf(),
                    what,
                });
            }
            if *len > needed {
                return Err(damaged(format!(
                    "it holds {} bytes after the data its header declares",
                    *len - needed
                )));
            }
            source
                .seek(SeekFrom::Start(*header_len))
                .map_err(io_error)?;
            let mut reader = BufReader::new(source).take(data_bytes);
            npy::decode(&mut reader, &spec.shape, &found.dtype, found.fortran).map_err(io_error)
        }
        (Opened::Single(source, _), Location::Pickle(blob)) => {
            let size_error = |len: u64| {
                damaged(format!(
                    "it holds {len} bytes where its shape and dtype make {data_bytes}"
                ))
            };
            if blob.latin1 {
                let bytes =
                    pickle::latin1_bytes(source, *blob, data_bytes).map_err(|e| match e {
                        pickle::BlobError::Size(len) => size_error(len),
                        pickle::BlobError::Text => damaged(
                            "its data, pickled as latin-1 text, holds another character".to_owned(),
                        ),
                        pickle::BlobError::Io(e) => io_error(e),
                    })?;
                npy::decode(&mut &bytes[..], &spec.shape, &found.dtype, found.fortran)
                    .map_err(io_error)
            } else {
                if blob.len != data_bytes {
                    return Err(size_error(blob.len));
                }
                source
                    .seek(SeekFrom::Start(blob.offset))
                    .map_err(io_error)?;
                let mut reader = BufReader::new(source).take(data_bytes);
                npy::decode(&mut reader, &spec.shape, &found.dtype, found.fortran).map_err(io_error)
            }
        }
        (Opened::Single(..), Location::Npz { .. }) => unreachable!("an archive's array"),
    }
}
