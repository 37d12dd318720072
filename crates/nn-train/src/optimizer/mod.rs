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

    /// A copy of the state the next update starts from: what a checkpoint keeps so that a
    /// resumed run updates as the uninterrupted one would (see [`OptimizerState`]).
    fn state(&self) -> OptimizerState<T>;

    /// Replaces the state with `state`, saved by [`state`](Self::state) from an optimizer of
    /// the same kind. The matrices' names and shapes are the network's to check (see
    /// [`OptimizerState::check`]).
    ///
    /// # Errors
    /// [`OptimizerError::StateSlots`] if `state` holds other slots than this optimizer's, or
    /// [`OptimizerError::StateUpdates`] an update count where this optimizer keeps none.
    fn load_state(&mut self, state: OptimizerState<T>) -> Result<(), OptimizerError>;
}

/// One matrix of an optimizer's state per parameter, by the parameter's name (the book's
/// `self.v = {key: np.zeros_like(val)}`).
pub type States<T> = BTreeMap<Name, Matrix<T>>;

/// An optimizer's state between two updates: its count of updates (Adam's `t`, from which its
/// bias correction is computed; the other optimizers do not count and keep 0) and its matrices,
/// by slot (`v` for Momentum and Nesterov, `h` for AdaGrad and RMSprop, `m` and `v` for Adam)
/// and by parameter name. Empty before the first update.
///
/// ```
/// use nn_core::{Matrix, Param, Trainable, layers::Kind};
/// use nn_train::{Optimizer, OptimizerSpec};
/// struct One(Matrix<f64>, Matrix<f64>);
/// impl Trainable<f64> for One {
///     fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, f64>)) {
///         f(Param::of(Kind::Weight, &mut self.0, &mut self.1));
///     }
/// }
/// let adam = OptimizerSpec::Adam { lr: 0.1, beta1: 0.9, beta2: 0.999 };
/// let (mut a, mut b) = (adam.build::<f64>(), adam.build::<f64>());
/// let mut w = One(Matrix::from_element(1, 1, 1.0), Matrix::from_element(1, 1, 2.0));
/// a.update(&mut w);
/// let state = a.state();
/// assert_eq!((state.updates, state.slots.len()), (1, 2)); // t = 1, m and v
/// b.load_state(state)?;
/// let mut twin = One(w.0.clone(), w.1.clone());
/// a.update(&mut w);
/// b.update(&mut twin);
/// assert_eq!(w.0, twin.0); // the second update is the same
/// # Ok::<(), nn_train::OptimizerError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerState<T: Float> {
    /// Updates made (Adam's `t`), 0 for the optimizers that do not count them.
    pub updates: u64,
    /// The matrices, by slot name and parameter name.
    pub slots: BTreeMap<String, States<T>>,
}

impl<T: Float> Default for OptimizerState<T> {
    fn default() -> Self {
        Self {
            updates: 0,
            slots: BTreeMap::new(),
        }
    }
}

impl<T: Float> OptimizerState<T> {
    /// The state of an optimizer whose slots are `slots` (name and matrices), omitted while
    /// they are empty (before the first update).
    fn of(updates: u64, slots: &[(&str, &States<T>)]) -> Self {
        Self {
            updates,
            slots: slots
                .iter()
                .filter(|(_, states)| !states.is_empty())
                .map(|(name, states)| ((*name).to_owned(), (*states).clone()))
                .collect(),
        }
    }

    /// [`OptimizerState::take`] for an optimizer that counts no updates (all but Adam): a state
    /// that counted some is refused.
    fn take_uncounted<const N: usize>(
        mut self,
        names: [&'static str; N],
    ) -> Result<[States<T>; N], OptimizerError> {
        if self.updates != 0 {
            return Err(OptimizerError::StateUpdates(self.updates));
        }
        self.take(names)
    }

    /// Takes the slots `names` out of the state, each empty when absent, refusing any other.
    fn take<const N: usize>(
        &mut self,
        names: [&'static str; N],
    ) -> Result<[States<T>; N], OptimizerError> {
        let known = self.slots.keys().all(|k| names.contains(&k.as_str()));
        // Every slot fills on the first update: all of them or none.
        let whole = self.slots.is_empty() || self.slots.len() == names.len();
        if !known || !whole {
            return Err(OptimizerError::StateSlots {
                expected: names.join(" "),
                found: self.slots.keys().cloned().collect::<Vec<_>>().join(" "),
            });
        }
        Ok(names.map(|n| self.slots.remove(n).unwrap_or_default()))
    }

    /// Checks the state against the parameters of the network it updates: every slot holds
    /// exactly one matrix per parameter, of its shape, with finite values.
    ///
    /// # Errors
    /// [`OptimizerError::StateMatrix`], naming the slot and the parameter.
    pub fn check(&self, params: &mut dyn Trainable<T>) -> Result<(), OptimizerError> {
        let mut shapes = BTreeMap::new();
        params.visit_params(&mut |p| {
            shapes.insert(p.name, p.value.shape());
        });
        for (slot, states) in &self.slots {
            let problem = |name: String, problem: String| OptimizerError::StateMatrix {
                slot: slot.clone(),
                name,
                problem,
            };
            if let Some(name) = shapes.keys().find(|n| !states.contains_key(*n)) {
                return Err(problem(name.to_string(), "is missing".to_owned()));
            }
            for (name, m) in states {
                let Some(&(rows, cols)) = shapes.get(name) else {
                    return Err(problem(
                        name.to_string(),
                        "is not a parameter of the network".to_owned(),
                    ));
                };
                if m.shape() != (rows, cols) {
                    return Err(problem(
                        name.to_string(),
                        format!(
                            "is {}x{} where the parameter is {rows}x{cols}",
                            m.nrows(),
                            m.ncols()
                        ),
                    ));
                }
                if m.iter().any(|v| !v.is_finite()) {
                    return Err(problem(
                        name.to_string(),
                        "holds a non-finite value".to_owned(),
                    ));
                }
            }
        }
        Ok(())
    }
}

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

/// A hyper-parameter of an [`OptimizerSpec`] that makes no sense, or a saved state that does
/// not fit the optimizer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptimizerError {
    /// A saved state holds other slots than the optimizer's.
    #[error(
        "the optimizer's state holds {found:?} where this optimizer keeps {expected:?}: it was saved by another optimizer"
    )]
    StateSlots {
        /// The optimizer's slots, e.g. `m v`.
        expected: String,
        /// The slots of the state.
        found: String,
    },
    /// A saved state counts updates for an optimizer that does not count them.
    #[error(
        "the optimizer's state counts {0} updates but this optimizer counts none: it was saved by another optimizer"
    )]
    StateUpdates(u64),
    /// A matrix of a saved state does not fit the network.
    #[error(
        "the optimizer's {slot} of {name} {problem}: the state does not belong to this network"
    )]
    StateMatrix {
        /// `v`, `h`, `m`.
        slot: String,
        /// The parameter, e.g. `W1`.
        name: String,
        /// What is wrong.
        problem: String,
    },
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
