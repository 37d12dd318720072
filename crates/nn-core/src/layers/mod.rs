//! The layers of chapters 5 to 7 (`common/layers.py` in the book), each with a `forward` and a
//! `backward` pass.
//!
//! Matrix layers implement [`Layer`]: `forward(x)` returns the output, `backward(dout)` takes
//! `∂L/∂out` and returns `∂L/∂x`. Every layer owns its output and gradient buffers: they are
//! sized on the first call and reused while the batch size stays the same, so a training
//! iteration allocates nothing. Batches are `(features, batch)`, one sample per column.
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
//! `common/util.py`) are in [`crate::im2col`]. Large batches are shared between two cores by
//! halves of samples (`samples.rs`), a cut that depends on the batch's shape only.
//!
//! The book passes `train_flg` to the forward pass of `Dropout` and `BatchNormalization`; here
//! a layer keeps its mode, set by [`Layer::set_training`] (a network sets it in its `loss`,
//! training, and its `predict`, inference).

mod activation;
mod affine;
mod batch_norm;
mod convolution;
mod direct;
mod dropout;
mod kernels;
mod pooling;
mod samples;
mod scalar;
mod softmax_with_loss;

use std::fmt;
use std::str::FromStr;

pub use activation::{Relu, Sigmoid};
pub use affine::Affine;
pub use batch_norm::BatchNorm;
pub use convolution::Convolution;
pub use dropout::Dropout;
pub use pooling::Pooling;
pub use scalar::{AddLayer, MulLayer};
pub use softmax_with_loss::SoftmaxWithLoss;

use crate::{Float, Matrix};

/// Makes `m` a `rows × cols` matrix, reallocating only when the shape changes.
pub(crate) fn ensure_shape<T: Float>(m: &mut Matrix<T>, rows: usize, cols: usize) {
    if m.shape() != (rows, cols) {
        *m = Matrix::zeros(rows, cols);
    }
}

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
/// [`Parameters::visit_params`](crate::Parameters::visit_params) hand them to an optimizer.
#[derive(Debug)]
pub struct Param<'a, T> {
    /// Stable name: `W`/`b` inside a layer, `W1`, `b1`, `gamma1`… in a network.
    pub name: Name,
    /// The value, to update in place.
    pub value: &'a mut Matrix<T>,
    /// `∂L/∂value` from the last backward pass, same shape as `value`.
    pub grad: &'a Matrix<T>,
}

impl<'a, T> Param<'a, T> {
    /// The parameter of kind `kind` inside a layer (named `W`, `b`, `gamma`…), its value and
    /// gradient.
    pub fn of(kind: Kind, value: &'a mut Matrix<T>, grad: &'a Matrix<T>) -> Self {
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

/// A layer of a network: forward and backward passes over a batch (§5.4).
pub trait Layer<T: Float> {
    /// Forward pass: returns the output for the batch `x` and remembers what `backward` needs.
    fn forward(&mut self, x: &Matrix<T>) -> &Matrix<T>;

    /// Backward pass: takes `dout = ∂L/∂out` of the last forward pass, stores the gradients of
    /// the layer's parameters and returns `dx = ∂L/∂x`.
    fn backward(&mut self, dout: &Matrix<T>) -> &Matrix<T>;

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

    /// The forward pass of a network's first layer, whose caller keeps the input batch until
    /// the backward pass: a layer may skip its own copy of `x` (see
    /// [`backward_input`](Layer::backward_input)).
    fn forward_input(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        self.forward(x)
    }

    /// The backward pass of a network's first layer: the parameters' gradients only, from the
    /// same `x` as the last [`forward_input`](Layer::forward_input). Nobody needs the gradient
    /// with respect to the input images, and skipping it saves a third of an affine layer's work.
    fn backward_input(&mut self, x: &Matrix<T>, dout: &Matrix<T>) {
        let _ = x;
        self.backward(dout);
    }

    /// The forward pass of a layer whose caller keeps `x` unchanged until the matching
    /// [`backward_kept`](Layer::backward_kept) (inside a network, `x` is the output of the layer
    /// before): a layer may skip its own copy of `x`, as [`forward_input`](Layer::forward_input).
    fn forward_kept(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        self.forward(x)
    }

    /// The backward pass after [`forward_kept`](Layer::forward_kept), given the same `x`:
    /// returns `dx` as [`backward`](Layer::backward) does.
    fn backward_kept(&mut self, x: &Matrix<T>, dout: &Matrix<T>) -> &Matrix<T> {
        let _ = x;
        self.backward(dout)
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
