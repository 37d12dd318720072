//! Issue 23's second round of hostile inputs: models, configs and environments that used to
//! exhaust the memory, hang, or report NaN as a result. Each case failed before the fix.

use std::fs;
use std::path::Path;

use nn_core::{ModelFile, Sequential, Shape, Trainable, TwoLayerConfig, TwoLayerNet};
use predicates::prelude::*;

mod common;
use common::{SIDE, nn_cli, synthetic};

/// A two-layer model for the synthetic data's 8×8 images, written to `path` after `edit`.
fn write_model(path: &Path, edit: impl Fn(&mut TwoLayerNet<f32>)) {
    let config = TwoLayerConfig {
        input_size: SIDE * SIDE,
        hidden_size: 5,
        output_size: 10,
        ..TwoLayerConfig::default()
    };
    let mut net = TwoLayerNet::<f32>::new(config, 1).unwrap();
    edit(&mut net);
    let file = ModelFile::from_model(&net, Default::default()).unwrap();
    fs::write(path, file.to_ron().unwrap()).unwrap();
}

/// Finite weights of 3e38 overflow to infinity and NaN: `predict` printed NaN probabilities and
/// `eval` an accuracy, with exit code 0.
#[test]
fn a_model_whose_scores_overflow_is_refused_not_reported() {
    let (dir, data) = synthetic();
    let model = dir.path().join("huge.ron");
    write_model(&model, |net| {
        net.visit_params(&mut |p| p.value.fill(3e38));
    });
    for command in ["eval", "predict"] {
        nn_cli()
            .arg(command)
            .arg("--data")
            .arg(&data)
            .arg("--model")
            .arg(&model)
            .assert()
            .failure()
            .stderr(predicate::str::contains("huge.ron").and(predicate::str::contains("overflows")))
            .stdout(predicate::str::contains("NaN").not());
    }
}

/// A model file of a few hundred bytes whose convolution has a huge padding asked for gigabytes
/// and aborted: it is refused from its spec, naming the layer.
#[test]
fn a_model_whose_passes_would_fill_the_memory_is_refused_before_running() {
    let (dir, data) = synthetic();
    let model = dir.path().join("padded.ron");
    let spec = nn_core::NetSpec {
        input: Shape::new(1, SIDE, SIDE),
        layers: vec![
            nn_core::LayerSpec::Convolution {
                filters: 4,
                size: 3,
                stride: 1,
                pad: 1,
            },
            nn_core::LayerSpec::Relu,
            nn_core::LayerSpec::Affine { out: 10 },
        ],
        init: nn_core::Init::He,
        weight_decay: 0.0,
    };
    let net = Sequential::<f32>::new(spec, 1).unwrap();
    let text = ModelFile::from_model(&net, Default::default())
        .unwrap()
        .to_ron()
        .unwrap()
        .replacen("pad: 1", "pad: 30000", 1);
    fs::write(&model, text).unwrap();
    nn_cli()
        .args(["eval", "--data"])
        .arg(&data)
        .arg("--model")
        .arg(&model)
        .assert()
        .failure()
        .stderr(predicate::str::contains("layer 1").and(predicate::str::contains("values")));
}

/// `gradcheck --hidden 100000` on MNIST (79.5 million parameters, above train's own limit) ran
/// silently at 1.9 GB. The synthetic images have 64 pixels: 10⁶ hidden units make 74 million.
#[test]
fn gradcheck_refuses_a_network_train_would_refuse() {
    let (_dir, data) = synthetic();
    nn_cli()
        .args(["gradcheck", "--hidden", "1000000", "--data"])
        .arg(&data)
        .assert()
        .failure()
        .stderr(predicate::str::contains("parameters").and(predicate::str::contains("--hidden")));
}

/// `RAYON_NUM_THREADS=1000` bypassed the `--threads` cap.
#[test]
fn an_absurd_rayon_num_threads_is_refused() {
    nn_cli()
        .env("RAYON_NUM_THREADS", "1000")
        .args(["gradcheck", "--data", "nowhere"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("RAYON_NUM_THREADS=1000"));
}

/// A FIFO with no writer as `--config` or `--model` blocked forever; `/dev/zero` was read until
/// memory ran out.
#[cfg(unix)]
#[test]
fn fifos_and_devices_are_refused_without_reading_them() {
    let (dir, data) = synthetic();
    let fifo = dir.path().join("config.ron");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (args, what) in [
        (vec!["train", "--config"], "config.ron"),
        (vec!["eval", "--model"], "config.ron"),
        (vec!["predict", "--image"], "config.ron"),
    ] {
        nn_cli()
            .args(&args)
            .arg(&fifo)
            .arg("--data")
            .arg(&data)
            .timeout(std::time::Duration::from_secs(20))
            .assert()
            .failure()
            .stderr(predicate::str::contains(what).and(predicate::str::contains("regular file")));
    }
    nn_cli()
        .args(["train", "--config", "/dev/zero"])
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .failure()
        .stderr(predicate::str::contains("regular file"));
}

/// A path with a newline and an escape sequence is printed escaped, not raw.
#[test]
fn paths_with_control_characters_are_printed_escaped() {
    let (dir, data) = synthetic();
    let model = dir.path().join("a\nb\u{1b}[31m.ron");
    nn_cli()
        .args(["eval", "--data"])
        .arg(&data)
        .arg("--model")
        .arg(&model)
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("a\\nb\\u{1b}[31m.ron")
                .and(predicate::str::contains('\u{1b}').not()),
        );
}
