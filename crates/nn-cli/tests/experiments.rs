//! `nn-cli experiment`: every experiment's `--quick` version on a small synthetic dataset
//! (always), and on the real MNIST files when they are present, where each test checks the
//! outcome the book's figure shows, read from the experiment's CSV.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

mod common;
use common::{real_mnist_or_skip, synthetic};

/// Every experiment but `all`.
const EXPERIMENTS: [&str; 8] = [
    "optimizers-2d",
    "optimizers",
    "init-histogram",
    "init",
    "batch-norm",
    "weight-decay",
    "dropout",
    "hyperparams",
];
/// `nn-cli experiment <name> --quick --data <data> --out <out>`, plus `extra`; returns stdout.
fn experiment(name: &str, data: &Path, out: &Path, extra: &[&str]) -> String {
    let output = Command::cargo_bin("nn-cli")
        .unwrap()
        .args(["experiment", name, "--quick", "--data"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(extra)
        .assert()
        .success();
    String::from_utf8(output.get_output().stdout.clone()).unwrap()
}

/// A CSV file as its header's columns and its rows of cells.
struct Csv {
    columns: HashMap<String, usize>,
    rows: Vec<Vec<String>>,
}

impl Csv {
    fn read(path: &Path) -> Self {
        let text = fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        let columns = lines
            .next()
            .unwrap()
            .split(',')
            .enumerate()
            .map(|(i, c)| (c.to_string(), i))
            .collect();
        let rows = lines
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        Csv { columns, rows }
    }

    fn cell<'a>(&self, row: &'a [String], column: &str) -> &'a str {
        &row[*self
            .columns
            .get(column)
            .unwrap_or_else(|| panic!("no column {column}"))]
    }

    fn number(&self, row: &[String], column: &str) -> f64 {
        self.cell(row, column).parse().unwrap()
    }

    /// The mean of the last `n` values of `column`.
    fn tail_mean(&self, column: &str, n: usize) -> f64 {
        let tail = &self.rows[self.rows.len() - n..];
        tail.iter().map(|r| self.number(r, column)).sum::<f64>() / n as f64
    }

    /// The last row whose `key` column is `value`.
    fn last_where(&self, key: &str, value: &str) -> &[String] {
        self.rows
            .iter()
            .rev()
            .find(|r| self.cell(r, key) == value)
            .unwrap_or_else(|| panic!("no row with {key} = {value}"))
    }
}

#[test]
fn help_lists_every_experiment_with_its_book_script() {
    let output = Command::cargo_bin("nn-cli")
        .unwrap()
        .args(["experiment", "--help"])
        .assert()
        .success();
    let help = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    for name in EXPERIMENTS.iter().chain(&["all"]) {
        assert!(help.contains(&format!("{name}:")), "{name} not in\n{help}");
    }
    for script in [
        "optimizer_compare_naive.py",
        "hyperparameter_optimization.py",
    ] {
        assert!(help.contains(script), "{script} not in\n{help}");
    }
}

#[test]
fn every_experiment_runs_on_synthetic_data_and_writes_its_figure_and_curves() {
    let (dir, data) = synthetic();
    let out = dir.path().join("experiments");
    for name in EXPERIMENTS {
        let stdout = experiment(name, &data, &out, &[]);
        assert!(stdout.contains(&format!("== {name} (ch06/")), "{stdout}");
        assert!(
            stdout.contains("figure: ") && stdout.contains("time: "),
            "{stdout}"
        );
        let svg = fs::read_to_string(out.join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("--quick"), "{name}");
        let csv = Csv::read(&out.join(format!("{name}.csv")));
        assert!(!csv.rows.is_empty(), "{name}: empty CSV");
        assert!(
            csv.rows.iter().all(|r| r.len() == csv.columns.len()),
            "{name}: ragged CSV"
        );
    }
    // Nothing but the figures and curves (no temporary file left behind).
    assert_eq!(fs::read_dir(&out).unwrap().count(), 2 * EXPERIMENTS.len());
}

#[test]
fn one_or_two_threads_give_the_same_curves() {
    let (dir, data) = synthetic();
    for name in ["batch-norm", "hyperparams"] {
        let csv = |threads: &str| {
            let out = dir.path().join(format!("{name}-{threads}"));
            experiment(name, &data, &out, &["--threads", threads, "--seed", "7"]);
            fs::read(out.join(format!("{name}.csv"))).unwrap()
        };
        assert_eq!(csv("1"), csv("2"), "{name}");
    }
}

#[test]
fn the_seed_changes_the_draws() {
    let (dir, data) = synthetic();
    let csv = |seed: &str| {
        let out = dir.path().join(seed);
        experiment("init", &data, &out, &["--seed", seed]);
        fs::read(out.join("init.csv")).unwrap()
    };
    assert_ne!(csv("1"), csv("2"));
}

#[test]
fn bad_options_are_refused() {
    Command::cargo_bin("nn-cli")
        .unwrap()
        .args(["experiment", "nonsense"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("optimizers-2d"));
    Command::cargo_bin("nn-cli")
        .unwrap()
        .args(["experiment", "init", "--threads", "0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--threads 0"));
    Command::cargo_bin("nn-cli")
        .unwrap()
        .args(["experiment", "init", "--threads", "100000"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--threads 100000 is more than"));
}

#[test]
fn a_bad_output_folder_is_refused_before_any_training() {
    let dir = tempfile::tempdir().unwrap();
    let missing_data = dir.path().join("no-mnist");
    let refuse = |out: &Path, expected: &str| {
        Command::cargo_bin("nn-cli")
            .unwrap()
            .args(["experiment", "optimizers", "--data"])
            .arg(&missing_data)
            .arg("--out")
            .arg(out)
            .assert()
            .failure()
            .stderr(predicate::str::contains(expected));
    };
    // Refused before the data is even looked for (none exists here).
    let file = dir.path().join("a-file");
    fs::write(&file, "x").unwrap();
    refuse(&file, "is not a folder");
    refuse(&file.join("sub"), "cannot create the folder");
    // A folder where the figure should go.
    let out = dir.path().join("out");
    fs::create_dir_all(out.join("optimizers.svg")).unwrap();
    refuse(&out, "optimizers.svg: is a folder, not a regular file");
    // Nothing was left behind.
    assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
    assert!(!missing_data.exists());
}

#[test]
fn real_mnist_init_std_001_stays_near_ln10_while_he_learns() {
    let Some(data) = real_mnist_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    experiment("init", &data, dir.path(), &[]);
    let csv = Csv::read(&dir.path().join("init.csv"));
    // The book's fig. 6-15: with std 0.01 the signal dies out and the loss stays at ln 10.
    let small = csv.tail_mean("std=0.01", 100);
    let he = csv.tail_mean("He", 100);
    assert!(small > 2.2, "std=0.01 ends at {small}");
    assert!(he < 1.0, "He ends at {he}");
    assert!(csv.tail_mean("Xavier", 100) > he - 0.05);
}

#[test]
fn real_mnist_sgd_ends_far_above_the_other_optimizers() {
    let Some(data) = real_mnist_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    experiment("optimizers", &data, dir.path(), &[]);
    let csv = Csv::read(&dir.path().join("optimizers.csv"));
    let sgd = csv.tail_mean("SGD", 100);
    for other in ["Momentum", "AdaGrad", "Adam"] {
        let loss = csv.tail_mean(other, 100);
        assert!(loss < 0.8 * sgd, "{other} {loss} against SGD {sgd}");
    }
}

#[test]
fn real_mnist_batch_norm_learns_faster_at_most_weight_scales() {
    let Some(data) = real_mnist_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let stdout = experiment("batch-norm", &data, dir.path(), &[]);
    let csv = Csv::read(&dir.path().join("batch-norm.csv"));
    let mut scales: Vec<&str> = csv.rows.iter().map(|r| csv.cell(r, "weight_std")).collect();
    scales.dedup();
    assert_eq!(scales.len(), 4, "{stdout}");
    let final_acc = |scale: &str, bn: &str| {
        // A run that diverged stops early: compare the last evaluation it had.
        let row = csv
            .rows
            .iter()
            .rev()
            .find(|r| csv.cell(r, "weight_std") == scale && csv.cell(r, "batch_norm") == bn)
            .unwrap();
        csv.number(row, "train_acc")
    };
    let wins = scales
        .iter()
        .filter(|s| final_acc(s, "true") > final_acc(s, "false"))
        .count();
    assert!(
        wins >= 3,
        "batch norm ahead at {wins} of 4 scales\n{stdout}"
    );
}

/// The final train − test gap of each variant of an overfitting experiment's CSV.
fn gaps(csv: &Csv, variants: [&str; 2]) -> [f64; 2] {
    variants.map(|v| {
        let row = csv.last_where("variant", v);
        csv.number(row, "train_acc") - csv.number(row, "test_acc")
    })
}

#[test]
fn real_mnist_weight_decay_narrows_the_gap_between_train_and_test() {
    let Some(data) = real_mnist_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    experiment("weight-decay", &data, dir.path(), &[]);
    let csv = Csv::read(&dir.path().join("weight-decay.csv"));
    let [without, with] = gaps(&csv, ["without weight decay", "weight decay λ = 0.1"]);
    assert!(
        without > 0.15,
        "300 images are learned by heart: gap {without}"
    );
    assert!(
        with < without - 0.03,
        "gap {with} with weight decay, {without} without"
    );
}

#[test]
fn real_mnist_dropout_narrows_the_gap_between_train_and_test() {
    let Some(data) = real_mnist_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    experiment("dropout", &data, dir.path(), &[]);
    let csv = Csv::read(&dir.path().join("dropout.csv"));
    let [without, with] = gaps(&csv, ["without dropout", "dropout 0.2"]);
    assert!(
        with < without - 0.03,
        "gap {with} with dropout, {without} without"
    );
}

#[test]
fn real_mnist_the_best_trials_have_the_larger_learning_rates() {
    let Some(data) = real_mnist_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let stdout = experiment("hyperparams", &data, dir.path(), &[]);
    assert!(
        stdout.contains("Best-1") && stdout.contains("best 5 of 20: lr"),
        "{stdout}"
    );
    let csv = Csv::read(&dir.path().join("hyperparams.csv"));
    let mut lrs: Vec<f64> = csv.rows.iter().map(|r| csv.number(r, "lr")).collect();
    lrs.sort_by(f64::total_cmp);
    lrs.dedup();
    assert_eq!(lrs.len(), 20);
    // With lr from 1e-6 to 1e-2 and 20 epochs, only the larger rates learn anything: the best
    // trial's rate is above the median (the weight decays, 1e-8 to 1e-4, hardly matter).
    let best = csv.number(csv.last_where("rank", "1"), "lr");
    assert!(best > lrs[lrs.len() / 2], "best lr {best} of {lrs:?}");
}
