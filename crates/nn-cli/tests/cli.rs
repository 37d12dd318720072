//! Runs the real `nn-cli` binary on a small synthetic dataset written as IDX files, and on the
//! real MNIST files when they are present.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use mnist_io::idx::{self, Images};
use predicates::prelude::*;

mod common;
use common::{SIDE, is_ci, nn_cli, real_mnist_or_skip, stripes, synthetic};

/// `nn-cli <command> --data <data> --model <model>`.
fn query(command: &str, data: &Path, model: &Path) -> Command {
    let mut cmd = nn_cli();
    cmd.arg(command)
        .arg("--data")
        .arg(data)
        .arg("--model")
        .arg(model);
    cmd
}

/// `train` on the synthetic data with outputs in `dir`, plus `extra` flags.
fn train(dir: &Path, data: &Path, extra: &[&str]) -> Command {
    let mut cmd = train_with(
        dir,
        data,
        &["--iters", "200", "--batch-size", "50", "--hidden", "20"],
    );
    cmd.args(["--activation", "relu", "--lr", "0.5"])
        .args(extra);
    cmd
}

/// `train --data data` with `args` and its model, history and plot in `dir`.
fn train_with(dir: &Path, data: &Path, args: &[&str]) -> Command {
    let mut cmd = nn_cli();
    cmd.arg("train")
        .args(args)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(dir.join("params.ron"))
        .arg("--history")
        .arg(dir.join("history.csv"))
        .arg("--plot")
        .arg(dir.join("plot.svg"));
    cmd
}

/// The number after `label` in `text`, e.g. `test acc 0.9500`.
fn number_after(text: &str, label: &str) -> f64 {
    let rest = &text[text
        .rfind(label)
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        + label.len()..];
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn every_command_has_help() {
    for command in ["train", "predict", "eval", "gradcheck"] {
        nn_cli()
            .args([command, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Usage: nn-cli"));
    }
}

#[test]
fn train_learns_the_synthetic_problem_and_writes_every_file() {
    let (dir, data) = synthetic();
    let out = train(dir.path(), &data, &[]).assert().success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    // 600 / 50 = 12 iterations per epoch: evaluations after iterations 0, 12, ..., 192, 199.
    assert_eq!(stdout.matches("epoch").count(), 18, "{stdout}");
    assert!(stdout.contains("epoch  0/17  train acc"), "{stdout}");
    assert!(stdout.contains("epoch 17/17  train acc"), "{stdout}");
    assert!(number_after(&stdout, "test acc") >= 0.95, "{stdout}");

    let history = fs::read_to_string(dir.path().join("history.csv")).unwrap();
    let mut lines = history.lines();
    assert_eq!(
        lines.next(),
        Some("iteration,train_loss,train_acc,test_acc,elapsed_s")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 200);
    assert!(rows.iter().all(|r| r.len() == 5));
    assert_eq!(rows.iter().filter(|r| !r[3].is_empty()).count(), 18);
    assert!(rows[0][1].parse::<f64>().unwrap() > rows[199][1].parse::<f64>().unwrap());

    let model = fs::read_to_string(dir.path().join("params.ron")).unwrap();
    assert!(
        model.contains("test_acc") && model.contains("Sgd(lr:0.5)"),
        "{model}"
    );
    assert!(
        fs::read_to_string(dir.path().join("plot.svg"))
            .unwrap()
            .starts_with("<svg")
    );
}

#[test]
fn the_thread_count_does_not_change_the_results() {
    let (dir, data) = synthetic();
    let run = |threads: &str| {
        let sub = dir.path().join(threads);
        train(&sub, &data, &["--threads", threads])
            .assert()
            .success();
        let without_time = |csv: String| -> Vec<String> {
            csv.lines()
                .map(|l| l.rsplit_once(',').unwrap().0.to_owned())
                .collect()
        };
        (
            without_time(fs::read_to_string(sub.join("history.csv")).unwrap()),
            fs::read_to_string(sub.join("params.ron")).unwrap(),
        )
    };
    assert_eq!(run("1"), run("2"));
}

#[test]
fn predict_prints_prediction_against_label() {
    let (dir, data) = synthetic();
    train(dir.path(), &data, &[]).assert().success();
    let out = query("predict", &data, &dir.path().join("params.ron"))
        .args(["-n", "5"])
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    // The synthetic test labels start 3 0 7 4 1; the trained net gets them right.
    let lines: Vec<&str> = stdout.lines().take(5).collect();
    assert_eq!(
        lines,
        [
            "3 == 3: o",
            "0 == 0: o",
            "7 == 7: o",
            "4 == 4: o",
            "1 == 1: o"
        ]
    );
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with("5 images classified in ") && last.ends_with(" ms"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 6, "{stdout}");
}

#[test]
fn eval_prints_accuracy_per_class_and_the_confusion_matrix() {
    let (dir, data) = synthetic();
    train(dir.path(), &data, &[]).assert().success();
    let out = query("eval", &data, &dir.path().join("params.ron"))
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(number_after(&stdout, "test acc") >= 0.95, "{stdout}");
    assert!(stdout.contains("confusion"), "{stdout}");
    // The 200 test labels are (7i + 3) mod 10: 20 samples of each class.
    let per_class: Vec<&str> = stdout.lines().filter(|l| l.starts_with("class ")).collect();
    assert_eq!(per_class.len(), 10, "{stdout}");
    for line in per_class {
        assert!(line.ends_with("/20)"), "{line}");
    }
    // Confusion rows (a label, then ten counts) add up to the 20 samples of their class.
    let rows: Vec<Vec<usize>> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("confusion"))
        .skip(2)
        .map(|l| l.split_whitespace().map(|n| n.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 10, "{stdout}");
    for (class, row) in rows.iter().enumerate() {
        assert_eq!(row[0], class, "{stdout}");
        assert_eq!(row[1..].iter().sum::<usize>(), 20, "{stdout}");
        assert!(row[1 + class] >= 18, "{stdout}");
    }
}

#[test]
fn gradcheck_passes_with_small_differences() {
    let (_dir, data) = synthetic();
    let out = nn_cli()
        .args(["gradcheck", "--data"])
        .arg(&data)
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for name in ["W1", "b1", "W2", "b2"] {
        let diff = number_after(&stdout, &format!("{name}:"));
        assert!(diff < 1e-6, "{stdout}");
    }
}

#[test]
fn config_file_values_are_used_and_flags_override_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.ron");
    fs::write(
        &config,
        "(training: (length: Iters(7), seed: 5, optimizer: Momentum(lr: 0.2)), \
         net: Mlp(hidden: [3, 4], batch_norm: true), threads: Some(1))",
    )
    .unwrap();
    let out = nn_cli()
        .args([
            "train",
            "--print-config",
            "--hidden",
            "9,8",
            "--lr",
            "0.05",
            "--config",
        ])
        .arg(&config)
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for expected in [
        "length: Iters(7)",
        "hidden: [9, 8]",
        "batch_norm: true",
        "seed: 5",
        "threads: Some(1)",
        "lr: 0.05",
        "momentum: 0.9",
    ] {
        assert!(stdout.contains(expected), "{expected} missing in {stdout}");
    }
    // What --print-config prints is a valid config file.
    let printed = dir.path().join("printed.ron");
    fs::write(&printed, &stdout).unwrap();
    nn_cli()
        .args(["train", "--print-config", "--config"])
        .arg(&printed)
        .assert()
        .success()
        .stdout(stdout);
}

#[test]
fn a_malformed_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.ron");
    fs::write(&config, "(training: (iters: \"many\"))").unwrap();
    nn_cli()
        .args(["train", "--print-config", "--config"])
        .arg(&config)
        .assert()
        .failure()
        .stderr(predicate::str::contains("bad.ron").and(predicate::str::contains("not a valid")));
}

#[test]
fn flag_values_that_make_no_sense_are_refused_with_the_flag_named() {
    let (dir, data) = synthetic();
    let cases: [(&[&str], &str); 9] = [
        (&["--batch-size", "0"], "batch size 0 is invalid"),
        (
            &["--batch-size", "601"],
            "batch size 601 is larger than the 600 training samples",
        ),
        (&["--lr", "0"], "learning rate 0 is invalid"),
        (&["--lr", "-0.5"], "learning rate -0.5 is invalid"),
        (&["--lr", "NaN"], "learning rate NaN is invalid"),
        (&["--lr", "inf"], "learning rate inf is invalid"),
        (&["--iters", "0"], "0 iterations is invalid"),
        (&["--hidden", "0"], "hidden layer size 0 is invalid"),
        (&["--threads", "0"], "--threads 0 is invalid"),
    ];
    for (flags, expected) in cases {
        let flag = flags[0];
        train(dir.path(), &data, flags).assert().failure().stderr(
            predicate::str::contains(expected)
                .and(predicate::str::contains(flag))
                .and(predicate::str::contains("panicked").not()),
        );
    }
    assert!(!dir.path().join("params.ron").exists());
}

#[test]
fn numerical_gradients_train_too() {
    let (dir, data) = synthetic();
    let out = train(
        dir.path(),
        &data,
        // A smaller net and batch than the other runs: a numerical gradient still takes two loss
        // differences per parameter and changed sample (8·64 + 8 + 8·10 + 10 = 610 parameters).
        &[
            "--gradient",
            "numerical",
            "--iters",
            "60",
            "--batch-size",
            "10",
            "--hidden",
            "8",
        ],
    )
    .assert()
    .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    // From chance (0.1) to well above it in 60 numerical steps.
    assert!(number_after(&stdout, "test acc") >= 0.5, "{stdout}");
}

#[test]
fn an_image_that_is_not_a_png_is_named() {
    let (dir, data) = synthetic();
    train(dir.path(), &data, &[]).assert().success();
    let fake = dir.path().join("digit.png");
    fs::write(&fake, "not an image").unwrap();
    nn_cli()
        .args(["predict", "--image"])
        .arg(&fake)
        .arg("--model")
        .arg(dir.path().join("params.ron"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("digit.png").and(predicate::str::contains("PNG")));
}

#[test]
fn predict_and_gradcheck_refuse_counts_of_zero() {
    let (dir, data) = synthetic();
    train(dir.path(), &data, &[]).assert().success();
    query("predict", &data, &dir.path().join("params.ron"))
        .args(["-n", "0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--count 0 is invalid"));
    nn_cli()
        .args(["gradcheck", "--samples", "0", "--data"])
        .arg(&data)
        .assert()
        .failure()
        .stderr(predicate::str::contains("--samples 0 is invalid"));
}

#[test]
fn a_diverging_run_names_the_iteration_and_overwrites_nothing() {
    let (dir, data) = synthetic();
    for file in ["params.ron", "history.csv", "plot.svg"] {
        fs::write(dir.path().join(file), "old").unwrap();
    }
    train(dir.path(), &data, &["--lr", "1e30"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("diverged at iteration")
                .and(predicate::str::contains("smaller learning rate")),
        );
    for file in ["params.ron", "history.csv", "plot.svg"] {
        assert_eq!(fs::read_to_string(dir.path().join(file)).unwrap(), "old");
    }
}

#[test]
fn missing_data_says_how_to_fetch_it() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("nothing-here");
    for command in ["predict", "eval", "gradcheck"] {
        nn_cli()
            .args([command, "--data"])
            .arg(&empty)
            .assert()
            .failure()
            .stderr(predicate::str::contains("cargo xtask fetch-mnist"));
    }
}

#[test]
fn a_missing_or_malformed_model_file_is_named() {
    let (dir, data) = synthetic();
    let model = dir.path().join("params.ron");
    let predict = |expected: &str| {
        query("predict", &data, &model)
            .assert()
            .failure()
            .stderr(predicate::str::contains("params.ron").and(predicate::str::contains(expected)));
    };
    predict("nn-cli train");
    fs::write(&model, "this is not RON").unwrap();
    predict("params.ron");
}

#[test]
fn a_model_of_the_wrong_shape_is_refused() {
    let (dir, data) = synthetic();
    train(dir.path(), &data, &[]).assert().success();
    let model = dir.path().join("params.ron");
    // Claim a hidden layer of 21 while the weights have 20 columns.
    let text = fs::read_to_string(&model).unwrap();
    let edited = text.replacen("out: 20,", "out: 21,", 1);
    assert_ne!(text, edited, "the model file names its hidden size: {text}");
    fs::write(&model, edited).unwrap();
    query("eval", &data, &model).assert().failure().stderr(
        predicate::str::contains("params.ron")
            .and(predicate::str::contains("W1"))
            .and(predicate::str::contains("panicked").not()),
    );
}

#[test]
fn a_model_with_other_than_ten_classes_is_refused() {
    let (dir, data) = synthetic();
    let config = nn_core::TwoLayerConfig {
        input_size: SIDE * SIDE,
        hidden_size: 5,
        output_size: 12,
        activation: nn_core::Activation::Sigmoid,
        weight_init_std: 0.01,
    };
    let model = dir.path().join("twelve.ron");
    let net = nn_core::TwoLayerNet::<f32>::new(config, 1).unwrap();
    let file = nn_core::ModelFile::from_model(&net, Default::default()).unwrap();
    fs::write(&model, file.to_ron().unwrap()).unwrap();
    for command in ["eval", "predict"] {
        query(command, &data, &model).assert().failure().stderr(
            predicate::str::contains("twelve.ron")
                .and(predicate::str::contains("12 output classes"))
                .and(predicate::str::contains("panicked").not()),
        );
    }
}

#[test]
fn bad_options_are_refused_before_fetching_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let empty_mirror = tempfile::tempdir().unwrap();
    nn_cli()
        .env("MNIST_MIRROR", empty_mirror.path())
        .args(["train", "--lr", "0", "--data"])
        .arg(dir.path().join("mnist"))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("learning rate 0 is invalid")
                .and(predicate::str::contains("fetching").not()),
        );
    assert!(!dir.path().join("mnist").exists());
}

#[test]
fn a_model_for_other_data_is_refused() {
    let (dir, data) = synthetic();
    train(dir.path(), &data, &[]).assert().success();
    // A dataset of 16×16 images does not fit a model of 64 inputs.
    let other = dir.path().join("other");
    fs::create_dir(&other).unwrap();
    let images = Images::new(16, 16, vec![0; 256 * 2]).unwrap();
    for name in ["train", "t10k"] {
        idx::write_images(&other.join(format!("{name}-images-idx3-ubyte")), &images).unwrap();
        idx::write_labels(&other.join(format!("{name}-labels-idx1-ubyte")), &[1, 2]).unwrap();
    }
    query("predict", &other, &dir.path().join("params.ron"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("64 inputs").and(predicate::str::contains("256")));
}

#[test]
fn train_fetches_missing_data_from_the_mnist_mirror() {
    let Some(mirror) = real_mnist_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    nn_cli()
        .env("MNIST_MIRROR", &mirror)
        .args(["train", "--iters", "1", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(dir.path().join("params.ron"))
        .arg("--history")
        .arg(dir.path().join("history.csv"))
        .arg("--plot")
        .arg(dir.path().join("plot.svg"))
        .assert()
        .success()
        .stderr(predicate::str::contains("fetching"));
    assert!(
        mnist_io::FILES
            .iter()
            .all(|f| mnist_io::find_file(&data, f).is_some())
    );
}

#[test]
fn real_mnist_short_run_then_the_books_first_predictions() {
    let Some(data) = real_mnist_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = train_with(
        dir.path(),
        &data,
        &["--iters", "300", "--activation", "relu"],
    )
    .assert()
    .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(number_after(&stdout, "test acc") >= 0.85, "{stdout}");

    let out = query("predict", &data, &dir.path().join("params.ron"))
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let labels: Vec<&str> = stdout.lines().take(10).map(|l| &l[5..6]).collect();
    assert_eq!(
        labels,
        ["7", "2", "1", "0", "4", "1", "4", "9", "5", "9"],
        "{stdout}"
    );
    assert!(
        stdout.starts_with("7 == 7: o\n2 == 2: o\n1 == 1: o\n"),
        "{stdout}"
    );
}

#[test]
fn a_deep_network_with_every_chapter_6_option_trains_and_reads_back() {
    let (dir, data) = synthetic();
    let flags = [
        "--hidden",
        "30,30",
        "--init",
        "he",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--batch-norm",
        "--dropout",
        "0.1",
        "--weight-decay",
        "0.01",
    ];
    let out = train(dir.path(), &data, &flags).assert().success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.starts_with(
            "network: 1×8×8 → Affine(30) → BatchNorm → Relu → Dropout(0.1) → Affine(30) → \
             BatchNorm → Relu → Dropout(0.1) → Affine(10)  (3310 parameters; Adam(lr 0.01), \
             batch 50)"
        ),
        "{stdout}"
    );
    let trained = number_after(&stdout, "test acc");
    assert!(trained >= 0.95, "{stdout}");
    let model = dir.path().join("params.ron");
    let text = fs::read_to_string(&model).unwrap();
    for name in [
        "\"gamma2\"",
        "\"running_var2\"",
        "Dropout(",
        "weight_decay: 0.01",
    ] {
        assert!(text.contains(name), "{name} missing from the model file");
    }
    // eval reads it back to the very accuracy train measured (the same 200 test images).
    let out = query("eval", &data, &model).assert().success();
    let eval = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(number_after(&eval, "test acc"), trained, "{eval}");
    query("predict", &data, &model)
        .args(["-n", "3"])
        .assert()
        .success()
        .stdout(predicate::str::contains("3 images classified"));
    // Ten samples: over the default three, batch norm's statistics of a feature can be nearly
    // constant, and the loss then curves too sharply for central differences with h = 1e-4.
    let out = nn_cli()
        .args(["gradcheck", "--samples", "10", "--data"])
        .arg(&data)
        .arg("--model")
        .arg(&model)
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for name in ["W1", "gamma1", "beta2", "W3", "b3"] {
        assert!(
            number_after(&stdout, &format!("{name}:")) < 1e-6,
            "{stdout}"
        );
    }
}

#[test]
fn epochs_set_the_length_of_a_run() {
    let (dir, data) = synthetic();
    let out = train_with(dir.path(), &data, &["--epochs", "2", "--batch-size", "50"])
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    // 600 / 50 = 12 iterations per epoch.
    assert!(
        stdout.contains("epoch  2/2") && stdout.contains("(24 iterations"),
        "{stdout}"
    );
}

#[test]
fn chapter_6_options_that_make_no_sense_are_refused_with_the_flag_named() {
    let (dir, data) = synthetic();
    let cases: [(&[&str], &str, &str); 7] = [
        (&["--dropout", "1"], "--dropout", "ratio is 1"),
        (&["--dropout", "-0.1"], "--dropout", "ratio is -0.1"),
        (
            &["--weight-decay", "-1"],
            "--weight-decay",
            "weight decay is -1",
        ),
        (&["--init", "-0.5"], "--init", "std is -0.5"),
        (&["--hidden", "50,0"], "--hidden", "hidden layer size 0"),
        (
            &["--optimizer", "adam", "--lr", "0"],
            "--lr",
            "learning rate 0 is invalid",
        ),
        (&["--init", "tanh"], "--init", "unknown initialisation"),
    ];
    for (flags, flag, expected) in cases {
        train(dir.path(), &data, flags).assert().failure().stderr(
            predicate::str::contains(expected)
                .and(predicate::str::contains(flag))
                .and(predicate::str::contains("panicked").not()),
        );
    }
    nn_cli()
        .args(["train", "--epochs", "0", "--data"])
        .arg(&data)
        .assert()
        .failure()
        .stderr(predicate::str::contains("0 epochs is invalid"));
    assert!(!dir.path().join("params.ron").exists());
}

/// A model file written by `nn-cli train --hidden 10 --iters 3000` at 9f5e0ca (format version
/// 1), which then printed `final: train acc 0.8971  test acc 0.8988`.
fn version_1_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-mnist-784-10-10.ron")
}

#[test]
fn a_version_1_model_file_still_loads_and_scores_what_it_scored() {
    let Some(data) = real_mnist_or_skip() else {
        return;
    };
    let model = version_1_model();
    query("eval", &data, &model)
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "test acc 0.8988  (8988/10000)\n",
        ));
    query("predict", &data, &model)
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "7 == 7: o\n2 == 2: o\n1 == 1: o\n",
        ));
    nn_cli()
        .args(["gradcheck", "--data"])
        .arg(&data)
        .arg("--model")
        .arg(&model)
        .assert()
        .success()
        .stdout(predicate::str::contains("gradient check passed"));
}

#[test]
fn real_mnist_deep_network_of_chapter_6_reaches_097() {
    let Some(data) = real_mnist_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("params.ron");
    let out = nn_cli()
        .args([
            "train",
            "--hidden",
            "100,100,100,100",
            "--activation",
            "relu",
        ])
        .args(["--init", "he", "--optimizer", "adam", "--lr", "0.001"])
        .args(["--batch-norm", "--iters", "2000", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&model)
        .arg("--history")
        .arg(dir.path().join("history.csv"))
        .arg("--plot")
        .arg(dir.path().join("plot.svg"))
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let trained = number_after(&stdout, "test acc");
    assert!(trained >= 0.97, "{stdout}");
    let out = query("eval", &data, &model).assert().success();
    let eval = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(number_after(&eval, "test acc"), trained, "{eval}");
}

#[test]
fn runs_too_long_too_large_or_too_fine_for_f32_are_refused_before_training() {
    let (dir, data) = synthetic();
    let cases: [(&[&str], &str); 5] = [
        (&["--iters", "18446744073709551615"], "at most 100000000"),
        (&["--lr", "1e-50"], "too small for f32"),
        (
            &["--hidden", "1000000"],
            "more than the 50000000 nn-cli builds",
        ),
        (
            &[
                "--hidden",
                "1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000,1000",
            ],
            "parameters",
        ),
        (&["--threads", "100000"], "more than makes sense"),
    ];
    for (flags, expected) in cases {
        train(dir.path(), &data, flags).assert().failure().stderr(
            predicate::str::contains(expected)
                .and(predicate::str::contains(flags[0]))
                .and(predicate::str::contains("panicked").not()),
        );
    }
    assert!(!dir.path().join("params.ron").exists());
}

#[test]
fn a_run_that_makes_the_loss_worse_writes_nothing() {
    let (dir, data) = synthetic();
    train(dir.path(), &data, &["--lr", "100"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("made the loss worse").and(predicate::str::contains("--lr")),
        );
    for file in ["params.ron", "history.csv", "plot.svg"] {
        assert!(!dir.path().join(file).exists(), "{file} was written");
    }
}

#[test]
fn predict_and_eval_refuse_what_they_cannot_do_instead_of_clamping() {
    let (dir, data) = synthetic();
    train(dir.path(), &data, &[]).assert().success();
    let model = dir.path().join("params.ron");
    query("predict", &data, &model)
        .args(["-n", "1000000"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "-n/--count 1000000 is more than the 200 test images",
        ));
    nn_cli()
        .args(["predict", "--top", "11", "--image"])
        .arg(dir.path().join("digit.png"))
        .arg("--model")
        .arg(&model)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "--top 11 is invalid: there are 10 classes",
        ));
    // An empty test set is an error, not "0/0".
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let (images, labels) = stripes(0, 1);
    idx::write_images(&empty.join("t10k-images-idx3-ubyte"), &images).unwrap();
    idx::write_labels(&empty.join("t10k-labels-idx1-ubyte"), &labels).unwrap();
    query("eval", &empty, &model)
        .assert()
        .failure()
        .stderr(predicate::str::contains("holds no image"));
}

#[test]
fn a_run_whose_outputs_cannot_all_be_written_replaces_none() {
    let (dir, data) = synthetic();
    let out = dir.path().join("o/q.ron");
    fs::create_dir_all(dir.path().join("o")).unwrap();
    fs::write(&out, "old model").unwrap();
    // The history cannot be written (/proc refuses new files): the model is not replaced.
    nn_cli()
        .args(["train", "--iters", "20", "--batch-size", "50", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .args(["--history", "/proc/h.csv", "--plot"])
        .arg(dir.path().join("plot.svg"))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("/proc/h.csv").and(predicate::str::contains("panicked").not()),
        );
    assert_eq!(fs::read_to_string(&out).unwrap(), "old model");
    assert!(!dir.path().join("plot.svg").exists());
    assert_eq!(
        fs::read_dir(dir.path().join("o")).unwrap().count(),
        1,
        "no temporary file left"
    );
}

#[test]
fn outputs_that_would_overwrite_the_data_or_each_other_are_refused_before_training() {
    let (dir, data) = synthetic();
    let labels = data.join("t10k-labels-idx1-ubyte");
    let before = fs::read(&labels).unwrap();
    nn_cli()
        .args(["train", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&labels)
        .assert()
        .failure()
        .stderr(predicate::str::contains("--out").and(predicate::str::contains("--data")));
    assert_eq!(fs::read(&labels).unwrap(), before);
    let same = dir.path().join("x");
    nn_cli()
        .args(["train", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&same)
        .arg("--history")
        .arg(&same)
        .assert()
        .failure()
        .stderr(predicate::str::contains("--history").and(predicate::str::contains("--out")));
    assert!(!same.exists());
    nn_cli()
        .args(["train", "--data"])
        .arg(&data)
        .args(["--plot", "plot.png"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("must end in .svg"));
}

#[cfg(unix)]
#[test]
fn a_symlinked_model_file_is_written_through_its_link() {
    let (dir, data) = synthetic();
    let target = dir.path().join("models/real.ron");
    fs::create_dir_all(dir.path().join("models")).unwrap();
    fs::write(&target, "old").unwrap();
    let link = dir.path().join("params.ron");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    train(dir.path(), &data, &[]).assert().success();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        fs::read_to_string(&target)
            .unwrap()
            .contains("format_version: 3")
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_training_cleanly_and_writes_nothing() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let (dir, data) = synthetic();
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("nn-cli"));
    command
        .args([
            "train",
            "--iters",
            "100000000",
            "--batch-size",
            "50",
            "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(dir.path().join("params.ron"))
        .arg("--history")
        .arg(dir.path().join("history.csv"))
        .arg("--plot")
        .arg(dir.path().join("plot.svg"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    common::default_sigint(&mut command);
    let mut child = command.spawn().unwrap();
    // Never hang: a child still running after a minute is killed, and the test fails below.
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let pid = child.id().to_string();
    let watchdog = std::thread::spawn(move || {
        if finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .is_err()
        {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
        }
    });
    // Wait until training runs (the first evaluation is printed), then press Ctrl-C.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("epoch") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "train ended early"
        );
    }
    // Keep reading the epochs it prints until it stops: a full stdout pipe would block it in a
    // write before it sees the signal (on a loaded machine, 64 KB of epoch lines come in a second,
    // and the test hung so).
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).map(|_| ())
    });
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let _ = done.send(());
    watchdog.join().unwrap();
    drain.join().unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted by SIGINT (Ctrl-C) after iteration")
            && stderr.contains("not written")
            && stderr.contains("--resume"),
        "{stderr}"
    );
    let mut left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["mnist", "params.ckpt"],
        "nothing written but the checkpoint, no temporary file"
    );
}

#[test]
fn real_mnist_a_learning_rate_of_1e30_is_refused_after_training_instead_of_saved() {
    let Some(data) = real_mnist_or_skip() else {
        return;
    };
    // The case: the book's sigmoid net with --lr 1e30 ended at 0.60 accuracy and was
    // saved. The loss goes from ln 10 to about 1e30.
    let dir = tempfile::tempdir().unwrap();
    train_with(dir.path(), &data, &["--lr", "1e30", "--iters", "600"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "training made the loss worse: from 2.30",
        ));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// The rule of the tests that need real data: `CI` set to anything but empty, `0` or `false`
/// makes missing data a failure (see `common::data_missing`).
#[test]
fn which_values_of_ci_make_missing_data_a_failure() {
    use std::ffi::OsStr;
    for on in ["true", "1", "yes", "TRUE", "github"] {
        assert!(is_ci(Some(OsStr::new(on))), "{on:?}");
    }
    for off in ["", " ", "0", "false", "False", "FALSE"] {
        assert!(!is_ci(Some(OsStr::new(off))), "{off:?}");
    }
    assert!(!is_ci(None));
}
