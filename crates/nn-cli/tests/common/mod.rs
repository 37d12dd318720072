//! What nn-cli's integration tests share: the binary, the real MNIST folder when this machine has
//! it, and small synthetic datasets written as IDX files under MNIST's names.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use mnist_io::idx::{self, Images};
use tempfile::TempDir;

/// The `nn-cli` binary of this build.
pub fn nn_cli() -> Command {
    Command::cargo_bin("nn-cli").unwrap()
}

/// The workspace's root folder.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether the value of the `CI` variable says this is a CI run: set, and neither empty, `0` nor
/// `false` (in any case).
pub fn is_ci(value: Option<&OsStr>) -> bool {
    value.is_some_and(|v| {
        let v = v.to_string_lossy();
        let v = v.trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

/// A test's data is missing (`what`: which files, and how to get them). On CI (see [`is_ci`];
/// `.ci/run` sets `CI`) that fails the test, so that a green CI means the test ran; elsewhere
/// the test prints `skipped: ...` and passes.
#[track_caller]
pub fn data_missing(what: &str) {
    if is_ci(std::env::var_os("CI").as_deref()) {
        panic!("CI is set, so missing test data is a failure, not a skip: {what}");
    }
    println!("skipped: {what}");
}

/// What `dirs` lack of `files` (each raw or gzip), for [`data_missing`]'s message.
pub fn lacking(dirs: &[PathBuf], files: &[&str]) -> String {
    dirs.iter()
        .map(|dir| {
            let missing: Vec<&str> = files
                .iter()
                .copied()
                .filter(|f| mnist_io::find_file(dir, f).is_none())
                .collect();
            if !dir.is_dir() {
                format!("{} does not exist", dir.display())
            } else {
                format!(
                    "{} has no {} (raw or .gz)",
                    dir.display(),
                    missing.join(", ")
                )
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The folders searched for the real MNIST files: `MNIST_DIR` if set, else `data/mnist` (where
/// `cargo xtask fetch-mnist` puts them) and `../shared/data/mnist` beside the checkout.
pub fn mnist_dirs() -> Vec<PathBuf> {
    match std::env::var_os("MNIST_DIR") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![
            root().join("data/mnist"),
            root().join("../shared/data/mnist"),
        ],
    }
}

/// The first of [`mnist_dirs`] that holds the four real MNIST files, if any does.
pub fn real_mnist() -> Option<PathBuf> {
    mnist_dirs().into_iter().find(|dir| {
        mnist_io::FILES
            .iter()
            .all(|f| mnist_io::find_file(dir, f).is_some())
    })
}

/// [`real_mnist`], or `None` after [`data_missing`] (a failure on CI) names what is missing and
/// how to get it.
#[track_caller]
pub fn real_mnist_or_skip() -> Option<PathBuf> {
    let found = real_mnist();
    if found.is_none() {
        data_missing(&format!(
            "the real MNIST files: {}. Run `cargo xtask fetch-mnist` (or `cargo xtask \
             fetch-mnist --mirror ../shared/data/mnist`), or set MNIST_DIR to their folder",
            lacking(&mnist_dirs(), &mnist_io::FILES)
        ));
    }
    found
}

/// A reproducible stream of pseudo-random bytes below `below` (a 64-bit LCG).
pub fn noise(seed: u64, below: u8) -> impl FnMut() -> u8 {
    let mut state = seed;
    move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u8 % below
    }
}

/// The side of [`stripes`]' images.
pub const SIDE: usize = 8;

/// A learnable 10-class problem of 8×8 images: class `c` lights pixels `6c..6c+6` (255) on a
/// background of pseudo-random noise below 60.
pub fn stripes(count: usize, seed: u64) -> (Images, Vec<u8>) {
    let mut noise = noise(seed, 60);
    let mut pixels = Vec::with_capacity(count * SIDE * SIDE);
    let mut labels = Vec::with_capacity(count);
    for i in 0..count {
        let c = (i * 7 + 3) % 10;
        labels.push(c as u8);
        for p in 0..SIDE * SIDE {
            pixels.push(if p / 6 == c { 255 } else { noise() });
        }
    }
    (Images::new(SIDE, SIDE, pixels).unwrap(), labels)
}

/// A temporary folder with `mnist/` holding 600 training and 200 test samples of `split` (seeds 1
/// and 2) under MNIST's names; returns the folder and `mnist/`.
pub fn dataset(split: impl Fn(usize, u64) -> (Images, Vec<u8>)) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mnist");
    fs::create_dir(&data).unwrap();
    for (name, count, seed) in [("train", 600, 1), ("t10k", 200, 2)] {
        let (images, labels) = split(count, seed);
        idx::write_images(&data.join(format!("{name}-images-idx3-ubyte")), &images).unwrap();
        idx::write_labels(&data.join(format!("{name}-labels-idx1-ubyte")), &labels).unwrap();
    }
    (dir, data)
}

/// [`dataset`] of [`stripes`].
pub fn synthetic() -> (TempDir, PathBuf) {
    dataset(stripes)
}

/// Gives the child of `command` SIGINT's default action, as a terminal's Ctrl-C finds it: a test
/// harness started as a background job ignores SIGINT, and an ignored signal stays ignored across
/// `exec` (nn-cli leaves an ignored SIGINT ignored, as programs do), so the child would never see
/// the Ctrl-C a test sends.
#[cfg(unix)]
pub fn default_sigint(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between `fork` and `exec` the closure only calls `signal`, which is
    // async-signal-safe, and allocates nothing.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(|| {
            use nix::sys::signal::{SigHandler, Signal, signal};
            signal(Signal::SIGINT, SigHandler::SigDfl)
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
}
