//! The book's minibatch loop (§4.5.2, `train_neuralnet.py`) and the accuracy evaluation.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use nn_core::{
    FastNumericalGradient, Matrix, NetConfig, PredictScratch, Targets, TwoLayerNet,
    normalize_pixels,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::config::{ConfigError, GradientMethod, TrainConfig};
use crate::dataset::Dataset;
use crate::history::{Evaluation, History};
use crate::observer::{Observer, RunInfo};
use crate::optimizer::Optimizer;

/// Samples per evaluation chunk: the unit of work of an evaluation, scored by one thread in an
/// `(input_size, EVAL_CHUNK)` buffer (3 MB for MNIST) that it reuses for the next chunk.
///
/// MNIST's 60000 training and 10000 test samples make 60 and 10 chunks of about a millisecond
/// each: small enough to share a final evaluation evenly between two cores, large enough for the
/// kernel to run near its peak (smaller chunks, 250 to 500, measured no faster).
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
/// matrix allocated once (half of them on another thread when one is free), computes the
/// gradient (backprop, or the book's central differences in `f64` by
/// [`FastNumericalGradient`], its entries shared between the pool's threads), lets `optimizer`
/// update the parameters and records the minibatch loss (computed by the gradient's forward
/// pass, before the update). Accuracy over the whole train and test data is measured after
/// iteration `i` when `i % iter_per_epoch == 0`, and after the last iteration.
///
/// Evaluations run beside the loop, on the current rayon pool: each one scores a copy of the
/// network taken after its iteration, in jobs of [`EVAL_CHUNK`] samples that the pool's other
/// threads pick up while this one goes on training (on MNIST, one core scores an epoch's
/// evaluation while the other trains the next epoch; the final evaluation runs on all of them).
/// One runs at a time: the next one first waits for it. The observer hears of each evaluation
/// once it has finished, in order: a few hundred iterations later on MNIST. Call `train` from
/// inside a pool of two threads or more (`pool.install(|| train(...))`, as nn-cli does) to get
/// that overlap; on one thread, or called from outside any rayon pool, it waits for each
/// evaluation at once (whose chunks still run in parallel on the global pool). The results
/// depend neither on the number of threads nor on the timing: the counts of correct answers are
/// integers, and the training never reads an evaluation's result.
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
    let mut indices = vec![0usize; config.batch_size];
    let mut history = History::with_capacity(config.iters);
    let mut numerical = FastNumericalGradient::new();

    observer.on_start(&info);
    let start = Instant::now();
    let shared = EvalShared {
        buffers: BufferPool::default(),
        start,
    };
    // Evaluations run beside the loop when another thread of the current pool can take their
    // jobs. On one thread, or outside any rayon pool (where the jobs would queue in front of the
    // loop's own `join`s), each one is waited for at once, its chunks still in parallel.
    let beside = rayon::current_thread_index().is_some() && rayon::current_num_threads() > 1;
    // The scope returns once every evaluation job is done, and passes on a job's panic.
    rayon::in_place_scope(|scope| {
        // The evaluation under way, if any: one at a time, each holding a copy of the network.
        let mut running: Option<Arc<PendingEvaluation>> = None;
        for i in 0..config.iters {
            draw(&mut rng, train_data.len(), &mut indices);
            batch.fill(train_data, &indices);
            let (x, labels) = (&batch.x, &batch.labels);
            let targets = Targets::Labels(labels);
            let loss = net.loss(x, targets);
            if !loss.is_finite() {
                // The history keeps every evaluation before the divergence.
                finish(&mut running, &mut history, observer);
                return Err(TrainError::Diverged {
                    iteration: i,
                    loss,
                    learning_rate: config.learning_rate,
                });
            }
            match config.gradient {
                GradientMethod::Backprop => {
                    net.backward(x);
                    optimizer.step(&mut net);
                }
                GradientMethod::Numerical => {
                    net.numerical_gradient_fast(x, labels, &mut numerical);
                    optimizer.step(&mut net);
                }
            }
            history.train_loss.push(loss);
            history.elapsed_s.push(start.elapsed().as_secs_f64());
            observer.on_iteration(i, loss);
            if running.as_ref().is_some_and(|p| p.is_done()) {
                finish(&mut running, &mut history, observer);
            }

            let last = i + 1 == config.iters;
            if i % info.iter_per_epoch == 0 || last {
                // Wait for the previous evaluation (taking part in it) before the next one.
                finish(&mut running, &mut history, observer);
                let epoch = if last {
                    info.epochs
                } else {
                    i / info.iter_per_epoch
                };
                let pending = Arc::new(PendingEvaluation::new(
                    i,
                    epoch,
                    &net,
                    train_data.len(),
                    test_data.len(),
                ));
                shared.spawn(scope, &pending, train_data, Split::Train);
                shared.spawn(scope, &pending, test_data, Split::Test);
                running = Some(pending);
                if !beside {
                    finish(&mut running, &mut history, observer);
                }
            }
        }
        finish(&mut running, &mut history, observer);
        Ok(())
    })?;
    observer.on_finish(&history);
    Ok(Trained { net, history })
}

/// Which counter of a [`PendingEvaluation`] a chunk adds to.
#[derive(Clone, Copy)]
enum Split {
    Train,
    Test,
}

/// An evaluation running beside the training loop: a copy of the network as it was after
/// `iteration`, and the counts its chunks add up.
struct PendingEvaluation {
    iteration: usize,
    epoch: usize,
    net: TwoLayerNet<f32>,
    train_len: usize,
    test_len: usize,
    train_correct: AtomicUsize,
    test_correct: AtomicUsize,
    chunks_left: AtomicUsize,
    /// Seconds since the start of training when the last chunk finished.
    finished_s: OnceLock<f64>,
    /// Set when a chunk panicked: the evaluation will never finish.
    failed: AtomicBool,
}

impl PendingEvaluation {
    fn new(
        iteration: usize,
        epoch: usize,
        net: &TwoLayerNet<f32>,
        train_len: usize,
        test_len: usize,
    ) -> Self {
        let snapshot = TwoLayerNet::from_params(net.config().clone(), net.params())
            .expect("a trained network's own parameters fit its config");
        Self {
            iteration,
            epoch,
            net: snapshot,
            train_len,
            test_len,
            train_correct: AtomicUsize::new(0),
            test_correct: AtomicUsize::new(0),
            chunks_left: AtomicUsize::new(
                train_len.div_ceil(EVAL_CHUNK) + test_len.div_ceil(EVAL_CHUNK),
            ),
            finished_s: OnceLock::new(),
            failed: AtomicBool::new(false),
        }
    }

    /// Whether every chunk has been scored.
    fn is_done(&self) -> bool {
        self.finished_s.get().is_some()
    }

    /// The result, once every chunk has been scored.
    fn result(&self) -> Option<Evaluation> {
        let &elapsed_s = self.finished_s.get()?;
        let fraction = |correct: &AtomicUsize, len: usize| {
            if len == 0 {
                0.0
            } else {
                correct.load(Ordering::Relaxed) as f64 / len as f64
            }
        };
        Some(Evaluation {
            iteration: self.iteration,
            epoch: self.epoch,
            train_acc: fraction(&self.train_correct, self.train_len),
            test_acc: fraction(&self.test_correct, self.test_len),
            elapsed_s,
        })
    }
}

/// Counts a chunk as done when dropped, even by a panic (which marks the evaluation failed, so
/// that nobody waits for it forever).
struct ChunkDone<'a> {
    pending: &'a PendingEvaluation,
    start: Instant,
}

impl Drop for ChunkDone<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.pending.failed.store(true, Ordering::Release);
        } else if self.pending.chunks_left.fetch_sub(1, Ordering::AcqRel) == 1 {
            // AcqRel: the last chunk sees every other chunk's count before it sets the time,
            // and `result` reads the counts after seeing the time.
            let _ = self
                .pending
                .finished_s
                .set(self.start.elapsed().as_secs_f64());
        }
    }
}

/// What every evaluation's chunk jobs share.
struct EvalShared {
    buffers: BufferPool,
    /// The start of training, for [`Evaluation::elapsed_s`].
    start: Instant,
}

impl EvalShared {
    /// Spawns one job per chunk of `data`, adding to the `split` counter of `pending`.
    fn spawn<'scope, D: Dataset + ?Sized>(
        &'scope self,
        scope: &rayon::Scope<'scope>,
        pending: &Arc<PendingEvaluation>,
        data: &'scope D,
        split: Split,
    ) {
        let n = data.len();
        for c in 0..n.div_ceil(EVAL_CHUNK) {
            let pending = Arc::clone(pending);
            scope.spawn(move |_| {
                let _done = ChunkDone {
                    pending: &pending,
                    start: self.start,
                };
                let range = c * EVAL_CHUNK..((c + 1) * EVAL_CHUNK).min(n);
                let mut buffers = self.buffers.take();
                let correct = buffers.count_correct(&pending.net, data, range);
                self.buffers.give(buffers);
                let counter = match split {
                    Split::Train => &pending.train_correct,
                    Split::Test => &pending.test_correct,
                };
                counter.fetch_add(correct, Ordering::Relaxed);
            });
        }
    }
}

/// Waits for the evaluation under way, if any, then records it in the history and tells the
/// observer. Meanwhile this thread runs the pool's pending jobs when it belongs to the pool
/// (the evaluation's own chunks, or any other job).
///
/// # Panics
/// If a chunk of the evaluation panicked (the enclosing scope then passes on that first panic).
fn finish(
    running: &mut Option<Arc<PendingEvaluation>>,
    history: &mut History,
    observer: &mut dyn Observer,
) {
    let Some(pending) = running.take() else {
        return;
    };
    while !pending.is_done() && !pending.failed.load(Ordering::Acquire) {
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            std::thread::yield_now();
        }
    }
    let evaluation = pending
        .result()
        .expect("an evaluation job panicked while scoring a chunk");
    history.evaluations.push(evaluation);
    observer.on_evaluation(&evaluation);
}

/// Evaluation buffers, lent to whichever thread scores a chunk: as many get allocated as chunks
/// run at once (one per thread: a chunk's products run on its own thread), once per run.
#[derive(Default)]
struct BufferPool(Mutex<Vec<ChunkBuffers>>);

impl BufferPool {
    fn take(&self) -> ChunkBuffers {
        let spare = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop();
        spare.unwrap_or_else(ChunkBuffers::new)
    }

    fn give(&self, buffers: ChunkBuffers) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(buffers);
    }
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

    /// Gathers the samples `indices` of `data`, pixels divided by 255: the first half of the
    /// columns on this thread, the second half on another one if it is free (`rayon::join`).
    fn fill<D: Dataset + ?Sized>(&mut self, data: &D, indices: &[usize]) {
        let inputs = self.x.nrows();
        let half = indices.len() / 2;
        let (x_left, x_right) = self.x.as_mut_slice().split_at_mut(half * inputs);
        let (labels_left, labels_right) = self.labels.split_at_mut(half);
        let (left, right) = indices.split_at(half);
        rayon::join(
            || gather(data, left, x_left, labels_left),
            || gather(data, right, x_right, labels_right),
        );
    }
}

/// Writes the samples `indices` of `data` into the columns of `x` (pixels divided by 255) and
/// their labels into `labels`.
fn gather<D: Dataset + ?Sized>(data: &D, indices: &[usize], x: &mut [f32], labels: &mut [u8]) {
    touch(data, indices);
    let inputs = data.input_size();
    for ((column, label), &k) in x.chunks_exact_mut(inputs).zip(labels).zip(indices) {
        normalize_pixels(data.pixels(k), column);
        *label = data.label(k);
    }
}

/// Reads one byte of every cache line of the samples `indices`, so that their memory arrives in
/// parallel: these loads are independent, while the conversion ([`normalize_pixels`]) would
/// wait for the randomly placed samples one cache miss at a time. (On MNIST, this cut the batch
/// gathering's share of a training run's cycles from 13% to 9%.)
fn touch<D: Dataset + ?Sized>(data: &D, indices: &[usize]) {
    let mut sum = 0u8;
    for &k in indices {
        for &byte in data.pixels(k).iter().step_by(64) {
            sum ^= byte;
        }
    }
    std::hint::black_box(sum);
}

/// Accuracy over a whole dataset, in parallel chunks, with buffers allocated once per thread: the
/// same chunks and counts as the evaluations of [`train`], scored at once on the current pool,
/// for a network outside training.
pub struct Evaluator {
    buffers: Vec<ChunkBuffers>,
}

/// One chunk's input matrix, labels and hidden activations, reused from chunk to chunk.
struct ChunkBuffers {
    x: Matrix<f32>,
    labels: Vec<u8>,
    scratch: PredictScratch<f32>,
}

impl ChunkBuffers {
    /// Empty buffers; they take their size on first use.
    fn new() -> Self {
        Self {
            x: Matrix::zeros(0, 0),
            labels: Vec::with_capacity(EVAL_CHUNK),
            scratch: PredictScratch::new(),
        }
    }

    /// How many samples of `data[range]` `net` classifies correctly (on the calling thread).
    fn count_correct<D: Dataset + ?Sized>(
        &mut self,
        net: &TwoLayerNet<f32>,
        data: &D,
        range: std::ops::Range<usize>,
    ) -> usize {
        let inputs = data.input_size();
        if self.x.shape() != (inputs, range.len()) {
            self.x = Matrix::zeros(inputs, range.len());
        }
        self.labels.clear();
        for (column, k) in self.x.as_mut_slice().chunks_exact_mut(inputs).zip(range) {
            normalize_pixels(data.pixels(k), column);
            self.labels.push(data.label(k));
        }
        net.count_correct(&self.x, &self.labels, &mut self.scratch)
    }
}

impl Evaluator {
    /// Buffers for `threads` threads (use `rayon::current_num_threads()`). They take their size
    /// on first use and keep it while the chunks keep theirs (always, for MNIST's 60000 and
    /// 10000 samples).
    pub fn new(threads: usize) -> Self {
        let buffers = (0..threads.max(1)).map(|_| ChunkBuffers::new()).collect();
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
        let chunks = n.div_ceil(EVAL_CHUNK);
        let stride = self.buffers.len();
        let correct: usize = self
            .buffers
            .par_iter_mut()
            .enumerate()
            .map(|(t, buf)| {
                (t..chunks)
                    .step_by(stride)
                    .map(|c| {
                        buf.count_correct(net, data, c * EVAL_CHUNK..((c + 1) * EVAL_CHUNK).min(n))
                    })
                    .sum::<usize>()
            })
            .sum();
        correct as f64 / n as f64
    }
}
