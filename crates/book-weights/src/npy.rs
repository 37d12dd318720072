//! NumPy's `.npy` format (`numpy.lib.format`, versions 1.0 to 3.0): the header, parsed here
//! within bounds, and the data, decoded into `f64` in C order.
//!
//! A header is `\x93NUMPY`, the version (two bytes), the length of the text (2 bytes in 1.0, 4 in
//! 2.0 and 3.0), then the text: a Python dict literal such as
//! `{'descr': '<f8', 'fortran_order': False, 'shape': (30, 1, 5, 5), }` padded with spaces and
//! ended by a newline. The text's length is bounded before anything is allocated (NumPy itself
//! reads at most 10 000 bytes), and the dict is parsed without recursion: its three keys, a type
//! string, `True`/`False` and a tuple of integers are all it can hold.

use std::io::{self, Read};

use crate::NpyProblem;
use crate::dtype::DType;

/// The first six bytes of a `.npy` file.
pub(crate) const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Most dimensions a shape may have (NumPy 2's own bound).
const MAX_DIMS: usize = 64;

/// An array's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// The element type.
    pub dtype: DType,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran: bool,
    /// The shape.
    pub shape: Vec<u64>,
    /// Bytes before the data: magic, version, length and text.
    pub len: u64,
}

/// Why a header could not be read.
#[derive(Debug)]
pub(crate) enum HeaderError {
    /// Reading failed, or ended early ([`io::ErrorKind::UnexpectedEof`]).
    Io(io::Error),
    /// The header is not one NumPy writes.
    Problem(NpyProblem),
}

impl From<NpyProblem> for HeaderError {
    fn from(problem: NpyProblem) -> Self {
        HeaderError::Problem(problem)
    }
}

impl From<io::Error> for HeaderError {
    fn from(error: io::Error) -> Self {
        HeaderError::Io(error)
    }
}

/// Reads as many bytes as `buf` holds, fewer only at the end of `r`; returns how many.
pub(crate) fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads a header from `r`, which is left at the start of the data. The text may be at most
/// `max_text` bytes long.
pub(crate) fn read_header(r: &mut impl Read, max_text: usize) -> Result<Header, HeaderError> {
    let mut pre = [0u8; 8];
    let n = read_up_to(r, &mut pre)?;
    if pre[..n.min(6)] != MAGIC[..n.min(6)] || n == 0 {
        return Err(NpyProblem::Magic.into());
    }
    if n < pre.len() {
        return Err(HeaderError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    let (major, minor) = (pre[6], pre[7]);
    let (text_len, prefix) = match (major, minor) {
        (1, 0) => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)?;
            (u64::from(u16::from_le_bytes(b)), 10)
        }
        (2, 0) | (3, 0) => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b)?;
            (u64::from(u32::from_le_bytes(b)), 12)
        }
        _ => return Err(NpyProblem::Version { major, minor }.into()),
    };
    let len = usize::try_from(text_len)
        .ok()
        .filter(|&len| len <= max_text)
        .ok_or(NpyProblem::TooLong {
            len: text_len,
            limit: max_text,
        })?;
    let mut text = vec![0u8; len];
    r.read_exact(&mut text)?;
    let (dtype, fortran, shape) = parse_dict(&text)?;
    Ok(Header {
        dtype,
        fortran,
        shape,
        len: prefix + text_len,
    })
}

/// The header's text, read without recursion.
struct Text<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Text<'a> {
    fn skip_space(&mut self) {
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| b" \t\r\n".contains(b))
        {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.bytes.get(self.at).copied()
    }

    /// Takes `c` if it comes next.
    fn eat(&mut self, c: u8) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), NpyProblem> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(NpyProblem::Syntax(what))
        }
    }

    /// A quoted string without escapes.
    fn string(&mut self) -> Result<&'a str, NpyProblem> {
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(NpyProblem::Syntax("a key or a type is not a quoted string")),
        };
        let start = self.at + 1;
        let len = self.bytes[start..]
            .iter()
            .position(|&b| b == quote)
            .ok_or(NpyProblem::Syntax("a string is not closed"))?;
        let inner = &self.bytes[start..start + len];
        if inner.contains(&b'\\') {
            return Err(NpyProblem::Syntax("a string holds an escape"));
        }
        self.at = start + len + 1;
        std::str::from_utf8(inner).map_err(|_| NpyProblem::Syntax("a string is not UTF-8"))
    }

    /// A run of ASCII letters (`True`, `False`).
    fn word(&mut self) -> &'a [u8] {
        self.skip_space();
        let start = self.at;
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_alphabetic) {
            self.at += 1;
        }
        &self.bytes[start..self.at]
    }

    /// A non-negative integer, with Python 2's `L` suffix allowed.
    fn integer(&mut self) -> Result<u64, NpyProblem> {
        self.skip_space();
        let start = self.at;
        let mut value: u64 = 0;
        while let Some(&b) = self.bytes.get(self.at).filter(|b| b.is_ascii_digit()) {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(b - b'0')))
                .ok_or(NpyProblem::Overflow)?;
            self.at += 1;
        }
        if self.at == start {
            return Err(NpyProblem::Syntax(
                "the shape holds something other than non-negative integers",
            ));
        }
        if self.bytes.get(self.at) == Some(&b'L') {
            self.at += 1;
        }
        Ok(value)
    }
}

/// The dict of a header: its type string, order and shape.
fn parse_dict(bytes: &[u8]) -> Result<(DType, bool, Vec<u64>), NpyProblem> {
    let mut text = Text { bytes, at: 0 };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    text.expect(b'{', "it does not start with {")?;
    loop {
        if text.eat(b'}') {
            break;
        }
        let key = text.string()?;
        text.expect(b':', "a key is not followed by :")?;
        let twice = NpyProblem::Syntax("a key appears twice");
        match key {
            "descr" => {
                if text.peek() == Some(b'[') {
                    return Err(NpyProblem::Structured);
                }
                let value = text.string()?;
                if descr.replace(DType::from_descr(value)).is_some() {
                    return Err(twice);
                }
            }
            "fortran_order" => {
                let value = match text.word() {
                    b"True" => true,
                    b"False" => false,
                    _ => return Err(NpyProblem::Syntax("fortran_order is not True or False")),
                };
                if fortran.replace(value).is_some() {
                    return Err(twice);
                }
            }
            "shape" => {
                text.expect(b'(', "the shape is not a tuple")?;
                let mut dims = Vec::new();
                loop {
                    if text.eat(b')') {
                        break;
                    }
                    if dims.len() == MAX_DIMS {
                        return Err(NpyProblem::Syntax("the shape has more than 64 dimensions"));
                    }
                    dims.push(text.integer()?);
                    if !text.eat(b',') {
                        text.expect(b')', "the shape is not a tuple of integers")?;
                        break;
                    }
                }
                if shape.replace(dims).is_some() {
                    return Err(twice);
                }
            }
            _ => {
                return Err(NpyProblem::Syntax(
                    "it has a key other than descr, fortran_order and shape",
                ));
            }
        }
        if !text.eat(b',') {
            text.expect(b'}', "its entries are not separated by commas")?;
            break;
        }
    }
    if text.peek().is_some() {
        return Err(NpyProblem::Syntax("text follows the dict"));
    }
    match (descr, fortran, shape) {
        (Some(descr), Some(fortran), Some(shape)) => {
            element_count(&shape).ok_or(NpyProblem::Overflow)?;
            Ok((descr, fortran, shape))
        }
        _ => Err(NpyProblem::Syntax(
            "one of descr, fortran_order and shape is missing",
        )),
    }
}

/// The number of elements of `shape`, if it fits in 64 bits.
pub(crate) fn element_count(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d))
}

/// Reads the data of an array of `shape` (its number of elements already checked against what
/// the file holds) in `dtype` (a float32 or float64) from `r`, as `f64` in C order.
///
/// Reads exactly the array's bytes, in chunks; fails with [`io::ErrorKind::UnexpectedEof`] if
/// `r` ends first.
pub(crate) fn decode(
    r: &mut impl Read,
    shape: &[usize],
    dtype: &DType,
    fortran: bool,
) -> io::Result<Vec<f64>> {
    let (float, big_endian) = dtype
        .float()
        .ok_or_else(|| io::Error::other("not a float type"))?;
    let size = float.size();
    let count: usize = shape.iter().product();
    let mut values = Vec::with_capacity(count);
    let mut buf = vec![0u8; 8192 * size];
    let mut left = count;
    while left > 0 {
        let k = left.min(8192);
        let bytes = &mut buf[..k * size];
        r.read_exact(bytes)?;
        match (size, big_endian) {
            (4, false) => values.extend(
                bytes
                    .chunks_exact(4)
                    .map(|b| f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes")))),
            ),
            (4, true) => values.extend(
                bytes
                    .chunks_exact(4)
                    .map(|b| f64::from(f32::from_be_bytes(b.try_into().expect("4 bytes")))),
            ),
            (_, false) => values.extend(
                bytes
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))),
            ),
            (_, true) => values.extend(
                bytes
                    .chunks_exact(8)
                    .map(|b| f64::from_be_bytes(b.try_into().expect("8 bytes"))),
            ),
        }
        left -= k;
    }
    if fortran && shape.len() > 1 {
        values = fortran_to_c(&values, shape);
    }
    Ok(values)
}

/// The values of an array stored in Fortran order (first index fastest), in C order (last index
/// fastest).
fn fortran_to_c(values: &[f64], shape: &[usize]) -> Vec<f64> {
    // Where one step along each axis moves in the Fortran-ordered values.
    let mut strides = vec![1usize; shape.len()];
    for k in 1..shape.len() {
        strides[k] = strides[k - 1] * shape[k - 1];
    }
    let mut index = vec![0usize; shape.len()];
    let mut at = 0;
    let mut out = Vec::with_capacity(values.len());
    for _ in 0..values.len() {
        out.push(values[at]);
        // The next index in C order: the last axis first, carrying to the ones before.
        for k in (0..shape.len()).rev() {
            index[k] += 1;
            at += strides[k];
            if index[k] < shape[k] {
                break;
            }
            at -= strides[k] * shape[k];
            index[k] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(version: (u8, u8), text: &str) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend([version.0, version.1]);
        if version.0 == 1 {
            bytes.extend((text.len() as u16).to_le_bytes());
        } else {
            bytes.extend((text.len() as u32).to_le_bytes());
        }
        bytes.extend(text.as_bytes());
        bytes
    }

    #[test]
    fn numpys_headers_parse() {
        let text = "{'descr': '<f8', 'fortran_order': False, 'shape': (30, 1, 5, 5), }     \n";
        let header = read_header(&mut &npy((1, 0), text)[..], 10_000).unwrap();
        assert_eq!(
            header,
            Header {
                dtype: DType::from_descr("<f8"),
                fortran: false,
                shape: vec![30, 1, 5, 5],
                len: 10 + text.len() as u64,
            }
        );
        // Version 2.0, Python 2's long integers, double quotes, a scalar and a vector.
        for (text, shape) in [
            (
                "{\"shape\": (3L, 2L), \"fortran_order\": True, \"descr\": \">f4\"}",
                vec![3, 2],
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                vec![],
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }",
                vec![7],
            ),
        ] {
            let header = read_header(&mut &npy((2, 0), text)[..], 10_000).unwrap();
            assert_eq!(header.shape, shape, "{text}");
            assert_eq!(header.len, 12 + text.len() as u64);
        }
    }

    #[test]
    fn bad_headers_are_refused_with_their_reason() {
        let problem = |bytes: &[u8]| match read_header(&mut &bytes[..], 10_000) {
            Err(HeaderError::Problem(p)) => p,
            other => panic!("{other:?}"),
        };
        let dict = |text: &str| problem(&npy((1, 0), text));
        assert_eq!(problem(b"PK\x03\x04 not npy"), NpyProblem::Magic);
        assert_eq!(problem(b""), NpyProblem::Magic);
        assert_eq!(
            problem(&npy((4, 0), "{}")),
            NpyProblem::Version { major: 4, minor: 0 }
        );
        assert_eq!(
            dict("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,)}"),
            NpyProblem::Structured
        );
        assert_eq!(
            dict("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296)}"),
            NpyProblem::Overflow
        );
        assert_eq!(
            dict("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,)}"),
            NpyProblem::Overflow
        );
        for text in [
            "{'descr': '<f8', 'fortran_order': False}",
            "{'descr': '<f8', 'fortran_order': 0, 'shape': (1,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}",
            "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)} junk",
            "{'descr': '<f\\x38', 'fortran_order': False, 'shape': (1,)}",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        ] {
            assert!(
                matches!(dict(text), NpyProblem::Syntax(_)),
                "{text}: {:?}",
                dict(text)
            );
        }
        // The header length of 0xFFFFFFF0, refused before anything is allocated.
        let mut huge = MAGIC.to_vec();
        huge.extend([2, 0]);
        huge.extend(0xFFFF_FFF0u32.to_le_bytes());
        assert_eq!(
            problem(&huge),
            NpyProblem::TooLong {
                len: 0xFFFF_FFF0,
                limit: 10_000
            }
        );
    }

    #[test]
    fn a_cut_header_is_an_early_end() {
        let bytes = npy(
            (1, 0),
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)}",
        );
        for cut in [3, 7, 9, 20] {
            match read_header(&mut &bytes[..cut], 10_000) {
                Err(HeaderError::Io(e)) => {
                    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{cut}")
                }
                other => panic!("{cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn fortran_order_becomes_c_order() {
        // The 2×3 matrix [[1, 2, 3], [4, 5, 6]] is 1 4 2 5 3 6 in Fortran order.
        assert_eq!(
            fortran_to_c(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0], &[2, 3]),
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        // A 2×2×2 array: element (i, j, k) = 100i + 10j + k, at i + 2j + 4k in Fortran order.
        let mut fortran = [0.0; 8];
        for i in 0..2 {
            for j in 0..2 {
                for k in 0..2 {
                    fortran[i + 2 * j + 4 * k] = (100 * i + 10 * j + k) as f64;
                }
            }
        }
        assert_eq!(
            fortran_to_c(&fortran, &[2, 2, 2]),
            [0.0, 1.0, 10.0, 11.0, 100.0, 101.0, 110.0, 111.0]
        );
    }

    #[test]
    fn floats_decode_in_either_byte_order() {
        let mut bytes = Vec::new();
        bytes.extend(1.5f32.to_be_bytes());
        bytes.extend((-0.25f32).to_be_bytes());
        let values = decode(&mut &bytes[..], &[2], &DType::from_descr(">f4"), false).unwrap();
        assert_eq!(values, [1.5, -0.25]);
        let bytes = 3.0e300f64.to_le_bytes();
        let values = decode(&mut &bytes[..], &[1, 1], &DType::from_descr("<f8"), false).unwrap();
        assert_eq!(values, [3.0e300]);
        let err = decode(&mut &bytes[..4], &[1], &DType::from_descr("<f8"), false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
