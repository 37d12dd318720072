//! `cargo xtask bench --net simple-convnet|deep-convnet`: a few hundred training iterations of
//! the book's CNNs by `nn-cli train`, the book's NumPy code (`xtask/reference/train_convnet.py`)
//! and PyTorch on the CPU (`xtask/reference/train_convnet_torch.py`, float32, 2 threads),
//! alternating, each as a whole process whose peak memory is measured from outside. The time
//! compared is the training loop's per iteration: from `nn-cli`'s history CSV (the end of its
//! last iteration over the iterations), from the references' own `s_per_iter`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::{HistorySummary, measured, median, parse_field};

/// Iterations per run when `--iters` is not given: the NumPy DeepConvNet takes about half a
/// second per iteration on an idle machine, the NumPy SimpleConvNet a tenth of that.
pub fn default_iters(net: &str) -> u32 {
    if net == "deep-convnet" { 60 } else { 200 }
}

/// What the CNN comparison needs from `cargo xtask bench`.
pub struct Setup<'a> {
    /// The workspace root (the runs start there).
    pub root: &'a Path,
    /// The MNIST folder.
    pub data: &'a Path,
    /// The release `nn-cli`.
    pub nn_cli: &'a Path,
    /// The release `xtask` (its `measure` helper).
    pub xtask: &'a Path,
    /// The Python that runs the references (the project's virtual environment's).
    pub python: &'a Path,
    /// `simple-convnet` or `deep-convnet`.
    pub net: &'a str,
    /// Training iterations of every run.
    pub iters: u32,
    /// Rounds of (nn-cli, NumPy, PyTorch).
    pub runs: u32,
    /// Whether to run the NumPy reference.
    pub numpy: bool,
    /// Whether to run the PyTorch reference.
    pub torch: bool,
}

/// One timed run: seconds per training iteration and the whole process's peak RSS in MiB.
#[derive(Clone, Copy)]
struct Timed {
    s_per_iter: f64,
    rss_mib: f64,
}

/// Runs the rounds and prints each run, the medians and the ratios.
pub fn bench(setup: &Setup<'_>) -> Result<()> {
    let mut sides: Vec<(&str, Vec<Timed>)> = vec![("nn-cli train", Vec::new())];
    if setup.numpy {
        sides.push(("NumPy (the book's code)", Vec::new()));
    }
    if setup.torch {
        sides.push(("PyTorch CPU (2 threads)", Vec::new()));
    }
    let iters = setup.iters.to_string();
    for round in 1..=setup.runs {
        for (name, runs) in &mut sides {
            let timed = if name.starts_with("nn-cli") {
                ours(setup, &iters)?
            } else {
                let script = if name.starts_with("NumPy") {
                    "train_convnet.py"
                } else {
                    "train_convnet_torch.py"
                };
                let mut python = Command::new(setup.python);
                python
                    .arg(setup.root.join("xtask/reference").join(script))
                    .args(["--net", setup.net, "--iters", &iters, "--data"])
                    .arg(setup.data);
                let (m, stdout) = measured(setup.xtask, &python, setup.root)?;
                let line = stdout
                    .lines()
                    .rev()
                    .find(|l| l.starts_with("result:"))
                    .with_context(|| format!("{script} printed no `result:` line"))?;
                Timed {
                    s_per_iter: parse_field(line, "s_per_iter")?,
                    rss_mib: m.max_rss_mib(),
                }
            };
            println!(
                "bench: round {round}/{}  {name:<24} {:>8.4} s/iteration  {:>7.1} MiB peak",
                setup.runs, timed.s_per_iter, timed.rss_mib
            );
            runs.push(timed);
        }
    }
    println!();
    println!(
        "  {} ({} iterations a run), median of {} runs:",
        setup.net, setup.iters, setup.runs
    );
    let medians: Vec<(&str, f64, f64)> = sides
        .iter()
        .map(|(name, runs)| {
            (
                *name,
                median(runs.iter().map(|r| r.s_per_iter).collect()),
                median(runs.iter().map(|r| r.rss_mib).collect()),
            )
        })
        .collect();
    let ours = medians[0].1;
    for (name, s, rss) in &medians {
        println!(
            "  {name:<24} {s:>8.4} s/iteration  {rss:>7.1} MiB peak  {:>6.2}× nn-cli's time",
            s / ours
        );
    }
    Ok(())
}

/// `nn-cli train --net ... --iters N` in a temporary folder; its loop time from the history.
fn ours(setup: &Setup<'_>, iters: &str) -> Result<Timed> {
    let out = tempfile::tempdir().context("cannot create a temporary folder")?;
    let mut train = Command::new(setup.nn_cli);
    train
        .args(["train", "--net", setup.net, "--iters", iters])
        // Each epoch's evaluation runs beside the loop: keep the one at iteration 0 small.
        .args(["--eval-samples", "100", "--data"])
        .arg(setup.data)
        .arg("--out")
        .arg(out.path().join("params.ron"))
        .arg("--history")
        .arg(out.path().join("history.csv"))
        .arg("--plot")
        .arg(out.path().join("plot.svg"));
    let (m, _) = measured(setup.xtask, &train, setup.root)?;
    let path = out.path().join("history.csv");
    let csv = std::fs::read_to_string(&path)
        .with_context(|| format!("nn-cli train wrote no {}", path.display()))?;
    let history = HistorySummary::parse(&csv)
        .with_context(|| format!("cannot read nn-cli's history {}", path.display()))?;
    Ok(Timed {
        s_per_iter: history.loop_s / history.iterations as f64,
        rss_mib: m.max_rss_mib(),
    })
}
