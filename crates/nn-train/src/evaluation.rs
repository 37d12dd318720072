//! Accuracy over whole datasets, in parallel chunks: the evaluations that run beside the training
//! loop ([`beside`]), and the [`Evaluator`] for a network outside training.
//!
//! An evaluation takes a snapshot of the network after its iteration ([`Model::snapshot`]) and
//! spawns one rayon job per chunk of [`EVAL_CHUNK`] samples into a scope around the loop: the
//! pool's other threads score the epoch while the loop's thread trains on. Each thread scores its
//! chunks with its own copy of the snapshot (its layers' buffers are its own) inside
//! [`nn_core::kernels::serial`], so that the chunk's products do not compete with the training loop's
//! split products for the other core. One evaluation runs at a time: the next one first waits
//! for it. The observer hears of each evaluation once its last chunk is done, in order.
//!
//! On a one-thread pool, or when the loop runs outside any rayon pool (where the jobs would
//! queue in front of the loop's own `join`s), each evaluation is waited for at once, its chunks
//! still in parallel. A panic in a chunk job ends the run with that panic, never a hang. The
//! results depend neither on the number of threads nor on the timing: the counts of correct
//! answers are integers, and the training never reads an evaluation's result.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use nn_core::kernels::elementwise::normalize_pixels;
use nn_core::{Matrix, Model, count_matches};
use rayon::prelude::*;

use crate::dataset::Dataset;
use crate::history::{Evaluation, History};
use crate::observer::Observer;

/// Samples per evaluation chunk: the unit of work of an evaluation, scored by one thread in an
/// `(input_size, EVAL_CHUNK)` buffer (3 MB for MNIST) that it reuses for the next chunk.
///
/// MNIST's 60000 training and 10000 test samples make 60 and 10 chunks of about a millisecond
/// each: small enough to share a final evaluation evenly between two cores, large enough for the
/// kernel to run near its peak (smaller chunks, 250 to 500, measured no faster).
pub const EVAL_CHUNK: usize = 1000;

/// Runs `f` with an [`Evaluations`] whose jobs run beside it on the current rayon pool; returns
/// once every evaluation job is done, passing on a job's panic.
pub(crate) fn beside<M, D, R>(
    train_data: &D,
    test_data: &D,
    start: Instant,
    offset: f64,
    f: impl FnOnce(&mut Evaluations<'_, '_, M, D>) -> R,
) -> R
where
    M: Model<f32>,
    D: Dataset + ?Sized,
{
    let shared = Shared {
        buffers: BufferPool::default(),
        start,
        offset,
    };
    rayon::in_place_scope(|scope| {
        let mut evaluations = Evaluations {
            scope,
            shared: &shared,
            train_data,
            test_data,
            running: None,
            beside: rayon::current_thread_index().is_some() && rayon::current_num_threads() > 1,
        };
        f(&mut evaluations)
    })
}

/// The evaluations of a run: at most one under way.
pub(crate) struct Evaluations<'a, 'scope, M: Model<f32>, D: ?Sized> {
    scope: &'a rayon::Scope<'scope>,
    shared: &'scope Shared<M>,
    train_data: &'scope D,
    test_data: &'scope D,
    running: Option<Arc<Pending<M>>>,
    /// Whether other threads of the pool can take the jobs while the loop goes on.
    beside: bool,
}

impl<'scope, M: Model<f32>, D: Dataset + ?Sized> Evaluations<'_, 'scope, M, D> {
    /// Starts evaluating a snapshot of `network`, as it is after `iteration`, on the first
    /// `samples` of each split (all of them for `None`), after waiting for the previous
    /// evaluation.
    pub(crate) fn start(
        &mut self,
        iteration: usize,
        epoch: usize,
        network: &M,
        samples: Option<usize>,
        history: &mut History,
        observer: &mut dyn Observer,
    ) {
        self.finish(history, observer);
        let limit = |len: usize| samples.map_or(len, |n| n.min(len));
        let (train_len, test_len) = (limit(self.train_data.len()), limit(self.test_data.len()));
        let pending = Arc::new(Pending::new(iteration, epoch, network, train_len, test_len));
        self.spawn(&pending, self.train_data, train_len, Split::Train);
        self.spawn(&pending, self.test_data, test_len, Split::Test);
        self.running = Some(pending);
        if !self.beside {
            self.finish(history, observer);
        }
    }

    /// Records the evaluation under way if it is done, without waiting.
    pub(crate) fn poll(&mut self, history: &mut History, observer: &mut dyn Observer) {
        if self.running.as_ref().is_some_and(|p| p.is_done()) {
            self.finish(history, observer);
        }
    }

    /// Waits for the evaluation under way, if any, then records it in the history and tells the
    /// observer. Meanwhile this thread runs the pool's pending jobs when it belongs to the pool
    /// (the evaluation's own chunks, or any other job).
    ///
    /// # Panics
    /// If a chunk of the evaluation panicked (the enclosing scope then passes on that first
    /// panic).
    pub(crate) fn finish(&mut self, history: &mut History, observer: &mut dyn Observer) {
        let Some(pending) = self.running.take() else {
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

    /// Spawns one job per chunk of the first `len` samples of `data`, adding to the `split`
    /// counter of `pending`.
    fn spawn(&self, pending: &Arc<Pending<M>>, data: &'scope D, len: usize, split: Split) {
        let shared = self.shared;
        for c in 0..len.div_ceil(EVAL_CHUNK) {
            let pending = Arc::clone(pending);
            self.scope.spawn(move |_| {
                let _done = ChunkDone {
                    pending: &pending,
                    start: shared.start,
                    offset: shared.offset,
                };
                let range = c * EVAL_CHUNK..((c + 1) * EVAL_CHUNK).min(len);
                let mut buffers = shared.buffers.take();
                let correct = buffers.count_correct(&pending, data, range);
                shared.buffers.give(buffers);
                let counter = match split {
                    Split::Train => &pending.train_correct,
                    Split::Test => &pending.test_correct,
                };
                counter.fetch_add(correct, Ordering::Relaxed);
            });
        }
    }
}

/// Which counter of a [`Pending`] evaluation a chunk adds to.
#[derive(Clone, Copy)]
enum Split {
    Train,
    Test,
}

/// Numbers the evaluations of every run, so that a thread's copy of the network is known to be
/// the right one.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// An evaluation running beside the training loop: a snapshot of the network as it was after
/// `iteration`, and the counts its chunks add up.
struct Pending<M> {
    id: u64,
    iteration: usize,
    epoch: usize,
    model: M,
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

impl<M: Model<f32>> Pending<M> {
    fn new(iteration: usize, epoch: usize, network: &M, train_len: usize, test_len: usize) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            iteration,
            epoch,
            model: network.snapshot(),
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
struct ChunkDone<'a, M> {
    pending: &'a Pending<M>,
    start: Instant,
    offset: f64,
}

impl<M> Drop for ChunkDone<'_, M> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.pending.failed.store(true, Ordering::Release);
        } else if self.pending.chunks_left.fetch_sub(1, Ordering::AcqRel) == 1 {
            // AcqRel: the last chunk sees every other chunk's count before it sets the time,
            // and `result` reads the counts after seeing the time.
            let _ = self
                .pending
                .finished_s
                .set(self.offset + self.start.elapsed().as_secs_f64());
        }
    }
}

/// What every evaluation's chunk jobs share.
struct Shared<M> {
    buffers: BufferPool<M>,
    /// The start of training, for [`Evaluation::elapsed_s`].
    start: Instant,
    /// Seconds of the run before `start` (a resumed run's), added to every time.
    offset: f64,
}

/// Buffers lent to whichever thread scores a chunk: as many get allocated as chunks run at once
/// (one per thread), once per run; each holds that thread's copy of the evaluated network.
struct BufferPool<M>(Mutex<Vec<WorkerBuffers<M>>>);

impl<M> Default for BufferPool<M> {
    fn default() -> Self {
        Self(Mutex::new(Vec::new()))
    }
}

impl<M: Model<f32>> BufferPool<M> {
    fn take(&self) -> WorkerBuffers<M> {
        let spare = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop();
        spare.unwrap_or_else(|| WorkerBuffers {
            chunk: ChunkBuffers::new(),
            model: None,
        })
    }

    fn give(&self, buffers: WorkerBuffers<M>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(buffers);
    }
}

/// A chunk's buffers and a copy of the evaluation's network, tagged with its id.
struct WorkerBuffers<M> {
    chunk: ChunkBuffers,
    model: Option<(u64, M)>,
}

impl<M: Model<f32>> WorkerBuffers<M> {
    /// How many samples of `data[range]` the network of `pending` classifies correctly, scored
    /// by this worker's copy of it (made on its first chunk of that evaluation).
    fn count_correct<D: Dataset + ?Sized>(
        &mut self,
        pending: &Pending<M>,
        data: &D,
        range: Range<usize>,
    ) -> usize {
        if self.model.as_ref().is_none_or(|(id, _)| *id != pending.id) {
            self.model = Some((pending.id, pending.model.snapshot()));
        }
        let (_, model) = self.model.as_mut().expect("just set");
        self.chunk.count_correct(model, data, range)
    }
}

/// One chunk's input matrix and labels, reused from chunk to chunk.
struct ChunkBuffers {
    x: Matrix<f32>,
    labels: Vec<u8>,
}

impl ChunkBuffers {
    /// Empty buffers; they take their size on first use.
    fn new() -> Self {
        Self {
            x: Matrix::zeros(0, 0),
            labels: Vec::with_capacity(EVAL_CHUNK),
        }
    }

    /// How many samples of `data[range]` `model` classifies correctly, on the calling thread.
    fn count_correct<M: Model<f32>, D: Dataset + ?Sized>(
        &mut self,
        model: &mut M,
        data: &D,
        range: Range<usize>,
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
        nn_core::kernels::serial(|| count_matches(model.predict(&self.x), &self.labels))
    }
}

/// Accuracy over a whole dataset, in parallel chunks, with buffers allocated once per thread: the
/// same chunks and counts as the evaluations of [`train`](crate::train), scored at once on the
/// current pool, for a network outside training.
///
/// ```
/// use nn_core::{TwoLayerConfig, TwoLayerNet};
/// use nn_train::{Dataset, Evaluator};
/// struct Dark;
/// impl Dataset for Dark {
///     fn len(&self) -> usize { 3 }
///     fn input_size(&self) -> usize { 2 }
///     fn num_classes(&self) -> usize { 2 }
///     fn pixels(&self, _: usize) -> &[u8] { &[0, 0] }
///     fn label(&self, i: usize) -> u8 { (i % 2) as u8 }
/// }
/// // Zero weights give equal scores, and the first maximum is class 0: samples 0 and 2.
/// let config = TwoLayerConfig { input_size: 2, hidden_size: 2, output_size: 2, weight_init_std: 0.0, ..TwoLayerConfig::default() };
/// let net = TwoLayerNet::<f32>::new(config, 0)?;
/// assert_eq!(Evaluator::new(2).accuracy(&net, &Dark), 2.0 / 3.0);
/// # Ok::<(), nn_core::TwoLayerConfigError>(())
/// ```
pub struct Evaluator {
    buffers: Vec<ChunkBuffers>,
}

impl Evaluator {
    /// Buffers for `threads` threads (use `rayon::current_num_threads()`). They take their size
    /// on first use and keep it while the chunks keep theirs (always, for MNIST's 60000 and
    /// 10000 samples).
    pub fn new(threads: usize) -> Self {
        let buffers = (0..threads.max(1)).map(|_| ChunkBuffers::new()).collect();
        Self { buffers }
    }

    /// Fraction of `data` that `network` classifies correctly (0 for an empty dataset).
    ///
    /// Thread `t` of `n` takes chunks `t`, `t + n`, `t + 2n`…, each thread with its own copy of
    /// the network; the counts are integers, so the result is the same for any number of
    /// threads.
    pub fn accuracy<M: Model<f32>, D: Dataset + ?Sized>(&mut self, network: &M, data: &D) -> f64 {
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
                let mut model = network.snapshot();
                (t..chunks)
                    .step_by(stride)
                    .map(|c| {
                        let range = c * EVAL_CHUNK..((c + 1) * EVAL_CHUNK).min(n);
                        buf.count_correct(&mut model, data, range)
                    })
                    .sum::<usize>()
            })
            .sum();
        correct as f64 / n as f64
    }
}
