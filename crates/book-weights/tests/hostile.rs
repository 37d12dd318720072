//! Issue 23's hostile weight files, each made here and read within bounds: a pickle nested
//! 10 000 deep, a million MARKs, a memo fetched 100 000 times, an `.npz` zip bomb (declaring its
//! true size, or lying), a `.npy` header length of 0xFFFFFFF0, files cut short, and paths that
//! are not regular files. Where memory matters, the file is read in a child process whose peak
//! resident memory is measured (on Linux).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use book_weights::{Error, Expected, Float, Limits, NpyProblem, PickleLimits, PickleProblem};

mod files;

const FLOATS: [Float; 2] = [Float::F32, Float::F64];

/// The fixtures' arrays: W1 (2, 3) and b1 (3,).
fn small() -> Expected {
    Expected::new()
        .array("W1", &[2, 3], &FLOATS)
        .array("b1", &[3], &FLOATS)
}

fn read_bytes(bytes: &[u8]) -> Result<book_weights::Arrays, Error> {
    Limits::default().read_from(Cursor::new(bytes), Path::new("hostile"), &small())
}

const CHILD_ENV: &str = "BOOK_WEIGHTS_HOSTILE_FILE";

/// In the child: reads the file named by `BOOK_WEIGHTS_HOSTILE_FILE`, prints the outcome and
/// its peak resident memory.
///
/// The peak is the process's own `VmHWM` (Linux), the high-water mark of its address space:
/// `getrusage`'s `ru_maxrss`, of the child or of `RUSAGE_CHILDREN`, also counts the parent's
/// peak, which a child spawned with `CLONE_VM` (as `std::process::Command` does) inherits until
/// its `exec`, so it would measure the tests running beside it.
#[test]
fn child_reads_weights() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    match book_weights::read(Path::new(&path), &small()) {
        Ok(arrays) => println!("outcome: {} arrays", arrays.len()),
        Err(e) => println!("outcome: {e}"),
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(kb) = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
    {
        println!("peak: {kb}");
    }
}

/// Writes `bytes` to a file and reads it in a child: the error (or success) it printed, and its
/// peak resident memory in MiB (0 where the system does not say).
fn read_in_child(name: &str, bytes: &[u8]) -> (String, f64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_reads_weights",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, &path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{name}: {output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let outcome = stdout
        .lines()
        .find_map(|l| l.split_once("outcome: ").map(|(_, o)| o.to_owned()))
        .unwrap_or_else(|| panic!("{stdout}"));
    let peak = stdout
        .lines()
        .find_map(|l| l.strip_prefix("peak: "))
        .map_or(0.0, |kb| kb.parse::<f64>().unwrap() / 1024.0);
    if cfg!(target_os = "linux") {
        assert!(peak > 0.0, "{stdout}");
    }
    eprintln!(
        "{name} ({} bytes): peak RSS {peak:.1} MiB: {outcome}",
        bytes.len()
    );
    (outcome, peak)
}

/// The bound on a hostile read's peak memory (the child's test harness included, about 5 MiB).
const PEAK_MIB: f64 = 40.0;

fn pickle_problem(bytes: &[u8]) -> PickleProblem {
    match read_bytes(bytes) {
        Err(Error::Pickle { problem, .. }) => problem,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_pickle_nested_10000_deep_is_refused_at_depth_32() {
    let lists = files::pickle_nested_lists(10_000);
    assert_eq!(lists.len(), 20_002, "the issue's 20 KB file");
    assert_eq!(pickle_problem(&lists), PickleProblem::TooDeep { limit: 32 });
    assert_eq!(
        pickle_problem(&files::pickle_nested_tuples(10_000)),
        PickleProblem::TooDeep { limit: 32 }
    );
    let (outcome, peak) = read_in_child("deep.pkl", &lists);
    assert!(
        outcome.contains("it nests containers more than 32 deep"),
        "{outcome}"
    );
    assert!(peak < PEAK_MIB, "{peak} MiB");
    // Depth 32 itself is within the bound: the error is then what the pickle holds.
    assert_eq!(
        pickle_problem(&files::pickle_nested_lists(32)),
        PickleProblem::NotADict { found: "a list" }
    );
}

#[test]
fn a_million_marks_are_refused_at_the_65th_in_little_memory() {
    let marks = files::pickle_marks(1_000_000);
    let err = read_bytes(&marks).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Pickle {
                offset: 66,
                problem: PickleProblem::TooManyMarks { limit: 64 },
                ..
            }
        ),
        "{err}"
    );
    let (outcome, peak) = read_in_child("marks.pkl", &marks);
    assert!(
        outcome.contains(
            "it opens more than 64 MARKs at once, where a dict of arrays needs 3 (at byte 66)"
        ),
        "{outcome}"
    );
    assert!(peak < PEAK_MIB, "{peak} MiB");
}

#[test]
fn the_stack_the_memo_and_the_structure_are_bounded() {
    let mut nones = files::op::PROTO3.to_vec();
    nones.extend(std::iter::repeat_n(files::op::NONE, 20_000));
    assert_eq!(
        pickle_problem(&nones),
        PickleProblem::StackTooLarge { limit: 10_000 }
    );
    assert_eq!(
        pickle_problem(&files::pickle_memo(200_000)),
        PickleProblem::MemoTooLarge { limit: 100_000 }
    );
    // A list of a million items (3 MB): beyond 16 MiB of structure.
    let list = files::pickle_long_list(1_000_000);
    assert_eq!(
        pickle_problem(&list),
        PickleProblem::StructureTooLarge { limit: 16 << 20 }
    );
    let (outcome, peak) = read_in_child("long.pkl", &list);
    assert!(
        outcome.contains("takes more than 16777216 bytes"),
        "{outcome}"
    );
    assert!(peak < PEAK_MIB, "{peak} MiB");
}

#[test]
fn a_memo_fetched_100000_times_costs_no_copy() {
    // 1 MiB of bytes fetched 100 000 times: 100 GB for a reader that copies on each fetch.
    let fetches = files::pickle_memo_fetches(1, 100_000);
    assert_eq!(
        pickle_problem(&fetches),
        PickleProblem::NotADict { found: "a list" }
    );
    let (outcome, peak) = read_in_child("fetches.pkl", &fetches);
    assert!(
        outcome.contains("it holds a list, not a dict of arrays"),
        "{outcome}"
    );
    assert!(peak < PEAK_MIB, "{peak} MiB");
}

#[test]
fn a_zip_bomb_is_refused_before_its_data_is_inflated() {
    // 256 MiB of zeros behind W1's header: about 256 KB of deflate.
    let honest = files::zip_bomb(256, false);
    assert!(honest.len() < 1 << 20, "{}", honest.len());
    let err = read_bytes(&honest).unwrap_err();
    assert!(matches!(err, Error::Damaged { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!(
            "array W1 is damaged: its entry declares {} bytes where its header and shape make 152",
            128 + (256u64 << 20)
        )),
        "{err}"
    );
    let (outcome, peak) = read_in_child("bomb.npz", &honest);
    assert!(outcome.contains("array W1 is damaged"), "{outcome}");
    assert!(peak < PEAK_MIB, "{peak} MiB");
    // Declaring the 152 bytes W1 needs, and inflating to 256 MiB: read up to 153 bytes.
    let liar = files::zip_bomb(256, true);
    let err = read_bytes(&liar).unwrap_err();
    assert!(matches!(err, Error::Damaged { .. }), "{err}");
    assert!(err.to_string().contains("array W1 is damaged"), "{err}");
    let (outcome, peak) = read_in_child("liar.npz", &liar);
    assert!(outcome.contains("array W1 is damaged"), "{outcome}");
    assert!(peak < PEAK_MIB, "{peak} MiB");
}

#[test]
fn an_archive_whose_header_declares_a_huge_shape_is_refused_from_the_header() {
    let header = files::npy("<f8", false, &[100_000, 100_000], &[]);
    let (data, crc) = files::deflated_zeros(&header, 16);
    let bomb = files::Entry {
        name: "W1.npy".to_owned(),
        data,
        deflated: true,
        crc,
        size: header.len() as u64 + (16 << 20),
    };
    let npz = files::zip(&[
        bomb,
        files::stored(
            "b1.npy",
            &files::npy("<f8", false, &[3], &files::b1_bytes()),
        ),
    ]);
    let err = read_bytes(&npz).unwrap_err();
    assert!(
        err.to_string()
            .contains("array W1 has shape (100000, 100000) where (2, 3) is expected"),
        "{err}"
    );
}

#[test]
fn an_npy_header_length_of_0xfffffff0_is_refused_before_allocation() {
    let lone = files::npy_huge_header();
    let err = Limits::default()
        .read_from(
            Cursor::new(&lone),
            Path::new("W1.npy"),
            &Expected::new().array("W1", &[2, 3], &FLOATS),
        )
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Npy {
                problem: NpyProblem::TooLong {
                    len: 0xFFFF_FFF0,
                    limit: 10_000
                },
                ..
            }
        ),
        "{err}"
    );
    // Inside an archive.
    let npz = files::zip(&[
        files::deflated("W1.npy", &lone),
        files::stored(
            "b1.npy",
            &files::npy("<f8", false, &[3], &files::b1_bytes()),
        ),
    ]);
    let (outcome, peak) = read_in_child("header.npz", &npz);
    assert!(
        outcome.contains(
            "the .npy header of array W1 declares 4294967280 bytes, more than the 10000 NumPy \
             itself reads"
        ),
        "{outcome}"
    );
    assert!(peak < PEAK_MIB, "{peak} MiB");
}

#[test]
fn bytes_longer_than_the_file_are_an_early_end_not_an_allocation() {
    let mut pickle = files::op::PROTO3.to_vec();
    pickle.push(0x8e); // BINBYTES8
    pickle.extend((1u64 << 62).to_le_bytes());
    pickle.extend(b"short");
    let err = read_bytes(&pickle).unwrap_err();
    assert!(
        matches!(&err, Error::Truncated { what, .. } if what == "the pickle"),
        "{err}"
    );
}

#[test]
fn every_cut_of_a_file_is_an_error_that_names_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for name in [
        "small_p2.pkl",
        "small_p3.pkl",
        "small_p5.pkl",
        "small.npz",
        "small_compressed.npz",
        "W1.npy",
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let one = Expected::new().array("W1", &[2, 3], &FLOATS);
        let expected = if name.ends_with(".npy") { one } else { small() };
        for cut in 0..bytes.len() {
            let err = Limits::default()
                .read_from(Cursor::new(&bytes[..cut]), Path::new(name), &expected)
                .unwrap_err();
            let text = err.to_string();
            assert!(text.starts_with(name), "{name} cut at {cut}: {text}");
            match (name.rsplit('.').next(), cut) {
                (_, 0) => assert!(matches!(err, Error::Empty { .. }), "{text}"),
                // Less than NumPy's magic string.
                (Some("npy"), 1..6) => {
                    assert!(matches!(err, Error::UnknownFormat { .. }), "{cut}: {text}")
                }
                // A pickle or a .npy cut anywhere ends early.
                (Some("pkl" | "npy"), _) => {
                    assert!(matches!(err, Error::Truncated { .. }), "{cut}: {text}")
                }
                _ => {}
            }
        }
    }
}

/// The smallest value of one bound that reads `bytes` (bounds only ever refuse more as they
/// shrink, so a bisection finds it).
fn least(bytes: &[u8], set: fn(&mut PickleLimits, usize), expected: &Expected) -> usize {
    let reads = |n: usize| {
        let mut limits = Limits::default();
        set(&mut limits.pickle, n);
        limits
            .read_from(Cursor::new(bytes), Path::new("p"), expected)
            .is_ok()
    };
    let (mut low, mut high) = (0, 1 << 24);
    assert!(reads(high));
    while low < high {
        let mid = (low + high) / 2;
        if reads(mid) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    low
}

#[test]
fn the_books_pickles_need_a_fraction_of_the_bounds() {
    // The pickles NumPy wrote, the one made here, and the book's own (when this machine has
    // them): what PickleLimits' docs say they need.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut pickles: Vec<(String, Vec<u8>, Expected)> = [
        "small_p2.pkl",
        "small_p3.pkl",
        "small_p4.pkl",
        "small_p5.pkl",
    ]
    .iter()
    .map(|n| (n.to_string(), std::fs::read(data.join(n)).unwrap(), small()))
    .collect();
    pickles.push(("made.pkl".to_owned(), files::small_pickle(), small()));
    let book = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/book-weights");
    if let Ok(bytes) = std::fs::read(book.join("simple_convnet_params.pkl")) {
        let shapes: [(&str, &[usize]); 6] = [
            ("W1", &[30, 1, 5, 5]),
            ("b1", &[30]),
            ("W2", &[4320, 100]),
            ("b2", &[100]),
            ("W3", &[100, 10]),
            ("b3", &[10]),
        ];
        let expected = shapes
            .iter()
            .fold(Expected::new(), |e, (n, s)| e.array(*n, s, &FLOATS));
        pickles.push(("simple_convnet_params.pkl".to_owned(), bytes, expected));
    }
    for (name, bytes, expected) in &pickles {
        let arrays = expected.arrays().len();
        let depth = least(bytes, |l, n| l.max_depth = n, expected);
        let marks = least(bytes, |l, n| l.max_marks = n, expected);
        let stack = least(bytes, |l, n| l.max_stack = n, expected);
        let memo = least(bytes, |l, n| l.max_memo = n, expected);
        let structure = least(bytes, |l, n| l.max_structure_bytes = n, expected);
        eprintln!(
            "{name}: depth {depth}, marks {marks}, stack {stack}, memo {memo}, structure {structure} bytes"
        );
        assert_eq!(depth, 5, "{name}");
        assert!(marks <= 3, "{name}");
        assert!(stack <= 20, "{name}");
        assert!(memo <= 20 * arrays, "{name}");
        assert!(structure <= 4096 * arrays, "{name}");
    }
}

#[test]
fn pickles_of_other_things_say_what_they_hold() {
    let list = b"\x80\x03]q\x00(K\x01K\x02e.";
    let err = read_bytes(list).unwrap_err();
    assert_eq!(
        err.to_string(),
        "hostile is not a pickle of NumPy arrays that this reader can read: it holds a list, not \
         a dict of arrays (at byte 11); give the .npz of the same weights, or pickle a dict of \
         NumPy arrays with Python's pickle module"
    );
    let dict = files::pickle_dict(&[("W1", b"]K\x01a"), ("b1", b"N")]);
    assert_eq!(
        pickle_problem(&dict),
        PickleProblem::NotAnArray {
            name: "W1".to_owned(),
            found: "a list"
        }
    );
    // Protocol 0's text opcodes, an out-of-band buffer.
    assert!(matches!(
        pickle_problem(b"\x80\x02I1\n."),
        PickleProblem::Unsupported { opcode: b'I', .. }
    ));
    assert!(matches!(
        pickle_problem(b"\x80\x05\x97."),
        PickleProblem::Unsupported { opcode: 0x97, .. }
    ));
    assert_eq!(pickle_problem(b"\x80\x06N."), PickleProblem::Protocol(6));
    assert_eq!(
        pickle_problem(b"\x80\x03h\x07."),
        PickleProblem::MissingMemo(7)
    );
    assert_eq!(pickle_problem(b"\x80\x03a."), PickleProblem::StackUnderflow);
    // Not a pickle at all.
    let err = read_bytes(b"W1 = [1, 2, 3]").unwrap_err();
    assert!(matches!(err, Error::UnknownFormat { .. }), "{err}");
}

/// Reads `path` on another thread: the error, or a failure if it takes over 10 seconds (a named
/// pipe once blocked forever).
fn read_quickly(path: PathBuf) -> Error {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(book_weights::read(&path, &small()));
    });
    receive
        .recv_timeout(Duration::from_secs(10))
        .expect("reading blocked")
        .unwrap_err()
}

#[cfg(unix)]
#[test]
fn a_named_pipe_a_folder_or_a_device_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("weights.npz");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let err = read_quickly(fifo.clone());
    assert_eq!(
        err.to_string(),
        format!(
            "{} is a named pipe (fifo), not a regular file: give the weights file itself",
            fifo.display()
        )
    );
    let err = read_quickly(dir.path().to_path_buf());
    assert!(
        err.to_string().contains("is a folder, not a regular file"),
        "{err}"
    );
    let err = read_quickly(PathBuf::from("/dev/zero"));
    assert!(
        err.to_string().contains("is a device, not a regular file"),
        "{err}"
    );
    let err = read_quickly(dir.path().join("absent.pkl"));
    assert!(matches!(err, Error::Open { .. }), "{err}");
}

#[test]
fn no_message_shows_debug_text_or_a_crate_name() {
    let cases: Vec<Vec<u8>> = vec![
        files::pickle_nested_lists(10_000),
        files::pickle_marks(100),
        files::zip_bomb(1, true),
        files::npy_huge_header(),
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/int.npz")).unwrap(),
        b"\x80\x03}q\x00X\x02\x00\x00\x00W1q\x01N.".to_vec(),
    ];
    for bytes in cases {
        let text = read_bytes(&bytes).unwrap_err().to_string();
        for debug in ["serde", "npyz", "Some(", "TypeStr", "Plain", "{ ", "\\x"] {
            assert!(!text.contains(debug), "{text}");
        }
    }
}
