//! Reading and writing IDX files, and every error a bad file must produce.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use mnist_io::idx::{self, Images};
use mnist_io::{Error, Mnist, Split};

/// An idx1 file written byte by byte, independently of the crate's writer.
fn labels_bytes(labels: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 1];
    bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    bytes
}

/// An idx3 file written byte by byte, independently of the crate's writer.
fn images_bytes(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 3];
    for d in [count, rows, cols] {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(pixels);
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn reads_hand_written_raw_and_gzip_files() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u8> = (0..12).collect();
    for (name, bytes) in [
        ("raw", images_bytes(3, 2, 2, &pixels)),
        ("named.gz", images_bytes(3, 2, 2, &pixels)),
        (
            "gz-without-extension",
            gzip(&images_bytes(3, 2, 2, &pixels)),
        ),
    ] {
        let images = idx::read_images(&write(dir.path(), name, &bytes)).unwrap();
        assert_eq!(
            (images.count(), images.rows(), images.cols()),
            (3, 2, 2),
            "{name}"
        );
        assert_eq!(images.image(2), &[8, 9, 10, 11], "{name}");
        assert_eq!(images.pixels(), &pixels[..], "{name}");
    }
    let path = write(
        dir.path(),
        "labels.gz",
        &gzip(&labels_bytes(&[5, 0, 4, 1, 9])),
    );
    assert_eq!(idx::read_labels(&path).unwrap(), vec![5, 0, 4, 1, 9]);
}

#[test]
fn writes_the_documented_bytes_raw_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let images = Images::new(2, 3, (0..12).collect()).unwrap();
    let raw = dir.path().join("images");
    idx::write_images(&raw, &images).unwrap();
    assert_eq!(
        std::fs::read(&raw).unwrap(),
        images_bytes(2, 2, 3, &(0..12).collect::<Vec<u8>>())
    );

    let gz = dir.path().join("labels.gz");
    idx::write_labels(&gz, &[7, 2, 1]).unwrap();
    let on_disk = std::fs::read(&gz).unwrap();
    assert_eq!(
        &on_disk[..2],
        &[0x1f, 0x8b],
        "a .gz path is gzip-compressed"
    );
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&on_disk[..]),
        &mut decoded,
    )
    .unwrap();
    assert_eq!(decoded, labels_bytes(&[7, 2, 1]));

    // Atomic writes leave nothing but the final files behind.
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["images", "labels.gz"]);
}

#[test]
fn writing_into_a_missing_folder_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-folder").join("labels");
    let err = idx::write_labels(&path, &[1]).unwrap_err();
    assert!(matches!(&err, Error::Write(_)), "{err:?}");
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn missing_file_says_how_to_fetch_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train-labels-idx1-ubyte");
    let err = idx::read_labels(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Missing { path: p } if *p == path),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("train-labels-idx1-ubyte") && message.contains("cargo xtask fetch-mnist"),
        "{message}"
    );
}

#[test]
fn wrong_magic_names_both_numbers() {
    let dir = tempfile::tempdir().unwrap();
    // An images file where labels are expected.
    let path = write(dir.path(), "labels", &images_bytes(1, 1, 1, &[0]));
    let err = idx::read_labels(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadMagic {
                found: 0x803,
                expected: 0x801,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("0x00000803") && message.contains("0x00000801"),
        "{message}"
    );
    assert!(message.contains(&path.display().to_string()), "{message}");
    // And the reverse.
    let path = write(dir.path(), "images", &labels_bytes(&[1]));
    let err = idx::read_images(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadMagic {
                found: 0x801,
                expected: 0x803,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn truncated_header() {
    let dir = tempfile::tempdir().unwrap();
    let labels = labels_bytes(&[1, 2]);
    let err = idx::read_labels(&write(dir.path(), "short", &labels[..6])).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TruncatedHeader {
                found: 6,
                needed: 8,
                ..
            }
        ),
        "{err:?}"
    );
    let err = idx::read_images(&write(dir.path(), "tiny", &[0, 0])).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TruncatedHeader {
                found: 2,
                needed: 16,
                ..
            }
        ),
        "{err:?}"
    );
    let err = idx::read_images(&write(dir.path(), "empty", &[])).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TruncatedHeader {
                found: 0,
                needed: 16,
                ..
            }
        ),
        "{err:?}"
    );
}

/// `bytes` written twice into `dir`: as they are, and gzip-compressed.
fn raw_and_gzip(dir: &Path, bytes: &[u8]) -> [PathBuf; 2] {
    [write(dir, "raw", bytes), write(dir, "gz", &gzip(bytes))]
}

#[test]
fn truncated_body_raw_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = labels_bytes(&[1, 2, 3, 4, 5]);
    bytes.truncate(8 + 3);
    for path in raw_and_gzip(dir.path(), &bytes) {
        let err = idx::read_labels(&path).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TruncatedBody {
                    expected: 5,
                    found: 3,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[test]
fn a_header_announcing_gigabytes_is_rejected_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = images_bytes(u32::MAX, u32::MAX, u32::MAX, &[1, 2, 3]);
    let expected = u128::from(u32::MAX).pow(3);
    // Raw, the size is checked against the file's first: truncated.
    let [raw, gz] = raw_and_gzip(dir.path(), &bytes);
    let err = idx::read_images(&raw).unwrap_err();
    assert!(
        matches!(err, Error::TruncatedBody { expected: e, found: 3, .. } if e == expected),
        "{err:?}"
    );
    // Through gzip it cannot be: the claim is above the limit.
    let err = idx::read_images(&gz).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { expected: e, limit, .. } if e == expected && limit == 64 << 20),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("4294967295 images of 4294967295x4294967295"),
        "{text}"
    );
    assert!(text.contains("above the limit of 67108864 bytes"), "{text}");
    // And through a stream.
    let err = idx::read_images_from(&gzip(&bytes)[..], "stream".as_ref()).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
}

#[test]
fn trailing_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = images_bytes(1, 2, 2, &[1, 2, 3, 4]);
    bytes.extend_from_slice(&[9, 9]);
    for path in raw_and_gzip(dir.path(), &bytes) {
        let err = idx::read_images(&path).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TrailingBytes {
                    expected: 4,
                    extra: 2,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[test]
fn images_of_zero_height_or_width() {
    let dir = tempfile::tempdir().unwrap();
    for (rows, cols) in [(0, 28), (28, 0)] {
        let path = write(dir.path(), "images", &images_bytes(5, rows, cols, &[]));
        let err = idx::read_images(&path).unwrap_err();
        assert!(
            matches!(err, Error::EmptyImageSize { rows: r, cols: c, .. } if (r, c) == (rows, cols)),
            "{err:?}"
        );
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
}

#[test]
fn label_above_nine() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "labels", &labels_bytes(&[3, 9, 10, 0]));
    let err = idx::read_labels(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LabelOutOfRange {
                index: 2,
                label: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("label 10 at index 2"), "{err}");
}

#[test]
fn image_and_label_counts_that_differ() {
    let dir = tempfile::tempdir().unwrap();
    let images = write(dir.path(), "images", &images_bytes(3, 1, 2, &[0; 6]));
    let labels = write(dir.path(), "labels", &labels_bytes(&[1, 2, 3, 4]));
    let err = Split::load(&images, &labels).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CountMismatch {
                image_count: 3,
                label_count: 4,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("images") && message.contains("labels"),
        "{message}"
    );
}

#[test]
fn corrupt_gzip() {
    let dir = tempfile::tempdir().unwrap();
    // gzip magic followed by garbage.
    let garbage = [
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xfe, 0xfd, 0xfc, 0x00, 0x13,
    ];
    let err = idx::read_labels(&write(dir.path(), "garbage.gz", &garbage)).unwrap_err();
    assert!(matches!(err, Error::CorruptGzip { .. }), "{err:?}");
    // A gzip stream cut in the middle.
    let pixels: Vec<u8> = (0..4000u32).map(|i| (i * 7 % 251) as u8).collect();
    let full = gzip(&images_bytes(10, 20, 20, &pixels));
    let err = idx::read_images(&write(dir.path(), "cut.gz", &full[..full.len() / 2])).unwrap_err();
    assert!(matches!(err, Error::CorruptGzip { .. }), "{err:?}");
    assert!(err.to_string().contains("cut.gz"), "{err}");
}

#[test]
fn a_folder_instead_of_a_file_is_named_as_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let err = idx::read_labels(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotAFile {
                kind: "a folder",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("is a folder, not a regular file"),
        "{err}"
    );
}

#[test]
fn in_memory_shapes_are_checked() {
    assert!(matches!(
        Images::new(2, 2, vec![0; 6]),
        Err(Error::Shape { len: 6, .. })
    ));
    assert!(matches!(
        Images::new(0, 2, vec![]),
        Err(Error::Shape { .. })
    ));
    let images = Images::new(1, 1, vec![0, 0]).unwrap();
    assert!(
        Split::new(images.clone(), vec![1]).is_err(),
        "two images, one label"
    );
    assert!(Split::new(images.clone(), vec![1, 10]).is_err(), "label 10");
    assert_eq!(Split::new(images, vec![1, 2]).unwrap().len(), 2);
}

/// Writes a 2-sample train split and a 1-sample test split under the given file names.
fn write_dataset(dir: &Path, names: [&str; 4], gz: [bool; 4]) {
    let files = [
        images_bytes(2, 1, 2, &[0, 255, 51, 102]),
        labels_bytes(&[3, 8]),
        images_bytes(1, 1, 2, &[255, 0]),
        labels_bytes(&[7]),
    ];
    for ((name, bytes), gz) in names.iter().zip(files).zip(gz) {
        write(dir, name, &if gz { gzip(&bytes) } else { bytes });
    }
}

#[test]
fn loads_a_folder_under_canonical_gz_and_dotted_names() {
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte.gz",
        "t10k-images.idx3-ubyte",
        "t10k-labels.idx1-ubyte.gz",
    ];
    write_dataset(dir.path(), names, [false, true, false, true]);
    let mnist = Mnist::load(dir.path()).unwrap();
    assert_eq!((mnist.train.len(), mnist.test.len()), (2, 1));
    assert_eq!(
        (
            mnist.train.rows(),
            mnist.train.cols(),
            mnist.train.pixels_per_image()
        ),
        (1, 2, 2)
    );
    assert_eq!(mnist.train.image(1), &[51, 102]);
    assert_eq!(mnist.train.labels(), &[3, 8]);
    assert_eq!(mnist.test.label(0), 7);

    // The book's normalize=True and one_hot_label=True, for the whole split and for a batch.
    assert_eq!(mnist.train.to_f32_normalized(), vec![0.0, 1.0, 0.2, 0.4]);
    let mut expected = vec![0.0; 20];
    expected[3] = 1.0;
    expected[10 + 8] = 1.0;
    assert_eq!(mnist.train.one_hot(), expected);
    let mut batch = [9.0; 4];
    mnist.train.normalized_batch_into(&[1, 0], &mut batch);
    assert_eq!(batch, [0.2, 0.4, 0.0, 1.0]);
    let mut targets = [9.0; 20];
    mnist.train.one_hot_batch_into(&[1, 0], &mut targets);
    assert_eq!(
        &targets[..10],
        &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    );
    assert_eq!(
        &targets[10..],
        &[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    );
}

#[test]
fn loading_a_folder_with_a_file_missing_names_it() {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(
        dir.path(),
        [
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "unrelated",
        ],
        [false; 4],
    );
    let err = Mnist::load(dir.path()).unwrap_err();
    let expected = dir.path().join("t10k-labels-idx1-ubyte");
    assert!(
        matches!(&err, Error::Missing { path } if *path == expected),
        "{err:?}"
    );
}
