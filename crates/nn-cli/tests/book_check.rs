//! `nn-cli book-check` through the real binary, on the real MNIST test set and the book's trained
//! weights: every row agrees with the book (the ch03 sample_weight's 648 errors one at a time
//! and in batches of 100, SimpleConvNet's 0.9890, DeepConvNet's 0.9935 in f32 and with float16
//! values), and a missing weights folder is a clear error.

use std::path::PathBuf;

mod common;
use common::{nn_cli, real_mnist_or_skip, root};

/// The book's weight files book-check reads.
const WEIGHTS: [&str; 3] = [
    "sample_weight.npz",
    "simple_convnet_params.npz",
    "deep_convnet_params.npz",
];

/// `../shared/data/book-weights`, or `None` after [`common::data_missing`] (a failure on CI).
#[track_caller]
fn book_weights_or_skip() -> Option<PathBuf> {
    let dir = root().join("../shared/data/book-weights");
    let missing: Vec<&str> = WEIGHTS
        .into_iter()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if missing.is_empty() {
        return Some(dir);
    }
    common::data_missing(&format!(
        "the book's trained weights: {} has no {} (see shared/data/book-weights/README.md)",
        dir.display(),
        missing.join(", ")
    ));
    None
}

#[test]
fn every_number_of_the_book_agrees() {
    let (Some(weights), Some(data)) = (book_weights_or_skip(), real_mnist_or_skip()) else {
        return;
    };
    let output = nn_cli()
        .arg("book-check")
        .arg("--data")
        .arg(&data)
        .arg("--book-weights")
        .arg(&weights)
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8(output.stdout).unwrap();
    println!("{stdout}");
    assert!(
        stdout.contains("all 30 rows agree with the book"),
        "{stdout}"
    );
    assert!(!stdout.contains("**NO**"), "{stdout}");
    // The rows the issue names, with our figure in the `ours` column.
    for (script, ours) in [
        ("`ch03/neuralnet_mnist.py`", "| 0.9352 (648 errors) | yes |"),
        (
            "`ch03/neuralnet_mnist_batch.py`",
            "| 0.9352 (648 errors) | yes |",
        ),
        ("`ch07/simple_convnet.py`", "| 0.9890 (110 errors) | yes |"),
        (
            "`ch08/misclassified_mnist.py`",
            "| 0.9935 (65 errors) | yes |",
        ),
        (
            "`ch08/half_float_network.py`",
            "| 0.9935 (65 errors) | yes |",
        ),
        (
            "`ch05/buy_apple_orange.py`",
            "| [715.0, 2.2, 110.0, 3.3, 165.0, 650.0] | yes |",
        ),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {script} ")))
            .unwrap_or_else(|| panic!("no row of {script}: {stdout}"));
        assert!(line.contains(ours), "{line}");
    }
}

#[test]
fn missing_weights_are_a_clear_error() {
    let Some(data) = real_mnist_or_skip() else {
        return;
    };
    let empty = tempfile::tempdir().unwrap();
    let output = nn_cli()
        .arg("book-check")
        .arg("--data")
        .arg(&data)
        .arg("--book-weights")
        .arg(empty.path())
        .assert()
        .failure()
        .get_output()
        .clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("sample_weight.npz is missing") && stderr.contains("--book-weights"),
        "{stderr}"
    );
}
