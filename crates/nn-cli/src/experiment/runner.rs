//! The independent runs of an experiment on every core, with one progress bar over them all.
//!
//! [`Runner::run`] starts one worker on each thread of its rayon pool (`broadcast`); each worker
//! takes the next job that nobody has taken yet, until none is left. A job is a whole training
//! run ([`train_net`]), done on the thread that took it: its split products, batch gathering and
//! evaluations still go through rayon, so a thread whose worker has run out of jobs helps the
//! runs still going (at the end of an experiment of 3 networks on 2 cores, the third one gets
//! both). Nothing a run computes depends on which thread computed what (nn-core's products are
//! cut by their shapes only, see `nn_core::serial`, and the evaluations count integers), and
//! each job's seed is fixed by the job, never by the order in which the jobs are taken: the
//! results are those of a serial run, bit for bit (tested below and in `tests/cli.rs`).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use nn_core::{NetSpec, Sequential};
use nn_train::{CheckedConfig, Dataset, Evaluation, History, Observer, TrainError};

/// The rayon pool the runs share, and whether to draw progress bars.
pub struct Runner {
    pool: rayon::ThreadPool,
    progress: bool,
}

impl Runner {
    /// A pool of `threads` threads (all cores for `None`); progress bars on stderr when it is a
    /// terminal.
    pub fn new(threads: Option<usize>) -> Result<Self> {
        match threads {
            Some(0) => {
                bail!("--threads 0 is invalid: use at least 1, or leave it out to use every core")
            }
            Some(n) if n > crate::train::max_threads() => bail!(
                "--threads {n} is more than makes sense on this machine: use at most {} (four per \
                 core), or leave it out to use every core",
                crate::train::max_threads()
            ),
            _ => {}
        }
        let mut pool = rayon::ThreadPoolBuilder::new();
        if let Some(threads) = threads {
            pool = pool.num_threads(threads);
        }
        Ok(Runner {
            pool: pool.build().context("cannot start the worker threads")?,
            progress: std::io::stderr().is_terminal(),
        })
    }

    /// Runs `job(i, ticks)` for every `i` in `0..jobs`, on all the pool's threads at once, and
    /// returns the results in the order of `i`. `units` is the total count of ticks the jobs
    /// will report (for a training run, its iterations): the length of the progress bar,
    /// labelled `label`.
    ///
    /// # Errors
    /// The error of the first failed job (by index); once a job fails, no new job starts.
    pub fn run<R: Send>(
        &self,
        label: &str,
        units: u64,
        jobs: usize,
        job: impl Fn(usize, &mut Ticks<'_>) -> Result<R> + Sync,
    ) -> Result<Vec<R>> {
        let bar = if self.progress {
            let style = ProgressStyle::with_template(
                "{prefix} {bar:30} {percent:>3}%  {msg}  {elapsed_precise} (eta {eta})",
            )
            .expect("the progress template is valid");
            ProgressBar::new(units)
                .with_style(style)
                .with_prefix(label.to_owned())
        } else {
            ProgressBar::hidden()
        };
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let results: Mutex<Vec<Option<Result<R>>>> = Mutex::new((0..jobs).map(|_| None).collect());
        let done = AtomicUsize::new(0);
        self.pool.broadcast(|_| {
            // Jobs are taken in order and a taken job always runs, so the jobs before a failed
            // one have all run: the first error by index is the first error.
            while !failed.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs {
                    break;
                }
                let mut ticks = Ticks::new(&bar);
                let result = job(i, &mut ticks);
                ticks.flush();
                failed.fetch_or(result.is_err(), Ordering::Relaxed);
                let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                bar.set_message(format!("{finished}/{jobs} runs"));
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
            }
        });
        bar.finish_and_clear();
        let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(jobs);
        for result in results {
            match result {
                Some(result) => out.push(result?),
                // A job that never started: an earlier one failed and its error came first.
                None => bail!("an earlier run failed"),
            }
        }
        Ok(out)
    }
}

/// What a job reports to the progress bar; as a training [`Observer`], it also keeps the loss
/// of every iteration and every evaluation, which a run that diverges does not return.
pub struct Ticks<'a> {
    bar: &'a ProgressBar,
    pending: u64,
    losses: Vec<f32>,
    evaluations: Vec<Evaluation>,
}

/// Ticks between two updates of the shared bar.
const TICKS_PER_UPDATE: u64 = 32;

impl<'a> Ticks<'a> {
    fn new(bar: &'a ProgressBar) -> Self {
        Ticks {
            bar,
            pending: 0,
            losses: Vec::new(),
            evaluations: Vec::new(),
        }
    }

    /// Counts `n` units of work done.
    pub fn tick(&mut self, n: u64) {
        self.pending += n;
        if self.pending >= TICKS_PER_UPDATE {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.bar.inc(std::mem::take(&mut self.pending));
    }
}

impl Observer for Ticks<'_> {
    fn on_start(&mut self, info: &nn_train::RunInfo) {
        self.losses = Vec::with_capacity(info.iters);
        self.evaluations.clear();
    }

    fn on_iteration(&mut self, _iteration: usize, loss: f32) {
        self.losses.push(loss);
        self.tick(1);
    }

    fn on_evaluation(&mut self, evaluation: &Evaluation) {
        self.evaluations.push(*evaluation);
    }
}

/// A training run's record: its [`History`] (up to the divergence, if any) and the iteration at
/// which the loss stopped being finite.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The loss of each iteration and the accuracies of each evaluation.
    pub history: History,
    /// `Some(i)`: iteration `i`'s loss was NaN or infinite and the run stopped there (the
    /// history holds what came before).
    pub diverged: Option<usize>,
}

impl Run {
    /// The accuracies of the last evaluation, if any.
    pub fn last(&self) -> Option<&Evaluation> {
        self.history.last_evaluation()
    }
}

/// Trains the network of `spec` (weights drawn from the config's seed) with `config` on
/// `train`, scoring it on `train` and `test` at each evaluation. A run whose loss stops being
/// finite is an outcome, not an error (the book's networks with weights of std 1 blow up).
///
/// # Errors
/// The spec or the data do not fit.
pub fn train_net<D: Dataset + ?Sized>(
    spec: &NetSpec,
    config: &CheckedConfig,
    train: &D,
    test: &D,
    ticks: &mut Ticks<'_>,
) -> Result<Run> {
    let net = Sequential::<f32>::new(spec.clone(), config.config().seed)
        .with_context(|| format!("invalid network {spec}"))?;
    match nn_train::train(config, net, train, test, ticks) {
        Ok(trained) => Ok(Run {
            history: trained.history,
            diverged: None,
        }),
        Err(TrainError::Diverged { iteration, .. }) => {
            let mut history = History {
                train_loss: std::mem::take(&mut ticks.losses),
                evaluations: std::mem::take(&mut ticks.evaluations),
                ..History::default()
            };
            history.train_loss.truncate(iteration);
            Ok(Run {
                history,
                diverged: Some(iteration),
            })
        }
        Err(e) => Err(e).with_context(|| format!("cannot train {spec}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_core::{Activation, Init, MultiLayerNetConfig, Shape};
    use nn_train::{Length, OptimizerKind, TrainConfig};

    /// 4×4 images of 4 classes: class `c` lights row `c`, over a deterministic noise.
    struct Rows(Vec<[u8; 16]>);

    impl Rows {
        fn new(n: usize, salt: usize) -> Self {
            Rows(
                (0..n)
                    .map(|i| {
                        let mut image = [0u8; 16];
                        for (p, v) in image.iter_mut().enumerate() {
                            *v = if p / 4 == i % 4 {
                                200
                            } else {
                                ((p * 37 + i * 11 + salt) % 50) as u8
                            };
                        }
                        image
                    })
                    .collect(),
            )
        }
    }

    impl Dataset for Rows {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn input_size(&self) -> usize {
            16
        }
        fn num_classes(&self) -> usize {
            4
        }
        fn pixels(&self, i: usize) -> &[u8] {
            &self.0[i]
        }
        fn label(&self, i: usize) -> u8 {
            (i % 4) as u8
        }
    }

    /// Five different runs: optimizers, batch norm, dropout, weight decay, with products large
    /// enough to be cut in two (16·2000·100 and 2000·20·100 multiply-adds, and the evaluation's
    /// chunks of 1000).
    fn jobs() -> Vec<(NetSpec, CheckedConfig)> {
        let kinds = [
            OptimizerKind::Sgd,
            OptimizerKind::Momentum,
            OptimizerKind::AdaGrad,
            OptimizerKind::Adam,
            OptimizerKind::RmsProp,
        ];
        kinds
            .iter()
            .enumerate()
            .map(|(i, &kind)| {
                let net = MultiLayerNetConfig {
                    hidden: vec![2000, 20],
                    activation: Activation::Relu,
                    init: Init::He,
                    batch_norm: i % 2 == 1,
                    dropout: (i == 2).then_some(0.2),
                    weight_decay: if i == 4 { 0.01 } else { 0.0 },
                };
                let config = TrainConfig {
                    batch_size: 100,
                    length: Length::Iters(60),
                    optimizer: kind.with_lr(kind.class_lr()),
                    seed: 7 + i as u64,
                    ..TrainConfig::default()
                };
                (net.spec(Shape::flat(16), 4), config.check().unwrap())
            })
            .collect()
    }

    #[test]
    fn runs_on_two_threads_give_what_a_serial_run_gives_bit_for_bit() {
        let (train, test) = (Rows::new(300, 0), Rows::new(1500, 3));
        let jobs = jobs();
        let run_all = |threads| {
            let runner = Runner::new(Some(threads)).unwrap();
            runner
                .run("test", 300, jobs.len(), |i, ticks| {
                    let (spec, config) = &jobs[i];
                    train_net(spec, config, &train, &test, ticks)
                })
                .unwrap()
        };
        // Serially: one job after the other, outside any pool (each evaluation waited for).
        let serial: Vec<Run> = jobs
            .iter()
            .map(|(spec, config)| {
                let bar = ProgressBar::hidden();
                train_net(spec, config, &train, &test, &mut Ticks::new(&bar)).unwrap()
            })
            .collect();
        // Each run's losses and (train, test) accuracies, as bits.
        type Bits = (Vec<u32>, Vec<(u64, u64)>);
        let bits = |runs: &[Run]| -> Vec<Bits> {
            runs.iter()
                .map(|r| {
                    let losses = r.history.train_loss.iter().map(|l| l.to_bits()).collect();
                    let accs = r
                        .history
                        .evaluations
                        .iter()
                        .map(|e| (e.train_acc.to_bits(), e.test_acc.to_bits()))
                        .collect();
                    (losses, accs)
                })
                .collect()
        };
        assert!(
            serial
                .iter()
                .all(|r| r.diverged.is_none() && r.history.train_loss.len() == 60)
        );
        for threads in [2, 1, 3] {
            assert_eq!(bits(&run_all(threads)), bits(&serial), "{threads} threads");
        }
    }

    #[test]
    fn a_diverging_run_is_recorded_up_to_its_divergence() {
        let (train, test) = (Rows::new(100, 0), Rows::new(100, 1));
        let spec = MultiLayerNetConfig {
            hidden: vec![50, 50, 50],
            activation: Activation::Relu,
            init: Init::Std(100.0),
            ..MultiLayerNetConfig::default()
        }
        .spec(Shape::flat(16), 4);
        let config = TrainConfig {
            batch_size: 10,
            length: Length::Iters(50),
            optimizer: OptimizerKind::Sgd.with_lr(10.0),
            ..TrainConfig::default()
        }
        .check()
        .unwrap();
        let bar = ProgressBar::hidden();
        let run = train_net(&spec, &config, &train, &test, &mut Ticks::new(&bar)).unwrap();
        let at = run.diverged.expect("weights of std 100 and lr 10 blow up");
        assert_eq!(run.history.train_loss.len(), at);
        assert!(run.history.train_loss.iter().all(|l| l.is_finite()));
        assert!(
            !run.history.evaluations.is_empty(),
            "the first evaluation came before"
        );
    }

    #[test]
    fn the_first_failing_job_is_reported() {
        let runner = Runner::new(Some(2)).unwrap();
        let err = runner
            .run("test", 0, 6, |i, _| {
                if i >= 2 {
                    bail!("job {i} failed")
                }
                Ok(i)
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "job 2 failed");
        assert_eq!(
            runner.run("test", 0, 3, |i, _| Ok(i * 10)).unwrap(),
            [0, 10, 20]
        );
    }
}
