//! `nn-cli train`: the book's minibatch loop on MNIST, with a progress bar, one line per
//! evaluation, and the model, history and plot written atomically at the end.

use std::fs;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use nn_train::{Evaluation, GradientMethod, History, Observer, RunInfo, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::data::{self, DataSplit};
use crate::files::write_atomic;
use crate::model;
use crate::plot::write_plot;

/// Options of `train`. Every one can also come from `--config FILE.ron`; flags win, and a flag
/// given twice takes its last value.
#[derive(Args, Debug)]
#[command(args_override_self = true)]
pub struct TrainArgs {
    /// Folder of the four MNIST IDX files (gzip or raw); fetched there when missing
    /// [default: data/mnist]
    #[arg(long)]
    data: Option<PathBuf>,
    /// Number of iterations (parameter updates) [default: 10000]
    #[arg(long)]
    iters: Option<usize>,
    /// Samples per minibatch, drawn at random with replacement [default: 100]
    #[arg(long)]
    batch_size: Option<usize>,
    /// Learning rate of SGD [default: 0.1]
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Neurons in the hidden layer [default: 50]
    #[arg(long)]
    hidden: Option<usize>,
    /// Activation of the hidden layer [default: sigmoid]
    #[arg(long, value_enum)]
    activation: Option<ActivationArg>,
    /// Seed of the random generator (initial weights and minibatches) [default: 42]
    #[arg(long)]
    seed: Option<u64>,
    /// How to compute the gradient (numerical is the book's slow chapter-4 method)
    /// [default: backprop]
    #[arg(long, value_enum)]
    gradient: Option<GradientArg>,
    /// Worker threads of the run (rayon pool: accuracy evaluation and large matrix products);
    /// results do not depend on it [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
    /// Where to write the trained model (RON) [default: data/params.ron]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where to write the history CSV [default: data/history.csv]
    #[arg(long)]
    history: Option<PathBuf>,
    /// Where to write the accuracy and loss plot (SVG) [default: data/plot.svg]
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Read every option from this RON file first (see --print-config for its format)
    #[arg(long, value_name = "FILE.ron")]
    config: Option<PathBuf>,
    /// Print the effective configuration as RON and exit without training
    #[arg(long)]
    print_config: bool,
}

/// Hidden-layer activation, as a flag value.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ActivationArg {
    Sigmoid,
    Relu,
}

/// Gradient method, as a flag value.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum GradientArg {
    Backprop,
    Numerical,
}

/// Everything `train` needs: what `--config` files contain and `--print-config` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Folder of the MNIST files.
    pub data: PathBuf,
    /// Model output file.
    pub out: PathBuf,
    /// History CSV output file.
    pub history: PathBuf,
    /// Plot SVG output file.
    pub plot: PathBuf,
    /// Worker threads of the rayon pool (`None`: all cores).
    pub threads: Option<usize>,
    /// The hyper-parameters.
    pub training: TrainConfig,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::from("data/mnist"),
            out: PathBuf::from("data/params.ron"),
            history: PathBuf::from("data/history.csv"),
            plot: PathBuf::from("data/plot.svg"),
            threads: None,
            training: TrainConfig::default(),
        }
    }
}

impl TrainArgs {
    /// The defaults, overridden by the `--config` file, overridden by the flags.
    fn resolve(&self) -> Result<RunConfig> {
        let mut run = match &self.config {
            Some(path) => {
                let text = fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                ron::from_str(&text).with_context(|| {
                    format!(
                        "config file {} is not a valid train config (see `nn-cli train --print-config`)",
                        path.display()
                    )
                })?
            }
            None => RunConfig::default(),
        };
        let t = &mut run.training;
        set(&mut run.data, self.data.clone());
        set(&mut run.out, self.out.clone());
        set(&mut run.history, self.history.clone());
        set(&mut run.plot, self.plot.clone());
        if self.threads.is_some() {
            run.threads = self.threads;
        }
        set(&mut t.iters, self.iters);
        set(&mut t.batch_size, self.batch_size);
        set(&mut t.learning_rate, self.lr);
        set(&mut t.hidden_size, self.hidden);
        set(&mut t.seed, self.seed);
        set(
            &mut t.activation,
            self.activation.map(|a| match a {
                ActivationArg::Sigmoid => nn_core::Activation::Sigmoid,
                ActivationArg::Relu => nn_core::Activation::Relu,
            }),
        );
        set(
            &mut t.gradient,
            self.gradient.map(|g| match g {
                GradientArg::Backprop => GradientMethod::Backprop,
                GradientArg::Numerical => GradientMethod::Numerical,
            }),
        );
        if run.threads == Some(0) {
            bail!("--threads 0 is invalid: use at least 1, or leave it out to use every core");
        }
        Ok(run)
    }
}

fn set<T>(field: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *field = value;
    }
}

/// Runs `train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let run = args.resolve()?;
    if args.print_config {
        let pretty = ron::ser::PrettyConfig::default().struct_names(false);
        println!("{}", ron::ser::to_string_pretty(&run, pretty)?);
        return Ok(());
    }
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = run.threads {
        pool = pool.num_threads(threads);
    }
    let pool = pool
        .build()
        .context("cannot start the evaluation threads")?;

    let config = &run.training;
    // Check the options before loading (or fetching) the data; only the batch size's upper
    // bound waits for the number of training samples.
    config
        .clone()
        .check(usize::MAX)
        .context("invalid training options")?;
    let mnist = data::load_or_fetch(&run.data)?;
    let (train_data, test_data) = (DataSplit(&mnist.train), DataSplit(&mnist.test));
    config
        .clone()
        .check(mnist.train.len())
        .context("invalid training options")?;

    let start = Instant::now();
    let mut sgd = nn_train::Sgd::new(config.learning_rate as f32);
    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let trained = pool
        .install(|| nn_train::train(config, &train_data, &test_data, &mut sgd, &mut progress))
        .context("training failed; the model, history and plot files were not written")?;
    let wall = start.elapsed().as_secs_f64();
    let last = *trained
        .history
        .last_evaluation()
        .context("training ran no evaluation")?;

    model::save(
        &run.out,
        &trained.net,
        config,
        last.train_acc,
        last.test_acc,
    )?;
    write_atomic(&run.history, |w| trained.history.write_csv(w))?;
    write_plot(&trained.history, &run.plot)?;

    println!(
        "final: train acc {:.4}  test acc {:.4}  ({} iterations in {wall:.2} s)",
        last.train_acc, last.test_acc, config.iters
    );
    println!("model:   {}", run.out.display());
    println!("history: {}", run.history.display());
    println!("plot:    {}", run.plot.display());
    Ok(())
}

/// Progress: a bar on stderr (only when it is a terminal) and one line per evaluation on stdout.
struct Progress {
    bar: Option<ProgressBar>,
    epochs: usize,
    start: Instant,
    /// When the bar was last refreshed.
    refreshed: Instant,
}

/// Iterations between two refreshes of the bar's loss, at most.
const REFRESH_EVERY: usize = 100;
/// Time between two refreshes, at most: a slow run (`--gradient numerical`, about 120 iterations
/// a second) moves its bar, rate and ETA every second too.
const REFRESH_AFTER: Duration = Duration::from_secs(1);

impl Progress {
    fn new(terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let style =
                ProgressStyle::with_template("{bar:30} {pos}/{len} iterations  {msg}  eta {eta}")
                    .expect("the progress template is valid");
            ProgressBar::new(0).with_style(style)
        });
        Self {
            bar,
            epochs: 0,
            start: Instant::now(),
            refreshed: Instant::now(),
        }
    }
}

impl Observer for Progress {
    fn on_start(&mut self, info: &RunInfo) {
        self.epochs = info.epochs;
        self.start = Instant::now();
        if let Some(bar) = &self.bar {
            bar.set_length(info.iters as u64);
        }
    }

    fn on_iteration(&mut self, iteration: usize, loss: f32) {
        if let Some(bar) = &self.bar
            && (iteration.is_multiple_of(REFRESH_EVERY)
                || self.refreshed.elapsed() >= REFRESH_AFTER)
        {
            self.refreshed = Instant::now();
            bar.set_position(iteration as u64);
            let rate = iteration as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("loss {loss:.4}  {rate:.0} it/s"));
        }
    }

    fn on_evaluation(&mut self, e: &Evaluation) {
        let line = format!(
            "epoch {:>2}/{}  train acc {:.4}  test acc {:.4}",
            e.epoch, self.epochs, e.train_acc, e.test_acc
        );
        // Always on stdout (even when redirected), with the bar hidden while it is printed.
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    fn on_finish(&mut self, _history: &History) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
