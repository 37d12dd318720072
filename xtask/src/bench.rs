//! `cargo xtask bench`: the default `nn-cli train` run against the book's NumPy code, side by side.
//!
//! It builds `nn-cli` (and this tool) in release, measures the GEMM peak with the network's own
//! GEMM, then runs, alternating, `nn-cli train` with its defaults and the NumPy reference
//! (`xtask/reference/train_neuralnet.py`), each as a whole process whose wall time and peak
//! memory are measured from outside (see [`measure`]). It prints the medians, the final test
//! accuracies, the ratios, the achieved GFLOP/s against the peak, and the FLOP lower bound.
//!
//! With `--net simple-convnet|deep-convnet` it compares instead a few hundred training
//! iterations of the book's CNNs with the book's NumPy code and with PyTorch on the CPU (see
//! [`cnn`]).
//!
//! The Python references run in a virtual environment of the project's own, `target/py-venv`,
//! into which the bench installs what they import: numpy, and torch only after saying what it
//! is (several GB) and asking, or with `--yes` (see [`python`]).
//!
//! ```text
//! cargo xtask bench                   # 3 rounds of (nn-cli train, NumPy)
//! cargo xtask bench --runs 5 --skip-numpy --activation relu
//! cargo xtask bench --net simple-convnet --iters 300   # nn-cli, NumPy, PyTorch per iteration
//! cargo xtask bench --net deep-convnet --yes    # install PyTorch without asking, if missing
//! ```

mod cnn;
mod gemm;
mod measure;
mod python;

use std::ffi::OsString;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;

use anyhow::{Context, Result, bail};

use gemm::GemmRates;
use measure::Measurement;
use python::{Reference, Venv};

/// Arguments of `cargo xtask bench`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// Rounds of (nn-cli train, NumPy reference), run alternately.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Time only `nn-cli train`, not the NumPy reference.
    #[arg(long)]
    skip_numpy: bool,
    /// Hidden-layer activation of `nn-cli train` (the NumPy reference is the book's sigmoid).
    #[arg(long, value_parser = ["sigmoid", "relu"], default_value = "sigmoid")]
    activation: String,
    /// Folder of the four MNIST IDX files [default: data/mnist in the workspace].
    #[arg(long)]
    data: Option<PathBuf>,
    /// The network: mlp (the default training run against the book's NumPy script), or one
    /// of the book's CNNs, timed per iteration against the book's NumPy code and PyTorch
    #[arg(long, value_parser = ["mlp", "simple-convnet", "deep-convnet"], default_value = "mlp")]
    net: String,
    /// Training iterations of each CNN run [default: 200 for simple-convnet, 60 for
    /// deep-convnet]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    iters: Option<u32>,
    /// With a CNN: do not run (or install) the PyTorch reference.
    #[arg(long)]
    skip_torch: bool,
    /// Install what the Python references need into target/py-venv without asking (PyTorch
    /// from PyPI is several GB); without it the bench asks on a terminal, and stops elsewhere.
    #[arg(long)]
    yes: bool,
    #[command(subcommand)]
    helper: Option<Helper>,
}

/// Helpers the command runs as child processes of its own.
#[derive(clap::Subcommand)]
enum Helper {
    /// Run one command, then print its wall time, exit code and peak memory.
    #[command(hide = true)]
    Measure {
        /// The program and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<OsString>,
    },
    /// Measure the GEMM rates and print them on one line.
    #[command(hide = true)]
    GemmPeak,
}

/// Runs `cargo xtask bench`, or one of its hidden helpers.
pub fn run(args: BenchArgs) -> Result<()> {
    match args.helper {
        Some(Helper::Measure { command }) => measure::run(&command),
        Some(Helper::GemmPeak) => {
            gemm::run();
            Ok(())
        }
        None => bench(&args),
    }
}

/// The amount of GEMM work of a training run of the two-layer network, in FLOP.
///
/// It counts the matrix products only (2 FLOP per multiply-add), as the elementwise work is
/// small beside them: per iteration the forward pass `W1ᵀ·x`, `W2ᵀ·z` and the backward pass
/// `dW2`, `dz` and `dW1` (no `dx`: nothing needs the input's gradient); per evaluation the forward
/// pass over every train and test image.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Work {
    input: usize,
    hidden: usize,
    output: usize,
    batch: usize,
    iters: usize,
    evaluations: usize,
    evaluated_samples: usize,
}

impl Work {
    /// The book's chapter-4 run, which is `nn-cli train`'s default: 784-50-10, batch 100,
    /// 10000 iterations, an evaluation of all 70000 images every 600 iterations (17 in all).
    const BOOK: Self = Self {
        input: 784,
        hidden: 50,
        output: 10,
        batch: 100,
        iters: 10_000,
        evaluations: 17,
        evaluated_samples: 70_000,
    };

    /// Multiply-adds of one forward pass over one sample.
    fn forward_macs(&self) -> f64 {
        (self.input * self.hidden + self.hidden * self.output) as f64
    }

    /// FLOP of one training iteration: the forward pass, then `dW2`, `dz` (both `hidden·output`
    /// per sample) and `dW1` (`input·hidden`).
    fn iteration_flop(&self) -> f64 {
        let backward_macs = (self.input * self.hidden + 2 * self.hidden * self.output) as f64;
        2.0 * self.batch as f64 * (self.forward_macs() + backward_macs)
    }

    /// FLOP of the evaluations: a forward pass over every evaluated sample.
    fn evaluation_flop(&self) -> f64 {
        2.0 * (self.evaluations * self.evaluated_samples) as f64 * self.forward_macs()
    }

    fn training_flop(&self) -> f64 {
        self.iters as f64 * self.iteration_flop()
    }

    fn total_flop(&self) -> f64 {
        self.training_flop() + self.evaluation_flop()
    }
}

/// One measured run of either program.
struct Run {
    measurement: Measurement,
    test_acc: f64,
    /// `nn-cli train` only: what its history CSV says about the training loop.
    history: Option<HistorySummary>,
}

/// The benchmark proper.
fn bench(args: &BenchArgs) -> Result<()> {
    let root = project_root();
    let data = match &args.data {
        Some(dir) => std::path::absolute(dir)
            .with_context(|| format!("cannot resolve the data folder {}", dir.display()))?,
        None => root.join("data/mnist"),
    };
    check_data(&data)?;

    // The references' Python first: a question about a large install comes before the build.
    let target = target_dir(&root)?;
    let venv = Venv::in_target(&target);
    let mut wanted = Vec::new();
    if !args.skip_numpy {
        wanted.push(Reference::NumPy);
    }
    if args.net != "mlp" && !args.skip_torch {
        wanted.push(Reference::PyTorch);
    }
    let ready = python::prepare(&venv, &wanted, args.yes)?;
    let numpy = ready.contains(&Reference::NumPy);

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    println!("bench: building nn-cli and xtask in release");
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "nn-cli",
            "-p",
            "xtask",
        ])
        .current_dir(&root)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("`cargo build --release -p nn-cli -p xtask` failed ({status})");
    }
    let release = target.join("release");
    let nn_cli = release.join("nn-cli");
    let release_xtask = release.join("xtask");

    if args.net != "mlp" {
        return cnn::bench(&cnn::Setup {
            root: &root,
            data: &data,
            nn_cli: &nn_cli,
            xtask: &release_xtask,
            python: &venv.python(),
            net: &args.net,
            iters: args.iters.unwrap_or_else(|| cnn::default_iters(&args.net)),
            runs: args.runs,
            numpy,
            torch: ready.contains(&Reference::PyTorch),
        });
    }

    let reference = root.join("xtask/reference/train_neuralnet.py");
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut best_rates: Option<GemmRates> = None;
    let mut gemm_cpu_s = 0.0;
    let busy_before = busy_cpu_seconds();
    let runs_start = std::time::Instant::now();
    for round in 1..=args.runs {
        // The GEMM rates before every round; the best of each figure counts (a busy moment on
        // this shared machine only lowers them).
        let mut gemm = Command::new(&release_xtask);
        gemm.args(["bench", "gemm-peak"]);
        let (measurement, stdout) = measured(&release_xtask, &gemm, &root)?;
        gemm_cpu_s += measurement.cpu_s;
        let rates = GemmRates::parse_output(&stdout)?;
        println!(
            "bench: round {round}/{}  GEMM peak {:.1} GFLOP/s (nn_core's f32 GEMM, release build)",
            args.runs,
            rates.peak()
        );
        best_rates = Some(best_rates.map_or(rates, |best| best.best(&rates)));

        let out_dir = tempfile::tempdir().context("cannot create a temporary folder")?;
        let mut train = Command::new(&nn_cli);
        train
            .arg("train")
            .arg("--data")
            .arg(&data)
            .args(["--activation", &args.activation])
            .arg("--out")
            .arg(out_dir.path().join("params.ron"))
            .arg("--history")
            .arg(out_dir.path().join("history.csv"))
            .arg("--plot")
            .arg(out_dir.path().join("plot.svg"));
        let (measurement, _) = measured(&release_xtask, &train, &root)?;
        let history_path = out_dir.path().join("history.csv");
        let csv = std::fs::read_to_string(&history_path)
            .with_context(|| format!("nn-cli train wrote no {}", history_path.display()))?;
        let history = HistorySummary::parse(&csv)
            .with_context(|| format!("cannot read nn-cli's history {}", history_path.display()))?;
        let run = Run {
            measurement,
            test_acc: history.final_test_acc,
            history: Some(history),
        };
        print_run(round, args.runs, "nn-cli train", &run);
        ours.push(run);

        if numpy {
            let mut python = Command::new(venv.python());
            python.arg(&reference).arg("--data").arg(&data);
            let (measurement, stdout) = measured(&release_xtask, &python, &root)?;
            let test_acc = parse_reference_accuracy(&stdout)?;
            let run = Run {
                measurement,
                test_acc,
                history: None,
            };
            print_run(round, args.runs, "NumPy reference", &run);
            theirs.push(run);
        }
    }

    let rates = best_rates.context("no round was run")?;
    report(&ours, &theirs, &rates, &args.activation)?;
    // Other engineers' processes share the machine: say how much of it they used meanwhile.
    if let (Some(before), Some(after)) = (busy_before, busy_cpu_seconds()) {
        let ours_s: f64 = gemm_cpu_s
            + ours
                .iter()
                .chain(&theirs)
                .map(|r| r.measurement.cpu_s)
                .sum::<f64>();
        let capacity_s = runs_start.elapsed().as_secs_f64() * rates.threads as f64;
        let others = ((after - before - ours_s) / capacity_s).max(0.0);
        println!(
            "other processes kept {:.0} % of the {} cores busy during the runs",
            100.0 * others,
            rates.threads
        );
        if others > 0.1 {
            println!("warning: the machine was shared: timings are slower and noisier than idle");
        }
    }
    Ok(())
}

/// CPU seconds the whole machine has spent busy since boot (`/proc/stat`: user, nice, system,
/// irq, softirq and steal, in the kernel's fixed 100 ticks per second), where there is one.
fn busy_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    Some(busy as f64 / 100.0)
}

/// Cargo's target folder: `CARGO_TARGET_DIR`, or `target` in the workspace.
fn target_dir(root: &Path) -> Result<PathBuf> {
    let dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    std::path::absolute(&dir)
        .with_context(|| format!("cannot resolve the target folder {}", dir.display()))
}

/// The workspace root: the parent of this crate's folder.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// The benchmark must not time a download: the four files must already be there.
fn check_data(dir: &Path) -> Result<()> {
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        let gz = dir.join(format!("{name}.gz"));
        if !dir.join(name).is_file() && !gz.is_file() {
            bail!(
                "{} has no {name} (raw or .gz): run `cargo xtask fetch-mnist` first, \
                 or pass --data with the folder holding the MNIST files",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Runs `command` through the `measure` helper of the `xtask` executable, from `dir`, and returns
/// its measurement and stdout. A run that fails is an error that shows the end of its output.
fn measured(xtask: &Path, command: &Command, dir: &Path) -> Result<(Measurement, String)> {
    let mut helper = Command::new(xtask);
    helper
        .args(["bench", "measure", "--"])
        .arg(command.get_program())
        .args(command.get_args())
        .current_dir(dir);
    let output = checked_output(&mut helper)?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let m = Measurement::parse_output(&stdout)?;
    if m.exit_code != Some(0) {
        let how = m
            .exit_code
            .map_or_else(|| "a signal".to_owned(), |c| format!("exit code {c}"));
        bail!(
            "{} failed with {how}; the end of its output:\n{}{}",
            describe(command),
            tail(&stdout, 10),
            tail(&String::from_utf8_lossy(&output.stderr), 20)
        );
    }
    Ok((m, stdout))
}

/// Runs a helper to completion, capturing its output; an error if it does not succeed.
fn checked_output(command: &mut Command) -> Result<Output> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {}", describe(command)))?;
    if !output.status.success() {
        bail!(
            "{} failed ({}):\n{}",
            describe(command),
            output.status,
            tail(&String::from_utf8_lossy(&output.stderr), 20)
        );
    }
    Ok(output)
}

fn describe(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    format!("`{}`", words.join(" "))
}

/// The last `lines` lines of `text`, each ending with a newline.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| format!("  {l}\n"))
        .collect()
}

/// The value of `key` among the whitespace-separated `key=value` fields of `line`.
fn field<'a>(line: &'a str, key: &str) -> Result<&'a str> {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
        .with_context(|| format!("no `{key}=` in {line:?}"))
}

/// [`field`], parsed.
fn parse_field<T: FromStr>(line: &str, key: &str) -> Result<T>
where
    T::Err: Display,
{
    let value = field(line, key)?;
    value
        .parse()
        .map_err(|e| anyhow::anyhow!("bad {key}={value:?} in {line:?}: {e}"))
}

/// The final test accuracy from the NumPy reference's `final: ... test_acc=...` line.
fn parse_reference_accuracy(stdout: &str) -> Result<f64> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("final:"))
        .context("the NumPy reference printed no `final:` line")?;
    parse_field(line, "test_acc")
}

/// What `nn-cli train`'s history CSV (`iteration,train_loss,train_acc,test_acc,elapsed_s`, one
/// row per iteration, accuracies only on evaluation rows) says about a run.
#[derive(Clone, Copy, Debug, PartialEq)]
struct HistorySummary {
    iterations: usize,
    evaluations: usize,
    final_test_acc: f64,
    /// Seconds from the start of training to the end of the last iteration: the largest
    /// `elapsed_s`. The evaluations run beside the loop, all but the final one within that time.
    loop_s: f64,
}

impl HistorySummary {
    fn parse(csv: &str) -> Result<Self> {
        const HEADER: &str = "iteration,train_loss,train_acc,test_acc,elapsed_s";
        let mut lines = csv.lines();
        let header = lines.next().unwrap_or_default();
        if header != HEADER {
            bail!("the header is {header:?}, expected {HEADER:?}");
        }
        let (mut iterations, mut evaluations, mut final_test_acc, mut loop_s) =
            (0, 0, None, 0.0_f64);
        for (n, line) in lines.enumerate() {
            let row = n + 2;
            let cols: Vec<&str> = line.split(',').collect();
            let [_, _, _, test_acc, elapsed] = cols[..] else {
                bail!(
                    "line {row} has {} columns, expected 5: {line:?}",
                    cols.len()
                );
            };
            iterations += 1;
            if !test_acc.is_empty() {
                evaluations += 1;
                final_test_acc = Some(
                    test_acc
                        .parse()
                        .with_context(|| format!("line {row}: bad test_acc"))?,
                );
            }
            let elapsed: f64 = elapsed
                .parse()
                .with_context(|| format!("line {row}: bad elapsed_s"))?;
            loop_s = loop_s.max(elapsed);
        }
        let final_test_acc = final_test_acc.context("no row has a test accuracy")?;
        Ok(Self {
            iterations,
            evaluations,
            final_test_acc,
            loop_s,
        })
    }
}

/// The median of `values` (the mean of the middle two for an even count); `values` is not empty.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

fn print_run(round: u32, rounds: u32, name: &str, run: &Run) {
    println!(
        "bench: round {round}/{rounds}  {name:<16} {:>7.2} s  {:>6.1} MiB  test acc {:.4}",
        run.measurement.wall_s,
        run.measurement.max_rss_mib(),
        run.test_acc
    );
}

/// Medians of a set of runs.
struct Medians {
    wall_s: f64,
    /// The fastest and the slowest run.
    wall_range: (f64, f64),
    rss_mib: f64,
    test_acc: f64,
}

impl Medians {
    fn of(runs: &[Run]) -> Self {
        let pick = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
        Self {
            wall_s: pick(|r| r.measurement.wall_s),
            wall_range: runs.iter().fold((f64::INFINITY, 0.0), |(lo, hi), r| {
                (lo.min(r.measurement.wall_s), hi.max(r.measurement.wall_s))
            }),
            rss_mib: pick(|r| r.measurement.max_rss_mib()),
            test_acc: pick(|r| r.test_acc),
        }
    }

    fn print_row(&self, name: &str, runs: usize) {
        println!(
            "  {name:<24} {:>8.2} s {:>9.1} MiB {:>9.4} {runs:>5}   {:.2} – {:.2} s",
            self.wall_s, self.rss_mib, self.test_acc, self.wall_range.0, self.wall_range.1
        );
    }
}

fn report(ours: &[Run], theirs: &[Run], rates: &GemmRates, activation: &str) -> Result<()> {
    let us = Medians::of(ours);
    println!();
    println!(
        "  {:<24} {:>10} {:>13} {:>9} {:>5}   wall range",
        "median of", "wall", "peak RSS", "test acc", "runs"
    );
    us.print_row(&format!("nn-cli train ({activation})"), ours.len());
    let speedup = (!theirs.is_empty()).then(|| {
        let them = Medians::of(theirs);
        them.print_row("NumPy reference", theirs.len());
        println!(
            "  {:<24} {:>8.1}× {:>11.1}×   (NumPy / nn-cli train)",
            "ratio",
            them.wall_s / us.wall_s,
            them.rss_mib / us.rss_mib
        );
        // On a shared machine the fastest runs are the least disturbed ones.
        println!(
            "  {:<24} {:>8.1}×   (fastest NumPy run / fastest nn-cli train run)",
            "ratio of the fastest",
            them.wall_range.0 / us.wall_range.0
        );
        them.wall_s / us.wall_s
    });

    // Every run of ours has the same iterations and evaluations (same defaults): count the
    // work from the first run's history, with the book's layer sizes and batch.
    let history = ours[0]
        .history
        .context("nn-cli train's history is missing")?;
    let work = Work {
        iters: history.iterations,
        evaluations: history.evaluations,
        ..Work::BOOK
    };
    let flop = work.total_flop();
    let loop_s = median(
        ours.iter()
            .filter_map(|r| r.history.map(|h| h.loop_s))
            .collect(),
    );
    let peak = rates.peak();
    let bound_s = flop / (peak * 1e9);
    println!();
    println!("GEMM (nn_kernels::gemm::gemm, f32, release build; best of the rounds):");
    println!(
        "  2048³, one at a time           {:>7.1} GFLOP/s",
        rates.one_at_a_time
    );
    println!(
        "  2048³, one per core on {} cores {:>7.1} GFLOP/s",
        rates.threads, rates.all_cores
    );
    println!(
        "  training shapes, one at a time {:>7.1} GFLOP/s",
        rates.training_shapes
    );
    println!(
        "work: {:.1} GFLOP ({:.1} in {} iterations + {:.1} in {} evaluations of {} images)",
        flop / 1e9,
        work.training_flop() / 1e9,
        work.iters,
        work.evaluation_flop() / 1e9,
        work.evaluations,
        work.evaluated_samples
    );
    println!("FLOP lower bound at the {peak:.1} GFLOP/s peak: {bound_s:.2} s");
    println!(
        "nn-cli train: end to end {:.2} s = {:.1} GFLOP/s ({:.0} % of peak) = {:.2}× the lower \
         bound; training loop {loop_s:.2} s (to the end of its last iteration, {} of the {} \
         evaluations beside it)",
        us.wall_s,
        flop / us.wall_s / 1e9,
        100.0 * flop / us.wall_s / 1e9 / peak,
        us.wall_s / bound_s,
        work.evaluations.saturating_sub(1),
        work.evaluations
    );

    println!();
    println!("targets (nn-cli train, medians):");
    let target = |what: &str, value: String, met: bool| {
        let verdict = if met { "met" } else { "NOT met" };
        println!("  {what:<36} {value:>10}  {verdict}");
    };
    if let Some(speedup) = speedup {
        target(
            "end to end ≥ 6× faster than NumPy",
            format!("{speedup:.1}×"),
            speedup >= 6.0,
        );
    }
    let bound_ratio = us.wall_s / bound_s;
    target(
        "end to end ≤ 2× the FLOP lower bound",
        format!("{bound_ratio:.2}×"),
        bound_ratio <= 2.0,
    );
    target(
        "peak memory ≤ 100 MiB",
        format!("{:.1} MiB", us.rss_mib),
        us.rss_mib <= 100.0,
    );
    let min_acc = if activation == "relu" { 0.965 } else { 0.935 };
    target(
        &format!("test accuracy ≥ {min_acc} ({activation})"),
        format!("{:.4}", us.test_acc),
        us.test_acc >= min_acc,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The issue's figure, counted by hand: per iteration 2·100·(2·784·50 + 3·50·10) = 15.98 M,
    /// times 10000 = 159.8 G; per evaluation 2·70000·(784·50 + 50·10) = 5.558 G, times 17 =
    /// 94.486 G; 254.286 GFLOP in all ("about 255 GFLOP").
    #[test]
    fn the_book_run_is_about_255_gflop() {
        let work = Work::BOOK;
        assert_eq!(work.iteration_flop(), 15_980_000.0);
        assert_eq!(work.training_flop(), 159_800_000_000.0);
        assert_eq!(work.evaluation_flop(), 94_486_000_000.0);
        assert_eq!(work.total_flop(), 254_286_000_000.0);
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![7.5]), 7.5);
    }

    #[test]
    fn fields_of_a_line() {
        let line = "final: train_acc=0.9476 test_acc=0.9463 wall_s=50.66";
        assert_eq!(field(line, "test_acc").unwrap(), "0.9463");
        assert_eq!(parse_field::<f64>(line, "train_acc").unwrap(), 0.9476);
        assert!(
            field(line, "acc").is_err(),
            "a key matches whole names only"
        );
        assert!(parse_field::<u32>(line, "wall_s").is_err());
        assert_eq!(
            parse_reference_accuracy(&format!("epoch 1\n{line}\n")).unwrap(),
            0.9463
        );
        assert!(parse_reference_accuracy("train acc, test acc | 0.1, 0.1\n").is_err());
    }

    #[test]
    fn history_summary() {
        let csv = "iteration,train_loss,train_acc,test_acc,elapsed_s\n\
                   0,2.3,0.1,0.11,0.05\n1,2.2,,,0.06\n2,2.1,0.5,0.52,0.20\n3,2.0,,,0.21\n";
        let h = HistorySummary::parse(csv).unwrap();
        assert_eq!(
            h,
            HistorySummary {
                iterations: 4,
                evaluations: 2,
                final_test_acc: 0.52,
                loop_s: 0.21
            }
        );
    }

    #[test]
    fn a_bad_history_is_an_error() {
        assert!(HistorySummary::parse("").is_err());
        assert!(HistorySummary::parse("iteration,loss\n0,1\n").is_err());
        let header = "iteration,train_loss,train_acc,test_acc,elapsed_s\n";
        assert!(
            HistorySummary::parse(&format!("{header}0,2.3,,,0.05\n")).is_err(),
            "no accuracy"
        );
        assert!(HistorySummary::parse(&format!("{header}0,2.3,0.1,x,0.05\n")).is_err());
        assert!(HistorySummary::parse(&format!("{header}0,2.3,0.1\n")).is_err());
    }

    #[test]
    fn missing_data_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_data(dir.path()).unwrap_err().to_string();
        assert!(err.contains("train-images-idx3-ubyte"), "{err}");
        assert!(err.contains("cargo xtask fetch-mnist"), "{err}");
    }
}
