//! Parameter updates (§6.1, the book's `common/optimizer.py`): the [`Optimizer`] trait, the
//! six optimizers of the book, and [`OptimizerSpec`], their settings as data.
//!
//! | book        | here         | update (per value, `g` the gradient)                               |
//! |-------------|--------------|--------------------------------------------------------------------|
//! | `SGD`       | [`Sgd`]      | `W ← W − lr·g`                                                      |
//! | `Momentum`  | [`Momentum`] | `v ← m·v − lr·g`, `W ← W + v`                                       |
//! | `Nesterov`  | [`Nesterov`] | `W ← W + m²·v − (1 + m)·lr·g`, then `v ← m·v − lr·g` (the book's 2021 fix) |
//! | `AdaGrad`   | [`AdaGrad`]  | `h ← h + g²`, `W ← W − lr·g / (√h + 1e-7)`                          |
//! | `RMSprop`   | [`RmsProp`]  | `h ← ρ·h + (1 − ρ)·g²`, `W ← W − lr·g / (√h + 1e-7)`               |
//! | `Adam`      | [`Adam`]     | `m ← m + (1 − β₁)(g − m)`, `v ← v + (1 − β₂)(g² − v)`, `W ← W − lr_t·m / (√v + 1e-7)` with `lr_t = lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ)` |
//!
//! Each optimizer with state (velocities, sums of squares, moments) keeps one matrix per
//! parameter under the parameter's name, as the book's `self.v[key]`: allocated on its first
//! update, found again by name at every later one.

mod adagrad;
mod adam;
mod momentum;
mod nesterov;
mod rmsprop;
mod sgd;

use std::collections::BTreeMap;
use std::fmt;

use nn_core::layers::Name;
use nn_core::{Float, Matrix, Trainable};
use serde::{Deserialize, Serialize};

pub use adagrad::AdaGrad;
pub use adam::Adam;
pub use momentum::Momentum;
pub use nesterov::Nesterov;
pub use rmsprop::RmsProp;
pub use sgd::Sgd;

/// Updates parameters from their gradients, once per iteration (the book's
/// `optimizer.update(params, grads)`).
pub trait Optimizer<T: Float>: Send {
    /// Applies one update to every parameter, from the gradient stored beside it.
    fn update(&mut self, params: &mut dyn Trainable<T>);
}

/// One matrix of an optimizer's state per parameter, by the parameter's name (the book's
/// `self.v = {key: np.zeros_like(val)}`).
type States<T> = BTreeMap<Name, Matrix<T>>;

/// The optimizer's state matrix for the parameter `name`, zero on first use (the book's
/// `self.v[key]`).
///
/// # Panics
/// If the parameter changed shape between updates: optimizers are made for one network.
fn state<'a, T: Float>(
    states: &'a mut States<T>,
    name: Name,
    param: &Matrix<T>,
) -> &'a mut Matrix<T> {
    let state = states
        .entry(name)
        .or_insert_with(|| Matrix::zeros(param.nrows(), param.ncols()));
    assert_eq!(
        state.shape(),
        param.shape(),
        "parameter {name} changed shape between two updates"
    );
    state
}

/// The book's `1e-7`, which keeps AdaGrad, RMSprop and Adam from dividing by zero.
const EPSILON: f64 = 1e-7;

fn default_momentum() -> f64 {
    0.9
}

fn default_decay_rate() -> f64 {
    0.99
}

fn default_beta1() -> f64 {
    0.9
}

fn default_beta2() -> f64 {
    0.999
}

/// An optimizer and its hyper-parameters, as data (a config file's `optimizer: Adam(lr: 0.001)`).
/// Fields left out take the book's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum OptimizerSpec {
    /// [`Sgd`].
    Sgd {
        /// Learning rate.
        lr: f64,
    },
    /// [`Momentum`].
    Momentum {
        /// Learning rate.
        lr: f64,
        /// Momentum (book: 0.9).
        #[serde(default = "default_momentum")]
        momentum: f64,
    },
    /// [`Nesterov`].
    Nesterov {
        /// Learning rate.
        lr: f64,
        /// Momentum (book: 0.9).
        #[serde(default = "default_momentum")]
        momentum: f64,
    },
    /// [`AdaGrad`].
    AdaGrad {
        /// Learning rate.
        lr: f64,
    },
    /// [`RmsProp`].
    RmsProp {
        /// Learning rate.
        lr: f64,
        /// Decay of the mean of squares (book: 0.99).
        #[serde(default = "default_decay_rate")]
        decay_rate: f64,
    },
    /// [`Adam`].
    Adam {
        /// Learning rate.
        lr: f64,
        /// Decay of the first moment (book: 0.9).
        #[serde(default = "default_beta1")]
        beta1: f64,
        /// Decay of the second moment (book: 0.999).
        #[serde(default = "default_beta2")]
        beta2: f64,
    },
}

/// The name of an optimizer, to choose one before its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptimizerKind {
    /// [`Sgd`].
    Sgd,
    /// [`Momentum`].
    Momentum,
    /// [`Nesterov`].
    Nesterov,
    /// [`AdaGrad`].
    AdaGrad,
    /// [`RmsProp`].
    RmsProp,
    /// [`Adam`].
    Adam,
}

impl OptimizerKind {
    /// Every optimizer, in the book's order.
    pub const ALL: [OptimizerKind; 6] = [
        OptimizerKind::Sgd,
        OptimizerKind::Momentum,
        OptimizerKind::Nesterov,
        OptimizerKind::AdaGrad,
        OptimizerKind::RmsProp,
        OptimizerKind::Adam,
    ];

    /// The learning rate of the book's class (`SGD(lr=0.01)`, `Momentum(lr=0.01)`…,
    /// `Adam(lr=0.001)`): what the chapter-6 scripts get when they build an optimizer without
    /// one (`optimizer_compare_mnist.py`).
    ///
    /// ```
    /// use nn_train::OptimizerKind;
    /// assert_eq!(OptimizerKind::Sgd.class_lr(), 0.01);
    /// assert_eq!(OptimizerKind::Adam.class_lr(), 0.001);
    /// ```
    pub fn class_lr(self) -> f64 {
        match self {
            OptimizerKind::Adam => 0.001,
            _ => 0.01,
        }
    }

    /// The learning rate a training run uses when none is given: 0.1 for SGD, as the book's
    /// chapter-4 script `train_neuralnet.py` trains, the [`class_lr`](Self::class_lr) for the
    /// others (the CNN scripts' Adam is 0.001). With `class_lr`, the one place where learning
    /// rates are decided.
    ///
    /// ```
    /// use nn_train::OptimizerKind;
    /// assert_eq!(OptimizerKind::Sgd.default_lr(), 0.1);
    /// assert_eq!(OptimizerKind::Momentum.default_lr(), 0.01);
    /// assert_eq!(OptimizerKind::Adam.default_lr(), 0.001);
    /// ```
    pub fn default_lr(self) -> f64 {
        match self {
            OptimizerKind::Sgd => 0.1,
            kind => kind.class_lr(),
        }
    }

    /// This optimizer with its [`default_lr`](Self::default_lr) and the book's other defaults.
    pub fn with_default_lr(self) -> OptimizerSpec {
        self.with_lr(self.default_lr())
    }

    /// This optimizer with learning rate `lr` and the book's other defaults.
    ///
    /// ```
    /// use nn_train::{OptimizerKind, OptimizerSpec};
    /// assert_eq!(
    ///     OptimizerKind::Adam.with_lr(0.002),
    ///     OptimizerSpec::Adam { lr: 0.002, beta1: 0.9, beta2: 0.999 }
    /// );
    /// ```
    pub fn with_lr(self, lr: f64) -> OptimizerSpec {
        match self {
            OptimizerKind::Sgd => OptimizerSpec::Sgd { lr },
            OptimizerKind::Momentum => OptimizerSpec::Momentum {
                lr,
                momentum: default_momentum(),
            },
            OptimizerKind::Nesterov => OptimizerSpec::Nesterov {
                lr,
                momentum: default_momentum(),
            },
            OptimizerKind::AdaGrad => OptimizerSpec::AdaGrad { lr },
            OptimizerKind::RmsProp => OptimizerSpec::RmsProp {
                lr,
                decay_rate: default_decay_rate(),
            },
            OptimizerKind::Adam => OptimizerSpec::Adam {
                lr,
                beta1: default_beta1(),
                beta2: default_beta2(),
            },
        }
    }

    /// The book's class name: `SGD`, `Momentum`, `Nesterov`, `AdaGrad`, `RMSprop`, `Adam`.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "SGD",
            OptimizerKind::Momentum => "Momentum",
            OptimizerKind::Nesterov => "Nesterov",
            OptimizerKind::AdaGrad => "AdaGrad",
            OptimizerKind::RmsProp => "RMSprop",
            OptimizerKind::Adam => "Adam",
        }
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A hyper-parameter of an [`OptimizerSpec`] that makes no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptimizerError {
    /// The learning rate is not a positive finite number.
    #[error("learning rate {0} is invalid: it must be a finite number above 0, e.g. 0.01 (--lr)")]
    LearningRate(f64),
    /// A decay rate or momentum is outside `[0, 1)`.
    #[error("{name} {value} is invalid: it must be at least 0 and below 1 (the book uses {book})")]
    Rate {
        /// `momentum`, `decay_rate`, `beta1` or `beta2`.
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// The book's value.
        book: f64,
    },
}

impl OptimizerSpec {
    /// Which optimizer this is.
    pub fn kind(&self) -> OptimizerKind {
        match self {
            OptimizerSpec::Sgd { .. } => OptimizerKind::Sgd,
            OptimizerSpec::Momentum { .. } => OptimizerKind::Momentum,
            OptimizerSpec::Nesterov { .. } => OptimizerKind::Nesterov,
            OptimizerSpec::AdaGrad { .. } => OptimizerKind::AdaGrad,
            OptimizerSpec::RmsProp { .. } => OptimizerKind::RmsProp,
            OptimizerSpec::Adam { .. } => OptimizerKind::Adam,
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match *self {
            OptimizerSpec::Sgd { lr }
            | OptimizerSpec::Momentum { lr, .. }
            | OptimizerSpec::Nesterov { lr, .. }
            | OptimizerSpec::AdaGrad { lr }
            | OptimizerSpec::RmsProp { lr, .. }
            | OptimizerSpec::Adam { lr, .. } => lr,
        }
    }

    /// Sets the learning rate, keeping the other hyper-parameters.
    pub fn set_lr(&mut self, new: f64) {
        match self {
            OptimizerSpec::Sgd { lr }
            | OptimizerSpec::Momentum { lr, .. }
            | OptimizerSpec::Nesterov { lr, .. }
            | OptimizerSpec::AdaGrad { lr }
            | OptimizerSpec::RmsProp { lr, .. }
            | OptimizerSpec::Adam { lr, .. } => *lr = new,
        }
    }

    /// Checks the learning rate (finite, above 0) and the rates (in `[0, 1)`).
    pub fn check(&self) -> Result<(), OptimizerError> {
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(OptimizerError::LearningRate(lr));
        }
        let rates: &[(&'static str, f64, f64)] = match *self {
            OptimizerSpec::Momentum { momentum, .. } | OptimizerSpec::Nesterov { momentum, .. } => {
                &[("momentum", momentum, default_momentum())]
            }
            OptimizerSpec::RmsProp { decay_rate, .. } => {
                &[("decay_rate", decay_rate, default_decay_rate())]
            }
            OptimizerSpec::Adam { beta1, beta2, .. } => &[
                ("beta1", beta1, default_beta1()),
                ("beta2", beta2, default_beta2()),
            ],
            OptimizerSpec::Sgd { .. } | OptimizerSpec::AdaGrad { .. } => &[],
        };
        for &(name, value, book) in rates {
            if !(0.0..1.0).contains(&value) {
                return Err(OptimizerError::Rate { name, value, book });
            }
        }
        Ok(())
    }

    /// The optimizer, with its hyper-parameters rounded to `T`.
    pub fn build<T: Float>(&self) -> Box<dyn Optimizer<T>> {
        let t = T::of_f64;
        match *self {
            OptimizerSpec::Sgd { lr } => Box::new(Sgd::new(t(lr))),
            OptimizerSpec::Momentum { lr, momentum } => Box::new(Momentum::new(t(lr), t(momentum))),
            OptimizerSpec::Nesterov { lr, momentum } => Box::new(Nesterov::new(t(lr), t(momentum))),
            OptimizerSpec::AdaGrad { lr } => Box::new(AdaGrad::new(t(lr))),
            OptimizerSpec::RmsProp { lr, decay_rate } => {
                Box::new(RmsProp::new(t(lr), t(decay_rate)))
            }
            OptimizerSpec::Adam { lr, beta1, beta2 } => Box::new(Adam::new(lr, beta1, beta2)),
        }
    }
}

impl fmt::Display for OptimizerSpec {
    /// `Adam(lr 0.001)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(lr {})", self.kind(), self.lr())
    }
}
