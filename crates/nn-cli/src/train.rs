//! `nn-cli train`: the book's minibatch loop on MNIST, for the two-layer network of chapters 4
//! and 5, the deeper ones of chapter 6, the convolutional networks of chapters 7 and 8, or any
//! stack of layers given in a config file, with a progress bar, one line per evaluation, and the
//! model, history and plot written atomically at the end.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use mnist_io::{Dataset, Split};
use nn_core::{
    Activation, Init, LayerError, Model, MultiLayerNetConfig, NetSpec, Sequential, Shape,
    SpecError, TwoLayerConfig, TwoLayerNet,
};
use nn_train::{
    CheckedConfig, Checkpoint, CheckpointReason, Checkpoints, Dataset as _, Evaluation,
    GradientMethod, History, Length, Observer, OptimizerKind, RunInfo, RunState, TrainConfig,
    TrainError,
};
use safe_write::interrupt::Deferred;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, DataDigest};
use crate::data::{self, DataSplit, DatasetArg};
use crate::{files, limits, model, plot};

/// Options of `train`. Every one can also come from `--config FILE.ron`; flags win, and a flag
/// given twice takes its last value.
#[derive(Args, Debug)]
#[command(args_override_self = true)]
pub struct TrainArgs {
    /// Folder of the dataset's four IDX files (gzip or raw); fetched there when missing
    /// [default: data/mnist, or data/fashion with --dataset fashion]
    #[arg(long)]
    data: Option<PathBuf>,
    /// The dataset: mnist (the digits), or fashion (Zalando's Fashion-MNIST: T-shirt/top,
    /// Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot) [default: mnist]
    #[arg(long, value_enum)]
    dataset: Option<DatasetArg>,
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
    /// Where to write the run's checkpoints, from which --resume goes on [default: the model's
    /// path with the extension .ckpt (data/params.ckpt); with --resume, the checkpoint resumed]
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Iterations between two checkpoints (0: none but the ones of Ctrl-C and of the end)
    /// [default: one epoch, max(train_size / batch_size, 1), but none within 10 seconds of the
    /// last]
    #[arg(long, value_name = "ITERATIONS")]
    checkpoint_every: Option<usize>,
    /// Go on with the run saved in this checkpoint, to the very bits of the run that never
    /// stopped: its settings are the defaults, and only --iters or --epochs may change them
    /// (to lengthen the run); --threads, --checkpoint... and the outputs may differ
    #[arg(long, value_name = "CHECKPOINT")]
    resume: Option<PathBuf>,
    /// Stop after this many iterations of the run (counted from its start), as Ctrl-C would:
    /// write the checkpoint, not the outputs, and exit with status 3; --resume goes on
    #[arg(long, value_name = "ITERATIONS")]
    stop_after: Option<usize>,
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
    dataset: Option<DatasetArg>,
    data: Option<PathBuf>,
    out: Option<PathBuf>,
    history: Option<PathBuf>,
    plot: Option<PathBuf>,
    checkpoint: Option<PathBuf>,
    checkpoint_every: Option<usize>,
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
    /// The dataset.
    pub dataset: DatasetArg,
    /// Folder of the dataset's files.
    pub data: PathBuf,
    /// Model output file.
    pub out: PathBuf,
    /// History CSV output file.
    pub history: PathBuf,
    /// Plot SVG output file.
    pub plot: PathBuf,
    /// Checkpoint file (`None`: the model's path with the extension `.ckpt`).
    pub checkpoint: Option<PathBuf>,
    /// Iterations between two checkpoints (`None`: one epoch, none within 10 seconds of the
    /// last; 0: only on a stop and at the end).
    pub checkpoint_every: Option<usize>,
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
            dataset: DatasetArg::Mnist,
            data: PathBuf::from("data/mnist"),
            out: PathBuf::from("data/params.ron"),
            history: PathBuf::from("data/history.csv"),
            plot: PathBuf::from("data/plot.svg"),
            checkpoint: None,
            checkpoint_every: None,
            threads: None,
            net: Net::default(),
            training: TrainConfig::default(),
        }
    }
}

impl RunConfig {
    /// Where the checkpoints go: [`RunConfig::checkpoint`], or the model's path with the
    /// extension `.ckpt`.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.checkpoint
            .clone()
            .unwrap_or_else(|| self.out.with_extension("ckpt"))
    }
}

impl TrainArgs {
    /// The defaults (a resumed run's: its checkpoint's settings), overridden by the `--config`
    /// file, overridden by the flags.
    fn resolve(&self, base: Option<&RunConfig>) -> Result<RunConfig> {
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
        let defaults = base.cloned().unwrap_or_default();
        let mut net = file.net.unwrap_or(defaults.net);
        if let Some(flag) = self.net
            && NetArg::from_net(&net) != Some(flag)
        {
            net = flag.into();
        }
        let dataset = self.dataset.or(file.dataset).unwrap_or(defaults.dataset);
        // The dataset's own folder, unless a checkpoint or the config file says where it is.
        let data = match (file.data, base) {
            (Some(data), _) => data,
            (None, Some(base)) if base.dataset == dataset => base.data.clone(),
            (None, _) => Dataset::from(dataset).default_dir(),
        };
        let training = match (file.training, base) {
            (Some(training), _) => training,
            (None, Some(base)) => base.training.clone(),
            (None, None) => net.default_training(),
        };
        let mut run = RunConfig {
            dataset,
            data,
            out: file.out.unwrap_or(defaults.out),
            history: file.history.unwrap_or(defaults.history),
            plot: file.plot.unwrap_or(defaults.plot),
            // A resumed run writes its checkpoints over the one it resumed, unless told.
            checkpoint: file
                .checkpoint
                .or_else(|| self.resume.clone())
                .or(defaults.checkpoint),
            checkpoint_every: file.checkpoint_every.or(defaults.checkpoint_every),
            threads: file.threads.or(defaults.threads),
            training,
            net,
        };
        set(&mut run.data, self.data.clone());
        if self.checkpoint.is_some() {
            run.checkpoint = self.checkpoint.clone();
        }
        if self.checkpoint_every.is_some() {
            run.checkpoint_every = self.checkpoint_every;
        }
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

/// The least time between two periodic checkpoints, unless `--checkpoint-every` is given: an
/// epoch of the two-layer network takes a fraction of a second, and writing a checkpoint about
/// 10 ms (mostly the file's sync).
const CHECKPOINT_GAP: Duration = Duration::from_secs(10);

/// The exit status of a run stopped by `--stop-after` (Ctrl-C and SIGTERM give the shell's 130
/// and 143).
pub const EXIT_STOPPED: i32 = 3;

/// The largest loss of the first minibatch a run starts from: a network at chance scores
/// `ln 10 = 2.30` on ten classes; above 100, the initial weights are so large that the softmax
/// gives the right class a probability below `e^-100`.
pub const MAX_FIRST_LOSS: f64 = 100.0;

/// Refuses, before any work, a resumed run whose settings differ from its checkpoint's in
/// anything but its length, naming the setting.
fn check_resumable(saved: &RunConfig, run: &RunConfig, checkpoint: &Path) -> Result<()> {
    let differs = |setting: &str, was: String, now: String| -> Result<()> {
        bail!(
            "{setting} is {now} where the run of checkpoint {} has {was}: a resumed run keeps \
             every setting of the run it goes on with but its length (--iters, --epochs); leave \
             {setting} out, or start a new run without --resume",
            checkpoint.display()
        )
    };
    if saved.dataset != run.dataset {
        let name = |d: DatasetArg| Dataset::from(d).name().to_owned();
        differs("--dataset", name(saved.dataset), name(run.dataset))?;
    }
    match (&saved.net, &run.net) {
        (Net::Mlp(a), Net::Mlp(b)) => {
            let fields: [(&str, String, String); 6] = [
                (
                    "--hidden",
                    format!("{:?}", a.hidden),
                    format!("{:?}", b.hidden),
                ),
                (
                    "--activation",
                    a.activation.to_string(),
                    b.activation.to_string(),
                ),
                ("--init", format!("{:?}", a.init), format!("{:?}", b.init)),
                (
                    "--batch-norm",
                    a.batch_norm.to_string(),
                    b.batch_norm.to_string(),
                ),
                (
                    "--dropout",
                    format!("{:?}", a.dropout),
                    format!("{:?}", b.dropout),
                ),
                (
                    "--weight-decay",
                    a.weight_decay.to_string(),
                    b.weight_decay.to_string(),
                ),
            ];
            for (flag, was, now) in fields {
                if was != now {
                    differs(flag, was, now)?;
                }
            }
        }
        (a, b) if a != b => differs("--net", format!("{a:?}"), format!("{b:?}"))?,
        _ => {}
    }
    let (a, b) = (&saved.training, &run.training);
    if a.batch_size != b.batch_size {
        differs(
            "--batch-size",
            a.batch_size.to_string(),
            b.batch_size.to_string(),
        )?;
    }
    if a.seed != b.seed {
        differs("--seed", a.seed.to_string(), b.seed.to_string())?;
    }
    if a.optimizer.kind() != b.optimizer.kind() {
        differs(
            "--optimizer",
            a.optimizer.kind().to_string(),
            b.optimizer.kind().to_string(),
        )?;
    }
    if a.optimizer.lr() != b.optimizer.lr() {
        differs(
            "--lr",
            a.optimizer.lr().to_string(),
            b.optimizer.lr().to_string(),
        )?;
    }
    if a.optimizer != b.optimizer {
        differs(
            "the optimizer's settings (config file)",
            format!("{:?}", a.optimizer),
            format!("{:?}", b.optimizer),
        )?;
    }
    if a.gradient != b.gradient {
        differs(
            "--gradient",
            format!("{:?}", a.gradient),
            format!("{:?}", b.gradient),
        )?;
    }
    if a.eval_samples != b.eval_samples {
        differs(
            "--eval-samples",
            format!("{:?}", a.eval_samples),
            format!("{:?}", b.eval_samples),
        )?;
    }
    Ok(())
}

/// Refuses, before any work, an output that could not be written at the end: a folder, a
/// device, a folder that cannot be created or written. The output's folder is created, a
/// temporary file made there and removed, and the folders made for it removed: nothing is left.
fn check_writable(flag: &str, path: &Path) -> Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let missing: Vec<&Path> = folder.ancestors().take_while(|dir| !dir.exists()).collect();
    let probe = files::create_parent(path)
        .and_then(|_| {
            safe_write::AtomicFile::create(path)
                .map(drop)
                .map_err(Into::into)
        })
        .with_context(|| format!("{flag} {} cannot be written", path.display()));
    for dir in missing {
        let _ = std::fs::remove_dir(dir);
    }
    probe
}

/// The initial scale of the network's weights, as the options give it.
fn init_of(net: &Net) -> String {
    match net {
        Net::Mlp(config) => format!("--init {}", init_name(config.init)),
        Net::Spec(spec) => format!("the Spec's init {}", init_name(spec.init)),
        Net::SimpleConvNet | Net::DeepConvNet => "the book's initial weights".to_owned(),
    }
}

fn init_name(init: Init) -> String {
    match init {
        // As given: 0.01, 3, 1e30.
        Init::Std(std) => match std.to_string() {
            plain if plain.len() <= 10 => plain,
            _ => format!("{std:e}"),
        },
        Init::Xavier => "xavier".to_owned(),
        Init::He => "he".to_owned(),
    }
}

/// Refuses initial weights so large that the first minibatch's loss is not finite or above
/// [`MAX_FIRST_LOSS`]: the loss of the first `batch_size` training samples, as the first
/// iteration computes it (in training mode, on a copy of the fresh network), less weight
/// decay's term `λ·½‖W‖²`, which is not the weights' scale's fault.
fn check_first_loss<M: Model<f32>>(
    net: &M,
    train: &Split,
    batch_size: usize,
    run: &RunConfig,
) -> Result<()> {
    let n = batch_size.min(train.len());
    let inputs = train.pixels_per_image();
    let x = nn_core::Matrix::<f32>::from_iterator(
        inputs,
        n,
        (0..n).flat_map(|i| train.image(i).iter().map(|&p| f32::from(p) / 255.0)),
    );
    let mut copy = net.snapshot();
    let total = f64::from(copy.loss(&x, nn_core::Targets::Labels(&train.labels()[..n])));
    let mut squares = 0.0;
    copy.visit_params(&mut |p| {
        if p.name.kind == nn_core::layers::Kind::Weight {
            squares += p.value.iter().map(|&w| f64::from(w).powi(2)).sum::<f64>();
        }
    });
    let loss = total - copy.spec().weight_decay * squares / 2.0;
    if !(loss.is_finite() && loss <= MAX_FIRST_LOSS) {
        bail!(
            "the initial weights ({}) make the loss of the first minibatch {} where a network \
             at chance scores ln 10 = 2.30: they are far too large to learn from. Use weights \
             that start the loss below {MAX_FIRST_LOSS}: --init he or xavier, or a small \
             standard deviation such as the book's 0.01. Nothing was trained or written",
            init_of(&run.net),
            short(loss)
        );
    }
    Ok(())
}

/// Runs `train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let resume = args.resume.as_deref().map(checkpoint::load).transpose()?;
    let run = args.resolve(resume.as_ref().map(|r| &r.run))?;
    if let Some(resume) = &resume {
        check_resumable(&resume.run, &run, &resume.path)?;
    }
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

    // Check every option and every output before loading (or fetching) the data; only the
    // batch size's upper bound waits for the number of training samples, and the layers' sizes
    // for the images'.
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
    if args.stop_after == Some(0) {
        bail!("--stop-after 0 is invalid: stop after at least 1 iteration");
    }
    let checkpoint_path = run.checkpoint_path();
    let config_file: Vec<(&str, &Path)> = args
        .config
        .iter()
        .map(|c| ("--config", c.as_path()))
        .collect();
    let outputs = [
        ("--out", run.out.as_path()),
        ("--history", run.history.as_path()),
        ("--plot", run.plot.as_path()),
    ];
    let mut every_output = outputs.to_vec();
    every_output.push(("--checkpoint", &checkpoint_path));
    files::check_outputs(&run.data, &config_file, &every_output)?;
    if let Some(resume) = &args.resume {
        // The checkpoint resumed may be written over (it is read whole), not the outputs.
        safe_write::check_distinct(&[("--resume", resume.as_path())], &outputs)?;
    }
    plot::check_path(&run.plot)?;
    for (flag, path) in &every_output {
        check_writable(flag, path)?;
    }
    // Whatever the checkpoint keeps must be encodable (paths in UTF-8) before training starts.
    ciborium::into_writer(&run, std::io::sink())
        .context("the settings cannot be kept in a checkpoint (are the paths UTF-8?)")?;

    let dataset = Dataset::from(run.dataset);
    let mnist = data::load_or_fetch(&run.data, dataset)?;
    data::check_files(&run.data, dataset, Some(&mnist.train), Some(&mnist.test))?;
    let digest = DataDigest {
        train: checkpoint::digest(&mnist.train),
        test: checkpoint::digest(&mnist.test),
    };
    if let Some(resume) = &resume {
        for (split, saved, now) in [
            ("training", &resume.data.train, &digest.train),
            ("test", &resume.data.test, &digest.test),
        ] {
            if saved != now {
                bail!(
                    "the {split} data in {} is not the data the run of checkpoint {} trained \
                     on: resume it with the same files (--data)",
                    run.data.display(),
                    resume.path.display()
                );
            }
        }
    }
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
    let schedule = config.schedule(train_data.len());
    let done = resume.as_ref().map_or(0, |r| r.iterations());
    // A resumed run shorter than its checkpoint's is refused by nn-train (ResumeError::Shorter).
    if let Some(stop) = args.stop_after
        && (stop <= done || stop > schedule.iters)
    {
        bail!(
            "--stop-after {stop} is invalid: the run makes {} iterations{}; stop after one of \
             iterations {} to {}",
            schedule.iters,
            if done > 0 {
                format!(" and its checkpoint has done {done}")
            } else {
                String::new()
            },
            done + 1,
            schedule.iters
        );
    }
    let seed = run.training.seed;
    let job = Job {
        run: &run,
        config: &config,
        spec,
        train_data,
        test_data,
        pool: &pool,
        checkpoint: checkpoint_path,
        digest,
        resume: resume.as_ref(),
        stop_after: args.stop_after,
    };
    let two_layer = match &run.net {
        Net::Mlp(net) => as_two_layer(net, train_data.input_size(), classes),
        _ => None,
    };
    match two_layer {
        Some(two_layer) => job.start(TwoLayerNet::new(two_layer, seed)?, &mnist.train),
        None => {
            let net = Sequential::new(job.spec.clone(), seed).context("invalid network")?;
            job.start(net, &mnist.train)
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
    /// Where the checkpoints go.
    checkpoint: PathBuf,
    /// The data's digests, kept in every checkpoint.
    digest: DataDigest,
    /// The checkpoint the run goes on from.
    resume: Option<&'a checkpoint::Loaded>,
    stop_after: Option<usize>,
}

impl Job<'_> {
    /// Gives a fresh `net` the checkpoint's state when resuming, or checks its initial loss,
    /// then trains it.
    fn start<M: Model<f32>>(self, mut net: M, train: &Split) -> Result<()> {
        let state = match self.resume {
            Some(resume) => Some(resume.restore(&mut net)?),
            None => {
                check_first_loss(&net, train, self.run.training.batch_size, self.run)?;
                None
            }
        };
        self.fit(net, state)
    }

    /// Trains `net` (from `state` if resumed), writing a checkpoint every epoch (or
    /// `--checkpoint-every`), then writes the model, the history, the plot and the final
    /// checkpoint, all of them or none. Ctrl-C (or SIGTERM) stops the training cleanly after
    /// the iteration under way: a checkpoint is written, not the outputs.
    fn fit<M: Model<f32>>(self, net: M, state: Option<RunState>) -> Result<()> {
        let run = self.run;
        println!(
            "network: {}  ({} parameters; {}, batch {})",
            self.spec,
            self.spec.param_count()?,
            run.training.optimizer,
            run.training.batch_size
        );
        let schedule = self.config.schedule(self.train_data.len());
        let first = state.as_ref().map_or(0, |s| s.iterations);
        if let Some(resume) = self.resume {
            println!(
                "resumed from {} after iteration {first} of {}",
                resume.path.display(),
                schedule.iters
            );
        }
        let dataset = Dataset::from(run.dataset);
        if dataset != Dataset::Mnist {
            println!("dataset: {} in {}", dataset.title(), run.data.display());
        }
        let interrupts = safe_write::interrupt::defer();
        let start = Instant::now();
        let mut progress = Progress::new(
            std::io::stderr().is_terminal(),
            &interrupts,
            first,
            self.stop_after,
        );
        let every = run.checkpoint_every.unwrap_or(schedule.iter_per_epoch);
        let mut last_checkpoint: Option<Vec<u8>> = None;
        let (mut written, mut spent) = (0usize, Duration::ZERO);
        let path = &self.checkpoint;
        // By default, one checkpoint per epoch but none within CHECKPOINT_GAP of the last one
        // (a run's results never depend on when its checkpoints are written).
        let gap = match run.checkpoint_every {
            Some(_) => Duration::ZERO,
            None => CHECKPOINT_GAP,
        };
        let mut save = |c: &Checkpoint<'_, M>| -> Result<(), String> {
            let began = Instant::now();
            let bytes = checkpoint::encode(run, &self.digest, c.network, c.state)
                .map_err(|e| format!("{e:#}"))?;
            let result = match c.reason {
                // Written with the outputs, all of them or none.
                CheckpointReason::Finished => {
                    last_checkpoint = Some(bytes);
                    return Ok(());
                }
                CheckpointReason::Periodic => {
                    if let Err(err) = safe_write::write(path, &bytes) {
                        eprintln!(
                            "warning: cannot write checkpoint {}: {err}; training goes on",
                            path.display()
                        );
                    }
                    Ok(())
                }
                CheckpointReason::Stopped => {
                    safe_write::write(path, &bytes).map_err(|e| e.to_string())
                }
            };
            written += 1;
            spent += began.elapsed();
            result
        };
        // Its folder was checked, and removed if made for the check.
        files::create_parent(path)?;
        let checkpoints = Checkpoints {
            resume: state,
            every,
            min_gap: gap,
            save: &mut save,
        };
        let result = self.pool.install(|| {
            nn_train::train_with(
                self.config,
                net,
                &self.train_data,
                &self.test_data,
                &mut progress,
                Some(checkpoints),
            )
        });
        let resume_hint = format!("`nn-cli train --resume {}` goes on with it", path.display());
        match &result {
            Err(TrainError::Stopped { iteration }) => {
                let (why, code) = match interrupts.received() {
                    Some(signal) => (format!("interrupted by {signal}"), signal.exit_code()),
                    None => ("stopped as asked (--stop-after)".to_owned(), EXIT_STOPPED),
                };
                eprintln!(
                    "{why} after iteration {iteration}: the model, history and plot files were \
                     not written; the run is saved in checkpoint {}: {resume_hint}",
                    path.display()
                );
                std::process::exit(code);
            }
            Err(TrainError::Resume(err)) => {
                let resume = self.resume.map(|r| r.path.display().to_string());
                bail!(
                    "cannot resume the run of checkpoint {}: {err}",
                    resume.unwrap_or_default()
                );
            }
            _ => {}
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
        let model = model::to_ron(&trained.net, &run.training, dataset, last)?;
        outputs.write(&run.out, model.as_bytes())?;
        outputs.write_with(&run.history, |w| trained.history.write_csv(w))?;
        outputs.write(&run.plot, &plot::render(&trained.history, &run.plot)?)?;
        let final_checkpoint = last_checkpoint.context("the run handed out no final checkpoint")?;
        outputs.write(path, &final_checkpoint)?;
        if let Some(signal) = outputs.commit_unless_interrupted(&interrupts)? {
            // The run is complete: keep it, so that --resume writes the outputs at once.
            let saved = safe_write::write(path, &final_checkpoint);
            let kept = match saved {
                Ok(()) => format!(
                    "; the run is complete in checkpoint {}: {resume_hint}",
                    path.display()
                ),
                Err(err) => format!(" (nor was the checkpoint: {err})"),
            };
            eprintln!(
                "interrupted by {signal} before the outputs were written: the model, history \
                 and plot files were not written{kept}"
            );
            std::process::exit(signal.exit_code());
        }

        println!(
            "final: train acc {:.4}  test acc {:.4}  ({} iterations in {wall:.2} s)",
            last.train_acc,
            last.test_acc,
            trained.history.train_loss.len() - first
        );
        println!("model:   {}", crate::files::shown(&run.out));
        println!("history: {}", crate::files::shown(&run.history));
        println!("plot:    {}", crate::files::shown(&run.plot));
        println!(
            "checkpoint: {}  ({} written during the run in {:.3} s)",
            crate::files::shown(path),
            written,
            spent.as_secs_f64()
        );
        Ok(())
    }
}

/// Progress: a bar on stderr (only when it is a terminal) and one line per evaluation on stdout;
/// asks the loop to stop once a SIGINT or SIGTERM arrived, or after `--stop-after`.
struct Progress<'a> {
    interrupts: &'a Deferred,
    bar: Option<ProgressBar>,
    epochs: usize,
    start: Instant,
    /// Seconds since `start` at the bar's last refresh.
    refreshed_s: f64,
    /// Iterations done before this process started (a resumed run's).
    first: usize,
    /// Iterations done so far.
    done: usize,
    stop_after: Option<usize>,
}

/// Iterations between two refreshes of the bar's loss, at most.
const REFRESH_EVERY: usize = 100;
/// Seconds between two refreshes of the bar, at most (for slow runs: numerical gradients).
const REFRESH_SECONDS: f64 = 0.5;

impl<'a> Progress<'a> {
    fn new(
        terminal: bool,
        interrupts: &'a Deferred,
        first: usize,
        stop_after: Option<usize>,
    ) -> Self {
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
            first,
            done: first,
            stop_after,
        }
    }
}

impl Observer for Progress<'_> {
    fn on_start(&mut self, info: &RunInfo) {
        self.epochs = info.epochs;
        self.start = Instant::now();
        if let Some(bar) = &self.bar {
            bar.set_length(info.iters as u64);
            bar.set_position(self.first as u64);
            bar.reset_eta();
        }
    }

    fn on_iteration(&mut self, iteration: usize, loss: f32) {
        self.done = iteration + 1;
        let Some(bar) = &self.bar else {
            return;
        };
        let now = self.start.elapsed().as_secs_f64();
        if iteration.is_multiple_of(REFRESH_EVERY) || now - self.refreshed_s >= REFRESH_SECONDS {
            self.refreshed_s = now;
            bar.set_position(self.done as u64);
            let rate = (self.done - self.first) as f64 / now.max(1e-9);
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
        let stop =
            self.interrupts.received().is_some() || self.stop_after.is_some_and(|n| self.done >= n);
        if stop && let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        stop
    }
}
