//! Writing the book's formats: a `.npy` array, a `.npz` archive of them (what `numpy.savez`
//! writes) and a pickled dict of NumPy arrays (what the book's `save_params` writes), so that
//! `numpy.load`, `pickle.load` and the book's `load_params` read what a network trained here
//! learned.
//!
//! - `.npy`: format 1.0 (2.0 only for a header over 65 535 bytes), the header NumPy itself writes,
//!   byte for byte: `{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }`, the 21 − n
//!   spare spaces NumPy leaves after it, then spaces and a newline up to a multiple of 64 bytes;
//!   then the data, little-endian, in C order.
//! - `.npz`: one stored (uncompressed) zip entry `NAME.npy` per array, dated 1980-01-01 as NumPy
//!   dates them, through the zip crate's `ZipWriter`.
//! - Pickle: protocol 3 (Python 3's `bytes`, which every Python 3 reads), a dict whose values are
//!   the calls NumPy's own pickles make: `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,),
//!   b'b')`, then its state `(1, shape, numpy.dtype('f8', False, True) with its state (3, '<',
//!   None, None, None, -1, -1, 0), False, data)`. `numpy.core.multiarray` is the module the book's
//!   own `params.pkl` names; NumPy 1 has it, and NumPy 2 keeps `_reconstruct` there for such
//!   pickles. No memo is written: a pickle need not memoise anything.
//!
//! Every array is checked before anything is written: a name of visible ASCII characters other
//! than `/` and `\` (the name is an entry's file name in the archive), no name twice, as many
//! values as the shape makes.

use std::io::{self, Seek, Write};

use crate::Float;

/// The values of an array to write, in C order (row-major: the last index varies fastest).
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// Written as `float32` (`'<f4'`).
    F32(Vec<f32>),
    /// Written as `float64` (`'<f8'`).
    F64(Vec<f64>),
}

impl Data {
    /// How many values.
    pub fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn float(&self) -> Float {
        match self {
            Data::F32(_) => Float::F32,
            Data::F64(_) => Float::F64,
        }
    }

    /// The values as little-endian bytes.
    fn le_bytes(&self) -> Vec<u8> {
        match self {
            Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// An array to write: its name, its NumPy shape and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedArray {
    /// The dict key, or the archive entry without `.npy`.
    pub name: String,
    /// The shape, as NumPy gives it (`()` for a scalar).
    pub shape: Vec<usize>,
    /// The values, in C order.
    pub data: Data,
}

impl NamedArray {
    /// The array `name` of `shape` holding `data`.
    pub fn new(name: impl Into<String>, shape: &[usize], data: Data) -> Self {
        Self {
            name: name.into(),
            shape: shape.to_vec(),
            data,
        }
    }
}

/// Why arrays could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// A name is empty, or holds a character that cannot be a file name in an archive.
    #[error(
        "the array name {0:?} cannot be written: use visible ASCII characters other than / and \\"
    )]
    Name(String),
    /// Two arrays have the same name.
    #[error("two arrays are named {0}: a dict holds each key once")]
    Duplicate(String),
    /// The values are not as many as the shape makes.
    #[error("array {name} has {len} values where its shape {shape} makes {expected}")]
    Length {
        /// The array.
        name: String,
        /// Its shape, as Python writes it.
        shape: String,
        /// The values its shape makes (`None` beyond 64 bits).
        expected: String,
        /// The values given.
        len: usize,
    },
    /// An array is too large for the format (a pickle of protocol 3 holds at most 4 GiB of
    /// bytes per array).
    #[error("array {name} holds {bytes} bytes, more than {limit} that a {format} can hold")]
    TooLarge {
        /// The array.
        name: String,
        /// Its bytes.
        bytes: u64,
        /// The format's limit.
        limit: u64,
        /// The format.
        format: &'static str,
    },
    /// Writing failed.
    #[error("cannot write: {0}")]
    Io(#[from] io::Error),
    /// The zip archive could not be written.
    #[error("cannot write the .npz archive: {0}")]
    Zip(#[from] zip::result::ZipError),
}

/// Checks every array: names, uniqueness, value counts.
fn check(arrays: &[NamedArray]) -> Result<(), WriteError> {
    for (i, array) in arrays.iter().enumerate() {
        let name = &array.name;
        let visible = |c: char| c.is_ascii_graphic() && c != '/' && c != '\\';
        if name.is_empty() || !name.chars().all(visible) {
            return Err(WriteError::Name(name.clone()));
        }
        if arrays[..i].iter().any(|other| &other.name == name) {
            return Err(WriteError::Duplicate(name.clone()));
        }
        check_length(array)?;
    }
    Ok(())
}

fn check_length(array: &NamedArray) -> Result<(), WriteError> {
    let expected = array
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d));
    if expected != Some(array.data.len()) {
        return Err(WriteError::Length {
            name: array.name.clone(),
            shape: crate::shape_text(&array.shape),
            expected: expected.map_or_else(|| "more than 2^64".to_owned(), |n| n.to_string()),
            len: array.data.len(),
        });
    }
    Ok(())
}

/// NumPy's type string of `float`, little-endian.
fn descr(float: Float) -> &'static str {
    match float {
        Float::F32 => "<f4",
        Float::F64 => "<f8",
    }
}

/// The `.npy` header of an array of `shape` in `float`, as `numpy.lib.format` writes it.
fn npy_header(shape: &[usize], float: Float) -> Vec<u8> {
    // NumPy's `_write_array_header`: the dict's items sorted by key, each followed by ", ".
    let mut text = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        descr(float),
        crate::shape_text(shape)
    );
    // Room to grow the first axis in place (NumPy's GROWTH_AXIS_MAX_DIGITS, 21).
    if let Some(first) = shape.first() {
        text.extend(std::iter::repeat_n(
            ' ',
            21usize.saturating_sub(first.to_string().len()),
        ));
    }
    // `_wrap_header`: the text, spaces, a newline, so that the data starts at a multiple of 64.
    // Version 1.0 while its 2-byte length holds the header, else 2.0 (a 4-byte length).
    let hlen = text.len() + 1;
    let (version, prefix) = if hlen + (64 - (10 + hlen) % 64) <= usize::from(u16::MAX) {
        (1u8, 10)
    } else {
        (2u8, 12)
    };
    let pad = 64 - (prefix + hlen) % 64;
    let mut out = Vec::with_capacity(prefix + hlen + pad);
    out.extend_from_slice(crate::npy::MAGIC);
    out.extend([version, 0]);
    let len = hlen + pad;
    if version == 1 {
        out.extend((len as u16).to_le_bytes());
    } else {
        out.extend((len as u32).to_le_bytes());
    }
    out.extend(text.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    out
}

/// Writes `array` as a `.npy` file to `w` (its name is not written).
///
/// # Errors
/// [`WriteError::Length`] if the values are not as many as the shape makes;
/// [`WriteError::Io`] if writing fails.
pub fn write_npy(w: &mut impl Write, array: &NamedArray) -> Result<(), WriteError> {
    check_length(array)?;
    w.write_all(&npy_header(&array.shape, array.data.float()))?;
    w.write_all(&array.data.le_bytes())?;
    Ok(())
}

/// Writes `arrays` as a `.npz` archive to `w`, as `numpy.savez(file, **arrays)` does: one
/// stored entry `NAME.npy` each, in the order given.
///
/// # Errors
/// See [`WriteError`]; nothing is written before every array is checked.
pub fn write_npz<W: Write + Seek>(w: W, arrays: &[NamedArray]) -> Result<W, WriteError> {
    check(arrays)?;
    let mut zip = zip::ZipWriter::new(w);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default())
        .large_file(true);
    for array in arrays {
        zip.start_file(format!("{}.npy", array.name), options)?;
        write_npy(&mut zip, array)?;
    }
    Ok(zip.finish()?)
}

/// The bytes of [`write_npz`].
///
/// # Errors
/// See [`write_npz`].
pub fn npz_bytes(arrays: &[NamedArray]) -> Result<Vec<u8>, WriteError> {
    Ok(write_npz(io::Cursor::new(Vec::new()), arrays)?.into_inner())
}

// The opcodes written (see `pickle.rs` for all of them).
const PROTO: u8 = 0x80;
const EMPTY_DICT: u8 = b'}';
const MARK: u8 = b'(';
const SETITEMS: u8 = b'u';
const STOP: u8 = b'.';
const BINUNICODE: u8 = b'X';
const GLOBAL: u8 = b'c';
const BININT1: u8 = b'K';
const BININT2: u8 = b'M';
const BININT: u8 = b'J';
const LONG1: u8 = 0x8a;
const NONE: u8 = b'N';
const NEWTRUE: u8 = 0x88;
const NEWFALSE: u8 = 0x89;
const EMPTY_TUPLE: u8 = b')';
const TUPLE: u8 = b't';
const TUPLE1: u8 = 0x85;
const TUPLE3: u8 = 0x87;
const REDUCE: u8 = b'R';
const BUILD: u8 = b'b';
const SHORT_BINBYTES: u8 = b'C';
const BINBYTES: u8 = b'B';

/// How many items each SETITEMS adds, as Python's pickler batches them.
const BATCH: usize = 1000;

/// A pickle being written.
struct Pickler {
    out: Vec<u8>,
}

impl Pickler {
    fn op(&mut self, op: u8) {
        self.out.push(op);
    }

    fn text(&mut self, s: &str) {
        self.op(BINUNICODE);
        self.out
            .extend((u32::try_from(s.len()).expect("a short name")).to_le_bytes());
        self.out.extend(s.as_bytes());
    }

    fn global(&mut self, module: &str, name: &str) {
        self.op(GLOBAL);
        self.out.extend(module.as_bytes());
        self.out.push(b'\n');
        self.out.extend(name.as_bytes());
        self.out.push(b'\n');
    }

    fn int(&mut self, n: i64) {
        match n {
            0..=0xff => {
                self.op(BININT1);
                self.out.push(n as u8);
            }
            0x100..=0xffff => {
                self.op(BININT2);
                self.out.extend((n as u16).to_le_bytes());
            }
            _ if i32::try_from(n).is_ok() => {
                self.op(BININT);
                self.out.extend((n as i32).to_le_bytes());
            }
            _ => {
                // LONG1: the two's complement, little-endian, in 8 bytes.
                self.op(LONG1);
                self.out.push(8);
                self.out.extend(n.to_le_bytes());
            }
        }
    }

    fn bytes(&mut self, data: &[u8]) {
        if let Ok(len) = u8::try_from(data.len()) {
            self.op(SHORT_BINBYTES);
            self.out.push(len);
        } else {
            self.op(BINBYTES);
            let len = u32::try_from(data.len()).expect("checked against the limit");
            self.out.extend(len.to_le_bytes());
        }
        self.out.extend(data);
    }

    /// `shape` as a tuple of integers.
    fn shape(&mut self, shape: &[usize]) {
        if shape.is_empty() {
            self.op(EMPTY_TUPLE);
            return;
        }
        self.op(MARK);
        for &d in shape {
            self.int(i64::try_from(d).expect("a dimension that fits in memory"));
        }
        self.op(TUPLE);
    }

    /// A NumPy array as NumPy's `ndarray.__reduce__` pickles it.
    fn array(&mut self, array: &NamedArray) {
        // _reconstruct(ndarray, (0,), b'b')
        self.global("numpy.core.multiarray", "_reconstruct");
        self.global("numpy", "ndarray");
        self.int(0);
        self.op(TUPLE1);
        self.bytes(b"b");
        self.op(TUPLE3);
        self.op(REDUCE);
        // .__setstate__((1, shape, dtype, False, data))
        self.op(MARK);
        self.int(1);
        self.shape(&array.shape);
        // dtype('f8', False, True) with its state (3, '<', None, None, None, -1, -1, 0)
        self.global("numpy", "dtype");
        self.text(&descr(array.data.float())[1..]);
        self.op(NEWFALSE);
        self.op(NEWTRUE);
        self.op(TUPLE3);
        self.op(REDUCE);
        self.op(MARK);
        self.int(3);
        self.text("<");
        self.op(NONE);
        self.op(NONE);
        self.op(NONE);
        self.int(-1);
        self.int(-1);
        self.int(0);
        self.op(TUPLE);
        self.op(BUILD);
        self.op(NEWFALSE); // not in Fortran order
        self.bytes(&array.data.le_bytes());
        self.op(TUPLE);
        self.op(BUILD);
    }
}

/// The bytes of a pickle (protocol 3) of the dict `{name: array}` of `arrays`, in their order,
/// as `pickle.dump(params, f)` writes the book's `params.pkl`.
///
/// # Errors
/// See [`WriteError`]; an array of more than 4 GiB − 1 bytes is refused.
pub fn pickle_bytes(arrays: &[NamedArray]) -> Result<Vec<u8>, WriteError> {
    check(arrays)?;
    for array in arrays {
        let bytes = (array.data.len() as u64).saturating_mul(array.data.float().size() as u64);
        let limit = u64::from(u32::MAX);
        if bytes > limit {
            return Err(WriteError::TooLarge {
                name: array.name.clone(),
                bytes,
                limit,
                format: "pickle of protocol 3",
            });
        }
    }
    let mut p = Pickler { out: Vec::new() };
    p.op(PROTO);
    p.out.push(3);
    p.op(EMPTY_DICT);
    for batch in arrays.chunks(BATCH) {
        p.op(MARK);
        for array in batch {
            p.text(&array.name);
            p.array(array);
        }
        p.op(SETITEMS);
    }
    p.op(STOP);
    Ok(p.out)
}

/// Writes [`pickle_bytes`] to `w`.
///
/// # Errors
/// See [`pickle_bytes`]; [`WriteError::Io`] if writing fails.
pub fn write_pickle(w: &mut impl Write, arrays: &[NamedArray]) -> Result<(), WriteError> {
    let bytes = pickle_bytes(arrays)?;
    w.write_all(&bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_numpys_and_end_on_a_multiple_of_64() {
        for (shape, float) in [
            (vec![2, 3], Float::F32),
            (vec![3], Float::F64),
            (vec![], Float::F64),
            (vec![30, 1, 5, 5], Float::F64),
            (vec![123_456_789_012, 7], Float::F32),
        ] {
            let header = npy_header(&shape, float);
            assert_eq!(header.len() % 64, 0, "{shape:?}");
            assert_eq!(*header.last().unwrap(), b'\n');
            let parsed = crate::npy::read_header(&mut &header[..], 10_000).unwrap();
            assert_eq!(parsed.len, header.len() as u64);
            assert_eq!(
                parsed.shape,
                shape.iter().map(|&d| d as u64).collect::<Vec<_>>()
            );
            assert_eq!(parsed.dtype.float(), Some((float, false)));
            assert!(!parsed.fortran);
        }
    }

    #[test]
    fn bad_arrays_are_refused_before_anything_is_written() {
        let a = |name: &str, shape: &[usize], n: usize| {
            NamedArray::new(name, shape, Data::F64(vec![0.0; n]))
        };
        for name in ["", "a/b", "a\\b", "tab\t", "é"] {
            assert!(
                matches!(pickle_bytes(&[a(name, &[1], 1)]), Err(WriteError::Name(_))),
                "{name:?}"
            );
        }
        let err = npz_bytes(&[a("W1", &[1], 1), a("W1", &[1], 1)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "two arrays are named W1: a dict holds each key once"
        );
        let err = pickle_bytes(&[a("W1", &[2, 3], 5)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "array W1 has 5 values where its shape (2, 3) makes 6"
        );
        let err = write_npy(&mut Vec::new(), &a("b", &[usize::MAX, 2], 0)).unwrap_err();
        assert!(err.to_string().contains("more than 2^64"), "{err}");
    }

    /// Arrays of both float types and of every rank the book uses (a scalar too), with values
    /// whose every bit matters (NaN excepted: it does not compare).
    fn arrays() -> Vec<NamedArray> {
        let f64s = |n: usize| {
            (0..n)
                .map(|i| (i as f64 - 3.5) * 1e-3 + 1.0 / 3.0)
                .collect()
        };
        vec![
            NamedArray::new("W1", &[2, 1, 3, 3], Data::F64(f64s(18))),
            NamedArray::new("b1", &[2], Data::F64(vec![f64::MIN_POSITIVE, -0.0])),
            NamedArray::new(
                "W2",
                &[4, 3],
                Data::F32((0..12).map(|i| i as f32 / 7.0).collect()),
            ),
            NamedArray::new("running_var1", &[300], Data::F64(f64s(300))),
            NamedArray::new("scale", &[], Data::F32(vec![f32::MAX])),
        ]
    }

    /// What [`crate::Limits::read_from`] reads back from `bytes`: each array's shape, dtype and
    /// every bit of its values, through the crate's own reader (which widens to f64).
    fn read_back(bytes: Vec<u8>) {
        let written = arrays();
        let expected = written.iter().fold(crate::Expected::new(), |e, a| {
            e.array(&a.name, &a.shape, &[a.data.float()])
        });
        let path = std::path::Path::new("written");
        let found = crate::Limits::default()
            .inventory_from(io::Cursor::new(&bytes), path)
            .unwrap();
        let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["W1", "b1", "W2", "running_var1", "scale"]);
        assert!(found.iter().all(|f| !f.fortran_order));
        let read = crate::Limits::default()
            .read_from(io::Cursor::new(&bytes), path, &expected)
            .unwrap();
        for array in &written {
            let back = read.get(&array.name).unwrap();
            assert_eq!(back.dtype.float(), Some((array.data.float(), false)));
            let wanted: Vec<u64> = match &array.data {
                Data::F32(v) => v.iter().map(|&x| f64::from(x).to_bits()).collect(),
                Data::F64(v) => v.iter().map(|x| x.to_bits()).collect(),
            };
            let got: Vec<u64> = back.data.iter().map(|x| x.to_bits()).collect();
            assert_eq!(got, wanted, "{}", array.name);
        }
    }

    #[test]
    fn an_npz_reads_back_bit_for_bit() {
        read_back(npz_bytes(&arrays()).unwrap());
    }

    #[test]
    fn a_pickle_reads_back_bit_for_bit() {
        let bytes = pickle_bytes(&arrays()).unwrap();
        assert_eq!(&bytes[..2], [PROTO, 3]);
        assert_eq!(bytes.last(), Some(&STOP));
        read_back(bytes);
    }

    #[test]
    fn a_pickle_of_more_than_a_batch_of_arrays_reads_back() {
        let many: Vec<NamedArray> = (0..2500)
            .map(|i| NamedArray::new(format!("a{i}"), &[1], Data::F64(vec![i as f64])))
            .collect();
        let bytes = pickle_bytes(&many).unwrap();
        // Three batches of MARK … SETITEMS, as Python writes 1000 items per batch.
        assert_eq!(&bytes[bytes.len() - 2..], [SETITEMS, STOP]);
        let expected = many.iter().fold(crate::Expected::new(), |e, a| {
            e.array(&a.name, &a.shape, &[Float::F64])
        });
        let read = crate::Limits::default()
            .read_from(
                io::Cursor::new(bytes),
                std::path::Path::new("many"),
                &expected,
            )
            .unwrap();
        assert_eq!(read.get("a2499").unwrap().data, [2499.0]);
    }

    #[test]
    fn large_integers_are_pickled_in_the_shortest_opcode() {
        let mut p = Pickler { out: Vec::new() };
        for n in [0, 255, 256, 65_535, 65_536, -1, 1 << 40] {
            p.int(n);
        }
        assert_eq!(
            p.out,
            [
                &[BININT1, 0][..],
                &[BININT1, 255],
                &[BININT2, 0, 1],
                &[BININT2, 255, 255],
                &[BININT, 0, 0, 1, 0],
                &[BININT, 255, 255, 255, 255],
                &[LONG1, 8, 0, 0, 0, 0, 0, 1, 0, 0],
            ]
            .concat()
        );
    }
}
