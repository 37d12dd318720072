//! The two-layer network of chapters 4 and 5 (`two_layer_net.py`): Affine → Sigmoid or ReLU →
//! Affine → SoftmaxWithLoss.

use std::fmt;
use std::str::FromStr;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use nn_kernels::numerical::{FastNumericalGradient, Hidden as FastHidden};

use crate::functions::{relu, sigmoid, sigmoid_grad, softmax, step};
use crate::gradient::numerical_gradient;
use crate::init::gaussian;
use crate::layers::{Affine, Layer, Param, Relu, Sigmoid, SoftmaxWithLoss, visit_numbered};
use crate::spec::{LayerSpec, NetSpec, Shape};
use crate::{Float, Init, Matrix, Model, Targets, Trainable};

/// The activation of the hidden layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `σ(x) = 1 / (1 + exp(−x))`, the book's choice in chapters 4 and 5.
    #[default]
    Sigmoid,
    /// `max(0, x)`.
    Relu,
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Relu => "relu",
        })
    }
}

/// An activation name that is neither `sigmoid` nor `relu`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown activation {0:?}: use \"sigmoid\" or \"relu\"")]
pub struct ParseActivationError(pub String);

impl FromStr for Activation {
    type Err = ParseActivationError;

    /// Parses `sigmoid` or `relu`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sigmoid" => Ok(Activation::Sigmoid),
            "relu" => Ok(Activation::Relu),
            _ => Err(ParseActivationError(s.to_owned())),
        }
    }
}

/// The sizes and initialisation of a [`TwoLayerNet`] (the arguments of the book's `__init__`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TwoLayerConfig {
    /// Inputs per sample (784 for MNIST).
    pub input_size: usize,
    /// Neurons of the hidden layer (the book uses 50).
    pub hidden_size: usize,
    /// Classes (10 for MNIST).
    pub output_size: usize,
    /// Activation of the hidden layer.
    pub activation: Activation,
    /// Standard deviation of the initial weights (the book's `weight_init_std = 0.01`).
    pub weight_init_std: f64,
}

impl Default for TwoLayerConfig {
    /// The book's MNIST network: 784-50-10, sigmoid, `weight_init_std = 0.01`.
    fn default() -> Self {
        TwoLayerConfig {
            input_size: 784,
            hidden_size: 50,
            output_size: 10,
            activation: Activation::Sigmoid,
            weight_init_std: 0.01,
        }
    }
}

impl fmt::Display for TwoLayerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{} {}",
            self.input_size, self.hidden_size, self.output_size, self.activation
        )
    }
}

/// A [`TwoLayerConfig`] that cannot describe a network.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TwoLayerConfigError {
    /// A layer size is zero.
    #[error("{field} is 0: every layer needs at least one neuron")]
    ZeroSize {
        /// `input_size`, `hidden_size` or `output_size`.
        field: &'static str,
    },
    /// The standard deviation of the initial weights is negative or not finite.
    #[error("weight_init_std is {value}: it must be a finite number ≥ 0 (the book uses 0.01)")]
    InitStd {
        /// The rejected value.
        value: f64,
    },
}

impl TwoLayerConfig {
    /// Checks that every size is at least 1 and that `weight_init_std` is finite and `≥ 0`.
    pub fn validate(&self) -> Result<(), TwoLayerConfigError> {
        for (field, size) in [
            ("input_size", self.input_size),
            ("hidden_size", self.hidden_size),
            ("output_size", self.output_size),
        ] {
            if size == 0 {
                return Err(TwoLayerConfigError::ZeroSize { field });
            }
        }
        if !(self.weight_init_std.is_finite() && self.weight_init_std >= 0.0) {
            return Err(TwoLayerConfigError::InitStd {
                value: self.weight_init_std,
            });
        }
        Ok(())
    }

    /// The same network as a layer stack: `Affine(hidden) → Sigmoid or Relu → Affine(output)`
    /// on flat inputs, weights of std `weight_init_std`. A [`Sequential`](crate::Sequential)
    /// built from it with the same seed starts from the same weights and computes the same
    /// values, bit for bit.
    pub fn spec(&self) -> NetSpec {
        NetSpec {
            input: Shape::flat(self.input_size),
            layers: vec![
                LayerSpec::Affine {
                    out: self.hidden_size,
                },
                match self.activation {
                    Activation::Sigmoid => LayerSpec::Sigmoid,
                    Activation::Relu => LayerSpec::Relu,
                },
                LayerSpec::Affine {
                    out: self.output_size,
                },
            ],
            init: Init::Std(self.weight_init_std),
            weight_decay: 0.0,
        }
    }
}

/// The four parameters of a [`TwoLayerNet`] (the book's `params` dictionary), or their
/// gradients (see [`Gradients`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TwoLayerParams<T: Float> {
    /// First-layer weights, `(input_size, hidden_size)`.
    pub w1: Matrix<T>,
    /// First-layer bias, `(hidden_size, 1)`.
    pub b1: Matrix<T>,
    /// Second-layer weights, `(hidden_size, output_size)`.
    pub w2: Matrix<T>,
    /// Second-layer bias, `(output_size, 1)`.
    pub b2: Matrix<T>,
}

/// The gradients of the loss with respect to each parameter, in the parameters' shapes (the
/// book's `grads` dictionary).
pub type TwoLayerGradients<T> = TwoLayerParams<T>;

impl<T: Float> TwoLayerParams<T> {
    /// `(name, matrix)` pairs in the fixed order `W1`, `b1`, `W2`, `b2`.
    pub fn named(&self) -> [(&'static str, &Matrix<T>); 4] {
        [
            ("W1", &self.w1),
            ("b1", &self.b1),
            ("W2", &self.w2),
            ("b2", &self.b2),
        ]
    }

    /// For each parameter, the mean of `|self − other|` over its entries: the book's gradient
    /// check (§5.7.3) prints exactly this.
    ///
    /// # Panics
    /// If a parameter's shapes differ.
    pub fn mean_abs_diff(&self, other: &Self) -> [(&'static str, f64); 4] {
        self.diff_by(other, |d| d.iter().sum::<f64>() / d.len().max(1) as f64)
    }

    /// For each parameter, the largest `|self − other|` over its entries.
    ///
    /// # Panics
    /// If a parameter's shapes differ.
    pub fn max_abs_diff(&self, other: &Self) -> [(&'static str, f64); 4] {
        self.diff_by(other, |d| d.iter().copied().fold(0.0, f64::max))
    }

    fn diff_by(&self, other: &Self, reduce: impl Fn(&[f64]) -> f64) -> [(&'static str, f64); 4] {
        let (a, b) = (self.named(), other.named());
        std::array::from_fn(|i| {
            let ((name, x), (_, y)) = (a[i], b[i]);
            assert_eq!(x.shape(), y.shape(), "{name}: shapes differ");
            let d: Vec<f64> = x
                .iter()
                .zip(y.iter())
                .map(|(&u, &v)| (u.to_f64() - v.to_f64()).abs())
                .collect();
            (name, reduce(&d))
        })
    }

    /// The same parameters in another float type (`f32` ↔ `f64`).
    pub fn cast<U: Float>(&self) -> TwoLayerParams<U> {
        let c = |m: &Matrix<T>| m.map(|v| U::of_f64(v.to_f64()));
        TwoLayerParams {
            w1: c(&self.w1),
            b1: c(&self.b1),
            w2: c(&self.w2),
            b2: c(&self.b2),
        }
    }
}

/// The hidden activation layer, chosen at construction.
#[derive(Clone, Debug)]
enum Hidden<T: Float> {
    Sigmoid(Sigmoid<T>),
    Relu(Relu<T>),
}

impl<T: Float> Layer<T> for Hidden<T> {
    fn forward(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        match self {
            Hidden::Sigmoid(layer) => layer.forward(x),
            Hidden::Relu(layer) => layer.forward(x),
        }
    }

    fn backward(&mut self, x: &Matrix<T>, dout: &Matrix<T>, want_dx: bool) -> Option<&Matrix<T>> {
        match self {
            Hidden::Sigmoid(layer) => layer.backward(x, dout, want_dx),
            Hidden::Relu(layer) => layer.backward(x, dout, want_dx),
        }
    }

    fn output(&self) -> &Matrix<T> {
        match self {
            Hidden::Sigmoid(layer) => layer.output(),
            Hidden::Relu(layer) => layer.output(),
        }
    }
}

/// The two-layer network of §4.5 and §5.7: `Affine → Sigmoid (or ReLU) → Affine → SoftmaxWithLoss`.
///
/// For a batch `x` of shape `(input_size, N)`, one sample per column:
///
/// ```text
/// a1 = W1ᵀ·x + b1        (hidden, N)      W1: (input, hidden)   b1: (hidden, 1)
/// z1 = σ(a1) or relu(a1) (hidden, N)
/// a2 = W2ᵀ·z1 + b2       (output, N)      W2: (hidden, output)  b2: (output, 1)
/// y  = softmax(a2)       (output, N)      loss = cross-entropy(y, t)
/// ```
///
/// The weights start as `weight_init_std · N(0, 1)` drawn from a ChaCha8 generator seeded with
/// the given seed (row by row, `W1` then `W2`, each value drawn in `f64` then rounded to `T`),
/// the biases at zero: the same seed gives the same network, bit for bit, on every machine, and
/// the `f32` network is the `f64` one rounded.
///
/// ```
/// use nn_core::{Matrix, TwoLayerConfig, Activation, Targets, TwoLayerNet};
/// let config = TwoLayerConfig { input_size: 4, hidden_size: 3, output_size: 2, activation: Activation::Relu, weight_init_std: 0.01 };
/// let mut net = TwoLayerNet::<f64>::new(config, 42)?;
/// let x = Matrix::from_fn(4, 5, |i, n| (i + n) as f64 / 10.0); // 5 samples
/// let labels = [0, 1, 0, 1, 1];
/// let loss = net.gradient(&x, Targets::Labels(&labels)); // backprop; the loss is ≈ ln 2
/// assert!((loss - 2f64.ln()).abs() < 1e-3);
/// let numerical = net.naive_numerical_gradient(&x, Targets::Labels(&labels));
/// for (name, diff) in net.gradients().mean_abs_diff(&numerical) {
///     assert!(diff < 1e-9, "{name}: {diff}");
/// }
/// # Ok::<(), nn_core::TwoLayerConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TwoLayerNet<T: Float> {
    config: TwoLayerConfig,
    affine1: Affine<T>,
    hidden: Hidden<T>,
    affine2: Affine<T>,
    last_layer: SoftmaxWithLoss<T>,
    /// The buffers of [`Model::numerical_gradient`] (empty until its first call).
    numerical: FastNumericalGradient,
}

impl<T: Float> TwoLayerNet<T> {
    /// A network with random weights (see the type's docs) from `seed`.
    pub fn new(config: TwoLayerConfig, seed: u64) -> Result<Self, TwoLayerConfigError> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let std = config.weight_init_std;
        let (i, h, o) = (config.input_size, config.hidden_size, config.output_size);
        let w1 = gaussian(i, h, std, &mut rng);
        let w2 = gaussian(h, o, std, &mut rng);
        let params = TwoLayerParams {
            w1,
            b1: Matrix::zeros(h, 1),
            w2,
            b2: Matrix::zeros(o, 1),
        };
        Ok(Self::assemble(config, params))
    }

    /// A network with the given parameters, after checking them against `config`.
    ///
    /// # Errors
    /// [`ModelError::Config`](crate::ModelError::Config) for an invalid config,
    /// [`ModelError::Shape`](crate::ModelError::Shape) naming the first parameter whose shape
    /// does not match it.
    pub fn from_params(
        config: TwoLayerConfig,
        params: TwoLayerParams<T>,
    ) -> Result<Self, crate::ModelError> {
        config.validate()?;
        let spec = config.spec();
        for ((name, expected), (_, m)) in spec.matrices()?.into_iter().zip(params.named()) {
            if m.shape() != expected {
                return Err(crate::ModelError::Shape {
                    name: name.to_string(),
                    expected,
                    found: m.shape(),
                    spec: spec.to_string(),
                });
            }
        }
        Ok(Self::assemble(config, params))
    }

    fn assemble(config: TwoLayerConfig, params: TwoLayerParams<T>) -> Self {
        let hidden = match config.activation {
            Activation::Sigmoid => Hidden::Sigmoid(Sigmoid::new()),
            Activation::Relu => Hidden::Relu(Relu::new()),
        };
        TwoLayerNet {
            config,
            affine1: Affine::new(params.w1, params.b1),
            hidden,
            affine2: Affine::new(params.w2, params.b2),
            last_layer: SoftmaxWithLoss::new(),
            numerical: FastNumericalGradient::new(),
        }
    }

    /// The sizes and activation.
    pub fn config(&self) -> &TwoLayerConfig {
        &self.config
    }

    /// A copy of the parameters `W1`, `b1`, `W2`, `b2`.
    pub fn params(&self) -> TwoLayerParams<T> {
        TwoLayerParams {
            w1: self.affine1.w.clone(),
            b1: self.affine1.b.clone(),
            w2: self.affine2.w.clone(),
            b2: self.affine2.b.clone(),
        }
    }

    /// A copy of the gradients from the last [`gradient`](Self::gradient) call (zeros before).
    pub fn gradients(&self) -> TwoLayerGradients<T> {
        TwoLayerParams {
            w1: self.affine1.dw.clone(),
            b1: self.affine1.db.clone(),
            w2: self.affine2.dw.clone(),
            b2: self.affine2.db.clone(),
        }
    }

    /// The same network in another float type (`f32` ↔ `f64`), e.g. to gradient-check a trained
    /// `f32` model in `f64`.
    pub fn cast<U: Float>(&self) -> TwoLayerNet<U> {
        TwoLayerNet::<U>::assemble(self.config.clone(), self.params().cast())
    }

    /// The scores `a2 = W2ᵀ·z1 + b2` of the batch `x` `(input_size, N)`: shape `(output_size, N)`,
    /// before softmax (as the book's `predict`; softmax does not change the arg-max).
    pub fn predict(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        let a1 = self.affine1.forward(x);
        let z1 = self.hidden.forward(a1);
        self.affine2.forward(z1)
    }

    /// The mean cross-entropy loss of the batch (the forward pass of §5.7.2).
    ///
    /// # Panics
    /// If `x` has not `input_size` rows or the targets do not fit the batch.
    pub fn loss(&mut self, x: &Matrix<T>, t: Targets<'_, T>) -> T {
        let a1 = self.affine1.forward(x);
        let z1 = self.hidden.forward(a1);
        let a2 = self.affine2.forward(z1);
        self.last_layer.forward(a2, t)
    }

    /// Gradients by backpropagation (§5.7.2): one forward pass, then the layers' backward passes
    /// in reverse order. Returns the loss; read the gradients with [`gradients`](Self::gradients)
    /// or, without copying, through [`Trainable`]. The first layer's `dx` (the gradient with
    /// respect to the images) is not computed.
    ///
    /// # Panics
    /// If `x` has not `input_size` rows or the targets do not fit the batch.
    pub fn gradient(&mut self, x: &Matrix<T>, t: Targets<'_, T>) -> T {
        let loss = self.loss(x, t);
        self.backward(x);
        loss
    }

    /// The second half of [`gradient`](Self::gradient): the layers' backward passes, from what
    /// the last call of [`loss`](Self::loss) left in them. `x` must be the batch given to that
    /// call.
    ///
    /// # Panics
    /// If [`loss`](Self::loss) was never called, or on a batch of another shape than `x`.
    pub fn backward(&mut self, x: &Matrix<T>) {
        let dout = self.last_layer.backward();
        let dz1 = self.affine2.backward(self.hidden.output(), dout, true);
        let dz1 = dz1.expect("dx was asked for");
        let da1 = self.hidden.backward(self.affine1.output(), dz1, true);
        let da1 = da1.expect("dx was asked for");
        self.affine1.backward(x, da1, false);
    }

    /// The book's `numerical_gradient` as written (§4.5.1): the whole loss evaluated twice per
    /// parameter entry, `2 × 39 760` forward passes for the book's network, so only for small
    /// batches and gradient checks, in `f64`. Returns the gradients; the network is unchanged.
    /// ([`Model::numerical_gradient`] computes the same central differences far faster and
    /// stores them where [`backward`](Self::backward) stores its own, for an optimizer.)
    pub fn naive_numerical_gradient(
        &mut self,
        x: &Matrix<T>,
        t: Targets<'_, T>,
    ) -> TwoLayerGradients<T> {
        let mut loss = |net: &mut Self| net.loss(x, t);
        TwoLayerParams {
            w1: numerical_gradient(&mut loss, self, |net| &mut net.affine1.w),
            b1: numerical_gradient(&mut loss, self, |net| &mut net.affine1.b),
            w2: numerical_gradient(&mut loss, self, |net| &mut net.affine2.w),
            b2: numerical_gradient(&mut loss, self, |net| &mut net.affine2.b),
        }
    }

    /// The same central differences as
    /// [`naive_numerical_gradient`](Self::naive_numerical_gradient), for every entry and in `f64`
    /// whatever `T`, but evaluating only what each perturbation changes (see
    /// [`FastNumericalGradient`]), in milliseconds instead of seconds at batch 100. The gradients
    /// go where [`gradient`](Self::gradient) leaves backprop's, for an optimizer to read through
    /// [`Trainable`]; returns the batch's loss (in `f64`).
    /// `scratch` keeps its buffers from call to call.
    ///
    /// # Panics
    /// If `x` has not `input_size` rows, or `labels` do not fit the batch.
    pub fn numerical_gradient_fast(
        &mut self,
        x: &Matrix<T>,
        labels: &[u8],
        scratch: &mut FastNumericalGradient,
    ) -> f64 {
        let (l1, l2) = (&mut self.affine1, &mut self.affine2);
        let hidden = match self.config.activation {
            Activation::Sigmoid => FastHidden::Sigmoid,
            Activation::Relu => FastHidden::Relu,
        };
        scratch.gradient(
            [&l1.w, &l1.b, &l2.w, &l2.b],
            hidden,
            x,
            labels,
            [&mut l1.dw, &mut l1.db, &mut l2.dw, &mut l2.db],
        )
    }

    /// The chapter-4 gradient written out by hand (`two_layer_net.py`'s `gradient`), kept as a
    /// readable reference for the layered backprop of [`gradient`](Self::gradient):
    ///
    /// ```text
    /// dy  = (y − t) / N
    /// gW2 = z1·dyᵀ          gb2 = Σ_columns dy
    /// dz1 = W2·dy
    /// da1 = h'(a1) ⊙ dz1    (h' = sigmoid_grad, or step for ReLU)
    /// gW1 = x·da1ᵀ          gb1 = Σ_columns da1
    /// ```
    ///
    /// It allocates every intermediate: use it in tests, not in training.
    pub fn closed_form_gradient(&self, x: &Matrix<T>, t: Targets<'_, T>) -> TwoLayerGradients<T> {
        let (w1, b1, w2, b2) = (
            &self.affine1.w,
            &self.affine1.b,
            &self.affine2.w,
            &self.affine2.b,
        );
        let batch = T::from_usize(x.ncols()).expect("batch size fits in a float");
        let h_grad = match self.config.activation {
            Activation::Sigmoid => sigmoid_grad::<T>,
            Activation::Relu => step::<T>,
        };
        let h = match self.config.activation {
            Activation::Sigmoid => sigmoid::<T>,
            Activation::Relu => relu::<T>,
        };

        // forward
        let a1 = add_bias(w1.transpose() * x, b1);
        let z1 = a1.map(h);
        let a2 = add_bias(w2.transpose() * &z1, b2);
        let y = softmax(&a2);
        t.check(y.nrows(), y.ncols());
        let t = Matrix::from_fn(y.nrows(), y.ncols(), |k, n| t.value(k, n));

        // backward
        let dy = (y - t) / batch;
        let grad_w2 = &z1 * dy.transpose();
        let grad_b2 = row_sums(&dy);
        let dz1 = w2 * &dy;
        let da1 = a1.map(h_grad).component_mul(&dz1);
        let grad_w1 = x * da1.transpose();
        let grad_b1 = row_sums(&da1);
        TwoLayerParams {
            w1: grad_w1,
            b1: grad_b1,
            w2: grad_w2,
            b2: grad_b2,
        }
    }
}

impl<T: Float> Trainable<T> for TwoLayerNet<T> {
    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, T>)) {
        visit_numbered(&mut self.affine1, 1, f);
        visit_numbered(&mut self.affine2, 2, f);
    }
}

impl<T: Float> Model<T> for TwoLayerNet<T> {
    fn input_len(&self) -> usize {
        self.config.input_size
    }

    fn output_len(&self) -> usize {
        self.config.output_size
    }

    fn spec(&self) -> NetSpec {
        self.config.spec()
    }

    fn loss(&mut self, x: &Matrix<T>, t: Targets<'_, T>) -> T {
        TwoLayerNet::loss(self, x, t)
    }

    fn backward(&mut self, x: &Matrix<T>) {
        TwoLayerNet::backward(self, x);
    }

    /// The book's central differences on every entry: by [`FastNumericalGradient`] when the
    /// targets are labels (what training uses), else the whole loss per entry.
    fn numerical_gradient(&mut self, x: &Matrix<T>, t: Targets<'_, T>) -> T {
        if let Targets::Labels(labels) = t {
            // The buffers move out for the call and back (an empty one allocates nothing).
            let mut numerical = std::mem::take(&mut self.numerical);
            let loss = self.numerical_gradient_fast(x, labels, &mut numerical);
            self.numerical = numerical;
            return T::of_f64(loss);
        }
        let grads = self.naive_numerical_gradient(x, t);
        self.affine1.dw = grads.w1;
        self.affine1.db = grads.b1;
        self.affine2.dw = grads.w2;
        self.affine2.db = grads.b2;
        self.loss(x, t)
    }

    fn predict(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        TwoLayerNet::predict(self, x)
    }

    fn snapshot(&self) -> Self {
        Self::assemble(self.config.clone(), self.params())
    }
}

/// `m` with the column `b` added to each of its columns (NumPy's broadcasting of `+ b`).
fn add_bias<T: Float>(mut m: Matrix<T>, b: &Matrix<T>) -> Matrix<T> {
    for mut col in m.column_iter_mut() {
        col += b;
    }
    m
}

/// The sum of each row, as a column (the book's `np.sum(dy, axis=0)` in our layout).
fn row_sums<T: Float>(m: &Matrix<T>) -> Matrix<T> {
    Matrix::from_fn(m.nrows(), 1, |i, _| m.row(i).sum())
}
