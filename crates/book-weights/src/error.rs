//! What can go wrong reading a weight file: each error names the file (and the array) and says
//! what to do, in plain words.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::dtype::{DType, Float, list_floats};
use crate::{ArrayInfo, shape_text};

/// What to do with a file that is damaged.
const AGAIN: &str = "copy or download the file again";

/// What went wrong reading a weight file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file cannot be opened (absent, no permission...).
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// What stands at the path is not a regular file (a folder, a named pipe, a device): it is
    /// refused without reading from it, so a named pipe cannot block the reader.
    #[error("{path} is {kind}, not a regular file: give the weights file itself")]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is, such as `a named pipe (fifo)`.
        kind: &'static str,
    },
    /// Reading failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is empty.
    #[error("{path} is empty: give the .npz or .pkl file of the weights")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file is none of the formats read here.
    #[error(
        "{path} is neither a NumPy .npz archive nor a Python pickle (nor a .npy file): give the \
         .npz or .pkl file of the weights (a pickle of protocol 2 or higher)"
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file ends before the structure it declares.
    #[error("{path} ends inside {what}: the file is truncated; {AGAIN}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where it ends, such as `array W1` or `the pickle`.
        what: String,
    },
    /// The file is damaged: its parts disagree (sizes, checksum), or a part cannot be decoded.
    #[error("{path}: {what} is damaged: {reason}; {AGAIN}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Which part, such as `array W1`.
        what: String,
        /// How.
        reason: String,
    },
    /// The .npz archive cannot be read as a zip archive, or uses a zip feature this reader does
    /// not read (encryption, a compression other than stored or deflated).
    #[error(
        "{path} is not a .npz archive this reader can read: {reason}; save the weights with \
         numpy.savez or numpy.savez_compressed"
    )]
    Zip {
        /// The file.
        path: PathBuf,
        /// Why, in the words of the zip reader, or ours.
        reason: String,
    },
    /// An array's .npy header is not one NumPy writes, or exceeds a bound.
    #[error("{path}: the .npy header of {what} {problem}; save the weights with NumPy again")]
    Npy {
        /// The file.
        path: PathBuf,
        /// Which array, such as `array W1`.
        what: String,
        /// What is wrong with the header.
        problem: NpyProblem,
    },
    /// The pickle is not a dict of NumPy arrays this reader reads, or exceeds one of the bounds
    /// of [`crate::PickleLimits`].
    #[error(
        "{path} is not a pickle of NumPy arrays that this reader can read: {problem} (at byte \
         {offset}); give the .npz of the same weights, or pickle a dict of NumPy arrays with \
         Python's pickle module"
    )]
    Pickle {
        /// The file.
        path: PathBuf,
        /// Where in the file (the opcode's offset).
        offset: u64,
        /// What is wrong.
        problem: PickleProblem,
    },
    /// The file holds more arrays than [`crate::Limits::max_arrays`].
    #[error(
        "{path} holds more than {limit} arrays: it is not a file of weights (raise \
         book_weights::Limits::max_arrays if it is)"
    )]
    TooManyArrays {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// Two arrays of the file have the same name.
    #[error("{path} holds two arrays named {name}: keep one")]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// The name.
        name: String,
    },
    /// The file holds a single unnamed array (a `.npy`, or a pickle of one array) where several
    /// are expected.
    #[error(
        "{path} holds a single array where {expected} are expected ({names}): give the .npz or \
         .pkl file that holds them all"
    )]
    LoneArray {
        /// The file.
        path: PathBuf,
        /// How many arrays are expected.
        expected: usize,
        /// Their names.
        names: String,
    },
    /// The arrays of the file (names, shapes, dtypes, read from the headers before any data) are
    /// not the expected ones.
    #[error("{path}: {problem}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// Every array the file holds, as its headers declare it: a caller can tell whose
        /// weights these are.
        found: Vec<ArrayInfo>,
        /// The first difference found.
        problem: Box<Mismatch>,
    },
}

impl Error {
    /// The arrays the file holds, when the error is that they are not the expected ones.
    pub fn found(&self) -> Option<&[ArrayInfo]> {
        match self {
            Error::Mismatch { found, .. } => Some(found),
            _ => None,
        }
    }
}

/// How the arrays of a file differ from the expected ones.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// Arrays are missing, or the file holds arrays that are not expected.
    Names {
        /// The names the file holds, in its order.
        found: Vec<String>,
        /// The names expected.
        expected: Vec<String>,
        /// Expected but absent.
        missing: Vec<String>,
        /// Present but not expected.
        extra: Vec<String>,
    },
    /// An array has another shape.
    Shape {
        /// The array.
        name: String,
        /// Its shape in the file.
        found: Vec<u64>,
        /// The shape expected.
        expected: Vec<usize>,
    },
    /// An array has an element type that is not accepted.
    DType {
        /// The array.
        name: String,
        /// Its type in the file.
        found: DType,
        /// The types accepted.
        accepted: Vec<Float>,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Names {
                found,
                expected,
                missing,
                extra,
            } => {
                if found.is_empty() {
                    write!(f, "holds no array")?;
                } else {
                    write!(f, "holds the arrays {}", found.join(" "))?;
                }
                write!(f, " where {} are expected", expected.join(" "))?;
                if !missing.is_empty() {
                    write!(f, " (missing: {})", missing.join(" "))?;
                }
                if !extra.is_empty() {
                    write!(f, " (not expected: {})", extra.join(" "))?;
                }
                write!(f, "; give the file that holds these weights")
            }
            Mismatch::Shape {
                name,
                found,
                expected,
            } => write!(
                f,
                "array {name} has shape {} where {} is expected; give the file that holds \
                 these weights",
                shape_text(found),
                shape_text(expected)
            ),
            Mismatch::DType {
                name,
                found,
                accepted,
            } => write!(
                f,
                "array {name} has dtype {found} where {} is expected: save the weights as \
                 floats (for example array.astype(numpy.float64))",
                list_floats(accepted)
            ),
        }
    }
}

/// What is wrong with a .npy header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NpyProblem {
    /// It does not start with NumPy's magic string.
    Magic,
    /// A format version other than 1.0, 2.0 and 3.0.
    Version {
        /// Major version.
        major: u8,
        /// Minor version.
        minor: u8,
    },
    /// The header declares more bytes than the bound.
    TooLong {
        /// Bytes declared.
        len: u64,
        /// [`crate::Limits::max_npy_header`].
        limit: usize,
    },
    /// The header text is not the dict NumPy writes.
    Syntax(&'static str),
    /// A structured (record) dtype.
    Structured,
    /// The shape has more elements than 64-bit sizes count.
    Overflow,
}

impl fmt::Display for NpyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NpyProblem::Magic => write!(f, "does not start as a .npy file does"),
            NpyProblem::Version { major, minor } => {
                write!(
                    f,
                    "has format version {major}.{minor}, where NumPy writes 1.0, 2.0 or 3.0"
                )
            }
            NpyProblem::TooLong { len, limit } => write!(
                f,
                "declares {len} bytes, more than the {limit} NumPy itself reads"
            ),
            NpyProblem::Syntax(what) => write!(f, "is not the dict NumPy writes: {what}"),
            NpyProblem::Structured => write!(f, "declares a structured (record) dtype"),
            NpyProblem::Overflow => write!(f, "declares more elements than can be counted"),
        }
    }
}

/// What is wrong with a pickle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PickleProblem {
    /// Containers nest deeper than [`crate::PickleLimits::max_depth`].
    TooDeep {
        /// The bound.
        limit: usize,
    },
    /// More MARKs open at once than [`crate::PickleLimits::max_marks`].
    TooManyMarks {
        /// The bound.
        limit: usize,
    },
    /// More stack items than [`crate::PickleLimits::max_stack`].
    StackTooLarge {
        /// The bound.
        limit: usize,
    },
    /// More memo entries than [`crate::PickleLimits::max_memo`].
    MemoTooLarge {
        /// The bound.
        limit: usize,
    },
    /// The structure (everything but the arrays' data) takes more than
    /// [`crate::PickleLimits::max_structure_bytes`].
    StructureTooLarge {
        /// The bound.
        limit: usize,
    },
    /// A protocol newer than 5.
    Protocol(u8),
    /// An opcode this reader does not read, and why.
    Unsupported {
        /// The opcode byte.
        opcode: u8,
        /// What it is for.
        what: &'static str,
    },
    /// A byte that is no pickle opcode.
    UnknownOpcode(u8),
    /// An opcode needs more items (or a MARK) than the stack holds.
    StackUnderflow,
    /// A memo entry is fetched that was never stored.
    MissingMemo(u32),
    /// Malformed data for an opcode (a negative length, text that is not UTF-8...).
    Malformed(&'static str),
    /// The pickle holds something other than a dict of arrays.
    NotADict {
        /// What it holds, such as `a list`.
        found: &'static str,
    },
    /// A key of the dict is not a name.
    KeyNotAName {
        /// What it is.
        found: &'static str,
    },
    /// An entry of the dict is not a NumPy array.
    NotAnArray {
        /// The entry's name.
        name: String,
        /// What it is.
        found: &'static str,
    },
    /// An entry is a NumPy array whose pickled state this reader does not read.
    BadArray {
        /// The entry's name.
        name: String,
        /// Why.
        reason: &'static str,
    },
}

impl fmt::Display for PickleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PickleProblem::TooDeep { limit } => write!(
                f,
                "it nests containers more than {limit} deep, where a dict of arrays needs 5"
            ),
            PickleProblem::TooManyMarks { limit } => write!(
                f,
                "it opens more than {limit} MARKs at once, where a dict of arrays needs 3"
            ),
            PickleProblem::StackTooLarge { limit } => {
                write!(f, "its stack grows beyond {limit} items")
            }
            PickleProblem::MemoTooLarge { limit } => {
                write!(f, "its memo grows beyond {limit} entries")
            }
            PickleProblem::StructureTooLarge { limit } => write!(
                f,
                "its structure, apart from the arrays' data, takes more than {limit} bytes"
            ),
            PickleProblem::Protocol(version) => {
                write!(
                    f,
                    "it is of pickle protocol {version}, where 5 is the newest"
                )
            }
            PickleProblem::Unsupported { opcode, what } => {
                write!(
                    f,
                    "it uses opcode 0x{opcode:02x}, {what}, which this reader does not read"
                )
            }
            PickleProblem::UnknownOpcode(opcode) => {
                write!(f, "byte 0x{opcode:02x} is no pickle opcode")
            }
            PickleProblem::StackUnderflow => {
                write!(f, "an opcode takes more items than the stack holds")
            }
            PickleProblem::MissingMemo(id) => {
                write!(f, "it fetches memo entry {id}, which was never stored")
            }
            PickleProblem::Malformed(what) => f.write_str(what),
            PickleProblem::NotADict { found } => {
                write!(f, "it holds {found}, not a dict of arrays")
            }
            PickleProblem::KeyNotAName { found } => {
                write!(f, "a key of its dict is {found}, not a name")
            }
            PickleProblem::NotAnArray { name, found } => {
                write!(f, "entry {name} is {found}, not a NumPy array")
            }
            PickleProblem::BadArray { name, reason } => {
                write!(f, "entry {name} is a NumPy array that {reason}")
            }
        }
    }
}
