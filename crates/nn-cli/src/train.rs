//! `nn-cli train`: the book's minibatch loop on MNIST, for the two-layer network of chapters 4
//! and 5, the deeper ones of chapter 6, the convolutional networks of chapters 7 and 8, or any
//! stack of layers given in a config file, with a progress bar, one line per evaluation, and the
//! model, history and plot written atomically at the end.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use nn_core::{
    Activation, Init, LayerError, Model, MultiLayerNetConfig, NetSpec, Sequential, Shape,
    SpecError, TwoLayerConfig, TwoLayerNet,
};
use nn_train::{
    CheckedConfig, Dataset, Evaluation, GradientMethod, History, Length, Observer, OptimizerKind,
    RunInfo, TrainConfig, TrainError,
};
use safe_write::interrupt::Deferred;
use serde::{Deserialize, Serialize};

use crate::data::{self, DataSplit};
use crate::{files, limits, model, plot};

/// Options of `train`. Every one can also come from `--config FILE.ron`; flags win, and a flag
/// given twice takes its last value.
#[derive(Args, Debug)]
#[command(args_override_self = true)]
pub struct TrainArgs {
    /// Folder of the four MNIST IDX files (gzip or raw); fetched there when missing
    /// [default: data/mnist]
    #[arg(long)]
    data: Option<PathBuf>,
    /// The network: mlp (the fully connected nets of chapters 4 to 6, shaped by --hidden,
    /// --activation...), simple-convnet (ch07's SimpleConvNet) or deep-convnet (ch08's
    /// DeepConvNet); the CNNs train as the book's train_convnet.py and train_deepnet.py do by
    /// default: Adam, lr 0.001, 20 epochs, each epoch evaluated on 1000 train and 1000 test
    /// images [default: mlp]
    #[arg(long, value_enum)]
    net: Option<NetArg>,
    /// Number of iterations (parameter updates) [default: 10000]
    #[arg(long, conflicts_with = "epochs")]
    iters: Option<usize>,
    /// Number of epochs (passes of train_size / batch_size iterations), instead of --iters
    #[arg(long)]
    epochs: Option<usize>,
    /// Samples per minibatch, drawn at random with replacement [default: 100]
    #[arg(long)]
    batch_size: Option<usize>,
    /// The optimizer (chapter 6) [default: sgd]
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerArg>,
    /// Learning rate [default: the book's for the optimizer: 0.1 for sgd (train_neuralnet.py),
    /// 0.001 for adam, 0.01 for the others]
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Neurons of each hidden layer, comma-separated: 50 is the book's two-layer net, 100,100,100,100
    /// a deep one [default: 50]
    #[arg(long, value_delimiter = ',', action = clap::ArgAction::Set)]
    hidden: Option<Vec<usize>>,
    /// Activation of the hidden layers [default: sigmoid]
    #[arg(long, value_enum)]
    activation: Option<ActivationArg>,
    /// Initial weights: he (or relu), xavier (or sigmoid), or a standard deviation such as 0.01
    /// [default: 0.01]
    #[arg(long, allow_negative_numbers = true)]
    init: Option<Init>,
    /// Batch normalization after each hidden affine layer
    #[arg(long)]
    batch_norm: bool,
    /// Dropout of this ratio after each hidden activation, in [0, 1) (e.g. 0.15)
    #[arg(long, allow_negative_numbers = true)]
    dropout: Option<f64>,
    /// Weight decay λ: the loss gains λ·½‖W‖² for every weight matrix (e.g. 0.1) [default: 0]
    #[arg(long, allow_negative_numbers = true)]
    weight_decay: Option<f64>,
    /// Seed of the random generator (initial weights, minibatches, dropout) [default: 42]
    #[arg(long)]
    seed: Option<u64>,
    /// How to compute the gradient (numerical is the book's slow chapter-4 method)
    /// [default: backprop]
    #[arg(long, value_enum)]
    gradient: Option<GradientArg>,
    /// Evaluate each epoch on the first N samples of each split only (the final evaluation
    /// covers them all) [default: every sample]
    #[arg(long)]
    eval_samples: Option<usize>,
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

/// The network, as a flag value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum NetArg {
    Mlp,
    #[value(name = "simple-convnet")]
    SimpleConvNet,
    #[value(name = "deep-convnet")]
    DeepConvNet,
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

/// Optimizer, as a flag value.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum OptimizerArg {
    Sgd,
    Momentum,
    Nesterov,
    #[value(name = "adagrad")]
    AdaGrad,
    #[value(name = "rmsprop")]
    RmsProp,
    Adam,
}

impl From<OptimizerArg> for OptimizerKind {
    fn from(arg: OptimizerArg) -> Self {
        match arg {
            OptimizerArg::Sgd => OptimizerKind::Sgd,
            OptimizerArg::Momentum => OptimizerKind::Momentum,
            OptimizerArg::Nesterov => OptimizerKind::Nesterov,
            OptimizerArg::AdaGrad => OptimizerKind::AdaGrad,
            OptimizerArg::RmsProp => OptimizerKind::RmsProp,
            OptimizerArg::Adam => OptimizerKind::Adam,
        }
    }
}

/// The network of a run. In a config file: `net: Mlp(hidden: [50], activation: Sigmoid, ...)`,
/// `net: SimpleConvNet`, `net: DeepConvNet`, or any stack of layers as nn-core's `NetSpec`:
/// `net: Spec(input: (channels: 1, height: 28, width: 28), layers: [Convolution(filters: 8,
/// size: 3), Relu, Pooling(size: 2), Affine(out: 10)], init: He)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(clippy::enum_variant_names)] // the book's class names, as config files spell them
pub enum Net {
    /// The fully connected networks of chapters 4 to 6: the arguments of the book's
    /// `MultiLayerNetExtend` (the default is the two-layer network of chapter 4).
    Mlp(MultiLayerNetConfig),
    /// Chapter 7's `SimpleConvNet` ([`NetSpec::simple_conv_net`]).
    SimpleConvNet,
    /// Chapter 8's `DeepConvNet` ([`NetSpec::deep_conv_net`]).
    DeepConvNet,
    /// Any network, layer by layer.
    Spec(NetSpec),
}

impl Default for Net {
    fn default() -> Self {
        Net::Mlp(MultiLayerNetConfig::default())
    }
}

impl Net {
    /// The network's layers for images of shape `input` and `classes` classes (a `Spec` is
    /// taken as it is).
    pub fn spec(&self, input: Shape, classes: usize) -> NetSpec {
        match self {
            Net::Mlp(config) => config.spec(input, classes),
            Net::SimpleConvNet => NetSpec::simple_conv_net(input, classes),
            Net::DeepConvNet => NetSpec::deep_conv_net(input, classes),
            Net::Spec(spec) => spec.clone(),
        }
    }

    /// The training settings the book uses for this network: `train_neuralnet.py`'s for the
    /// fully connected ones, `train_convnet.py`'s and `train_deepnet.py`'s for the CNNs (Adam with
    /// learning rate 0.001, batch 100, 20 epochs, each epoch evaluated on the first 1000 train
    /// and 1000 test images; the final evaluation always covers both whole).
    pub fn default_training(&self) -> TrainConfig {
        match self {
            Net::Mlp(_) => TrainConfig::default(),
            Net::SimpleConvNet | Net::DeepConvNet | Net::Spec(_) => TrainConfig {
                batch_size: 100,
                length: Length::Epochs(20),
                optimizer: OptimizerKind::Adam.with_default_lr(),
                eval_samples: Some(1000),
                ..TrainConfig::default()
            },
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Net::Mlp(_) => "mlp",
            Net::SimpleConvNet => "simple-convnet",
            Net::DeepConvNet => "deep-convnet",
            Net::Spec(_) => "a Spec",
        }
    }
}

impl From<NetArg> for Net {
    fn from(arg: NetArg) -> Self {
        match arg {
            NetArg::Mlp => Net::default(),
            NetArg::SimpleConvNet => Net::SimpleConvNet,
            NetArg::DeepConvNet => Net::DeepConvNet,
        }
    }
}

/// A `--config` file as read: every field may be left out. A missing `net` is the chapter-4
/// network (or `--net`'s); a missing `training` takes the book's settings for the net (see
/// [`Net::default_training`]), while a `training` section that is there takes the chapter-4
/// defaults for the fields it leaves out.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RunFile {
    data: Option<PathBuf>,
    out: Option<PathBuf>,
    history: Option<PathBuf>,
    plot: Option<PathBuf>,
    threads: Option<usize>,
    net: Option<Net>,
    training: Option<TrainConfig>,
}

/// RON as config files are written and read: a newtype variant's parentheses are its content's
/// (`Mlp(hidden: [50])`, not `Mlp((hidden: [50]))`).
fn ron_options() -> ron::Options {
    ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES)
}

/// RON as config files are read: `ron_options`, and the optional fields of a [`RunFile`] take
/// their values bare (`data: "data/mnist"`, as `--print-config` writes them; `Some(...)` works
/// too).
fn ron_read_options() -> ron::Options {
    ron_options().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
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
    /// The network.
    pub net: Net,
    /// The training loop's settings.
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
            net: Net::default(),
            training: TrainConfig::default(),
        }
    }
}

impl TrainArgs {
    /// The defaults, overridden by the `--config` file, overridden by the flags.
    fn resolve(&self) -> Result<RunConfig> {
        let file = match &self.config {
            Some(path) => {
                let text = limits::read_text(path, "config file", limits::MAX_CONFIG_BYTES)?;
                ron_read_options().from_str::<RunFile>(&text).with_context(|| {
                    format!(
                        "config file {} is not a valid train config (see `nn-cli train --print-config`)",
                        path.display()
                    )
                })?
            }
            None => RunFile::default(),
        };
        let mut net = file.net.unwrap_or_default();
        if let Some(flag) = self.net
            && NetArg::from_net(&net) != Some(flag)
        {
            net = flag.into();
        }
        let defaults = RunConfig::default();
        let mut run = RunConfig {
            data: file.data.unwrap_or(defaults.data),
            out: file.out.unwrap_or(defaults.out),
            history: file.history.unwrap_or(defaults.history),
            plot: file.plot.unwrap_or(defaults.plot),
            threads: file.threads,
            training: file.training.unwrap_or_else(|| net.default_training()),
            net,
        };
        set(&mut run.data, self.data.clone());
        set(&mut run.out, self.out.clone());
        set(&mut run.history, self.history.clone());
        set(&mut run.plot, self.plot.clone());
        if self.threads.is_some() {
            run.threads = self.threads;
        }

        match &mut run.net {
            Net::Mlp(net) => {
                set(&mut net.hidden, self.hidden.clone());
                set(
                    &mut net.activation,
                    self.activation.map(|a| match a {
                        ActivationArg::Sigmoid => Activation::Sigmoid,
                        ActivationArg::Relu => Activation::Relu,
                    }),
                );
                set(&mut net.init, self.init);
                net.batch_norm |= self.batch_norm;
                if self.dropout.is_some() {
                    net.dropout = self.dropout;
                }
                set(&mut net.weight_decay, self.weight_decay);
            }
            other => {
                let mlp_flags = [
                    ("--hidden", self.hidden.is_some()),
                    ("--activation", self.activation.is_some()),
                    ("--init", self.init.is_some()),
                    ("--batch-norm", self.batch_norm),
                    ("--dropout", self.dropout.is_some()),
                    ("--weight-decay", self.weight_decay.is_some()),
                ];
                if let Some((flag, _)) = mlp_flags.iter().find(|(_, given)| *given) {
                    bail!(
                        "{flag} shapes the fully connected networks (--net mlp) and cannot change \
                         {}: to train other layers, write them as a Spec in a --config file (see \
                         --print-config)",
                        match other {
                            Net::Spec(_) => "the config file's Spec".to_owned(),
                            net => format!("--net {}, the book's network", net.name()),
                        }
                    );
                }
            }
        }

        let t = &mut run.training;
        set(&mut t.length, self.iters.map(Length::Iters));
        set(&mut t.length, self.epochs.map(Length::Epochs));
        set(&mut t.batch_size, self.batch_size);
        set(&mut t.seed, self.seed);
        if let Some(kind) = self.optimizer.map(OptimizerKind::from)
            && kind != t.optimizer.kind()
        {
            t.optimizer = kind.with_default_lr();
        }
        if let Some(lr) = self.lr {
            t.optimizer.set_lr(lr);
        }
        set(
            &mut t.gradient,
            self.gradient.map(|g| match g {
                GradientArg::Backprop => GradientMethod::Backprop,
                GradientArg::Numerical => GradientMethod::Numerical,
            }),
        );
        if self.eval_samples.is_some() {
            t.eval_samples = self.eval_samples;
        }
        match run.threads {
            Some(0) => {
                bail!("--threads 0 is invalid: use at least 1, or leave it out to use every core")
            }
            Some(n) if n > max_threads() => bail!(
                "--threads {n} is more than makes sense on this machine: use at most {} (four per \
                 core), or leave it out to use every core",
                max_threads()
            ),
            _ => {}
        }
        Ok(run)
    }
}

impl NetArg {
    /// The flag value naming `net`, if one does.
    fn from_net(net: &Net) -> Option<Self> {
        match net {
            Net::Mlp(_) => Some(NetArg::Mlp),
            Net::SimpleConvNet => Some(NetArg::SimpleConvNet),
            Net::DeepConvNet => Some(NetArg::DeepConvNet),
            Net::Spec(_) => None,
        }
    }
}

fn set<T>(field: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *field = value;
    }
}

/// Checks the network options on their own, naming the flag at fault.
fn check_net(net: &MultiLayerNetConfig) -> Result<()> {
    if net.hidden.contains(&0) {
        bail!("hidden layer size 0 is invalid: use at least 1 neuron, e.g. 50 (--hidden)");
    }
    let err = match net.spec(Shape::new(1, 1, 1), 1).check() {
        Ok(_) => return Ok(()),
        Err(err) => err,
    };
    let flag = match &err {
        SpecError::Layer {
            error: LayerError::DropoutRatio(_),
            ..
        } => "--dropout",
        SpecError::Layer { .. }
        | SpecError::NoLayers
        | SpecError::TooManyLayers(_)
        | SpecError::Input(_)
        | SpecError::TooLarge => "--hidden",
        SpecError::InitStd(_) => "--init",
        SpecError::WeightDecay(_) => "--weight-decay",
    };
    bail!("invalid network options ({flag}): {err}")
}

/// The most worker threads that make sense: four per core.
pub(crate) fn max_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) * 4
}

/// Whether training made the loss worse: the mean loss of the last iterations exceeds the loss
/// of the first minibatch, before any update, by more than 10 % (a learning rate so large that
/// the run bounced away without overflowing). Returns both.
fn loss_rose(history: &History) -> Option<(f32, f32)> {
    let losses = &history.train_loss;
    let window = (losses.len() / 10).clamp(1, 100);
    let last = &losses[losses.len().checked_sub(window)?..];
    let (first, end) = (*losses.first()?, last.iter().sum::<f32>() / window as f32);
    (end > 1.1 * first).then_some((first, end))
}

/// `x` with 4 decimals, or in scientific notation when it is huge or tiny.
fn short(x: f64) -> String {
    if x != 0.0 && !(1e-3..1e6).contains(&x.abs()) {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

/// The book's two-layer network, when the options describe exactly it (one hidden layer,
/// weights of a fixed std, nothing of chapter 6): `train` then trains nn-core's `TwoLayerNet`.
fn as_two_layer(
    net: &MultiLayerNetConfig,
    inputs: usize,
    classes: usize,
) -> Option<TwoLayerConfig> {
    let (&[hidden_size], Init::Std(weight_init_std)) = (net.hidden.as_slice(), net.init) else {
        return None;
    };
    let plain = !net.batch_norm && net.dropout.is_none() && net.weight_decay == 0.0;
    plain.then_some(TwoLayerConfig {
        input_size: inputs,
        hidden_size,
        output_size: classes,
        activation: net.activation,
        weight_init_std,
    })
}

/// Runs `train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let run = args.resolve()?;
    if args.print_config {
        let pretty = ron::ser::PrettyConfig::default()
            .struct_names(false)
            .compact_arrays(true);
        println!("{}", ron_options().to_string_pretty(&run, pretty)?);
        return Ok(());
    }
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = run.threads {
        pool = pool.num_threads(threads);
    }
    let pool = pool
        .build()
        .context("cannot start the evaluation threads")?;

    // Check every option before loading (or fetching) the data; only the batch size's upper
    // bound waits for the number of training samples, and the layers' sizes for the images'.
    let config = run
        .training
        .clone()
        .check()
        .context("invalid training options")?;
    match &run.net {
        Net::Mlp(net) => check_net(net)?,
        Net::Spec(spec) => {
            spec.check()
                .context("invalid network Spec in the config file")?;
        }
        Net::SimpleConvNet | Net::DeepConvNet => {}
    }
    let config_file: Vec<(&str, &Path)> = args
        .config
        .iter()
        .map(|c| ("--config", c.as_path()))
        .collect();
    files::check_outputs(
        &run.data,
        &config_file,
        &[
            ("--out", &run.out),
            ("--history", &run.history),
            ("--plot", &run.plot),
        ],
    )?;
    plot::check_path(&run.plot)?;
    let mnist = data::load_or_fetch(&run.data)?;
    let (train_data, test_data) = (DataSplit(&mnist.train), DataSplit(&mnist.test));
    let input = Shape::new(1, mnist.train.rows(), mnist.train.cols());
    let classes = mnist_io::idx::NUM_CLASSES;
    let spec = run.net.spec(input, classes);
    if let Net::Spec(spec) = &run.net
        && spec.input.len() != Some(train_data.input_size())
    {
        bail!(
            "the config file's Spec takes inputs of shape {} but the images are {input}: set its \
             input to (channels: 1, height: {}, width: {})",
            spec.input,
            input.height,
            input.width
        );
    }
    let batch = run.training.batch_size.max(nn_train::EVAL_CHUNK);
    limits::check_network(
        &spec,
        batch,
        "use smaller layers (--hidden) or batches (--batch-size)",
    )?;
    let seed = run.training.seed;
    let job = Job {
        run: &run,
        config: &config,
        spec,
        train_data,
        test_data,
        pool: &pool,
    };
    let two_layer = match &run.net {
        Net::Mlp(net) => as_two_layer(net, train_data.input_size(), classes),
        _ => None,
    };
    match two_layer {
        Some(two_layer) => job.fit(TwoLayerNet::new(two_layer, seed)?),
        None => {
            let net = Sequential::new(job.spec.clone(), seed).context("invalid network")?;
            job.fit(net)
        }
    }
}

/// A run, ready to train whichever network.
struct Job<'a> {
    run: &'a RunConfig,
    config: &'a CheckedConfig,
    spec: NetSpec,
    train_data: DataSplit<'a>,
    test_data: DataSplit<'a>,
    pool: &'a rayon::ThreadPool,
}

impl Job<'_> {
    /// Trains `net`, then writes the model, the history and the plot, all of them or none.
    /// Ctrl-C (or SIGTERM) stops the training cleanly: nothing is written.
    fn fit<M: Model<f32>>(self, net: M) -> Result<()> {
        let run = self.run;
        println!(
            "network: {}  ({} parameters; {}, batch {})",
            self.spec,
            self.spec.param_count()?,
            run.training.optimizer,
            run.training.batch_size
        );
        let interrupts = safe_write::interrupt::defer();
        let start = Instant::now();
        let mut progress = Progress::new(std::io::stderr().is_terminal(), &interrupts);
        let result = self.pool.install(|| {
            nn_train::train(
                self.config,
                net,
                &self.train_data,
                &self.test_data,
                &mut progress,
            )
        });
        if let (Err(TrainError::Stopped { iteration }), Some(signal)) =
            (&result, interrupts.received())
        {
            eprintln!(
                "interrupted by {signal} after iteration {iteration}: the model, history and \
                 plot files were not written"
            );
            std::process::exit(signal.exit_code());
        }
        let trained = result
            .context("training failed; the model, history and plot files were not written")?;
        let wall = start.elapsed().as_secs_f64();
        let last = *trained
            .history
            .last_evaluation()
            .context("training ran no evaluation")?;
        if let Some((first, end)) = loss_rose(&trained.history) {
            bail!(
                "training made the loss worse: from {} at the start to {} on average over the \
                 last iterations (test acc {:.4}); the learning rate {} is too large: try a \
                 smaller one (--lr). The model, history and plot files were not written",
                short(f64::from(first)),
                short(f64::from(end)),
                last.test_acc,
                short(run.training.optimizer.lr())
            );
        }

        // Every output is prepared first, then all replace their files at once, or none does.
        let mut outputs = files::Outputs::new();
        let model = model::to_ron(&trained.net, &run.training, last)?;
        outputs.write(&run.out, model.as_bytes())?;
        outputs.write_with(&run.history, |w| trained.history.write_csv(w))?;
        outputs.write(&run.plot, &plot::render(&trained.history, &run.plot)?)?;
        outputs.commit()?;

        println!(
            "final: train acc {:.4}  test acc {:.4}  ({} iterations in {wall:.2} s)",
            last.train_acc,
            last.test_acc,
            trained.history.train_loss.len()
        );
        println!("model:   {}", crate::files::shown(&run.out));
        println!("history: {}", crate::files::shown(&run.history));
        println!("plot:    {}", crate::files::shown(&run.plot));
        Ok(())
    }
}

/// Progress: a bar on stderr (only when it is a terminal) and one line per evaluation on stdout;
/// asks the loop to stop once a SIGINT or SIGTERM arrived.
struct Progress<'a> {
    interrupts: &'a Deferred,
    bar: Option<ProgressBar>,
    epochs: usize,
    start: Instant,
    /// Seconds since `start` at the bar's last refresh.
    refreshed_s: f64,
}

/// Iterations between two refreshes of the bar's loss, at most.
const REFRESH_EVERY: usize = 100;
/// Seconds between two refreshes of the bar, at most (for slow runs: numerical gradients).
const REFRESH_SECONDS: f64 = 0.5;

impl<'a> Progress<'a> {
    fn new(terminal: bool, interrupts: &'a Deferred) -> Self {
        let bar = terminal.then(|| {
            let style =
                ProgressStyle::with_template("{bar:30} {pos}/{len} iterations  {msg}  eta {eta}")
                    .expect("the progress template is valid");
            ProgressBar::new(0).with_style(style)
        });
        Self {
            interrupts,
            bar,
            epochs: 0,
            start: Instant::now(),
            refreshed_s: 0.0,
        }
    }
}

impl Observer for Progress<'_> {
    fn on_start(&mut self, info: &RunInfo) {
        self.epochs = info.epochs;
        self.start = Instant::now();
        if let Some(bar) = &self.bar {
            bar.set_length(info.iters as u64);
        }
    }

    fn on_iteration(&mut self, iteration: usize, loss: f32) {
        let Some(bar) = &self.bar else {
            return;
        };
        let now = self.start.elapsed().as_secs_f64();
        if iteration.is_multiple_of(REFRESH_EVERY) || now - self.refreshed_s >= REFRESH_SECONDS {
            self.refreshed_s = now;
            let done = iteration + 1;
            bar.set_position(done as u64);
            let rate = done as f64 / now.max(1e-9);
            let rate = if rate >= 10.0 {
                format!("{rate:.0} it/s")
            } else {
                format!("{:.2} s/it", 1.0 / rate)
            };
            bar.set_message(format!("loss {loss:.4}  {rate}"));
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

    fn should_stop(&mut self) -> bool {
        let stop = self.interrupts.received().is_some();
        if stop && let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        stop
    }
}
