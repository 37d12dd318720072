//! The layers of chapters 5 to 7 (`common/layers.py` in the book), each with a `forward` and a
//! `backward` pass.
//!
//! Matrix layers implement [`Layer`], the book's two methods: `forward(x)` returns the output,
//! `backward(x, dout, want_dx)` takes `∂L/∂out` and returns `∂L/∂x`. The book's layers keep a
//! reference to their input (`self.x = x`); in Rust the caller keeps `x` and hands it back to
//! `backward`, so no layer copies its input. Every layer owns its output and gradient buffers:
//! they are sized on the first call and reused while the batch size stays the same, so a
//! training iteration allocates nothing. Batches are `(features, batch)`, one sample per column.
//!
//! | book (`common/layers.py`) | here                                   | file              |
//! |---------------------------|----------------------------------------|-------------------|
//! | `MulLayer`, `AddLayer`    | [`MulLayer`], [`AddLayer`] (§5.4)      | `scalar.rs`       |
//! | `Relu`, `Sigmoid`         | [`Relu`], [`Sigmoid`] (§5.5)           | `activation.rs`   |
//! | `Affine`                  | [`Affine`] (§5.6.2)                    | `affine.rs`       |
//! | `SoftmaxWithLoss`         | [`SoftmaxWithLoss`] (§5.6.3)           | `softmax_with_loss.rs` |
//! | `BatchNormalization`      | [`BatchNorm`] (§6.3)                   | `batch_norm.rs`   |
//! | `Dropout`                 | [`Dropout`] (§6.4.3)                   | `dropout.rs`      |
//! | `Convolution`             | [`Convolution`] (§7.4.3)               | `convolution.rs`  |
//! | `Pooling`                 | [`Pooling`] (§7.4.4)                   | `pooling.rs`      |
//!
//! `Convolution` and `Pooling` take batches of samples of several channels, each column in C, H,
//! W order (the memory of NumPy's `(N, C, H, W)`); `im2col` and `col2im` (the book's
//! `common/util.py`) are in [`crate::im2col`]. Their loops, and how a batch is shared between two
//! cores with the same bits, are in the [`nn_kernels`] crate beneath.
//!
//! The book passes `train_flg` to the forward pass of `Dropout` and `BatchNormalization`; here
//! a layer keeps its mode, set by [`Layer::set_training`] (a network sets it in its `loss`,
//! training, and its `predict`, inference).

mod activation;
mod affine;
mod batch_norm;
mod convolution;
mod dropout;
mod pooling;
mod scalar;
mod softmax_with_loss;

use std::fmt;
use std::str::FromStr;

pub use activation::{Relu, Sigmoid};
pub use affine::Affine;
pub use batch_norm::BatchNorm;
pub use convolution::{Convolution, ConvolutionError};
pub use dropout::Dropout;
pub use pooling::Pooling;
pub use scalar::{AddLayer, MulLayer};
pub use softmax_with_loss::SoftmaxWithLoss;

use crate::{Float, Matrix};

pub(crate) use nn_kernels::ensure_shape;

/// What a named matrix of a network is: a trained parameter (`W`, `b`, `gamma`, `beta`) or
/// model state that training updates without a gradient (batch norm's running statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Weights `W` of an affine or convolution layer: the only kind weight decay applies to.
    Weight,
    /// Bias `b` of an affine or convolution layer.
    Bias,
    /// Batch norm's scale `gamma`.
    Gamma,
    /// Batch norm's shift `beta`.
    Beta,
    /// Batch norm's running mean (state, not trained).
    RunningMean,
    /// Batch norm's running variance (state, not trained).
    RunningVar,
}

impl Kind {
    /// Every kind, in the order of their prefixes' declaration.
    pub const ALL: [Kind; 6] = [
        Kind::Weight,
        Kind::Bias,
        Kind::Gamma,
        Kind::Beta,
        Kind::RunningMean,
        Kind::RunningVar,
    ];

    /// The book's name without the number: `W`, `b`, `gamma`, `beta`, `running_mean`,
    /// `running_var`.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Weight => "W",
            Kind::Bias => "b",
            Kind::Gamma => "gamma",
            Kind::Beta => "beta",
            Kind::RunningMean => "running_mean",
            Kind::RunningVar => "running_var",
        }
    }

    /// Whether training updates it through a gradient (everything but the running statistics).
    pub fn is_trained(self) -> bool {
        !matches!(self, Kind::RunningMean | Kind::RunningVar)
    }
}

/// The name of a parameter or a state matrix, as the book numbers them: `W1`, `b1`, `W2`…
/// count the affine and convolution layers, `gamma1`, `beta1`… the batch-norm layers. A layer
/// on its own names its matrices without a number (`W`, `b`).
///
/// ```
/// use nn_core::layers::{Kind, Name};
/// let w2 = Name { kind: Kind::Weight, index: Some(2) };
/// assert_eq!(w2.to_string(), "W2");
/// assert_eq!("W2".parse::<Name>(), Ok(w2));
/// assert_eq!("running_var1".parse::<Name>().unwrap().kind, Kind::RunningVar);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name {
    /// What the matrix is.
    pub kind: Kind,
    /// Its number in the network (1-based), `None` inside a lone layer.
    pub index: Option<usize>,
}

impl Name {
    /// The name of a lone layer's matrix: `W`, `b`...
    pub const fn of(kind: Kind) -> Self {
        Name { kind, index: None }
    }

    /// The same matrix numbered `index` in a network.
    pub const fn numbered(self, index: usize) -> Self {
        Name {
            kind: self.kind,
            index: Some(index),
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.prefix())?;
        match self.index {
            Some(i) => write!(f, "{i}"),
            None => Ok(()),
        }
    }
}

/// A string that is not a parameter or state name such as `W1`, `b`, `gamma2`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a parameter name: expected W, b, gamma, beta, running_mean or running_var \
     followed by a layer number, e.g. W1"
)]
pub struct ParseNameError(pub String);

impl FromStr for Name {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The longest prefix first: `b` is a prefix of `beta`.
        let mut kinds = Kind::ALL;
        kinds.sort_by_key(|k| std::cmp::Reverse(k.prefix().len()));
        for kind in kinds {
            if let Some(rest) = s.strip_prefix(kind.prefix()) {
                if rest.is_empty() {
                    return Ok(Name::of(kind));
                }
                if rest.bytes().all(|b| b.is_ascii_digit()) && !rest.starts_with('0') {
                    let index = rest.parse().map_err(|_| ParseNameError(s.to_owned()))?;
                    return Ok(Name::of(kind).numbered(index));
                }
            }
        }
        Err(ParseNameError(s.to_owned()))
    }
}

/// A parameter and its gradient, as [`Layer::visit_params`] and
/// [`Trainable::visit_params`](crate::Trainable::visit_params) hand them to an optimizer (the
/// book's `params[key]` and `grads[key]`).
#[derive(Debug)]
pub struct Param<'a, T> {
    /// Stable name: `W`/`b` inside a layer, `W1`, `b1`, `gamma1`… in a network.
    pub name: Name,
    /// The value, to update in place.
    pub value: &'a mut Matrix<T>,
    /// `∂L/∂value` from the last backward pass, same shape as `value` (a network adds weight
    /// decay's term to it; an optimizer only reads it).
    pub grad: &'a mut Matrix<T>,
}

impl<'a, T> Param<'a, T> {
    /// The parameter of kind `kind` inside a layer (named `W`, `b`, `gamma`…), its value and
    /// gradient.
    pub fn of(kind: Kind, value: &'a mut Matrix<T>, grad: &'a mut Matrix<T>) -> Self {
        Param {
            name: Name::of(kind),
            value,
            grad,
        }
    }
}

/// A matrix of model state: kept with the parameters in a model file, but updated by the
/// forward pass rather than by an optimizer (batch norm's running mean and variance).
#[derive(Debug)]
pub struct State<'a, T> {
    /// `running_mean1`, `running_var1`...
    pub name: Name,
    /// The value.
    pub value: &'a mut Matrix<T>,
}

/// A layer of a network: forward and backward passes over a batch (§5.4), the book's two
/// methods.
///
/// ```
/// use nn_core::{Matrix, layers::{Layer, Relu}};
/// let mut relu = Relu::new();
/// let x = Matrix::from_column_slice(2, 1, &[-1.0_f64, 2.0]);
/// assert_eq!(relu.forward(&x).as_slice(), &[0.0, 2.0]);
/// let dout = Matrix::from_column_slice(2, 1, &[5.0, 5.0]);
/// let dx = relu.backward(&x, &dout, true).unwrap();
/// assert_eq!(dx.as_slice(), &[0.0, 5.0]);
/// ```
pub trait Layer<T: Float> {
    /// Forward pass: returns the output for the batch `x` and remembers what `backward` needs.
    /// The caller keeps `x` unchanged until the matching [`backward`](Layer::backward), which it
    /// hands the same `x` (inside a network, `x` is the output of the layer before).
    fn forward(&mut self, x: &Matrix<T>) -> &Matrix<T>;

    /// Backward pass: takes the `x` of the last forward pass and `dout = ∂L/∂out`, stores the
    /// gradients of the layer's parameters and, when `want_dx`, returns `dx = ∂L/∂x`. A
    /// network's first layer asks for no `dx`: nobody needs the gradient with respect to the
    /// images, and skipping it saves a third of an affine layer's work.
    fn backward(&mut self, x: &Matrix<T>, dout: &Matrix<T>, want_dx: bool) -> Option<&Matrix<T>>;

    /// The output of the last forward pass (empty before the first one): what the layer after
    /// it received, and hands back to this layer's successor's `backward` as its `x`.
    fn output(&self) -> &Matrix<T>;

    /// Calls `f` on each parameter with its gradient. Layers without parameters do nothing.
    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, T>)) {
        let _ = f;
    }

    /// Calls `f` on each matrix of model state (batch norm's running statistics).
    fn visit_state(&mut self, f: &mut dyn FnMut(State<'_, T>)) {
        let _ = f;
    }

    /// Switches between training (`true`, the default) and inference: the book's `train_flg`.
    /// Only [`BatchNorm`] and [`Dropout`] behave differently.
    fn set_training(&mut self, training: bool) {
        let _ = training;
    }

    /// Calls `f` on each counter of the layer's random draws: [`Dropout`]'s training step, from
    /// which its next mask is drawn. Not part of a model (model files do not keep it), but of a
    /// run: a checkpoint keeps it, so that a resumed run draws the masks it would have drawn.
    /// Layers without randomness do nothing.
    fn visit_steps(&mut self, f: &mut dyn FnMut(&mut u64)) {
        let _ = f;
    }
}

/// Calls `f` with each parameter of `layer`, numbered `index` (`W` becomes `W2`).
pub(crate) fn visit_numbered<T: Float>(
    layer: &mut dyn Layer<T>,
    index: usize,
    f: &mut dyn FnMut(Param<'_, T>),
) {
    layer.visit_params(&mut |p| {
        f(Param {
            name: p.name.numbered(index),
            ..p
        })
    });
}

/// Calls `f` with each state matrix of `layer`, numbered `index`.
pub(crate) fn visit_state_numbered<T: Float>(
    layer: &mut dyn Layer<T>,
    index: usize,
    f: &mut dyn FnMut(State<'_, T>),
) {
    layer.visit_state(&mut |s| {
        f(State {
            name: s.name.numbered(index),
            ..s
        })
    });
}

/// The sum of each row of `m` into the column `out` (the book's `np.sum(dout, axis=0)`):
/// columns are contiguous, so the sums run down each column in turn.
pub(crate) fn row_sums_into<T: Float>(m: &Matrix<T>, out: &mut Matrix<T>) {
    ensure_shape(out, m.nrows(), 1);
    out.fill(T::zero());
    for col in m.column_iter() {
        *out += col;
    }
}
