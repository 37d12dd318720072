//! Issue 23's `import` cases through the real binary: hostile weight files (a pickle nested
//! 10 000 deep, a million MARKs, an `.npz` zip bomb, a `.npy` header length of 0xFFFFFFF0, a
//! named pipe) end in a clear error within bounded memory; `--out` never overwrites its input or
//! an MNIST file; the messages name no internal crate, show no Debug text, and suggest another
//! `--net` only for weights of that network.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;
use common::{nn_cli, root};

#[path = "../../book-weights/tests/files/mod.rs"]
mod files;

/// `import --net <net> --book-weights <weights> --out <out>`, stopped after 60 seconds.
fn import(net: &str, weights: &Path, out: &Path) -> assert_cmd::assert::Assert {
    nn_cli()
        .args(["import", "--net", net, "--book-weights"])
        .arg(weights)
        .arg("--out")
        .arg(out)
        .timeout(Duration::from_secs(60))
        .assert()
}

/// The peak resident memory of the children waited for so far, in MB: an upper bound of each
/// child's (it includes this test process's own peak, which a child inherits until its `exec`).
fn children_peak_mb() -> f64 {
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    let peak = usage.max_rss() as f64 * 1024.0 / 1e6;
    eprintln!("peak RSS of the children so far: {peak:.1} MB");
    peak
}

/// The bound on the peak memory of a hostile import.
const PEAK_MB: f64 = 200.0;

/// Writes `bytes` as `name` in a new folder; returns the folder, the file and an `--out` there.
fn hostile(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    fs::write(&path, bytes).unwrap();
    let out = dir.path().join("params.ron");
    (dir, path, out)
}

/// stderr of a failed import, checked to be an error (exit code 1, no crash, no signal), to
/// have written nothing, and to name no internal crate nor show Debug text.
fn failure(assert: assert_cmd::assert::Assert, out: &Path) -> String {
    let output = assert.get_output().clone();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(!out.exists(), "nothing is written after an error");
    let stderr = String::from_utf8(output.stderr).unwrap();
    for debug in ["serde", "npyz", "Some(", "TypeStr", "Plain", "panicked"] {
        assert!(!stderr.contains(debug), "{stderr}");
    }
    stderr
}

#[test]
fn a_pickle_nested_10000_deep_is_an_error_not_a_crash() {
    let (_dir, path, out) = hostile("deep.pkl", &files::pickle_nested_lists(10_000));
    let stderr = failure(import("simple-convnet", &path, &out), &out);
    assert!(
        stderr.contains("it nests containers more than 32 deep"),
        "{stderr}"
    );
    assert!(!stderr.contains("--net deep-convnet"), "{stderr}");
    assert!(children_peak_mb() < PEAK_MB, "{} MB", children_peak_mb());
}

#[test]
fn a_million_marks_are_refused_in_bounded_memory() {
    let (_dir, path, out) = hostile("marks.pkl", &files::pickle_marks(1_000_000));
    let stderr = failure(import("simple-convnet", &path, &out), &out);
    assert!(
        stderr.contains("it opens more than 64 MARKs at once"),
        "{stderr}"
    );
    assert!(children_peak_mb() < PEAK_MB, "{} MB", children_peak_mb());
}

#[test]
fn a_zip_bomb_is_refused_from_its_header_before_it_inflates() {
    // W1 declares 10000×10000 float64: 800 MB of zeros, about 800 KB deflated.
    let header = files::npy("<f8", false, &[10_000, 10_000], &[]);
    let (data, crc) = files::deflated_zeros(&header, 800_000_000 >> 20);
    let mut entries = vec![files::Entry {
        name: "W1.npy".to_owned(),
        data,
        deflated: true,
        crc,
        size: header.len() as u64 + ((800_000_000u64 >> 20) << 20),
    }];
    for (name, shape) in [
        ("b1", vec![30]),
        ("W2", vec![4320, 100]),
        ("b2", vec![100]),
        ("W3", vec![100, 10]),
        ("b3", vec![10]),
    ] {
        entries.push(zeros(name, &shape));
    }
    let bomb = files::zip(&entries);
    assert!(bomb.len() < 5 << 20, "{}", bomb.len());
    let (_dir, path, out) = hostile("bomb.npz", &bomb);
    let stderr = failure(import("simple-convnet", &path, &out), &out);
    assert!(
        stderr.contains("array W1 has shape (10000, 10000) where (30, 1, 5, 5) is expected"),
        "{stderr}"
    );
    assert!(children_peak_mb() < PEAK_MB, "{} MB", children_peak_mb());
}

#[test]
fn an_npy_header_length_of_0xfffffff0_is_refused() {
    let npz = files::zip(&[files::stored("W1.npy", &files::npy_huge_header())]);
    let (_dir, path, out) = hostile("header.npz", &npz);
    let stderr = failure(import("simple-convnet", &path, &out), &out);
    assert!(
        stderr.contains(
            "the .npy header of array W1 declares 4294967280 bytes, more than the 10000 NumPy \
             itself reads"
        ),
        "{stderr}"
    );
    assert!(children_peak_mb() < PEAK_MB, "{} MB", children_peak_mb());
}

#[cfg(unix)]
#[test]
fn a_named_pipe_as_weights_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("weights.npz");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let out = dir.path().join("params.ron");
    let stderr = failure(
        nn_cli()
            .args(["import", "--net", "simple-convnet", "--book-weights"])
            .arg(&fifo)
            .arg("--out")
            .arg(&out)
            .timeout(Duration::from_secs(10))
            .assert(),
        &out,
    );
    assert!(
        stderr.contains(&format!(
            "{} is a named pipe (fifo), not a regular file",
            fifo.display()
        )),
        "{stderr}"
    );
}

/// An `.npy` entry of float64 zeros of `shape`.
fn zeros(name: &str, shape: &[u64]) -> files::Entry {
    let count: u64 = shape.iter().product();
    let data = vec![0u8; 8 * count as usize];
    files::stored(
        &format!("{name}.npy"),
        &files::npy("<f8", false, shape, &data),
    )
}

/// A valid SimpleConvNet `.npz` of zeros.
fn simple_convnet_zeros() -> Vec<u8> {
    files::zip(&[
        zeros("W1", &[30, 1, 5, 5]),
        zeros("b1", &[30]),
        zeros("W2", &[4320, 100]),
        zeros("b2", &[100]),
        zeros("W3", &[100, 10]),
        zeros("b3", &[10]),
    ])
}

#[test]
fn out_never_overwrites_the_weights_or_an_mnist_file() {
    let weights = simple_convnet_zeros();
    let (dir, path, _) = hostile("simple.npz", &weights);
    // The weights themselves, under another spelling of the path.
    let same = dir.path().join(".").join("simple.npz");
    let stderr = failure(
        import("simple-convnet", &path, &same),
        &dir.path().join("none"),
    );
    assert!(
        stderr.contains(&format!(
            "--out {} is the same file as the input --book-weights {}",
            same.display(),
            path.display()
        )),
        "{stderr}"
    );
    assert_eq!(fs::read(&path).unwrap(), weights, "the weights are intact");
    // An MNIST file, wherever it is, under any of its accepted names.
    for name in ["t10k-labels-idx1-ubyte", "train-images.idx3-ubyte.gz"] {
        let mnist = dir.path().join(name);
        fs::write(&mnist, b"MNIST").unwrap();
        let stderr = failure(
            import("simple-convnet", &path, &mnist),
            &dir.path().join("none"),
        );
        assert!(
            stderr.contains("is the same file as the input MNIST file"),
            "{stderr}"
        );
        assert_eq!(fs::read(&mnist).unwrap(), b"MNIST", "{name} is intact");
    }
    // Elsewhere, the same weights import.
    let out = dir.path().join("model.ron");
    import("simple-convnet", &path, &out).success();
    assert!(out.exists());
}

#[test]
fn only_weights_of_another_network_suggest_its_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("params.ron");
    // Weights of SimpleConvNet given as DeepConvNet's: the flag that imports them.
    let (_d, simple, _) = hostile("simple.npz", &simple_convnet_zeros());
    let stderr = failure(import("deep-convnet", &simple, &out), &out);
    assert!(
        stderr.contains(&format!(
            "{} holds the weights of the book's simple-convnet, not deep-convnet: import them \
             with --net simple-convnet",
            simple.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("(missing: W4 b4"), "{stderr}");
    // Files that hold no weights of another network: no suggestion.
    let no_weights: [(&str, Vec<u8>); 4] = [
        ("list.pkl", b"\x80\x03]q\x00(K\x01K\x02e.".to_vec()),
        ("W1.npz", files::small_npz()),
        ("small.pkl", files::small_pickle()),
        (
            "empty.npz",
            files::zip(&[files::stored(
                "x.npy",
                &files::npy("<f8", false, &[1], &[0; 8]),
            )]),
        ),
    ];
    for (name, bytes) in no_weights {
        let (_d, path, _) = hostile(name, &bytes);
        let stderr = failure(import("simple-convnet", &path, &out), &out);
        assert!(!stderr.contains("--net"), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "cannot import the book's weights --book-weights {}",
                path.display()
            )),
            "{name}: {stderr}"
        );
    }
    // ch03's MLP has SimpleConvNet's names but not its shapes: its own flag is suggested.
    let sample = root().join("../shared/data/book-weights/sample_weight.npz");
    if sample.exists() {
        let stderr = failure(import("simple-convnet", &sample, &out), &out);
        assert!(
            stderr.contains(
                "holds the weights of the book's neuralnet-mnist, not simple-convnet: \
                             import them with --net neuralnet-mnist"
            ),
            "{stderr}"
        );
        assert!(
            stderr.contains("array W1 has shape (784, 50) where (30, 1, 5, 5) is expected"),
            "{stderr}"
        );
    }
}

#[test]
fn a_dtype_error_names_numpys_type_in_plain_words() {
    let mut entries: Vec<files::Entry> = Vec::new();
    entries.push(files::stored(
        "W1.npy",
        &files::npy("<i8", false, &[30, 1, 5, 5], &[0; 8 * 750]),
    ));
    for (name, shape) in [
        ("b1", vec![30]),
        ("W2", vec![4320, 100]),
        ("b2", vec![100]),
        ("W3", vec![100, 10]),
        ("b3", vec![10]),
    ] {
        entries.push(zeros(name, &shape));
    }
    let (_dir, path, out) = hostile("ints.npz", &files::zip(&entries));
    let stderr = failure(import("simple-convnet", &path, &out), &out);
    assert!(
        stderr.contains("array W1 has dtype int64 where float64 or float32 is expected"),
        "{stderr}"
    );
}
