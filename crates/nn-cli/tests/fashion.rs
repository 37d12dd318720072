//! Fashion-MNIST, the same way as MNIST: `--dataset fashion` through `train`, `eval`,
//! `predict`, `gradcheck`, `filters` and `experiment`, class names instead of digits, the
//! dataset recorded in the model file, and a model of one dataset refused on the other's data.
//! Fashion-MNIST's real files are not on the machines this is tested on: the synthetic dataset
//! stands for it (the real MNIST files, when present, show that MNIST is recognized as such).

mod common;

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

use common::{nn_cli, real_mnist_or_skip, synthetic};

fn train(dir: &Path, data: &Path, extra: &[&str]) -> Command {
    let mut cmd = nn_cli();
    cmd.arg("train")
        .args(["--iters", "200", "--batch-size", "50", "--hidden", "20"])
        .args(["--activation", "relu", "--lr", "0.5"])
        .args(extra)
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

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.assert().success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

/// `command --model <model> --data <data>` plus `extra`.
fn query(command: &str, model: &Path, data: &Path, extra: &[&str]) -> Command {
    let mut cmd = nn_cli();
    cmd.arg(command)
        .arg("--model")
        .arg(model)
        .arg("--data")
        .arg(data)
        .args(extra);
    cmd
}

#[test]
fn fashion_trains_and_evaluates_with_class_names_through_every_command() {
    let (dir, data) = synthetic();
    let out = stdout_of(&mut train(dir.path(), &data, &["--dataset", "fashion"]));
    assert!(out.contains("dataset: Fashion-MNIST"), "{out}");
    let model = dir.path().join("params.ron");
    let text = fs::read_to_string(&model).unwrap();
    assert!(text.contains("dataset: Some(\"fashion\")"), "{text}");

    // eval reads the dataset from the model: its classes are named.
    let svg = dir.path().join("errors.svg");
    let out = stdout_of(
        query("eval", &model, &data, &[])
            .arg("--misclassified")
            .arg(&svg),
    );
    assert!(out.contains("test acc 1.0000"), "{out}");
    // The synthetic test images are labelled (7i + 3) mod 10: 20 of each class.
    assert!(
        out.contains("class 9 Ankle boot   acc 1.0000  (20/20)"),
        "{out}"
    );
    assert!(out.contains("class 0 T-shirt/top  acc"), "{out}");
    assert!(
        out.contains("classes: 0 T-shirt/top, 1 Trouser, 2 Pullover"),
        "{out}"
    );
    assert!(fs::read_to_string(&svg).unwrap().starts_with("<svg"));

    // predict names the classes; the first test labels are 3, 0, 7: Dress, T-shirt/top, Sneaker.
    let out = stdout_of(&mut query("predict", &model, &data, &["-n", "3"]));
    let lines: Vec<&str> = out.lines().take(3).collect();
    assert_eq!(
        lines,
        [
            "Dress == Dress: o",
            "T-shirt/top == T-shirt/top: o",
            "Sneaker == Sneaker: o"
        ]
    );
    // --dataset fashion given explicitly is the same.
    let again = stdout_of(&mut query(
        "predict",
        &model,
        &data,
        &["-n", "3", "--dataset", "fashion"],
    ));
    assert_eq!(again.lines().take(3).collect::<Vec<_>>(), lines);

    // gradcheck of the saved model on its dataset.
    let out = stdout_of(&mut query("gradcheck", &model, &data, &["--entries", "5"]));
    assert!(out.contains("gradient check passed"), "{out}");

    // On MNIST, the model is refused by every command, naming both datasets.
    for command in ["eval", "predict", "gradcheck"] {
        query(command, &model, &data, &["--dataset", "mnist"])
            .assert()
            .failure()
            .stderr(
                predicate::str::contains("was trained on Fashion-MNIST, not MNIST")
                    .and(predicate::str::contains("--dataset fashion")),
            );
    }
    nn_cli()
        .args(["filters", "--dataset", "mnist", "--model"])
        .arg(&model)
        .arg("--out")
        .arg(dir.path().join("filters.svg"))
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "was trained on Fashion-MNIST, not MNIST",
        ));

    // A model of MNIST (train's default) is refused on Fashion-MNIST.
    let mnist = dir.path().join("mnist-model");
    fs::create_dir(&mnist).unwrap();
    train(&mnist, &data, &[]).assert().success();
    let mnist_model = mnist.join("params.ron");
    assert!(
        fs::read_to_string(&mnist_model)
            .unwrap()
            .contains("dataset: Some(\"mnist\")")
    );
    query("eval", &mnist_model, &data, &["--dataset", "fashion"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "was trained on MNIST, not Fashion-MNIST",
        ));
    // ... and its classes are digits.
    let out = stdout_of(&mut query("predict", &mnist_model, &data, &["-n", "1"]));
    assert!(out.starts_with("3 == 3: o"), "{out}");
}

#[test]
fn experiments_take_the_dataset_and_say_so_in_their_titles() {
    let (dir, data) = synthetic();
    let out = dir.path().join("figures");
    nn_cli()
        .args([
            "experiment",
            "init",
            "--quick",
            "--dataset",
            "fashion",
            "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let svg = fs::read_to_string(out.join("init.svg")).unwrap();
    assert!(
        svg.contains("on Fashion-MNIST") && svg.contains("Fashion-MNIST, --quick"),
        "the title names the dataset"
    );
}

#[test]
fn the_default_folder_follows_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    // No data/fashion here: eval of a Fashion-MNIST model looks for it there.
    let (data_dir, data) = synthetic();
    train(
        data_dir.path(),
        &data,
        &["--dataset", "fashion", "--iters", "5"],
    )
    .assert()
    .success();
    nn_cli()
        .current_dir(dir.path())
        .arg("eval")
        .arg("--model")
        .arg(data_dir.path().join("params.ron"))
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "cannot load Fashion-MNIST from data/fashion",
        ));
}

#[test]
fn real_mnist_files_are_recognized_and_a_fashion_model_is_refused_on_them() {
    let Some(real) = real_mnist_or_skip() else {
        return;
    };
    let (dir, data) = synthetic();
    train(dir.path(), &data, &["--dataset", "fashion", "--iters", "5"])
        .assert()
        .success();
    let model = dir.path().join("params.ron");
    query("eval", &model, &real, &[])
        .assert()
        .failure()
        .stderr(predicate::str::contains("are MNIST's, not Fashion-MNIST's"));
    // train refuses them before training too.
    let other = dir.path().join("other");
    fs::create_dir(&other).unwrap();
    train(&other, &real, &["--dataset", "fashion", "--iters", "5"])
        .assert()
        .failure()
        .stdout(predicate::str::contains("epoch").not())
        .stderr(predicate::str::contains("are MNIST's, not Fashion-MNIST's"));
}
