//! The settings of the training loop, unchecked (as read from a file or flags) and checked.
//!
//! This follows linfa's `ParamGuard` idea: a plain, serializable [`TrainConfig`] can hold any
//! values; [`TrainConfig::check`] turns it into a [`CheckedConfig`], the only form
//! [`train`](crate::train) accepts, or returns a [`ConfigError`] naming the first bad value. The
//! network is not part of it: it is built separately, from its own spec.

use serde::{Deserialize, Serialize};

use crate::observer::RunInfo;
use crate::optimizer::{OptimizerError, OptimizerKind, OptimizerSpec};

/// How the loop computes the gradient of the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GradientMethod {
    /// Layered backpropagation (chapter 5): fast and exact.
    #[default]
    Backprop,
    /// Central differences on every parameter (chapter 4), in `f64`: a thousand times slower
    /// than backprop even though only what each perturbation changes is evaluated
    /// ([`nn_core::FastNumericalGradient`]); for teaching.
    Numerical,
}

/// The most iterations a run may have: ten thousand times the book's run. Longer runs are
/// refused rather than left to grow their history for days.
pub const MAX_ITERS: usize = 100_000_000;

/// How long a run lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Length {
    /// This many iterations (parameter updates), as `train_neuralnet.py`'s `iters_num`.
    Iters(usize),
    /// This many epochs of `max(train_size / batch_size, 1)` iterations, as the book's
    /// `Trainer(epochs=...)` of chapters 6 to 8.
    Epochs(usize),
}

/// The settings of a training run, as written in a config file; nothing is checked yet.
///
/// The defaults reproduce the book's chapter-4 run (`train_neuralnet.py`): 10000 iterations
/// of minibatches of 100, SGD with learning rate 0.1, an evaluation over the whole train and
/// test data every epoch.
///
/// ```
/// use nn_train::{Length, OptimizerSpec, TrainConfig};
///
/// let config = TrainConfig::default();
/// assert_eq!((config.batch_size, config.length), (100, Length::Iters(10_000)));
/// assert_eq!(config.optimizer, OptimizerSpec::Sgd { lr: 0.1 });
/// let checked = config.check().unwrap();
/// assert_eq!(checked.schedule(60_000).iter_per_epoch, 600);
///
/// let bad = TrainConfig { batch_size: 0, ..TrainConfig::default() };
/// assert!(bad.check().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Samples per minibatch, drawn with replacement (book: 100).
    pub batch_size: usize,
    /// How long to train (book: 10000 iterations).
    pub length: Length,
    /// The optimizer and its hyper-parameters (book: SGD, learning rate 0.1).
    pub optimizer: OptimizerSpec,
    /// Seed of the ChaCha8 generator that draws the minibatches (the network has its own).
    pub seed: u64,
    /// How the gradient is computed.
    pub gradient: GradientMethod,
    /// Evaluate each epoch on only the first this many samples of each split, as the book's
    /// `Trainer(evaluate_sample_num_per_epoch=...)`; the final evaluation always covers both
    /// splits whole. `None`: every evaluation covers the whole splits (`train_neuralnet.py`).
    pub eval_samples: Option<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            batch_size: 100,
            length: Length::Iters(10_000),
            optimizer: OptimizerKind::Sgd.with_default_lr(),
            seed: 42,
            gradient: GradientMethod::Backprop,
            eval_samples: None,
        }
    }
}

/// A value of a [`TrainConfig`] that makes no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// `batch_size` is 0.
    #[error("batch size 0 is invalid: a minibatch needs at least 1 sample (--batch-size)")]
    ZeroBatchSize,
    /// The run has no iteration.
    #[error("a run of 0 {0} is invalid: train for at least 1 (--iters or --epochs)")]
    ZeroLength(&'static str),
    /// More than [`MAX_ITERS`] iterations.
    #[error("{0} iterations is too many: a run may have at most {MAX_ITERS} (--iters or --epochs)")]
    TooLong(usize),
    /// The learning rate is a positive number that rounds to zero or loses its precision in
    /// `f32`, in which training runs.
    #[error(
        "learning rate {0:e} is too small for f32 arithmetic (it rounds to {rounded:e}): use at least 1e-30 (--lr)",
        rounded = *.0 as f32
    )]
    LearningRateUnderflow(f64),
    /// The learning rate is beyond `f32`'s range, in which training runs.
    #[error(
        "learning rate {0:e} is too large for f32 arithmetic (it rounds to infinity): use a \
         learning rate such as 0.1 or 0.001 (--lr)"
    )]
    LearningRateOverflow(f64),
    /// `eval_samples` is `Some(0)`.
    #[error(
        "evaluating on 0 samples is invalid: use at least 1, or leave it out to use every sample (--eval-samples)"
    )]
    ZeroEvalSamples,
    /// The optimizer's hyper-parameters.
    #[error(transparent)]
    Optimizer(#[from] OptimizerError),
}

impl TrainConfig {
    /// Checks every value.
    pub fn check(self) -> Result<CheckedConfig, ConfigError> {
        if self.batch_size == 0 {
            return Err(ConfigError::ZeroBatchSize);
        }
        match self.length {
            Length::Iters(0) => return Err(ConfigError::ZeroLength("iterations")),
            Length::Epochs(0) => return Err(ConfigError::ZeroLength("epochs")),
            Length::Iters(iters) if iters > MAX_ITERS => return Err(ConfigError::TooLong(iters)),
            _ => {}
        }
        if self.eval_samples == Some(0) {
            return Err(ConfigError::ZeroEvalSamples);
        }
        self.optimizer.check()?;
        let lr = self.optimizer.lr();
        if (lr as f32).is_infinite() {
            return Err(ConfigError::LearningRateOverflow(lr));
        }
        if !(lr as f32).is_normal() || lr < 1e-30 {
            return Err(ConfigError::LearningRateUnderflow(lr));
        }
        Ok(CheckedConfig { config: self })
    }
}

/// A [`TrainConfig`] whose values were checked. The loop still checks that the data fits it
/// (a batch no larger than the training set).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedConfig {
    config: TrainConfig,
}

impl CheckedConfig {
    /// The checked values.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The run's schedule on a training set of `train_size` samples: `iter_per_epoch =
    /// max(train_size / batch_size, 1)`, the number of iterations (saturating at `usize::MAX`
    /// for an absurd number of epochs) and of epochs.
    pub fn schedule(&self, train_size: usize) -> RunInfo {
        let iter_per_epoch = (train_size / self.config.batch_size).max(1);
        let iters = match self.config.length {
            Length::Iters(iters) => iters,
            Length::Epochs(epochs) => epochs.saturating_mul(iter_per_epoch),
        };
        RunInfo {
            iters,
            iter_per_epoch,
            epochs: iters.div_ceil(iter_per_epoch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut TrainConfig)) -> TrainConfig {
        let mut config = TrainConfig::default();
        f(&mut config);
        config
    }

    #[test]
    fn book_defaults_give_600_iterations_per_epoch_and_17_epochs() {
        let schedule = TrainConfig::default().check().unwrap().schedule(60_000);
        assert_eq!(
            schedule,
            RunInfo {
                iters: 10_000,
                iter_per_epoch: 600,
                epochs: 17
            }
        );
    }

    #[test]
    fn epochs_count_whole_passes_and_iter_per_epoch_is_at_least_one() {
        let checked = with(|c| c.length = Length::Epochs(20)).check().unwrap();
        assert_eq!(checked.schedule(60_000).iters, 12_000);
        let small = with(|c| c.batch_size = 10).check().unwrap();
        assert_eq!(small.schedule(5).iter_per_epoch, 1);
        let absurd = with(|c| c.length = Length::Epochs(usize::MAX))
            .check()
            .unwrap();
        assert_eq!(absurd.schedule(60_000).iters, usize::MAX);
    }

    #[test]
    fn every_bad_value_has_its_error() {
        let cases = [
            (with(|c| c.batch_size = 0), ConfigError::ZeroBatchSize),
            (
                with(|c| c.length = Length::Iters(0)),
                ConfigError::ZeroLength("iterations"),
            ),
            (
                with(|c| c.length = Length::Epochs(0)),
                ConfigError::ZeroLength("epochs"),
            ),
            (
                with(|c| c.eval_samples = Some(0)),
                ConfigError::ZeroEvalSamples,
            ),
            (
                with(|c| c.optimizer = OptimizerSpec::Sgd { lr: -0.1 }),
                ConfigError::Optimizer(OptimizerError::LearningRate(-0.1)),
            ),
            (
                with(|c| c.optimizer = OptimizerSpec::Sgd { lr: 1e-50 }),
                ConfigError::LearningRateUnderflow(1e-50),
            ),
            (
                with(|c| c.length = Length::Iters(usize::MAX)),
                ConfigError::TooLong(usize::MAX),
            ),
            // Finite in f64 but infinite in f32: too large, not "too small" as it once said.
            (
                with(|c| c.optimizer = OptimizerSpec::Sgd { lr: 1e39 }),
                ConfigError::LearningRateOverflow(1e39),
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(config.check().unwrap_err(), expected);
        }
    }

    #[test]
    fn config_round_trips_through_ron_and_missing_fields_take_defaults() {
        let config = with(|c| {
            c.optimizer = OptimizerSpec::Adam {
                lr: 0.001,
                beta1: 0.9,
                beta2: 0.999,
            }
        });
        let text = ron::to_string(&config).unwrap();
        assert_eq!(ron::from_str::<TrainConfig>(&text).unwrap(), config);
        let partial: TrainConfig = ron::from_str(
            "(length: Epochs(5), gradient: numerical, optimizer: Momentum(lr: 0.01))",
        )
        .unwrap();
        assert_eq!(
            partial,
            with(|c| {
                c.length = Length::Epochs(5);
                c.gradient = GradientMethod::Numerical;
                c.optimizer = OptimizerSpec::Momentum {
                    lr: 0.01,
                    momentum: 0.9,
                };
            })
        );
        let unknown = ron::from_str::<TrainConfig>("(hidden_size: 50)").unwrap_err();
        assert!(unknown.to_string().contains("hidden_size"), "{unknown}");
    }
}
