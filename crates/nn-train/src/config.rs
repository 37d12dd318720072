//! The hyper-parameters of a run, unchecked (as read from a file or flags) and checked.
//!
//! This follows linfa's `ParamGuard` idea: a plain, serializable [`TrainConfig`] can hold any
//! values; [`TrainConfig::check`] turns it into a [`CheckedConfig`], the only form the training
//! loop accepts, or returns a [`ConfigError`] naming the first bad value.

use nn_core::Activation;
use serde::{Deserialize, Serialize};

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

/// The hyper-parameters of a training run, as written in a config file; nothing is checked yet.
///
/// The defaults reproduce the book's chapter-4 run (`train_neuralnet.py`).
///
/// ```
/// use nn_train::TrainConfig;
///
/// let config = TrainConfig::default();
/// assert_eq!((config.hidden_size, config.batch_size, config.iters), (50, 100, 10_000));
/// let checked = config.check(60_000).unwrap();
/// assert_eq!(checked.iter_per_epoch(), 600);
///
/// let bad = TrainConfig { batch_size: 0, ..TrainConfig::default() };
/// assert!(bad.check(60_000).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Neurons in the hidden layer (book: 50).
    pub hidden_size: usize,
    /// Activation of the hidden layer (book: sigmoid).
    pub activation: Activation,
    /// Learning rate of SGD (book: 0.1).
    pub learning_rate: f64,
    /// Samples per minibatch, drawn with replacement (book: 100).
    pub batch_size: usize,
    /// Number of iterations, i.e. parameter updates (book: 10000).
    pub iters: usize,
    /// Standard deviation of the Gaussian initial weights (book: 0.01).
    pub weight_init_std: f64,
    /// Seed of the ChaCha8 generator that draws the initial weights and the minibatches.
    pub seed: u64,
    /// How the gradient is computed.
    pub gradient: GradientMethod,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            hidden_size: 50,
            activation: Activation::Sigmoid,
            learning_rate: 0.1,
            batch_size: 100,
            iters: 10_000,
            weight_init_std: 0.01,
            seed: 42,
            gradient: GradientMethod::Backprop,
        }
    }
}

/// A value of a [`TrainConfig`] that makes no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// `batch_size` is 0.
    #[error("batch size 0 is invalid: a minibatch needs at least 1 sample (--batch-size)")]
    ZeroBatchSize,
    /// `batch_size` exceeds the number of training samples.
    #[error(
        "batch size {batch_size} is larger than the {train_size} training samples: use at most {train_size} (--batch-size)"
    )]
    BatchSizeTooLarge {
        /// The requested batch size.
        batch_size: usize,
        /// The number of training samples.
        train_size: usize,
    },
    /// `learning_rate` is zero, negative, infinite or NaN.
    #[error("learning rate {0} is invalid: it must be a finite number above 0, e.g. 0.1 (--lr)")]
    LearningRate(f64),
    /// `iters` is 0.
    #[error("0 iterations is invalid: train for at least 1 iteration (--iters)")]
    ZeroIters,
    /// `hidden_size` is 0.
    #[error("hidden layer size 0 is invalid: use at least 1 neuron, e.g. 50 (--hidden)")]
    ZeroHidden,
    /// `weight_init_std` is negative, infinite or NaN.
    #[error("weight_init_std {0} is invalid: it must be a finite number ≥ 0, e.g. 0.01")]
    WeightInitStd(f64),
}

impl TrainConfig {
    /// Checks every value against a training split of `train_size` samples.
    pub fn check(self, train_size: usize) -> Result<CheckedConfig, ConfigError> {
        if self.batch_size == 0 {
            return Err(ConfigError::ZeroBatchSize);
        }
        if self.batch_size > train_size {
            return Err(ConfigError::BatchSizeTooLarge {
                batch_size: self.batch_size,
                train_size,
            });
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(ConfigError::LearningRate(self.learning_rate));
        }
        if self.iters == 0 {
            return Err(ConfigError::ZeroIters);
        }
        if self.hidden_size == 0 {
            return Err(ConfigError::ZeroHidden);
        }
        if !(self.weight_init_std.is_finite() && self.weight_init_std >= 0.0) {
            return Err(ConfigError::WeightInitStd(self.weight_init_std));
        }
        Ok(CheckedConfig {
            iter_per_epoch: (train_size / self.batch_size).max(1),
            config: self,
        })
    }
}

/// A [`TrainConfig`] whose values were checked against the size of the training split.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedConfig {
    config: TrainConfig,
    iter_per_epoch: usize,
}

impl CheckedConfig {
    /// The checked values.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// `max(train_size / batch_size, 1)`: evaluations run when `i % iter_per_epoch == 0`.
    pub fn iter_per_epoch(&self) -> usize {
        self.iter_per_epoch
    }

    /// `ceil(iters / iter_per_epoch)`: the epoch number given to the final evaluation.
    pub fn epochs(&self) -> usize {
        self.config.iters.div_ceil(self.iter_per_epoch)
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
        let checked = TrainConfig::default().check(60_000).unwrap();
        assert_eq!(checked.iter_per_epoch(), 600);
        assert_eq!(checked.epochs(), 17);
    }

    #[test]
    fn iter_per_epoch_is_at_least_one() {
        let checked = with(|c| c.batch_size = 10).check(10).unwrap();
        assert_eq!(checked.iter_per_epoch(), 1);
    }

    #[test]
    fn every_bad_value_has_its_error() {
        let cases = [
            (with(|c| c.batch_size = 0), ConfigError::ZeroBatchSize),
            (
                with(|c| c.batch_size = 101),
                ConfigError::BatchSizeTooLarge {
                    batch_size: 101,
                    train_size: 100,
                },
            ),
            (
                with(|c| c.learning_rate = 0.0),
                ConfigError::LearningRate(0.0),
            ),
            (
                with(|c| c.learning_rate = -0.1),
                ConfigError::LearningRate(-0.1),
            ),
            (
                with(|c| c.learning_rate = f64::INFINITY),
                ConfigError::LearningRate(f64::INFINITY),
            ),
            (with(|c| c.iters = 0), ConfigError::ZeroIters),
            (with(|c| c.hidden_size = 0), ConfigError::ZeroHidden),
            (
                with(|c| c.weight_init_std = -1.0),
                ConfigError::WeightInitStd(-1.0),
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(config.check(100).unwrap_err(), expected);
        }
        let nan = with(|c| c.learning_rate = f64::NAN).check(100).unwrap_err();
        assert!(matches!(nan, ConfigError::LearningRate(lr) if lr.is_nan()));
    }

    #[test]
    fn config_round_trips_through_ron_and_missing_fields_take_defaults() {
        let config = with(|c| c.hidden_size = 7);
        let text = ron::to_string(&config).unwrap();
        assert_eq!(ron::from_str::<TrainConfig>(&text).unwrap(), config);
        let partial: TrainConfig = ron::from_str("(iters: 5, gradient: numerical)").unwrap();
        assert_eq!(
            partial,
            with(|c| {
                c.iters = 5;
                c.gradient = GradientMethod::Numerical;
            })
        );
    }
}
