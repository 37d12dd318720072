//! The networks train to the very same bits as before nn-core's restructuring (issue 18): the
//! default two-layer run, a 4×100 Adam stack with batch norm, dropout and weight decay,
//! SimpleConvNet and DeepConvNet, each trained by `nn-cli train` for a few hundred iterations on
//! the first 5000 training images of MNIST.
//!
//! The digests below were computed from model files and histories written by the code as it was
//! before the restructuring (commit dbbacf5), on the team's x86-64 machine with AVX-512: the
//! `gemm` crate picks its kernels by the CPU's instruction sets, so another CPU may legitimately
//! sum in another order (the test then says so and does not compare). A digest covers every
//! parameter and state value (name, shape, and the bits of each `f32`) and every iteration's
//! loss: an edit that changes the order of a single sum changes it.

mod common;

use std::fs;
use std::path::Path;

use mnist_io::idx;
use sha2::{Digest, Sha256};

use common::{nn_cli, real_mnist_or_skip};

/// The runs and the digests the code before the restructuring gave.
const RUNS: [(&str, &[&str], &str); 4] = [
    (
        "default",
        &["--iters", "300"],
        "e7fe2921925374c283587cf4e8e21bf8437f89a8785f48f53ba9515abb8dc00c",
    ),
    (
        "4x100 adam bn dropout wd",
        &[
            "--hidden",
            "100,100,100,100",
            "--activation",
            "relu",
            "--init",
            "he",
            "--optimizer",
            "adam",
            "--batch-norm",
            "--dropout",
            "0.15",
            "--weight-decay",
            "0.1",
            "--iters",
            "300",
        ],
        "d1bae56bd2e6b7fd5d2af74ba1193b125dc4c36d1b045ed049f2cdda42366e3f",
    ),
    (
        "simple-convnet",
        &["--net", "simple-convnet", "--iters", "150"],
        "4198e6c407b52c2126646763fbb7fed5d73395a719c67b5d12f35552f8c669ba",
    ),
    (
        "deep-convnet",
        &["--net", "deep-convnet", "--iters", "60"],
        "bab8ed0888d655f7c7957136c327252e46535509ca68921aa82ad36d82f97bb8",
    ),
];

/// The first `train` training and `test` test samples of the real MNIST in `dir`, written under
/// MNIST's names in `out`.
fn subset(dir: &Path, out: &Path, train: usize, test: usize) {
    let mnist = mnist_io::Mnist::load(dir).unwrap();
    fs::create_dir_all(out).unwrap();
    for (name, split, count) in [("train", &mnist.train, train), ("t10k", &mnist.test, test)] {
        let pixels = split.images().pixels()[..count * 784].to_vec();
        let images = idx::Images::new(28, 28, pixels).unwrap();
        idx::write_images(&out.join(format!("{name}-images-idx3-ubyte")), &images).unwrap();
        idx::write_labels(
            &out.join(format!("{name}-labels-idx1-ubyte")),
            &split.labels()[..count],
        )
        .unwrap();
    }
}

/// SHA-256 of the model's matrices (name, shape, `f32` bits, in the file's order) and of the
/// history's loss column, in hexadecimal.
fn digest(model: &Path, history: &Path) -> String {
    let file = nn_core::ModelFile::<f32>::load(model).unwrap();
    let mut net = file.net;
    let mut hash = Sha256::new();
    let mut add = |name: String, m: &nn_core::Matrix<f32>| {
        hash.update(name.as_bytes());
        hash.update((m.nrows() as u64).to_le_bytes());
        hash.update((m.ncols() as u64).to_le_bytes());
        for v in m.iter() {
            hash.update(v.to_bits().to_le_bytes());
        }
    };
    use nn_core::{Model, Trainable};
    net.visit_params(&mut |p| add(p.name.to_string(), p.value));
    net.visit_state(&mut |s| add(s.name.to_string(), s.value));
    for line in fs::read_to_string(history).unwrap().lines().skip(1) {
        let loss = line.split(',').nth(1).unwrap();
        hash.update(loss.as_bytes());
        hash.update(b"\n");
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[test]
fn training_gives_the_bits_it_gave_before_the_restructuring() {
    let Some(mnist) = real_mnist_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mnist");
    subset(&mnist, &data, 5000, 1000);
    let mut found = Vec::new();
    for (name, flags, _) in RUNS {
        let (model, history) = (dir.path().join("m.ron"), dir.path().join("h.csv"));
        nn_cli()
            .arg("train")
            .args(flags)
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(&model)
            .arg("--history")
            .arg(&history)
            .arg("--plot")
            .arg(dir.path().join("p.svg"))
            .args(["--eval-samples", "200"])
            .assert()
            .success();
        found.push((name, digest(&model, &history)));
    }
    for (name, digest) in &found {
        println!("{name}: {digest}");
    }
    if !has_avx512() {
        println!(
            "not compared: the digests were recorded on a CPU with AVX-512, this one has none"
        );
        return;
    }
    for ((name, digest), (_, _, want)) in found.iter().zip(RUNS) {
        assert_eq!(
            digest, want,
            "{name}: other bits than before the restructuring"
        );
    }
}
