//! The book's minibatch loop (§4.5.2, `train_neuralnet.py`; the `Trainer` of chapters 6 to 8).

use std::time::{Duration, Instant};

use nn_core::{Model, Targets};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::batch::Batch;
use crate::config::{CheckedConfig, ConfigError, GradientMethod, MAX_ITERS};
use crate::dataset::Dataset;
use crate::evaluation;
use crate::history::History;
use crate::observer::Observer;
use crate::resume::{Checkpoint, CheckpointReason, Checkpoints, ResumeError, RunState};

/// Why a run could not start or did not finish.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// The config does not fit the data (a number of epochs that makes too many iterations).
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
    /// The network does not fit the data.
    #[error(
        "the network takes {model_inputs} inputs and scores {model_classes} classes but the data \
         has {data_inputs} inputs per sample and {data_classes} classes: build the network for \
         this dataset"
    )]
    NetworkMismatch {
        /// The network's inputs per sample.
        model_inputs: usize,
        /// The network's outputs.
        model_classes: usize,
        /// The data's inputs per sample.
        data_inputs: usize,
        /// The data's classes.
        data_classes: usize,
    },
    /// The batch size exceeds the number of training samples.
    #[error(
        "batch size {batch_size} is larger than the {train_size} training samples: use at most {train_size} (--batch-size)"
    )]
    BatchSizeTooLarge {
        /// The requested batch size.
        batch_size: usize,
        /// The number of training samples.
        train_size: usize,
    },
    /// The test split holds no sample, so accuracy cannot be measured.
    #[error("the test data is empty: accuracy needs at least one test sample")]
    EmptyTest,
    /// The observer asked to stop (see [`Observer::should_stop`]).
    #[error("training stopped after iteration {iteration}, as asked")]
    Stopped {
        /// The last iteration that ran.
        iteration: usize,
    },
    /// The run cannot resume from the state given.
    #[error("cannot resume: {0}")]
    Resume(#[from] ResumeError),
    /// A checkpoint could not be saved.
    #[error("cannot save the checkpoint after iteration {iterations}: {message}")]
    Checkpoint {
        /// Iterations done at the checkpoint.
        iterations: usize,
        /// What went wrong.
        message: String,
    },
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
pub struct Trained<M> {
    /// The network after the last iteration.
    pub net: M,
    /// Loss per iteration and accuracies per evaluation.
    pub history: History,
}

/// Trains `network` the book's way and returns it with the run's [`History`].
///
/// A ChaCha8 generator seeded with the config's seed (stream 1; networks draw their weights from
/// stream 0 of the same seed) draws each iteration's `batch_size` training indices, with
/// replacement like `np.random.choice`. Each iteration gathers them into a batch matrix allocated
/// once, computes the gradient (backprop or numerical), lets the config's optimizer update the
/// parameters and records the minibatch loss (computed by the gradient's forward pass, before the
/// update). Accuracy is measured after iteration `i` when `i % iter_per_epoch == 0` (on the
/// first `eval_samples` of each split, or all of them), and after the last iteration on both
/// splits whole.
///
/// Evaluations run beside the loop, on the current rayon pool (see the `evaluation` module):
/// call `train` from inside a pool of two threads or more (`pool.install(|| train(...))`, as
/// nn-cli does) to get that overlap. The observer hears of each evaluation once it has
/// finished, in order. The results depend neither on the number of threads nor on the timing.
///
/// # Errors
/// [`TrainError::Diverged`] as soon as a loss is not finite, [`TrainError::Stopped`] when the
/// observer asks; the others before the first iteration.
pub fn train<M: Model<f32>, D: Dataset + ?Sized>(
    config: &CheckedConfig,
    network: M,
    train_data: &D,
    test_data: &D,
    observer: &mut dyn Observer,
) -> Result<Trained<M>, TrainError> {
    train_with(config, network, train_data, test_data, observer, None)
}

/// [`train`], with checkpoints: resumed from [`Checkpoints::resume`] if given (then `network`
/// must be the network saved with that state), and handing a [`Checkpoint`] to
/// [`Checkpoints::save`] every [`Checkpoints::every`] iterations, when the observer asks to stop
/// (after the iteration under way, then the run ends with [`TrainError::Stopped`]), and at the
/// end, after the final evaluation. A run resumed from any of them ends with the very bits of
/// the run that never stopped: the same network and the same history (but the seconds of
/// `elapsed_s`, which go on from the checkpoint's).
///
/// A resumed run may be longer than the checkpoint's (a larger `length` in the config): the
/// final evaluation of the shorter run, if the checkpoint holds it, is replaced by what the
/// longer run evaluates after that iteration.
///
/// ```
/// use std::sync::Mutex;
/// use std::time::Duration;
/// use nn_core::{TwoLayerConfig, TwoLayerNet};
/// use nn_train::{CheckpointReason, Checkpoints, Dataset, Length, Observer, RunState, Silent,
///                TrainConfig, TrainError, train, train_with};
/// struct Pairs;
/// impl Dataset for Pairs {
///     fn len(&self) -> usize { 4 }
///     fn input_size(&self) -> usize { 2 }
///     fn num_classes(&self) -> usize { 2 }
///     fn pixels(&self, i: usize) -> &[u8] { [[255, 0], [0, 255]][i % 2].as_slice() }
///     fn label(&self, i: usize) -> u8 { (i % 2) as u8 }
/// }
/// /// Asks to stop after iteration 6.
/// struct StopAt7(usize);
/// impl Observer for StopAt7 {
///     fn on_iteration(&mut self, i: usize, _: f32) { self.0 = i; }
///     fn should_stop(&mut self) -> bool { self.0 == 6 }
/// }
/// let config = TrainConfig { batch_size: 2, length: Length::Iters(20), ..TrainConfig::default() }.check()?;
/// let net = || TwoLayerNet::<f32>::new(TwoLayerConfig { input_size: 2, hidden_size: 4, output_size: 2, ..TwoLayerConfig::default() }, 1);
/// let whole = train(&config, net()?, &Pairs, &Pairs, &mut Silent)?;
///
/// // The same run stopped after 7 iterations, its state kept...
/// let saved = Mutex::new(None);
/// let mut save = |c: &nn_train::Checkpoint<'_, TwoLayerNet<f32>>| {
///     if c.reason == CheckpointReason::Stopped {
///         *saved.lock().unwrap() = Some((c.network.clone(), c.state.clone()));
///     }
///     Ok(())
/// };
/// let checkpoints = Checkpoints { resume: None, every: 0, min_gap: Duration::ZERO, save: &mut save };
/// let stopped = train_with(&config, net()?, &Pairs, &Pairs, &mut StopAt7(0), Some(checkpoints));
/// assert_eq!(stopped.unwrap_err(), TrainError::Stopped { iteration: 6 });
/// let (network, state): (_, RunState) = saved.into_inner()?.unwrap();
/// assert_eq!(state.iterations, 7);
///
/// // ... then resumed: the very same network and losses as the run that never stopped.
/// let mut ignore = |_: &nn_train::Checkpoint<'_, TwoLayerNet<f32>>| Ok(());
/// let resume = Checkpoints { resume: Some(state), every: 0, min_gap: Duration::ZERO, save: &mut ignore };
/// let resumed = train_with(&config, network, &Pairs, &Pairs, &mut Silent, Some(resume))?;
/// assert_eq!(resumed.net.params(), whole.net.params());
/// assert_eq!(resumed.history.train_loss, whole.history.train_loss);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`train`]; [`TrainError::Resume`] before the first iteration if the state cannot go on
/// in this run, [`TrainError::Checkpoint`] if `save` fails.
pub fn train_with<M: Model<f32>, D: Dataset + ?Sized>(
    config: &CheckedConfig,
    mut network: M,
    train_data: &D,
    test_data: &D,
    observer: &mut dyn Observer,
    mut checkpoints: Option<Checkpoints<'_, M>>,
) -> Result<Trained<M>, TrainError> {
    check_data(config, &network, train_data, test_data)?;
    let settings = config.config();
    let schedule = config.schedule(train_data.len());
    if schedule.iters > MAX_ITERS {
        return Err(ConfigError::TooLong(schedule.iters).into());
    }
    let (train_size, batch_size) = (train_data.len(), settings.batch_size);
    let iter_per_epoch = schedule.iter_per_epoch;
    let mut optimizer = settings.optimizer.build::<f32>();
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    rng.set_stream(1);
    let mut batch = Batch::new(train_data.input_size(), batch_size);
    let mut batch_mask = vec![0; batch_size];

    // A resumed run: the state's history, optimizer and generator, and the evaluation to redo
    // when the run is lengthened (the shorter run's final one is replaced).
    let (first, mut history, redo) = match checkpoints.as_mut().and_then(|c| c.resume.take()) {
        None => (0, History::with_capacity(schedule.iters), None),
        Some(state) => {
            state.check(&schedule, settings.optimizer.kind(), &mut network)?;
            optimizer
                .load_state(state.optimizer)
                .map_err(ResumeError::from)?;
            rng.set_word_pos(state.batch_rng_word_pos);
            let mut history = state.history;
            let done = state.iterations;
            let mut redo = None;
            if done > 0 && done == state.planned && state.planned != schedule.iters {
                let last = done - 1;
                history.evaluations.retain(|e| e.iteration != last);
                redo = last.is_multiple_of(iter_per_epoch).then_some(last);
            }
            (done, history, redo)
        }
    };
    // Seconds already spent by the run before it was resumed.
    let offset = history.total_elapsed_s();

    observer.on_start(&schedule);
    let start = Instant::now();
    evaluation::beside(train_data, test_data, start, offset, |evaluations| {
        if let Some(i) = redo {
            let (epoch, samples) = (i / iter_per_epoch, settings.eval_samples);
            evaluations.start(i, epoch, &network, samples, &mut history, observer);
        }
        let every = checkpoints.as_ref().map_or(0, |c| c.every);
        let min_gap = checkpoints.as_ref().map_or(Duration::ZERO, |c| c.min_gap);
        let mut last_checkpoint = start;
        // The state handed to `save`, with everything the loop does not keep in it.
        let mut save = |network: &M,
                        history: &mut History,
                        done: usize,
                        optimizer: &dyn crate::Optimizer<f32>,
                        rng: &ChaCha8Rng,
                        reason: CheckpointReason|
         -> Result<(), TrainError> {
            let Some(c) = checkpoints.as_mut() else {
                return Ok(());
            };
            let state = RunState {
                iterations: done,
                planned: schedule.iters,
                history: std::mem::take(history),
                optimizer: optimizer.state(),
                batch_rng_word_pos: rng.get_word_pos(),
            };
            let result = (c.save)(&Checkpoint {
                network,
                state: &state,
                reason,
            });
            *history = state.history;
            result.map_err(|message| TrainError::Checkpoint {
                iterations: done,
                message,
            })
        };
        for i in first..schedule.iters {
            // batch_mask = np.random.choice(train_size, batch_size)
            for k in &mut batch_mask {
                *k = rng.random_range(0..train_size);
            }
            // x_batch = x_train[batch_mask]; t_batch = t_train[batch_mask]
            batch.fill(train_data, &batch_mask);
            let (x_batch, t_batch) = (&batch.x, Targets::Labels(&batch.labels));

            // grad = network.gradient(x_batch, t_batch)   (or numerical_gradient)
            let loss = match settings.gradient {
                GradientMethod::Backprop => network.gradient(x_batch, t_batch),
                GradientMethod::Numerical => network.numerical_gradient(x_batch, t_batch),
            };
            if !loss.is_finite() {
                // Let the evaluations in flight end before the error returns (their jobs borrow
                // the data); the history is dropped with the run.
                evaluations.finish(&mut history, observer);
                return Err(TrainError::Diverged {
                    iteration: i,
                    loss,
                    learning_rate: settings.optimizer.lr(),
                });
            }
            // optimizer.update(network.params, grad)
            optimizer.update(&mut network);

            // train_loss_list.append(loss)
            history.train_loss.push(loss);
            history
                .elapsed_s
                .push(offset + start.elapsed().as_secs_f64());
            observer.on_iteration(i, loss);
            evaluations.poll(&mut history, observer);

            // if i % iter_per_epoch == 0: train_acc = network.accuracy(x_train, t_train) ...
            let last = i + 1 == schedule.iters;
            if i % iter_per_epoch == 0 || last {
                let (epoch, samples) = if last {
                    (schedule.epochs, None)
                } else {
                    (i / iter_per_epoch, settings.eval_samples)
                };
                evaluations.start(i, epoch, &network, samples, &mut history, observer);
            }

            // A checkpoint holds the evaluations of the iterations it covers: the one under way
            // is waited for (at an epoch's end, a periodic checkpoint finds it long finished).
            let done = i + 1;
            let stop = observer.should_stop();
            let periodic = every > 0
                && done.is_multiple_of(every)
                && !last
                && last_checkpoint.elapsed() >= min_gap;
            if stop || periodic {
                evaluations.finish(&mut history, observer);
                let reason = if stop {
                    CheckpointReason::Stopped
                } else {
                    CheckpointReason::Periodic
                };
                save(&network, &mut history, done, &*optimizer, &rng, reason)?;
                last_checkpoint = Instant::now();
            }
            if stop {
                return Err(TrainError::Stopped { iteration: i });
            }
        }
        evaluations.finish(&mut history, observer);
        let done = schedule.iters;
        // A stop asked during the final evaluation: the checkpoint of a stopped run, no result.
        let stopped = done > first && observer.should_stop();
        let reason = if stopped {
            CheckpointReason::Stopped
        } else {
            CheckpointReason::Finished
        };
        save(&network, &mut history, done, &*optimizer, &rng, reason)?;
        if stopped {
            return Err(TrainError::Stopped {
                iteration: done - 1,
            });
        }
        Ok(())
    })?;
    observer.on_finish(&history);
    Ok(Trained {
        net: network,
        history,
    })
}

/// Checks that the data and the network fit each other and the config.
fn check_data<M: Model<f32>, D: Dataset + ?Sized>(
    config: &CheckedConfig,
    network: &M,
    train_data: &D,
    test_data: &D,
) -> Result<(), TrainError> {
    let (inputs, classes) = (train_data.input_size(), train_data.num_classes());
    if (test_data.input_size(), test_data.num_classes()) != (inputs, classes) {
        return Err(TrainError::DatasetMismatch {
            train_inputs: inputs,
            train_classes: classes,
            test_inputs: test_data.input_size(),
            test_classes: test_data.num_classes(),
        });
    }
    if (network.input_len(), network.output_len()) != (inputs, classes) {
        return Err(TrainError::NetworkMismatch {
            model_inputs: network.input_len(),
            model_classes: network.output_len(),
            data_inputs: inputs,
            data_classes: classes,
        });
    }
    let batch_size = config.config().batch_size;
    if batch_size > train_data.len() {
        return Err(TrainError::BatchSizeTooLarge {
            batch_size,
            train_size: train_data.len(),
        });
    }
    if test_data.is_empty() {
        return Err(TrainError::EmptyTest);
    }
    Ok(())
}
