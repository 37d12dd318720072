//! Weight files made by the tests: `.npy` bytes, zip archives written by hand (so that an entry
//! may declare any size and hold any deflate stream), pickles written opcode by opcode, and
//! issue 23's hostile files. Shared with nn-cli's tests of `import` (`#[path]`).

// Each test binary uses a part of it.
#![allow(dead_code)]

use std::io::Write;

use flate2::Compression;
use flate2::write::DeflateEncoder;

/// The small arrays of the NumPy fixtures (`tests/data/make_fixtures.py`): W1, float32 (2, 3).
pub const W1: [f32; 6] = [0.5, -1.25, 3.0, 0.001, -0.0, 7.75];
/// b1, float64 (3,).
pub const B1: [f64; 3] = [0.1, -2.5, 1e10];

/// A `.npy` file (version 1.0, its header padded to 64 bytes as NumPy pads it).
pub fn npy(descr: &str, fortran: bool, shape: &[u64], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let shape = match dims.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", dims.join(", ")),
    };
    let fortran = if fortran { "True" } else { "False" };
    let mut text =
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
    while (10 + text.len() + 1) % 64 != 0 {
        text.push(' ');
    }
    text.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((text.len() as u16).to_le_bytes());
    bytes.extend(text.as_bytes());
    bytes.extend(data);
    bytes
}

/// W1's bytes, little-endian float32.
pub fn w1_bytes() -> Vec<u8> {
    W1.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// b1's bytes, little-endian float64.
pub fn b1_bytes() -> Vec<u8> {
    B1.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// An entry of a hand-made zip archive.
pub struct Entry {
    /// Its name.
    pub name: String,
    /// Its data as stored: the bytes, or a raw deflate stream.
    pub data: Vec<u8>,
    /// Whether `data` is deflated.
    pub deflated: bool,
    /// The CRC-32 it declares.
    pub crc: u32,
    /// The uncompressed size it declares.
    pub size: u64,
}

fn crc(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// An entry holding `bytes` as they are.
pub fn stored(name: &str, bytes: &[u8]) -> Entry {
    Entry {
        name: name.to_owned(),
        data: bytes.to_vec(),
        deflated: false,
        crc: crc(bytes),
        size: bytes.len() as u64,
    }
}

/// An entry holding `bytes` deflated.
pub fn deflated(name: &str, bytes: &[u8]) -> Entry {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    Entry {
        name: name.to_owned(),
        data: encoder.finish().unwrap(),
        deflated: true,
        crc: crc(bytes),
        size: bytes.len() as u64,
    }
}

/// A zip archive of `entries` (sizes below 4 GiB), written by hand: each entry's local header
/// and data, the central directory, its end record.
pub fn zip(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for entry in entries {
        let offset = out.len() as u32;
        let method: u16 = if entry.deflated { 8 } else { 0 };
        let size = u32::try_from(entry.size).expect("below 4 GiB");
        let fields = |out: &mut Vec<u8>| {
            out.extend(20u16.to_le_bytes()); // version needed
            out.extend(0u16.to_le_bytes()); // flags
            out.extend(method.to_le_bytes());
            out.extend(0u16.to_le_bytes()); // time
            out.extend(0x21u16.to_le_bytes()); // date: 1980-01-01
            out.extend(entry.crc.to_le_bytes());
            out.extend((entry.data.len() as u32).to_le_bytes());
            out.extend(size.to_le_bytes());
            out.extend((entry.name.len() as u16).to_le_bytes());
            out.extend(0u16.to_le_bytes()); // extra field length
        };
        out.extend(0x0403_4b50u32.to_le_bytes());
        fields(&mut out);
        out.extend(entry.name.as_bytes());
        out.extend(&entry.data);
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(20u16.to_le_bytes()); // version made by
        fields(&mut central);
        central.extend(0u16.to_le_bytes()); // comment length
        central.extend(0u16.to_le_bytes()); // disk
        central.extend(0u16.to_le_bytes()); // internal attributes
        central.extend(0u32.to_le_bytes()); // external attributes
        central.extend(offset.to_le_bytes());
        central.extend(entry.name.as_bytes());
    }
    let start = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(start.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

/// The fixtures' two arrays in a stored `.npz`.
pub fn small_npz() -> Vec<u8> {
    zip(&[
        stored("W1.npy", &npy("<f4", false, &[2, 3], &w1_bytes())),
        stored("b1.npy", &npy("<f8", false, &[3], &b1_bytes())),
    ])
}

/// A deflate stream of `mib` MiB of zeros (about 1 KB per MiB), made a MiB at a time.
pub fn deflated_zeros(prefix: &[u8], mib: usize) -> (Vec<u8>, u32) {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::best());
    let mut crc = flate2::Crc::new();
    encoder.write_all(prefix).unwrap();
    crc.update(prefix);
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..mib {
        encoder.write_all(&zeros).unwrap();
        crc.update(&zeros);
    }
    (encoder.finish().unwrap(), crc.sum())
}

/// Issue 23's `.npz` zip bomb: W1 (2, 3) float32 as the fixtures expect it, whose entry inflates
/// to `mib` MiB; b1 as expected. The entry declares its true size, or (`lie`) the 152 bytes its
/// header and shape make.
pub fn zip_bomb(mib: usize, lie: bool) -> Vec<u8> {
    let header = npy("<f4", false, &[2, 3], &[]);
    let (data, crc) = deflated_zeros(&header, mib);
    let true_size = header.len() as u64 + ((mib as u64) << 20);
    let bomb = Entry {
        name: "W1.npy".to_owned(),
        data,
        deflated: true,
        crc,
        size: if lie {
            header.len() as u64 + 24
        } else {
            true_size
        },
    };
    zip(&[
        bomb,
        stored("b1.npy", &npy("<f8", false, &[3], &b1_bytes())),
    ])
}

/// A `.npy` whose header declares a text of 0xFFFFFFF0 bytes (version 2.0).
pub fn npy_huge_header() -> Vec<u8> {
    let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
    bytes.extend(0xFFFF_FFF0u32.to_le_bytes());
    bytes.extend(b"{'descr': '<f4', ");
    bytes
}

/// Pickle opcodes for the tests.
pub mod op {
    /// Protocol 3 (the book's).
    pub const PROTO3: &[u8] = b"\x80\x03";
    /// MARK.
    pub const MARK: u8 = b'(';
    /// STOP.
    pub const STOP: u8 = b'.';
    /// EMPTY_LIST.
    pub const EMPTY_LIST: u8 = b']';
    /// APPEND.
    pub const APPEND: u8 = b'a';
    /// EMPTY_TUPLE.
    pub const EMPTY_TUPLE: u8 = b')';
    /// TUPLE1.
    pub const TUPLE1: u8 = 0x85;
    /// NONE.
    pub const NONE: u8 = b'N';
    /// BINGET.
    pub const BINGET: u8 = b'h';
    /// BINPUT.
    pub const BINPUT: u8 = b'q';
    /// LONG_BINPUT.
    pub const LONG_BINPUT: u8 = b'r';
    /// EMPTY_DICT.
    pub const EMPTY_DICT: u8 = b'}';
    /// SETITEM.
    pub const SETITEM: u8 = b's';
}

/// Issue 23's deep pickle: `depth` lists, each in the one before (2 bytes a level: a 20 KB file
/// for 10 000).
pub fn pickle_nested_lists(depth: usize) -> Vec<u8> {
    let mut bytes = op::PROTO3.to_vec();
    bytes.extend(std::iter::repeat_n(op::EMPTY_LIST, depth));
    bytes.extend(std::iter::repeat_n(op::APPEND, depth - 1));
    bytes.push(op::STOP);
    bytes
}

/// `depth` tuples, each in the next: `()` then TUPLE1 again and again.
pub fn pickle_nested_tuples(depth: usize) -> Vec<u8> {
    let mut bytes = op::PROTO3.to_vec();
    bytes.push(op::EMPTY_TUPLE);
    bytes.extend(std::iter::repeat_n(op::TUPLE1, depth - 1));
    bytes.push(op::STOP);
    bytes
}

/// Issue 23's `count` MARK opcodes (a 1 MB pickle for a million).
pub fn pickle_marks(count: usize) -> Vec<u8> {
    let mut bytes = op::PROTO3.to_vec();
    bytes.extend(std::iter::repeat_n(op::MARK, count));
    bytes.push(op::STOP);
    bytes
}

/// A list of `count` Nones, appended one at a time (3 bytes each).
pub fn pickle_long_list(count: usize) -> Vec<u8> {
    let mut bytes = op::PROTO3.to_vec();
    bytes.push(op::EMPTY_LIST);
    for _ in 0..count {
        bytes.extend([op::NONE, op::APPEND]);
    }
    bytes.push(op::STOP);
    bytes
}

/// `count` memo entries (LONG_BINPUT of the same None under ids 0, 1, 2...).
pub fn pickle_memo(count: u32) -> Vec<u8> {
    let mut bytes = op::PROTO3.to_vec();
    bytes.push(op::NONE);
    for id in 0..count {
        bytes.push(op::LONG_BINPUT);
        bytes.extend(id.to_le_bytes());
    }
    bytes.push(op::STOP);
    bytes
}

/// A bytes of `mib` MiB memoised, then fetched `fetches` times into a list: a reader that copies
/// on each fetch holds `mib × fetches` MiB.
pub fn pickle_memo_fetches(mib: usize, fetches: usize) -> Vec<u8> {
    let mut bytes = op::PROTO3.to_vec();
    bytes.push(op::EMPTY_LIST);
    bytes.push(b'B'); // BINBYTES
    bytes.extend(((mib << 20) as u32).to_le_bytes());
    bytes.extend(std::iter::repeat_n(0u8, mib << 20));
    bytes.extend([op::BINPUT, 0, op::APPEND]);
    for _ in 0..fetches {
        bytes.extend([op::BINGET, 0, op::APPEND]);
    }
    bytes.push(op::STOP);
    bytes
}

/// A protocol-3 pickle of the dict `{name: value}` for each pair, where each value is raw
/// pickle opcodes pushing one object.
pub fn pickle_dict(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut bytes = op::PROTO3.to_vec();
    bytes.push(op::EMPTY_DICT);
    for (name, value) in entries {
        bytes.push(b'X'); // BINUNICODE
        bytes.extend((name.len() as u32).to_le_bytes());
        bytes.extend(name.as_bytes());
        bytes.extend(*value);
        bytes.push(op::SETITEM);
    }
    bytes.push(op::STOP);
    bytes
}

/// The opcodes of a NumPy array as the book's pickles hold it (protocol 3): `_reconstruct`,
/// then BUILD with `(1, shape, dtype(descr), False, data)`, the dtype's byte order `<`.
pub fn pickled_array(descr: &str, shape: &[u8], data: &[u8]) -> Vec<u8> {
    let mut b =
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01"
            .to_vec();
    b.push(op::MARK);
    for &d in shape {
        b.extend([b'K', d]);
    }
    b.push(b't');
    b.extend(b"cnumpy\ndtype\nX");
    b.extend((descr.len() as u32).to_le_bytes());
    b.extend(descr.as_bytes());
    b.extend(
        b"K\x00K\x01\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb",
    );
    b.push(0x89); // NEWFALSE
    b.push(b'B'); // BINBYTES
    b.extend((data.len() as u32).to_le_bytes());
    b.extend(data);
    b.extend(b"tb");
    b
}

/// The fixtures' two arrays as a protocol-3 pickle made here (as the book's are).
pub fn small_pickle() -> Vec<u8> {
    pickle_dict(&[
        ("W1", &pickled_array("f4", &[2, 3], &w1_bytes())),
        ("b1", &pickled_array("f8", &[3], &b1_bytes())),
    ])
}
