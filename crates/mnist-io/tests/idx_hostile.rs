//! Issue 13's hostile IDX files, each reproduced: gzip bombs (with the reader's peak memory
//! measured in a child process), headers claiming more than the file can hold, readers that
//! return one byte at a time, multi-member gzip, and folders, links and named pipes in place of
//! a dataset's file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::Compression;
use flate2::write::GzEncoder;
use mnist_io::idx::{self, Limits};
use mnist_io::{Error, Mnist};

fn labels_bytes(labels: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 1];
    bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    bytes
}

fn images_header(count: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 3];
    for d in [count, rows, cols] {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A gzip file whose header claims `count` 28×28 images, followed by `data` bytes of zeros (a
/// multiple of 16 MiB): one gzip member for the header, then one member of 16 MiB of zeros
/// (16 KB compressed) over and over, as `zcat` reads them.
fn bomb(path: &Path, count: u32, data: u64) {
    let mut file = std::fs::File::create(path).unwrap();
    file.write_all(&gzip(&images_header(count, 28, 28)))
        .unwrap();
    let member = gzip(&vec![0u8; 16 << 20]);
    for _ in 0..data / (16 << 20) {
        file.write_all(&member).unwrap();
    }
}

/// Environment variable that makes `child_reads_images` read the file it names.
const CHILD_ENV: &str = "MNIST_IO_HOSTILE_FILE";

/// In the child: reads the images file named by `MNIST_IO_HOSTILE_FILE` and prints the outcome.
#[test]
fn child_reads_images() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    match idx::read_images(Path::new(&path)) {
        Ok(images) => println!("outcome: {} images", images.count()),
        Err(e) => println!("outcome: {e}"),
    }
}

/// Reads `path` in a child process: what it printed, and its peak resident memory in MiB
/// (getrusage's `ru_maxrss` of the children, the largest so far in this test binary; this test
/// file's children are all bounded the same way).
fn read_in_child(path: &Path) -> (String, f64) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_reads_images",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let outcome = stdout
        .lines()
        .find_map(|l| l.split_once("outcome: ").map(|(_, o)| o.to_owned()))
        .unwrap_or_else(|| panic!("{stdout}"));
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    (outcome, usage.max_rss() as f64 / 1024.0)
}

#[test]
fn gzip_bombs_end_in_a_clear_error_far_under_200_mb() {
    let dir = tempfile::tempdir().unwrap();
    // The case: 4e9 images claimed, 2 GB of zeros behind them, 2 MB compressed.
    let claim = dir.path().join("claims-4e9-images.gz");
    bomb(&claim, 4_000_000_000, 2 << 30);
    let size = std::fs::metadata(&claim).unwrap().len();
    assert!(size < 3 << 20, "{size}");
    let (outcome, peak_mib) = read_in_child(&claim);
    assert!(outcome.contains("4000000000 images of 28x28"), "{outcome}");
    assert!(outcome.contains("above the limit"), "{outcome}");
    eprintln!("bomb claiming 4e9 images: peak RSS {peak_mib:.1} MiB: {outcome}");
    assert!(peak_mib < 200.0, "{peak_mib} MiB");

    // A claim just under the limit (85 000 images, 63.5 MiB), with 2 GB of data behind it: the
    // reader stops at the claim and reports the data left over.
    let under = dir.path().join("claims-85000-images.gz");
    bomb(&under, 85_000, 2 << 30);
    let (outcome, peak_mib) = read_in_child(&under);
    assert!(
        outcome.contains("unexpected data after the 66640000 bytes"),
        "{outcome}"
    );
    eprintln!("bomb claiming 85000 images: peak RSS {peak_mib:.1} MiB: {outcome}");
    assert!(peak_mib < 200.0, "{peak_mib} MiB");

    // A claim under the limit with less data (16 MiB): the buffer grew only with what came.
    let short = dir.path().join("claims-85000-holds-1000.gz");
    bomb(&short, 85_000, 16 << 20);
    let (outcome, peak_mib) = read_in_child(&short);
    assert!(outcome.contains("truncated"), "{outcome}");
    assert!(peak_mib < 200.0, "{peak_mib} MiB");
}

#[test]
fn a_gzip_file_cannot_claim_more_than_it_can_decompress_to() {
    let dir = tempfile::tempdir().unwrap();
    // 1000 images (784 000 bytes) claimed by a gzip file of a few dozen bytes: impossible
    // (deflate expands 1032 times at most).
    let path = dir.path().join("small.gz");
    std::fs::write(&path, gzip(&images_header(1000, 28, 28))).unwrap();
    let err = idx::read_images(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ImpossibleSize {
                expected: 784_000,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("more than a gzip file of this size can hold"),
        "{err}"
    );
}

#[test]
fn the_limit_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels");
    std::fs::write(&path, labels_bytes(&[1; 100])).unwrap();
    let small = Limits { max_data_bytes: 99 };
    let err = small.read_labels(&path).unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 99, .. }), "{err:?}");
    assert!(err.to_string().contains("100 labels"), "{err}");
    assert_eq!(
        Limits {
            max_data_bytes: 100
        }
        .read_labels(&path)
        .unwrap()
        .len(),
        100
    );
}

/// A reader that returns one byte per call.
struct OneByte<R>(R);

impl<R: Read> Read for OneByte<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let len = buf.len().min(1);
        self.0.read(&mut buf[..len])
    }
}

#[test]
fn a_reader_that_returns_one_byte_at_a_time_reads_raw_and_gzip() {
    let bytes = labels_bytes(&[3, 1, 4, 1, 5, 9, 2, 6]);
    for stream in [bytes.clone(), gzip(&bytes)] {
        let labels = idx::read_labels_from(OneByte(&stream[..]), "one-byte".as_ref()).unwrap();
        assert_eq!(labels, [3, 1, 4, 1, 5, 9, 2, 6]);
    }
}

#[test]
fn a_multi_member_gzip_file_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = labels_bytes(&[7; 50]);
    let mut members = gzip(&bytes[..3]); // the first member ends inside the header
    members.extend(gzip(&bytes[3..30]));
    members.extend(gzip(&bytes[30..]));
    let path = dir.path().join("labels.gz");
    std::fs::write(&path, members).unwrap();
    assert_eq!(idx::read_labels(&path).unwrap(), vec![7; 50]);
}

/// Writes a valid 1-sample dataset into `dir`, except for `skip`.
fn write_dataset_but(dir: &Path, skip: &str) {
    let files = [
        (
            "train-images-idx3-ubyte",
            [images_header(1, 1, 1), vec![9]].concat(),
        ),
        ("train-labels-idx1-ubyte", labels_bytes(&[3])),
        (
            "t10k-images-idx3-ubyte",
            [images_header(1, 1, 1), vec![9]].concat(),
        ),
        ("t10k-labels-idx1-ubyte", labels_bytes(&[4])),
    ];
    for (name, bytes) in files {
        if name != skip {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

#[cfg(unix)]
#[test]
fn a_folder_a_link_loop_a_dangling_link_or_a_fifo_in_place_of_a_data_file_is_named_as_such() {
    use std::os::unix::fs::symlink;
    let name = "t10k-labels-idx1-ubyte";
    /// A case: its name, how to make it at a path, and what the error must say.
    type Case = (&'static str, fn(&Path), &'static str);
    let cases: [Case; 4] = [
        (
            "folder",
            |p| std::fs::create_dir(p).unwrap(),
            "is a folder, not a regular file",
        ),
        (
            "loop",
            |p| {
                symlink(p.with_extension("other"), p).unwrap();
                symlink(p, p.with_extension("other")).unwrap();
            },
            "Too many levels of symbolic links",
        ),
        (
            "dangling",
            |p| symlink(p.with_extension("gone"), p).unwrap(),
            "which does not exist; fix or remove the link",
        ),
        (
            "fifo",
            |p| {
                nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
            },
            "is a named pipe (fifo), not a regular file",
        ),
    ];
    for (case, make, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_dataset_but(dir.path(), name);
        let path: PathBuf = dir.path().join(name);
        make(&path);
        assert_eq!(
            mnist_io::find_file(dir.path(), name),
            Some(path.clone()),
            "{case}"
        );
        let err = Mnist::load(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(!matches!(err, Error::Missing { .. }), "{case}: {text}");
        assert!(
            text.starts_with(&path.display().to_string()),
            "{case}: {text}"
        );
        assert!(text.contains(message), "{case}: {text}");
    }
}

#[test]
fn a_regular_file_under_another_accepted_name_wins_over_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let name = "t10k-labels-idx1-ubyte";
    write_dataset_but(dir.path(), name);
    std::fs::create_dir(dir.path().join(name)).unwrap();
    std::fs::write(
        dir.path().join(format!("{name}.gz")),
        gzip(&labels_bytes(&[4])),
    )
    .unwrap();
    assert_eq!(Mnist::load(dir.path()).unwrap().test.label(0), 4);
}
