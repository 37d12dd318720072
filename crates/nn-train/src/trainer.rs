//! The book's minibatch loop (§4.5.2, `train_neuralnet.py`) and the accuracy evaluation.

use std::time::Instant;

use nn_core::{
    Float, Gradients, Matrix, NetConfig, Param, Parameters, PredictScratch, Targets, TwoLayerNet,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::config::{ConfigError, GradientMethod, TrainConfig};
use crate::dataset::Dataset;
use crate::history::{Evaluation, History};
use crate::observer::{Observer, RunInfo};
use crate::optimizer::Optimizer;

/// Samples per evaluation chunk: each thread reuses one `(input_size, EVAL_CHUNK)` buffer.
///
/// MNIST's 60000 training and 10000 test samples make 60 and 10 chunks, which two threads share
/// evenly (chunks of 2000 split the test set 3 + 2), and each thread's buffer is 3 MB.
pub const EVAL_CHUNK: usize = 1000;

/// Why a run could not start or did not finish.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// A value of the configuration makes no sense.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The train and test datasets do not describe the same problem.
    #[error(
        "the training data has {train_inputs} inputs and {train_classes} classes but the test data \
         has {test_inputs} inputs and {test_classes} classes: both must come from the same dataset"
    )]
    DatasetMismatch {
        /// Inputs per training sample.
        train_inputs: usize,
        /// Classes of the training data.
        train_classes: usize,
        /// Inputs per test sample.
        test_inputs: usize,
        /// Classes of the test data.
        test_classes: usize,
    },
    /// nn-core refused the network's configuration.
    #[error("invalid network: {0}")]
    Net(#[from] nn_core::ConfigError),
    /// The test split holds no sample, so accuracy cannot be measured.
    #[error("the test data is empty: accuracy needs at least one test sample")]
    EmptyTest,
    /// The loss became NaN or infinite.
    #[error(
        "training diverged at iteration {iteration}: the loss is {loss}; \
         try a smaller learning rate than {learning_rate} (--lr)"
    )]
    Diverged {
        /// The 0-based iteration whose loss was not finite.
        iteration: usize,
        /// The loss (NaN or ±∞).
        loss: f32,
        /// The learning rate of the run.
        learning_rate: f64,
    },
}

/// The outcome of a successful run.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The network after the last iteration.
    pub net: TwoLayerNet<f32>,
    /// Loss per iteration and accuracies per evaluation.
    pub history: History,
}

/// Trains a fresh [`TwoLayerNet`] the book's way.
///
/// The config is checked first ([`TrainConfig::check`]). A ChaCha8 generator seeded with
/// `config.seed` draws the initial weights, then each iteration's `batch_size` training indices
/// (with replacement, like `np.random.choice`). Each iteration gathers the samples into a batch
/// matrix allocated once (two, in fact: the next batch is gathered on another thread during the
/// backward pass), computes the gradient (backprop or numerical), lets `optimizer`
/// update the parameters and records the minibatch loss (computed by the gradient's forward
/// pass, before the update). Accuracy over the whole train and test data is measured after
/// iteration `i` when `i % iter_per_epoch == 0`, and after the last iteration.
///
/// Evaluation runs in parallel on the current rayon pool, in chunks of [`EVAL_CHUNK`] samples;
/// the result does not depend on the number of threads.
///
/// # Errors
/// [`TrainError::Diverged`] as soon as a loss is not finite; the others before the first
/// iteration.
pub fn train<D: Dataset + ?Sized>(
    config: &TrainConfig,
    train_data: &D,
    test_data: &D,
    optimizer: &mut dyn Optimizer<f32>,
    observer: &mut dyn Observer,
) -> Result<Trained, TrainError> {
    let checked = config.clone().check(train_data.len())?;
    let (inputs, classes) = (train_data.input_size(), train_data.num_classes());
    if (test_data.input_size(), test_data.num_classes()) != (inputs, classes) {
        return Err(TrainError::DatasetMismatch {
            train_inputs: inputs,
            train_classes: classes,
            test_inputs: test_data.input_size(),
            test_classes: test_data.num_classes(),
        });
    }
    if test_data.is_empty() {
        return Err(TrainError::EmptyTest);
    }
    let info = RunInfo {
        iters: config.iters,
        iter_per_epoch: checked.iter_per_epoch(),
        epochs: checked.epochs(),
    };

    let net_config = NetConfig {
        input_size: inputs,
        hidden_size: config.hidden_size,
        output_size: classes,
        activation: config.activation,
        weight_init_std: config.weight_init_std,
    };
    let mut net = TwoLayerNet::<f32>::new(net_config, config.seed)?;
    // The weights come from stream 0 of the seed's generator; minibatches from stream 1.
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(1);
    let mut batch = Batch::new(inputs, config.batch_size);
    let mut next = Batch::new(inputs, config.batch_size);
    let mut indices = vec![0usize; config.batch_size];
    let mut evaluator = Evaluator::new(rayon::current_num_threads());
    let mut history = History::with_capacity(config.iters);

    observer.on_start(&info);
    let start = Instant::now();
    draw(&mut rng, train_data.len(), &mut indices);
    batch.fill(train_data, &indices);
    for i in 0..config.iters {
        // Batch i+1 is gathered on the other core during batch i's backward pass, whose small
        // products and sigmoid leave it idle (during the forward pass the gathering would take
        // it from the first large product's second half). Its indices are drawn now: the
        // generator is used for nothing else, so the batches are the same as when each one was
        // drawn just before its iteration.
        let last = i + 1 == config.iters;
        if !last {
            draw(&mut rng, train_data.len(), &mut indices);
        }
        let (x, labels) = (&batch.x, &batch.labels);
        let targets = Targets::Labels(labels);
        let loss = net.loss(x, targets);
        rayon::join(
            || {
                if config.gradient == GradientMethod::Backprop {
                    net.backward(x);
                }
            },
            || {
                if !last {
                    next.fill(train_data, &indices);
                }
            },
        );
        if !loss.is_finite() {
            return Err(TrainError::Diverged {
                iteration: i,
                loss,
                learning_rate: config.learning_rate,
            });
        }
        match config.gradient {
            GradientMethod::Backprop => optimizer.step(&mut net),
            GradientMethod::Numerical => {
                let grads = net.numerical_gradient(x, targets);
                optimizer.step(&mut WithGradients {
                    net: &mut net,
                    grads: &grads,
                });
            }
        }
        history.train_loss.push(loss);
        history.elapsed_s.push(start.elapsed().as_secs_f64());
        observer.on_iteration(i, loss);

        std::mem::swap(&mut batch, &mut next);

        if i % info.iter_per_epoch == 0 || last {
            let evaluation = Evaluation {
                iteration: i,
                epoch: if last {
                    info.epochs
                } else {
                    i / info.iter_per_epoch
                },
                train_acc: evaluator.accuracy(&net, train_data),
                test_acc: evaluator.accuracy(&net, test_data),
                elapsed_s: start.elapsed().as_secs_f64(),
            };
            history.evaluations.push(evaluation);
            observer.on_evaluation(&evaluation);
        }
    }
    observer.on_finish(&history);
    Ok(Trained { net, history })
}

/// Draws a minibatch's training indices, with replacement (like `np.random.choice`).
fn draw(rng: &mut ChaCha8Rng, len: usize, indices: &mut [usize]) {
    for k in indices {
        *k = rng.random_range(0..len);
    }
}

/// A minibatch: one sample per column of `x`, and the samples' labels.
struct Batch {
    x: Matrix<f32>,
    labels: Vec<u8>,
}

impl Batch {
    /// A batch of `size` samples of `inputs` values.
    fn new(inputs: usize, size: usize) -> Self {
        Self {
            x: Matrix::zeros(inputs, size),
            labels: vec![0; size],
        }
    }

    /// Gathers the samples `indices` of `data`, pixels divided by 255.
    fn fill<D: Dataset + ?Sized>(&mut self, data: &D, indices: &[usize]) {
        touch(data, indices);
        let inputs = self.x.nrows();
        for ((column, label), &k) in self
            .x
            .as_mut_slice()
            .chunks_exact_mut(inputs)
            .zip(&mut self.labels)
            .zip(indices)
        {
            gather(data.pixels(k), column);
            *label = data.label(k);
        }
    }
}

/// Reads one byte of every cache line of the samples `indices`, so that their memory arrives in
/// parallel: these loads are independent, while the conversion in [`gather`] would wait for the
/// randomly placed samples one cache miss at a time. (On MNIST, this cut the batch gathering's
/// share of a training run's cycles from 13% to 9%.)
fn touch<D: Dataset + ?Sized>(data: &D, indices: &[usize]) {
    let mut sum = 0u8;
    for &k in indices {
        for &byte in data.pixels(k).iter().step_by(64) {
            sum ^= byte;
        }
    }
    std::hint::black_box(sum);
}

/// Writes `pixels / 255` into `column`.
fn gather(pixels: &[u8], column: &mut [f32]) {
    for (out, &p) in column.iter_mut().zip(pixels) {
        *out = f32::from(p) / 255.0;
    }
}

/// A network's parameters paired with gradients computed outside it (numerically).
struct WithGradients<'a, T: Float> {
    net: &'a mut TwoLayerNet<T>,
    grads: &'a Gradients<T>,
}

impl<T: Float> Parameters<T> for WithGradients<'_, T> {
    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, T>)) {
        let mut grads = self.grads.named().into_iter();
        self.net.visit_params(&mut |p| {
            let (_, grad) = grads.next().expect("four gradients for four parameters");
            f(Param {
                name: p.name,
                value: p.value,
                grad,
            });
        });
    }
}

/// Accuracy over a whole dataset, in parallel chunks, with buffers allocated once per thread.
pub struct Evaluator {
    buffers: Vec<ChunkBuffers>,
}

struct ChunkBuffers {
    x: Matrix<f32>,
    labels: Vec<u8>,
    scratch: PredictScratch<f32>,
}

impl Evaluator {
    /// Buffers for `threads` threads (use `rayon::current_num_threads()`). They take their size
    /// on first use and keep it while the chunks keep theirs (always, for MNIST's 60000 and
    /// 10000 samples).
    pub fn new(threads: usize) -> Self {
        let buffers = (0..threads.max(1))
            .map(|_| ChunkBuffers {
                x: Matrix::zeros(0, 0),
                labels: Vec::with_capacity(EVAL_CHUNK),
                scratch: PredictScratch::new(),
            })
            .collect();
        Self { buffers }
    }

    /// Fraction of `data` that `net` classifies correctly (0 for an empty dataset).
    ///
    /// Thread `t` of `n` takes chunks `t`, `t + n`, `t + 2n`…; the counts are integers, so the
    /// result is the same for any number of threads.
    pub fn accuracy<D: Dataset + ?Sized>(&mut self, net: &TwoLayerNet<f32>, data: &D) -> f64 {
        let n = data.len();
        if n == 0 {
            return 0.0;
        }
        let inputs = data.input_size();
        let chunks = n.div_ceil(EVAL_CHUNK);
        let stride = self.buffers.len();
        let correct: usize = self
            .buffers
            .par_iter_mut()
            .enumerate()
            .map(|(t, buf)| {
                let mut correct = 0;
                for c in (t..chunks).step_by(stride) {
                    let range = c * EVAL_CHUNK..((c + 1) * EVAL_CHUNK).min(n);
                    if buf.x.shape() != (inputs, range.len()) {
                        buf.x = Matrix::zeros(inputs, range.len());
                    }
                    buf.labels.clear();
                    for (column, k) in buf.x.as_mut_slice().chunks_exact_mut(inputs).zip(range) {
                        gather(data.pixels(k), column);
                        buf.labels.push(data.label(k));
                    }
                    correct += net.count_correct(&buf.x, &buf.labels, &mut buf.scratch);
                }
                correct
            })
            .sum();
        correct as f64 / n as f64
    }
}
