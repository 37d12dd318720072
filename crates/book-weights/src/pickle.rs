//! Python pickles of a dict of NumPy arrays, read by a bounded pickle machine that never holds
//! the arrays' data: a first pass runs the opcodes (protocols 2 to 5) over small stand-ins for
//! Python's objects, where a `bytes` or `str` of any length is its place in the file; NumPy's
//! reductions (`_reconstruct` + `__setstate__`, `dtype`, `_frombuffer`, `_codecs.encode`) are
//! recognised and become arrays with a shape, a dtype and the place of their data. The data is
//! read afterwards, array by array, once the names, shapes and dtypes are checked.
//!
//! The machine holds no Python semantics beyond what the stand-ins need, and nothing it does
//! recurses: objects live in one arena and refer to each other by index, so that a nesting of
//! any depth, a cycle through the memo, or a million MARKs cost no stack; the bounds of
//! [`PickleLimits`] are checked as the opcodes run.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use crate::dtype::DType;
use crate::{PickleLimits, PickleProblem};

/// Where a `bytes` (or a `str` standing for bytes) lies in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Blob {
    /// The offset of its first byte.
    pub offset: u64,
    /// Its length in the file.
    pub len: u64,
    /// It is UTF-8 text whose characters are the bytes (`_codecs.encode(text, 'latin1')`, how
    /// protocol 2 pickles `bytes` under Python 3).
    pub latin1: bool,
}

/// An array found in the pickle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Array {
    /// Its key in the dict (`None` when the pickle is the array itself).
    pub name: Option<String>,
    /// Its shape.
    pub shape: Vec<u64>,
    /// Its element type.
    pub dtype: DType,
    /// Fortran order.
    pub fortran: bool,
    /// Its data.
    pub data: Blob,
}

/// Why the machine stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The file ends inside the pickle.
    Truncated,
    /// Reading failed.
    Io(io::Error),
    /// A problem at an offset.
    Problem(u64, PickleProblem),
}

// The opcodes of pickle protocols 0 to 5 (Python's `pickletools` names them).
const MARK: u8 = b'(';
const STOP: u8 = b'.';
const POP: u8 = b'0';
const POP_MARK: u8 = b'1';
const DUP: u8 = b'2';
const FLOAT: u8 = b'F';
const INT: u8 = b'I';
const BININT: u8 = b'J';
const BININT1: u8 = b'K';
const LONG: u8 = b'L';
const BININT2: u8 = b'M';
const NONE: u8 = b'N';
const PERSID: u8 = b'P';
const BINPERSID: u8 = b'Q';
const REDUCE: u8 = b'R';
const STRING: u8 = b'S';
const BINSTRING: u8 = b'T';
const SHORT_BINSTRING: u8 = b'U';
const UNICODE: u8 = b'V';
const BINUNICODE: u8 = b'X';
const APPEND: u8 = b'a';
const BUILD: u8 = b'b';
const GLOBAL: u8 = b'c';
const DICT: u8 = b'd';
const EMPTY_DICT: u8 = b'}';
const APPENDS: u8 = b'e';
const GET: u8 = b'g';
const BINGET: u8 = b'h';
const INST: u8 = b'i';
const LONG_BINGET: u8 = b'j';
const LIST: u8 = b'l';
const EMPTY_LIST: u8 = b']';
const OBJ: u8 = b'o';
const PUT: u8 = b'p';
const BINPUT: u8 = b'q';
const LONG_BINPUT: u8 = b'r';
const SETITEM: u8 = b's';
const TUPLE: u8 = b't';
const EMPTY_TUPLE: u8 = b')';
const SETITEMS: u8 = b'u';
const BINFLOAT: u8 = b'G';
const PROTO: u8 = 0x80;
const NEWOBJ: u8 = 0x81;
const EXT1: u8 = 0x82;
const EXT2: u8 = 0x83;
const EXT4: u8 = 0x84;
const TUPLE1: u8 = 0x85;
const TUPLE2: u8 = 0x86;
const TUPLE3: u8 = 0x87;
const NEWTRUE: u8 = 0x88;
const NEWFALSE: u8 = 0x89;
const LONG1: u8 = 0x8a;
const LONG4: u8 = 0x8b;
const BINBYTES: u8 = b'B';
const SHORT_BINBYTES: u8 = b'C';
const SHORT_BINUNICODE: u8 = 0x8c;
const BINUNICODE8: u8 = 0x8d;
const BINBYTES8: u8 = 0x8e;
const EMPTY_SET: u8 = 0x8f;
const ADDITEMS: u8 = 0x90;
const FROZENSET: u8 = 0x91;
const NEWOBJ_EX: u8 = 0x92;
const STACK_GLOBAL: u8 = 0x93;
const MEMOIZE: u8 = 0x94;
const FRAME: u8 = 0x95;
const BYTEARRAY8: u8 = 0x96;
const NEXT_BUFFER: u8 = 0x97;
const READONLY_BUFFER: u8 = 0x98;

/// An object's index in the arena.
type Id = u32;

/// The stand-in of a Python object.
#[derive(Debug)]
enum Node {
    None,
    Bool(bool),
    /// An integer; `None` beyond 64 bits.
    Int(Option<i64>),
    Float,
    /// A `str`, with its text when short.
    Text {
        blob: Blob,
        short: Option<String>,
    },
    /// A `bytes`, `bytearray` or Python 2 `str`, with its bytes when short.
    Bytes {
        blob: Blob,
        py2: bool,
        short: Option<Vec<u8>>,
    },
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Set,
    Global {
        module: String,
        name: String,
    },
    /// `numpy.core.multiarray._reconstruct(numpy.ndarray, ...)`, waiting for its state.
    Reconstructed,
    /// `numpy.dtype(descr, ...)`, and the byte order its state gives.
    Dtype {
        descr: String,
        order: char,
    },
    Array(ArrayNode),
    /// A NumPy array whose state this reader does not read, and why.
    BadArray(&'static str),
    /// Any other object.
    Object,
}

#[derive(Debug, Clone)]
struct ArrayNode {
    shape: Vec<u64>,
    dtype: DType,
    fortran: bool,
    data: Blob,
}

impl Node {
    /// What it is, for messages.
    fn kind(&self) -> &'static str {
        match self {
            Node::None => "None",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::Float => "a number",
            Node::Text { .. } => "text",
            Node::Bytes { .. } => "bytes",
            Node::Tuple(_) => "a tuple",
            Node::List(_) => "a list",
            Node::Dict(_) => "a dict",
            Node::Set => "a set",
            Node::Global { .. } => "a class or function",
            Node::Reconstructed => "an unfinished NumPy array",
            Node::Dtype { .. } => "a NumPy dtype",
            Node::Array(_) => "a NumPy array",
            Node::BadArray(_) => "a NumPy array",
            Node::Object => "an object of another class",
        }
    }
}

/// The arena's entry: an object and how deep its containers nest.
#[derive(Debug)]
struct Slot {
    node: Node,
    depth: usize,
}

/// The bytes an object costs in the arena, beyond its own parts (vectors, text).
const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

/// The input: buffered, with its position and length known.
struct Input<R> {
    reader: BufReader<R>,
    pos: u64,
    len: u64,
}

impl<R: Read + Seek> Input<R> {
    fn byte(&mut self) -> Result<u8, Stop> {
        let mut b = [0u8];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), Stop> {
        self.reader.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                Stop::Truncated
            } else {
                Stop::Io(e)
            }
        })?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Stop> {
        let mut b = [0u8; N];
        self.exact(&mut b)?;
        Ok(b)
    }

    /// Moves past `n` bytes, which must be in the file.
    fn skip(&mut self, n: u64) -> Result<(), Stop> {
        if n > self.len.saturating_sub(self.pos) {
            return Err(Stop::Truncated);
        }
        let step = i64::try_from(n).map_err(|_| Stop::Truncated)?;
        self.reader.seek_relative(step).map_err(Stop::Io)?;
        self.pos += n;
        Ok(())
    }

    /// A line ended by `\n` (not kept), of at most `max` bytes.
    fn line(&mut self, max: usize, at: u64) -> Result<String, Stop> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(max as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(Stop::Io)?;
        self.pos += n as u64;
        if line.pop() != Some(b'\n') {
            return Err(if n <= max {
                Stop::Truncated
            } else {
                Stop::Problem(at, PickleProblem::Malformed("a global's name is too long"))
            });
        }
        String::from_utf8(line).map_err(|_| {
            Stop::Problem(at, PickleProblem::Malformed("a global's name is not UTF-8"))
        })
    }
}

/// The machine's state.
struct Machine<'l> {
    limits: &'l PickleLimits,
    arena: Vec<Slot>,
    /// Bytes the structure takes (arena, vectors, short text, memo).
    used: usize,
    stack: Vec<Id>,
    /// The stack's length at each open MARK.
    marks: Vec<usize>,
    memo: HashMap<u32, Id>,
    /// The offset of the opcode running.
    at: u64,
}

/// Runs the pickle in `source` (`len` bytes): every array it holds, by name, with the place of
/// its data; or why not.
pub(crate) fn scan<R: Read + Seek>(
    source: R,
    len: u64,
    limits: &PickleLimits,
) -> Result<Vec<Array>, Stop> {
    let mut input = Input {
        reader: BufReader::new(source),
        pos: 0,
        len,
    };
    input.reader.seek(SeekFrom::Start(0)).map_err(Stop::Io)?;
    let mut machine = Machine {
        limits,
        arena: Vec::new(),
        used: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        at: 0,
    };
    let top = machine.run(&mut input)?;
    machine.arrays(top)
}

impl Machine<'_> {
    fn problem<T>(&self, problem: PickleProblem) -> Result<T, Stop> {
        Err(Stop::Problem(self.at, problem))
    }

    fn malformed<T>(&self, what: &'static str) -> Result<T, Stop> {
        self.problem(PickleProblem::Malformed(what))
    }

    fn charge(&mut self, bytes: usize) -> Result<(), Stop> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.limits.max_structure_bytes {
            return self.problem(PickleProblem::StructureTooLarge {
                limit: self.limits.max_structure_bytes,
            });
        }
        Ok(())
    }

    fn check_depth(&self, depth: usize) -> Result<(), Stop> {
        if depth > self.limits.max_depth {
            return self.problem(PickleProblem::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        Ok(())
    }

    /// A new object, `depth` deep, pushed on the stack.
    fn push_new(&mut self, node: Node, depth: usize) -> Result<(), Stop> {
        self.check_depth(depth)?;
        let extra = match &node {
            Node::Tuple(items) | Node::List(items) => items.len() * size_of::<Id>(),
            Node::Dict(pairs) => pairs.len() * 2 * size_of::<Id>(),
            Node::Text { short, .. } => short.as_ref().map_or(0, String::len),
            Node::Bytes { short, .. } => short.as_ref().map_or(0, Vec::len),
            Node::Global { module, name } => module.len() + name.len(),
            Node::Dtype { descr, .. } => descr.len(),
            Node::Array(array) => array.shape.len() * 8 + array.dtype.descr().len(),
            _ => 0,
        };
        self.charge(SLOT_BYTES + extra)?;
        let id = Id::try_from(self.arena.len()).map_err(|_| {
            Stop::Problem(
                self.at,
                PickleProblem::StructureTooLarge {
                    limit: self.limits.max_structure_bytes,
                },
            )
        })?;
        self.arena.push(Slot { node, depth });
        self.push(id)
    }

    fn push(&mut self, id: Id) -> Result<(), Stop> {
        if self.stack.len() >= self.limits.max_stack {
            return self.problem(PickleProblem::StackTooLarge {
                limit: self.limits.max_stack,
            });
        }
        self.stack.push(id);
        Ok(())
    }

    /// Where the items above the last MARK start.
    fn frame(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Result<Id, Stop> {
        if self.stack.len() <= self.frame() {
            return self.problem(PickleProblem::StackUnderflow);
        }
        Ok(self.stack.pop().expect("above the frame"))
    }

    fn top(&self) -> Result<Id, Stop> {
        if self.stack.len() <= self.frame() {
            return self.problem(PickleProblem::StackUnderflow);
        }
        Ok(*self.stack.last().expect("above the frame"))
    }

    /// The items above the last MARK, and the MARK, taken off the stack.
    fn pop_mark(&mut self) -> Result<Vec<Id>, Stop> {
        let Some(start) = self.marks.pop() else {
            return self.problem(PickleProblem::StackUnderflow);
        };
        Ok(self.stack.split_off(start))
    }

    fn depth_of(&self, ids: &[Id]) -> usize {
        ids.iter()
            .map(|&id| self.arena[id as usize].depth)
            .max()
            .unwrap_or(0)
    }

    fn node(&self, id: Id) -> &Node {
        &self.arena[id as usize].node
    }

    /// The text of a short `str` (or Python 2 `str`).
    fn short_text(&self, id: Id) -> Option<&str> {
        match self.node(id) {
            Node::Text { short, .. } => short.as_deref(),
            Node::Bytes {
                py2: true, short, ..
            } => short.as_deref().and_then(|b| std::str::from_utf8(b).ok()),
            _ => None,
        }
    }

    /// A `str` or `bytes` of `len` bytes at the input's position: kept when short, skipped
    /// otherwise.
    fn string<R: Read + Seek>(
        &mut self,
        input: &mut Input<R>,
        len: u64,
        kind: StringKind,
    ) -> Result<(), Stop> {
        let blob = Blob {
            offset: input.pos,
            len,
            latin1: false,
        };
        if len > input.len.saturating_sub(input.pos) {
            return Err(Stop::Truncated);
        }
        let short = if len <= self.limits.max_short_string as u64 {
            let mut bytes = vec![0u8; len as usize];
            input.exact(&mut bytes)?;
            Some(bytes)
        } else {
            input.skip(len)?;
            None
        };
        let node = match kind {
            StringKind::Text => Node::Text {
                blob,
                short: match short {
                    Some(bytes) => Some(
                        String::from_utf8(bytes)
                            .or_else(|_| self.malformed("a str is not UTF-8"))?,
                    ),
                    None => None,
                },
            },
            StringKind::Bytes { py2 } => Node::Bytes { blob, py2, short },
        };
        self.push_new(node, 0)
    }

    /// An integer of `n` little-endian two's-complement bytes (LONG1, LONG4).
    fn long<R: Read + Seek>(&mut self, input: &mut Input<R>, n: u64) -> Result<(), Stop> {
        let value = if n <= 8 {
            let mut bytes = [0u8; 8];
            input.exact(&mut bytes[..n as usize])?;
            if n > 0 && bytes[n as usize - 1] & 0x80 != 0 {
                bytes[n as usize..].fill(0xff);
            }
            Some(i64::from_le_bytes(bytes))
        } else {
            input.skip(n)?;
            None
        };
        self.push_new(Node::Int(value), 0)
    }

    fn memo_put(&mut self, key: u32) -> Result<(), Stop> {
        let top = self.top()?;
        if !self.memo.contains_key(&key) {
            if self.memo.len() >= self.limits.max_memo {
                return self.problem(PickleProblem::MemoTooLarge {
                    limit: self.limits.max_memo,
                });
            }
            self.charge(4 * size_of::<u32>())?;
        }
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Result<(), Stop> {
        match self.memo.get(&key) {
            Some(&id) => self.push(id),
            None => self.problem(PickleProblem::MissingMemo(key)),
        }
    }

    /// A tuple of the given items, pushed.
    fn tuple(&mut self, items: Vec<Id>) -> Result<(), Stop> {
        let depth = 1 + self.depth_of(&items);
        self.push_new(Node::Tuple(items), depth)
    }

    /// Adds `items` to the list (or object) on top of the stack.
    fn extend_list(&mut self, items: Vec<Id>) -> Result<(), Stop> {
        let target = self.top()?;
        let depth = 1 + self.depth_of(&items);
        self.charge(items.len() * size_of::<Id>())?;
        let slot = &mut self.arena[target as usize];
        match &mut slot.node {
            Node::List(list) => list.extend(items),
            // Python calls the object's own append or extend.
            Node::Object => {}
            _ => return self.malformed("APPEND adds to something that is not a list"),
        }
        let depth = slot.depth.max(depth);
        self.check_depth(depth)?;
        self.arena[target as usize].depth = depth;
        Ok(())
    }

    /// Adds `items` (keys and values, alternating) to the dict (or object) on top of the
    /// stack.
    fn extend_dict(&mut self, items: Vec<Id>) -> Result<(), Stop> {
        if !items.len().is_multiple_of(2) {
            return self.malformed("a dict is given a key without a value");
        }
        let target = self.top()?;
        let depth = 1 + self.depth_of(&items);
        self.charge(items.len() * size_of::<Id>())?;
        let slot = &mut self.arena[target as usize];
        match &mut slot.node {
            Node::Dict(pairs) => pairs.extend(items.chunks_exact(2).map(|kv| (kv[0], kv[1]))),
            // Python calls the object's own __setitem__.
            Node::Object => {}
            _ => return self.malformed("SETITEM sets an item of something that is not a dict"),
        }
        let depth = slot.depth.max(depth);
        self.check_depth(depth)?;
        self.arena[target as usize].depth = depth;
        Ok(())
    }

    /// Runs opcodes up to STOP; returns the object it returns.
    fn run<R: Read + Seek>(&mut self, input: &mut Input<R>) -> Result<Id, Stop> {
        loop {
            self.at = input.pos;
            let op = input.byte()?;
            match op {
                PROTO => {
                    let version = input.byte()?;
                    if version > 5 {
                        return self.problem(PickleProblem::Protocol(version));
                    }
                }
                FRAME => {
                    input.array::<8>()?;
                }
                STOP => return self.pop(),
                MARK => {
                    if self.marks.len() >= self.limits.max_marks {
                        return self.problem(PickleProblem::TooManyMarks {
                            limit: self.limits.max_marks,
                        });
                    }
                    self.marks.push(self.stack.len());
                }
                POP => {
                    if self.stack.len() > self.frame() {
                        self.stack.pop();
                    } else {
                        self.pop_mark()?;
                    }
                }
                POP_MARK => {
                    self.pop_mark()?;
                }
                DUP => {
                    let top = self.top()?;
                    self.push(top)?;
                }
                NONE => self.push_new(Node::None, 0)?,
                NEWTRUE => self.push_new(Node::Bool(true), 0)?,
                NEWFALSE => self.push_new(Node::Bool(false), 0)?,
                BININT => {
                    let v = i32::from_le_bytes(input.array()?);
                    self.push_new(Node::Int(Some(v.into())), 0)?;
                }
                BININT1 => {
                    let v = input.byte()?;
                    self.push_new(Node::Int(Some(v.into())), 0)?;
                }
                BININT2 => {
                    let v = u16::from_le_bytes(input.array()?);
                    self.push_new(Node::Int(Some(v.into())), 0)?;
                }
                LONG1 => {
                    let n = input.byte()?;
                    self.long(input, n.into())?;
                }
                LONG4 => {
                    let n = i32::from_le_bytes(input.array()?);
                    let n = u64::try_from(n)
                        .or_else(|_| self.malformed("LONG4 has a negative length"))?;
                    self.long(input, n)?;
                }
                BINFLOAT => {
                    input.array::<8>()?;
                    self.push_new(Node::Float, 0)?;
                }
                SHORT_BINUNICODE => {
                    let n = input.byte()?;
                    self.string(input, n.into(), StringKind::Text)?;
                }
                BINUNICODE => {
                    let n = u32::from_le_bytes(input.array()?);
                    self.string(input, n.into(), StringKind::Text)?;
                }
                BINUNICODE8 => {
                    let n = u64::from_le_bytes(input.array()?);
                    self.string(input, n, StringKind::Text)?;
                }
                SHORT_BINSTRING => {
                    let n = input.byte()?;
                    self.string(input, n.into(), StringKind::Bytes { py2: true })?;
                }
                BINSTRING => {
                    let n = i32::from_le_bytes(input.array()?);
                    let n = u64::try_from(n)
                        .or_else(|_| self.malformed("BINSTRING has a negative length"))?;
                    self.string(input, n, StringKind::Bytes { py2: true })?;
                }
                SHORT_BINBYTES => {
                    let n = input.byte()?;
                    self.string(input, n.into(), StringKind::Bytes { py2: false })?;
                }
                BINBYTES => {
                    let n = u32::from_le_bytes(input.array()?);
                    self.string(input, n.into(), StringKind::Bytes { py2: false })?;
                }
                BINBYTES8 | BYTEARRAY8 => {
                    let n = u64::from_le_bytes(input.array()?);
                    self.string(input, n, StringKind::Bytes { py2: false })?;
                }
                EMPTY_TUPLE => self.tuple(Vec::new())?,
                TUPLE => {
                    let items = self.pop_mark()?;
                    self.tuple(items)?;
                }
                TUPLE1 | TUPLE2 | TUPLE3 => {
                    let n = usize::from(op - TUPLE1 + 1);
                    if self.stack.len() < self.frame() + n {
                        return self.problem(PickleProblem::StackUnderflow);
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.tuple(items)?;
                }
                EMPTY_LIST => self.push_new(Node::List(Vec::new()), 1)?,
                LIST => {
                    let items = self.pop_mark()?;
                    let depth = 1 + self.depth_of(&items);
                    self.push_new(Node::List(items), depth)?;
                }
                APPEND => {
                    let item = self.pop()?;
                    self.extend_list(vec![item])?;
                }
                APPENDS => {
                    let items = self.pop_mark()?;
                    self.extend_list(items)?;
                }
                EMPTY_DICT => self.push_new(Node::Dict(Vec::new()), 1)?,
                DICT => {
                    let items = self.pop_mark()?;
                    if !items.len().is_multiple_of(2) {
                        return self.malformed("a dict is given a key without a value");
                    }
                    let depth = 1 + self.depth_of(&items);
                    let pairs = items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect();
                    self.push_new(Node::Dict(pairs), depth)?;
                }
                SETITEM => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.extend_dict(vec![key, value])?;
                }
                SETITEMS => {
                    let items = self.pop_mark()?;
                    self.extend_dict(items)?;
                }
                EMPTY_SET => self.push_new(Node::Set, 1)?,
                FROZENSET => {
                    let items = self.pop_mark()?;
                    let depth = 1 + self.depth_of(&items);
                    self.push_new(Node::Set, depth)?;
                }
                ADDITEMS => {
                    self.pop_mark()?;
                    let target = self.top()?;
                    if !matches!(self.node(target), Node::Set | Node::Object) {
                        return self.malformed("ADDITEMS adds to something that is not a set");
                    }
                }
                BINPUT => {
                    let key = input.byte()?;
                    self.memo_put(key.into())?;
                }
                LONG_BINPUT => {
                    let key = u32::from_le_bytes(input.array()?);
                    self.memo_put(key)?;
                }
                MEMOIZE => {
                    let key = u32::try_from(self.memo.len()).unwrap_or(u32::MAX);
                    self.memo_put(key)?;
                }
                BINGET => {
                    let key = input.byte()?;
                    self.memo_get(key.into())?;
                }
                LONG_BINGET => {
                    let key = u32::from_le_bytes(input.array()?);
                    self.memo_get(key)?;
                }
                GLOBAL => {
                    let max = self.limits.max_short_string;
                    let module = input.line(max, self.at)?;
                    let name = input.line(max, self.at)?;
                    self.push_new(Node::Global { module, name }, 0)?;
                }
                STACK_GLOBAL => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(module), Some(name)) =
                        (self.short_text(module), self.short_text(name))
                    else {
                        return self.malformed("STACK_GLOBAL's names are not short text");
                    };
                    let node = Node::Global {
                        module: module.to_owned(),
                        name: name.to_owned(),
                    };
                    self.push_new(node, 0)?;
                }
                REDUCE => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let node = self.reduce(callable, args)?;
                    let depth = 1 + self.arena[args as usize].depth;
                    self.push_new(node, depth)?;
                }
                BUILD => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    self.build(target, state)?;
                }
                NEWOBJ => {
                    let args = self.pop()?;
                    self.pop()?;
                    let depth = 1 + self.arena[args as usize].depth;
                    self.push_new(Node::Object, depth)?;
                }
                NEWOBJ_EX => {
                    let kwargs = self.pop()?;
                    let args = self.pop()?;
                    self.pop()?;
                    let depth = 1 + self.depth_of(&[args, kwargs]);
                    self.push_new(Node::Object, depth)?;
                }
                OBJ => {
                    let items = self.pop_mark()?;
                    if items.is_empty() {
                        return self.problem(PickleProblem::StackUnderflow);
                    }
                    let depth = 1 + self.depth_of(&items);
                    self.push_new(Node::Object, depth)?;
                }
                READONLY_BUFFER => {
                    self.top()?;
                }
                NEXT_BUFFER => {
                    return self.unsupported(op, "an out-of-band buffer (protocol 5)");
                }
                EXT1 | EXT2 | EXT4 => {
                    return self.unsupported(op, "an entry of Python's extension registry");
                }
                PERSID | BINPERSID => return self.unsupported(op, "a persistent id"),
                INT | LONG | FLOAT | STRING | UNICODE | PUT | GET | INST => {
                    return self.unsupported(op, "a text opcode of protocol 0");
                }
                _ => return self.problem(PickleProblem::UnknownOpcode(op)),
            }
        }
    }

    fn unsupported<T>(&self, opcode: u8, what: &'static str) -> Result<T, Stop> {
        self.problem(PickleProblem::Unsupported { opcode, what })
    }

    /// The object `callable(*args)` makes: NumPy's and the codec's reductions are recognised,
    /// anything else is an object.
    fn reduce(&self, callable: Id, args: Id) -> Result<Node, Stop> {
        let Node::Tuple(args) = self.node(args) else {
            return self.malformed("REDUCE's arguments are not a tuple");
        };
        let Node::Global { module, name } = self.node(callable) else {
            return Ok(Node::Object);
        };
        let numpy_core = |m: &str, sub: &str| {
            m.strip_prefix("numpy.core.")
                .or_else(|| m.strip_prefix("numpy._core."))
                == Some(sub)
        };
        let node = match name.as_str() {
            "_reconstruct" if numpy_core(module, "multiarray") => match args.first() {
                Some(&class) if self.is_global(class, "numpy", "ndarray") => Node::Reconstructed,
                _ => Node::Object,
            },
            "dtype" if module == "numpy" => match args.first().and_then(|&d| self.short_text(d)) {
                Some(descr) => Node::Dtype {
                    descr: descr.to_owned(),
                    order: '|',
                },
                None => Node::Object,
            },
            "encode" if module == "_codecs" => match args.as_slice() {
                [text, codec] if matches!(self.short_text(*codec), Some("latin1" | "latin-1")) => {
                    match self.node(*text) {
                        Node::Text { blob, .. } => Node::Bytes {
                            blob: Blob {
                                latin1: true,
                                ..*blob
                            },
                            py2: false,
                            short: None,
                        },
                        _ => Node::Object,
                    }
                }
                _ => Node::Object,
            },
            "_frombuffer" if numpy_core(module, "numeric") => match args.as_slice() {
                [buffer, dtype, shape, order] => {
                    let fortran = match self.short_text(*order) {
                        Some("C") => Some(false),
                        Some("F") => Some(true),
                        _ => None,
                    };
                    match fortran {
                        Some(fortran) => self.array(*shape, *dtype, fortran, *buffer),
                        None => Node::BadArray("has an order other than C or F"),
                    }
                }
                _ => Node::BadArray("is rebuilt from a buffer with other arguments"),
            },
            _ => Node::Object,
        };
        Ok(node)
    }

    fn is_global(&self, id: Id, module: &str, name: &str) -> bool {
        matches!(self.node(id), Node::Global { module: m, name: n } if m == module && n == name)
    }

    /// BUILD: `state` given to the object `target`, an array being rebuilt or a dtype.
    fn build(&mut self, target: Id, state: Id) -> Result<(), Stop> {
        let depth = self.arena[target as usize]
            .depth
            .max(1 + self.arena[state as usize].depth);
        self.check_depth(depth)?;
        let new = match (self.node(target), self.node(state)) {
            // ndarray.__setstate__((version, shape, dtype, is_fortran, data)), the version
            // optional.
            (Node::Reconstructed, Node::Tuple(items)) => {
                let items = match items.as_slice() {
                    [_, rest @ ..] if rest.len() == 4 => rest,
                    all => all,
                };
                match items {
                    [shape, dtype, fortran, data] => match self.node(*fortran) {
                        Node::Bool(fortran) => Some(self.array(*shape, *dtype, *fortran, *data)),
                        Node::Int(Some(v @ (0 | 1))) => {
                            Some(self.array(*shape, *dtype, *v == 1, *data))
                        }
                        _ => Some(Node::BadArray("has an order that is not a boolean")),
                    },
                    _ => Some(Node::BadArray("has a state of another form")),
                }
            }
            (Node::Reconstructed, _) => Some(Node::BadArray("has a state of another form")),
            // dtype.__setstate__((version, byte order, ...)).
            (Node::Dtype { descr, .. }, Node::Tuple(items)) => {
                let order = items.get(1).and_then(|&o| self.short_text(o));
                match order {
                    Some(order @ ("<" | ">" | "|" | "=")) => Some(Node::Dtype {
                        descr: descr.clone(),
                        order: order.chars().next().expect("one character"),
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        let slot = &mut self.arena[target as usize];
        slot.depth = depth;
        if let Some(node) = new {
            slot.node = node;
        }
        Ok(())
    }

    /// An array from its parts, or why not.
    fn array(&self, shape: Id, dtype: Id, fortran: bool, data: Id) -> Node {
        let Node::Tuple(dims) = self.node(shape) else {
            return Node::BadArray("has a shape that is not a tuple");
        };
        let dims: Option<Vec<u64>> = dims
            .iter()
            .map(|&d| match self.node(d) {
                Node::Int(Some(d)) => u64::try_from(*d).ok(),
                _ => None,
            })
            .collect();
        let Some(dims) = dims else {
            return Node::BadArray("has a shape that is not a tuple of non-negative integers");
        };
        let Node::Dtype { descr, order } = self.node(dtype) else {
            return Node::BadArray("has a dtype this reader does not read");
        };
        let data = match self.node(data) {
            Node::Bytes { blob, .. } => *blob,
            Node::List(_) => return Node::BadArray("holds Python objects"),
            _ => return Node::BadArray("holds its data in something other than bytes"),
        };
        Node::Array(ArrayNode {
            shape: dims,
            dtype: DType::from_descr(&format!("{order}{descr}")),
            fortran,
            data,
        })
    }

    /// The arrays of the object the pickle returns: a dict of arrays (or one array).
    fn arrays(&self, top: Id) -> Result<Vec<Array>, Stop> {
        let found = |name: Option<String>, array: &ArrayNode| Array {
            name,
            shape: array.shape.clone(),
            dtype: array.dtype.clone(),
            fortran: array.fortran,
            data: array.data,
        };
        let pairs = match self.node(top) {
            Node::Dict(pairs) => pairs,
            Node::Array(array) => return Ok(vec![found(None, array)]),
            other => {
                return self.problem(PickleProblem::NotADict {
                    found: other.kind(),
                });
            }
        };
        let mut arrays: Vec<Array> = Vec::new();
        for &(key, value) in pairs {
            let Some(name) = self.short_text(key) else {
                return self.problem(PickleProblem::KeyNotAName {
                    found: self.node(key).kind(),
                });
            };
            let array = match self.node(value) {
                Node::Array(array) => found(Some(name.to_owned()), array),
                Node::BadArray(reason) => {
                    return self.problem(PickleProblem::BadArray {
                        name: name.to_owned(),
                        reason,
                    });
                }
                other => {
                    return self.problem(PickleProblem::NotAnArray {
                        name: name.to_owned(),
                        found: other.kind(),
                    });
                }
            };
            // A key set twice keeps its last value, as in Python.
            match arrays.iter_mut().find(|a| a.name.as_deref() == Some(name)) {
                Some(earlier) => *earlier = array,
                None => arrays.push(array),
            }
        }
        Ok(arrays)
    }
}

/// What a string opcode makes.
#[derive(Debug, Clone, Copy)]
enum StringKind {
    Text,
    Bytes { py2: bool },
}

/// The bytes that `blob`, latin-1 text standing for bytes (`_codecs.encode(text, 'latin1')`),
/// stands for: `expected` of them, from one to two UTF-8 bytes each, so at most twice as many
/// are read.
pub(crate) fn latin1_bytes<R: Read + Seek>(
    source: &mut R,
    blob: Blob,
    expected: u64,
) -> Result<Vec<u8>, BlobError> {
    if blob.len < expected || blob.len > expected.saturating_mul(2) {
        return Err(BlobError::Size(blob.len));
    }
    source
        .seek(SeekFrom::Start(blob.offset))
        .map_err(BlobError::Io)?;
    let len = usize::try_from(blob.len).map_err(|_| BlobError::Size(blob.len))?;
    let mut text = vec![0u8; len];
    source.read_exact(&mut text).map_err(BlobError::Io)?;
    let text = String::from_utf8(text).map_err(|_| BlobError::Text)?;
    let bytes: Vec<u8> = text
        .chars()
        .map(|c| u8::try_from(c).map_err(|_| BlobError::Text))
        .collect::<Result<_, _>>()?;
    if bytes.len() as u64 != expected {
        return Err(BlobError::Size(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Why an array's data could not be read.
#[derive(Debug)]
pub(crate) enum BlobError {
    /// It holds this many bytes, not what its shape and dtype make.
    Size(u64),
    /// latin-1 text holding a character beyond U+00FF, or not UTF-8.
    Text,
    /// Reading failed or ended early.
    Io(io::Error),
}
