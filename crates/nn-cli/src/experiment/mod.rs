//! `nn-cli experiment <name>`: the experiments of chapter 6, each the book's script of the same
//! purpose (`ch06/<script>.py`, in the file of the same name here), with the book's settings.
//! Each one trains its networks on every core ([`runner`]), prints a short table, and writes
//! `<out>/<name>.svg` (the book's figure) and `<out>/<name>.csv` (its curves), atomically.
//!
//! | name             | book script                           | file                                  |
//! |------------------|---------------------------------------|---------------------------------------|
//! | `optimizers-2d`  | `optimizer_compare_naive.py` (§6.1.7) | `optimizer_compare_naive.rs`          |
//! | `optimizers`     | `optimizer_compare_mnist.py` (§6.1.8) | `optimizer_compare_mnist.rs`          |
//! | `init-histogram` | `weight_init_activation_histogram.py` (§6.2.2) | `weight_init_activation_histogram.rs` |
//! | `init`           | `weight_init_compare.py` (§6.2.4)     | `weight_init_compare.rs`              |
//! | `batch-norm`     | `batch_norm_test.py` (§6.3.2)         | `batch_norm_test.rs`                  |
//! | `weight-decay`   | `overfit_weight_decay.py` (§6.4.2)    | `overfit_weight_decay.rs`             |
//! | `dropout`        | `overfit_dropout.py` (§6.4.3)         | `overfit_dropout.rs`                  |
//! | `hyperparams`    | `hyperparameter_optimization.py` (§6.5.3) | `hyperparameter_optimization.rs`  |
//!
//! `charts.rs` holds the figures' shared drawing code, `util.rs` the book's `common/util.py`
//! helpers (`smooth_curve`, `shuffle_dataset`).

mod batch_norm_test;
mod charts;
mod hyperparameter_optimization;
mod loss_curves;
mod optimizer_compare_mnist;
mod optimizer_compare_naive;
mod overfit_dropout;
mod overfit_weight_decay;
mod runner;
mod util;
mod weight_init_activation_histogram;
mod weight_init_compare;

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use clap::{Args, ValueEnum};
use mnist_io::{Dataset, Mnist};
use nn_core::Shape;

use crate::data::{self, DataSplit, DatasetArg};
use crate::files;
use runner::Runner;

/// Options of `experiment`.
#[derive(Args, Debug)]
#[command(
    after_long_help = "Each experiment writes <out>/<name>.svg (the book's figure) and \
                       <out>/<name>.csv (its curves), and prints a short table. The networks of \
                       an experiment train side by side on every core; the results depend on \
                       --seed only."
)]
pub struct ExperimentArgs {
    /// The experiment, named after what it compares (the book's script in brackets)
    #[arg(value_enum)]
    name: Name,
    /// A reduced version that runs in seconds: fewer iterations, epochs, grid points or trials
    #[arg(long)]
    quick: bool,
    /// Seed of every random draw: initial weights, minibatches, dropout masks, the random input
    /// of init-histogram, the split and trials of hyperparams
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The dataset: mnist or fashion (Fashion-MNIST)
    #[arg(long, value_enum, default_value = "mnist")]
    dataset: DatasetArg,
    /// Folder of the dataset's four IDX files (gzip or raw); fetched there when missing
    /// [default: data/mnist, or data/fashion for Fashion-MNIST]
    #[arg(long)]
    data: Option<PathBuf>,
    /// Folder for the figures (SVG) and curves (CSV)
    #[arg(long, default_value = "data/experiments")]
    out: PathBuf,
    /// Worker threads (independent networks train in parallel); results do not depend on it
    /// [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
}

/// The experiments, in the book's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Name {
    /// SGD, Momentum, AdaGrad and Adam on f(x, y) = x²/20 + y², 30 steps from (-7, 2)
    /// [optimizer_compare_naive.py]
    #[value(name = "optimizers-2d")]
    Optimizers2d,
    /// The four optimizers on MNIST, 784-100-100-100-100-10 ReLU, batch 128, 2000 iterations
    /// [optimizer_compare_mnist.py]
    Optimizers,
    /// Activations of 5 sigmoid (and ReLU) layers of 100 for weights of std 1, 0.01, Xavier,
    /// He [weight_init_activation_histogram.py]
    InitHistogram,
    /// Loss of 4×100 ReLU nets started with std 0.01, Xavier and He weights, SGD 0.01, 2000
    /// iterations [weight_init_compare.py]
    Init,
    /// With and without batch norm, 16 weight scales, 1000 images, 20 epochs
    /// [batch_norm_test.py]
    BatchNorm,
    /// Overfitting 300 images with 6×100 ReLU, without and with weight decay 0.1, 201 epochs
    /// [overfit_weight_decay.py]
    WeightDecay,
    /// Overfitting 300 images, without and with dropout 0.2, 301 epochs [overfit_dropout.py]
    Dropout,
    /// 100 random trials of learning rate and weight decay, 500 images (20% validation), 50
    /// epochs [hyperparameter_optimization.py]
    Hyperparams,
    /// Every experiment above, one after the other
    All,
}

impl Name {
    /// Every experiment, in the book's order.
    const EACH: [Name; 8] = [
        Name::Optimizers2d,
        Name::Optimizers,
        Name::InitHistogram,
        Name::Init,
        Name::BatchNorm,
        Name::WeightDecay,
        Name::Dropout,
        Name::Hyperparams,
    ];

    /// The name on the command line and of the output files.
    fn as_str(self) -> &'static str {
        match self {
            Name::Optimizers2d => "optimizers-2d",
            Name::Optimizers => "optimizers",
            Name::InitHistogram => "init-histogram",
            Name::Init => "init",
            Name::BatchNorm => "batch-norm",
            Name::WeightDecay => "weight-decay",
            Name::Dropout => "dropout",
            Name::Hyperparams => "hyperparams",
            Name::All => "all",
        }
    }

    /// The book's script.
    fn script(self) -> &'static str {
        match self {
            Name::Optimizers2d => "ch06/optimizer_compare_naive.py",
            Name::Optimizers => "ch06/optimizer_compare_mnist.py",
            Name::InitHistogram => "ch06/weight_init_activation_histogram.py",
            Name::Init => "ch06/weight_init_compare.py",
            Name::BatchNorm => "ch06/batch_norm_test.py",
            Name::WeightDecay => "ch06/overfit_weight_decay.py",
            Name::Dropout => "ch06/overfit_dropout.py",
            Name::Hyperparams => "ch06/hyperparameter_optimization.py",
            Name::All => "ch06",
        }
    }

    /// Runs this experiment.
    fn run(self, ctx: &Context) -> Result<()> {
        match self {
            Name::Optimizers2d => optimizer_compare_naive::run(ctx),
            Name::Optimizers => optimizer_compare_mnist::run(ctx),
            Name::InitHistogram => weight_init_activation_histogram::run(ctx),
            Name::Init => weight_init_compare::run(ctx),
            Name::BatchNorm => batch_norm_test::run(ctx),
            Name::WeightDecay => overfit_weight_decay::run(ctx),
            Name::Dropout => overfit_dropout::run(ctx),
            Name::Hyperparams => hyperparameter_optimization::run(ctx),
            Name::All => unreachable!("`all` runs each experiment in turn"),
        }
    }
}

/// What every experiment gets: its settings, the worker pool and the data (loaded once).
pub struct Context {
    name: Name,
    quick: bool,
    seed: u64,
    dataset: Dataset,
    data: PathBuf,
    out: PathBuf,
    runner: Runner,
    mnist: OnceLock<Mnist>,
}

impl Context {
    /// MNIST, loaded (or fetched) on first use.
    fn mnist(&self) -> Result<&Mnist> {
        if let Some(mnist) = self.mnist.get() {
            return Ok(mnist);
        }
        let mnist = data::load_or_fetch(&self.data, self.dataset)?;
        data::check_files(
            &self.data,
            self.dataset,
            Some(&mnist.train),
            Some(&mnist.test),
        )?;
        Ok(self.mnist.get_or_init(|| mnist))
    }

    /// The training and test splits, and the shape of an image.
    fn splits(&self) -> Result<(DataSplit<'_>, DataSplit<'_>, Shape)> {
        let mnist = self.mnist()?;
        let shape = Shape::new(1, mnist.train.rows(), mnist.train.cols());
        Ok((DataSplit(&mnist.train), DataSplit(&mnist.test), shape))
    }

    /// Writes the experiment's figure and curves, atomically and both or neither, and says
    /// where.
    fn write(
        &self,
        svg: &str,
        csv: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        let (svg_path, csv_path) = (self.path("svg"), self.path("csv"));
        let mut outputs = files::Outputs::new();
        outputs.write_with(&csv_path, csv)?;
        outputs.write(&svg_path, svg.as_bytes())?;
        outputs.commit()?;
        println!("figure: {}", crate::files::shown(&svg_path));
        println!("curves: {}", crate::files::shown(&csv_path));
        Ok(())
    }

    /// `<out>/<name>.<extension>`.
    fn path(&self, extension: &str) -> PathBuf {
        output_path(&self.out, self.name, extension)
    }

    /// The figure's title: what it shows, then the book's script, the dataset when the
    /// experiment trained on another than MNIST, and `--quick`.
    fn title(&self, what: &str) -> String {
        let quick = if self.quick { ", --quick" } else { "" };
        let dataset = match self.dataset {
            Dataset::Fashion if self.mnist.get().is_some() => {
                format!(", {}", self.dataset.title())
            }
            _ => String::new(),
        };
        format!("{what} ({}{dataset}{quick})", self.name.script())
    }

    /// The dataset's name in a title: `MNIST` or `Fashion-MNIST`.
    fn dataset_title(&self) -> &'static str {
        self.dataset.title()
    }
}

/// `<out>/<name>.<extension>`.
fn output_path(out: &Path, name: Name, extension: &str) -> PathBuf {
    out.join(Path::new(name.as_str()).with_extension(extension))
}

/// Refuses, before any training, outputs that could not be written at the end: `--out` naming
/// something other than a folder, a folder that cannot be created or written, a figure or CSV
/// path taken by a folder or a device, or one that is a file of the dataset. Creates `--out`.
fn check_outputs(out: &Path, data: &Path, names: &[Name]) -> Result<()> {
    if out.exists() && !out.is_dir() {
        bail!(
            "--out {} is not a folder: give the folder the figures and CSV files go in",
            out.display()
        );
    }
    let paths: Vec<PathBuf> = names
        .iter()
        .flat_map(|&name| ["svg", "csv"].map(|extension| output_path(out, name, extension)))
        .collect();
    let flagged: Vec<(&str, &Path)> = paths.iter().map(|p| ("--out", p.as_path())).collect();
    files::check_outputs(data, &[], &flagged)?;
    fs::create_dir_all(out)
        .with_context(|| format!("--out {}: cannot create the folder", out.display()))?;
    for path in &paths {
        // A temporary file made and removed: the folder is writable and the target replaceable.
        safe_write::AtomicFile::create(path).with_context(|| format!("--out {}", out.display()))?;
    }
    Ok(())
}

/// A plain text table: a header and rows of cells, each column as wide as its widest cell,
/// the first column left-aligned and the others right-aligned.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        for (i, (cell, &w)) in cells.zip(&widths).enumerate() {
            let pad = w - cell.chars().count();
            if i == 0 {
                let _ = write!(out, "{cell}{}", " ".repeat(pad));
            } else {
                let _ = write!(out, "  {}{cell}", " ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str).take(columns));
    }
    out
}

/// Runs `experiment`.
pub fn run(args: ExperimentArgs) -> Result<()> {
    let runner = Runner::new(args.threads)?;
    let names: Vec<Name> = match args.name {
        Name::All => Name::EACH.to_vec(),
        name => vec![name],
    };
    let dataset = Dataset::from(args.dataset);
    let data = args.data.unwrap_or_else(|| dataset.default_dir());
    check_outputs(&args.out, &data, &names)?;
    let mut ctx = Context {
        name: names[0],
        quick: args.quick,
        seed: args.seed,
        dataset,
        data,
        out: args.out,
        runner,
        mnist: OnceLock::new(),
    };
    let mut times = Vec::new();
    for name in names {
        ctx.name = name;
        println!("== {} ({}) ==", name.as_str(), name.script());
        let start = Instant::now();
        name.run(&ctx)?;
        let seconds = start.elapsed().as_secs_f64();
        println!("time: {seconds:.1} s\n");
        times.push(vec![name.as_str().to_string(), format!("{seconds:.1}")]);
    }
    if args.name == Name::All {
        let total: f64 = times
            .iter()
            .map(|t| t[1].parse::<f64>().unwrap_or(0.0))
            .sum();
        times.push(vec!["total".into(), format!("{total:.1}")]);
        print!("{}", table(&["experiment", "time (s)"], &times));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let rows = [
            vec!["SGD".to_string(), "0.01".into()],
            vec!["Momentum".into(), "0.1".into()],
        ];
        assert_eq!(
            table(&["optimizer", "lr"], &rows),
            "optimizer    lr\nSGD        0.01\nMomentum    0.1\n"
        );
    }

    #[test]
    fn every_experiment_names_its_own_files_and_script() {
        for name in Name::EACH {
            let value = name.to_possible_value().unwrap();
            assert_eq!(value.get_name(), name.as_str());
            assert!(name.script().starts_with("ch06/") && name.script().ends_with(".py"));
        }
    }
}
