//! The real MNIST files, when present: loaded, and fetched from their folder as a folder
//! mirror against the published SHA-256 of the decompressed files.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use mnist_io::fetch::{self, Dataset, FetchOptions, Mirror};
use mnist_io::{FILES, Mnist};

/// Whether the value of the `CI` variable says this is a CI run: set, and neither empty, `0` nor
/// `false` (in any case). On CI (`.ci/run` sets `CI`) missing data fails the test, so that a green
/// CI means these tests ran; elsewhere they print `skipped: ...` and pass.
fn is_ci(value: Option<&OsStr>) -> bool {
    value.is_some_and(|v| {
        let v = v.to_string_lossy();
        let v = v.trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

/// `MNIST_DIR` if set, else the workspace's `data/mnist` (where `cargo xtask fetch-mnist` puts
/// it), else the team's shared gzip copy next to the workspace. When none holds the four files:
/// a failure on CI, a `skipped:` line elsewhere, naming what each folder lacks.
fn real_mnist_dir() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = match std::env::var_os("MNIST_DIR") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![root.join("data/mnist"), root.join("../shared/data/mnist")],
    };
    let found = candidates.iter().find(|dir| {
        FILES
            .iter()
            .all(|name| mnist_io::find_file(dir, name).is_some())
    });
    if found.is_none() {
        let lacking: Vec<String> = candidates
            .iter()
            .map(|dir| {
                let missing: Vec<&str> = FILES
                    .into_iter()
                    .filter(|name| mnist_io::find_file(dir, name).is_none())
                    .collect();
                if dir.is_dir() {
                    format!(
                        "{} has no {} (raw or .gz)",
                        dir.display(),
                        missing.join(", ")
                    )
                } else {
                    format!("{} does not exist", dir.display())
                }
            })
            .collect();
        let what = format!(
            "the real MNIST files: {}. Run `cargo xtask fetch-mnist` (or `cargo xtask \
             fetch-mnist --mirror ../shared/data/mnist`), or set MNIST_DIR to their folder",
            lacking.join("; ")
        );
        if is_ci(std::env::var_os("CI").as_deref()) {
            panic!("CI is set, so missing test data is a failure, not a skip: {what}");
        }
        eprintln!("skipped: {what}");
    }
    found.cloned()
}

#[test]
fn which_values_of_ci_make_missing_data_a_failure() {
    for on in ["true", "1", "yes", "TRUE"] {
        assert!(is_ci(Some(OsStr::new(on))), "{on:?}");
    }
    for off in ["", " ", "0", "false", "False"] {
        assert!(!is_ci(Some(OsStr::new(off))), "{off:?}");
    }
    assert!(!is_ci(None));
}

#[test]
fn loads_the_real_files() {
    let Some(dir) = real_mnist_dir() else { return };
    let mnist = Mnist::load(&dir).unwrap();
    assert_eq!((mnist.train.len(), mnist.test.len()), (60_000, 10_000));
    for split in [&mnist.train, &mnist.test] {
        assert_eq!(
            (split.rows(), split.cols(), split.pixels_per_image()),
            (28, 28, 784)
        );
    }
    assert_eq!(&mnist.train.labels()[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!(&mnist.test.labels()[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    // MNIST's images have a blank border: the top-left pixel of the first image is 0.
    assert_eq!(mnist.train.image(0)[0], 0);
}

#[test]
fn fetching_from_the_shared_folder_verifies_the_published_checksums() {
    let Some(dir) = real_mnist_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    let options = FetchOptions {
        out: out.path().to_path_buf(),
        mirrors: vec![Mirror::Local(dir)],
        progress: false,
        ..FetchOptions::new(Dataset::Mnist, &[])
    };
    let summary = fetch::fetch(&options).unwrap();
    assert_eq!(summary.fetched.len(), 4);
    let sizes: Vec<u64> = FILES
        .iter()
        .map(|name| std::fs::metadata(out.path().join(name)).unwrap().len())
        .collect();
    assert_eq!(sizes, [47_040_016, 60_008, 7_840_016, 10_008]);
}
