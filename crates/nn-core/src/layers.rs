//! The layers of chapter 5 (`common/layers.py` in the book), each with a `forward` and a
//! `backward` pass.
//!
//! Matrix layers implement [`Layer`]: `forward(x)` returns the output, `backward(dout)` takes
//! `∂L/∂out` and returns `∂L/∂x`. Every layer owns its output and gradient buffers: they are
//! sized on the first call and reused while the batch size stays the same, so a training
//! iteration allocates nothing. Batches are `(features, batch)`, one sample per column.
//!
//! [`MulLayer`] and [`AddLayer`] are the scalar nodes of the apple-shopping example (§5.4).

use crate::float::Threads;
use crate::functions::sigmoid_in_place;
use crate::{Float, Matrix, Op, Targets};

/// Makes `m` a `rows × cols` matrix, reallocating only when the shape changes.
pub(crate) fn ensure_shape<T: Float>(m: &mut Matrix<T>, rows: usize, cols: usize) {
    if m.shape() != (rows, cols) {
        *m = Matrix::zeros(rows, cols);
    }
}

/// A parameter and its gradient, as [`Layer::visit_params`] and
/// [`Parameters::visit_params`](crate::Parameters::visit_params) hand them to an optimizer.
#[derive(Debug)]
pub struct Param<'a, T> {
    /// Stable name: `"W"`/`"b"` inside a layer, `"W1"`, `"b1"`, `"W2"`, `"b2"` in a network.
    pub name: &'static str,
    /// The value, to update in place.
    pub value: &'a mut Matrix<T>,
    /// `∂L/∂value` from the last backward pass, same shape as `value`.
    pub grad: &'a Matrix<T>,
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
}

/// The fully connected layer (§5.6.2), with the weights in the book's shape.
///
/// For `W` of shape `(in, out)`, `b` of shape `(out, 1)` and a batch `x` of shape `(in, N)`:
///
/// - forward: `y = Wᵀ·x + b` (`b` added to every column), shape `(out, N)`;
/// - backward: `dx = W·dout` `(in, N)`, `dW = x·doutᵀ` `(in, out)`, `db = Σ_columns dout` `(out, 1)`.
///
/// This is the book's `x·W + b` and `dW = xᵀ·dout` transposed, because our samples are columns
/// and the book's are rows: the memory is the same.
///
/// ```
/// use nn_core::{Matrix, layers::{Affine, Layer}};
/// let w = Matrix::from_row_slice(2, 3, &[1.0_f64, 2.0, 3.0, 4.0, 5.0, 6.0]);
/// let b = Matrix::from_column_slice(3, 1, &[0.5, 0.5, 0.5]);
/// let mut affine = Affine::new(w, b);
/// let x = Matrix::from_column_slice(2, 1, &[1.0, -1.0]);
/// assert_eq!(affine.forward(&x).as_slice(), &[-2.5, -2.5, -2.5]);
/// let dx = affine.backward(&Matrix::from_column_slice(3, 1, &[1.0, 0.0, 0.0]));
/// assert_eq!(dx.as_slice(), &[1.0, 4.0]); // W·dout: column 0 of W
/// assert_eq!(affine.dw.as_slice(), &[1.0, -1.0, 0.0, 0.0, 0.0, 0.0]);
/// assert_eq!(affine.db.as_slice(), &[1.0, 0.0, 0.0]);
/// ```
#[derive(Clone, Debug)]
pub struct Affine<T: Float> {
    /// Weights `W`, shape `(in, out)`.
    pub w: Matrix<T>,
    /// Bias `b`, shape `(out, 1)`.
    pub b: Matrix<T>,
    /// `∂L/∂W` from the last backward pass, shape `(in, out)`.
    pub dw: Matrix<T>,
    /// `∂L/∂b` from the last backward pass, shape `(out, 1)`.
    pub db: Matrix<T>,
    x: Matrix<T>,
    out: Matrix<T>,
    dx: Matrix<T>,
}

impl<T: Float> Affine<T> {
    /// A layer with weights `w` `(in, out)` and bias `b` `(out, 1)`; gradients start at zero.
    ///
    /// # Panics
    /// If `b` is not `(w.ncols(), 1)`.
    pub fn new(w: Matrix<T>, b: Matrix<T>) -> Self {
        assert_eq!(
            b.shape(),
            (w.ncols(), 1),
            "Affine: b must be ({}, 1) for W of shape {:?}",
            w.ncols(),
            w.shape()
        );
        let (dw, db) = (
            Matrix::zeros(w.nrows(), w.ncols()),
            Matrix::zeros(b.nrows(), 1),
        );
        let empty = Matrix::zeros(0, 0);
        Affine {
            w,
            b,
            dw,
            db,
            x: empty.clone(),
            out: empty.clone(),
            dx: empty,
        }
    }

    /// `out ← Wᵀ·x + b` into a caller's buffer: the bias is broadcast into `out` first, then one
    /// GEMM adds `Wᵀ·x` to it (β = 1). Takes `&self` and runs on the calling thread only
    /// ([`Float::gemm_serial`]), so several threads can share a layer, each scoring its own chunk.
    /// The result is bit-identical to [`Layer::forward`]'s.
    pub fn forward_into(&self, x: &Matrix<T>, out: &mut Matrix<T>) {
        self.forward_with(x, out, Threads::Caller);
    }

    fn forward_with(&self, x: &Matrix<T>, out: &mut Matrix<T>, threads: Threads) {
        ensure_shape(out, self.w.ncols(), x.ncols());
        for mut col in out.column_iter_mut() {
            col.copy_from(&self.b);
        }
        match threads {
            Threads::Split => T::gemm(T::one(), &self.w, Op::T, x, Op::N, T::one(), out),
            Threads::Caller => T::gemm_serial(T::one(), &self.w, Op::T, x, Op::N, T::one(), out),
        }
    }

    /// Forward pass that does not keep a copy of `x`: pair it with [`Affine::backward_params`],
    /// to which the caller hands the same `x` again. Used for the first layer of a network,
    /// whose input (the image batch) the caller holds anyway.
    pub fn forward_uncached(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        let mut out = std::mem::take(&mut self.out);
        self.forward_with(x, &mut out, Threads::Split);
        self.out = out;
        &self.out
    }

    /// Backward pass for the parameters only: `dW = x·doutᵀ`, `db = Σ_columns dout`, without
    /// `dx`. Nobody needs the gradient with respect to a network's input images, and skipping
    /// `dx = W·dout` saves a third of the layer's arithmetic.
    pub fn backward_params(&mut self, x: &Matrix<T>, dout: &Matrix<T>) {
        T::gemm(T::one(), x, Op::N, dout, Op::T, T::zero(), &mut self.dw);
        self.db.fill(T::zero());
        for col in dout.column_iter() {
            self.db += col;
        }
    }

    /// Calls `f` on the weights, then the bias, under the given names (a network names its
    /// layers' parameters `W1`, `b1`, `W2`…).
    pub(crate) fn visit_named(
        &mut self,
        [weights, bias]: [&'static str; 2],
        f: &mut dyn FnMut(Param<'_, T>),
    ) {
        f(Param {
            name: weights,
            value: &mut self.w,
            grad: &self.dw,
        });
        f(Param {
            name: bias,
            value: &mut self.b,
            grad: &self.db,
        });
    }
}

impl<T: Float> Layer<T> for Affine<T> {
    fn forward(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        ensure_shape(&mut self.x, x.nrows(), x.ncols());
        self.x.copy_from(x);
        self.forward_uncached(x)
    }

    fn backward(&mut self, dout: &Matrix<T>) -> &Matrix<T> {
        let x = std::mem::take(&mut self.x);
        self.backward_params(&x, dout);
        self.x = x;
        ensure_shape(&mut self.dx, self.w.nrows(), dout.ncols());
        T::gemm(
            T::one(),
            &self.w,
            Op::N,
            dout,
            Op::N,
            T::zero(),
            &mut self.dx,
        );
        &self.dx
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, T>)) {
        self.visit_named(["W", "b"], f);
    }
}

/// The sigmoid layer (§5.5.2): `out = σ(x)`, `dx = dout ⊙ (1 − out) ⊙ out`.
#[derive(Clone, Debug, Default)]
pub struct Sigmoid<T: Float> {
    out: Matrix<T>,
    dx: Matrix<T>,
}

impl<T: Float> Sigmoid<T> {
    /// A sigmoid layer (no parameters).
    pub fn new() -> Self {
        Sigmoid {
            out: Matrix::zeros(0, 0),
            dx: Matrix::zeros(0, 0),
        }
    }
}

impl<T: Float> Layer<T> for Sigmoid<T> {
    fn forward(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        ensure_shape(&mut self.out, x.nrows(), x.ncols());
        self.out.copy_from(x);
        sigmoid_in_place(self.out.as_mut_slice());
        &self.out
    }

    fn backward(&mut self, dout: &Matrix<T>) -> &Matrix<T> {
        ensure_shape(&mut self.dx, dout.nrows(), dout.ncols());
        self.dx.copy_from(dout);
        self.dx
            .zip_apply(&self.out, |d, y| *d *= (T::one() - y) * y);
        &self.dx
    }
}

/// The ReLU layer (§5.5.1): `out = max(0, x)`; `dx = dout` where `x > 0`, else `0`.
///
/// The book keeps a mask of `x <= 0`; `out > 0` holds exactly where `x > 0`, so the output serves
/// as the mask.
#[derive(Clone, Debug, Default)]
pub struct Relu<T: Float> {
    out: Matrix<T>,
    dx: Matrix<T>,
}

impl<T: Float> Relu<T> {
    /// A ReLU layer (no parameters).
    pub fn new() -> Self {
        Relu {
            out: Matrix::zeros(0, 0),
            dx: Matrix::zeros(0, 0),
        }
    }
}

impl<T: Float> Layer<T> for Relu<T> {
    fn forward(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        ensure_shape(&mut self.out, x.nrows(), x.ncols());
        self.out.zip_apply(x, |o, v| *o = crate::functions::relu(v));
        &self.out
    }

    fn backward(&mut self, dout: &Matrix<T>) -> &Matrix<T> {
        ensure_shape(&mut self.dx, dout.nrows(), dout.ncols());
        self.dx.copy_from(dout);
        self.dx.zip_apply(&self.out, |d, y| {
            if y <= T::zero() {
                *d = T::zero();
            }
        });
        &self.dx
    }
}

/// The targets of the last forward pass, kept for the backward pass.
#[derive(Clone, Debug)]
enum StoredTargets<T: Float> {
    Labels(Vec<u8>),
    OneHot(Matrix<T>),
}

/// Softmax followed by the cross-entropy error, as one loss layer (§5.6.3).
///
/// For scores `x` of shape `(classes, N)` and targets `t`:
///
/// - forward: `y = softmax(x)` per column, returns `L = −(1/N)·Σₙ Σₖ tₙₖ·log yₙₖ`;
/// - backward: `dx = (y − t) / N`, shape `(classes, N)`: the gradient is that simple because
///   softmax and cross-entropy are taken together.
///
/// The loss is computed from the scores as `log Σ exp(x − max) − (xₜ − max)`, which is exactly
/// `−log yₜ` without ever taking `log 0`, so it needs no `δ = 1e-7` (unlike the book's
/// [`cross_entropy_error`](crate::functions::cross_entropy_error)) and `dx` is its exact gradient.
///
/// ```
/// use nn_core::{Matrix, Targets, layers::SoftmaxWithLoss};
/// let mut layer = SoftmaxWithLoss::new();
/// let x = Matrix::from_column_slice(2, 1, &[0.0_f64, 0.0]); // y = (½, ½)
/// let loss = layer.forward(&x, Targets::Labels(&[1]));
/// assert!((loss - 2f64.ln()).abs() < 1e-15);
/// assert_eq!(layer.backward().as_slice(), &[0.5, -0.5]); // y − t
/// ```
#[derive(Clone, Debug)]
pub struct SoftmaxWithLoss<T: Float> {
    y: Matrix<T>,
    t: StoredTargets<T>,
    dx: Matrix<T>,
}

impl<T: Float> Default for SoftmaxWithLoss<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> SoftmaxWithLoss<T> {
    /// A new loss layer.
    pub fn new() -> Self {
        SoftmaxWithLoss {
            y: Matrix::zeros(0, 0),
            t: StoredTargets::Labels(Vec::new()),
            dx: Matrix::zeros(0, 0),
        }
    }

    /// The probabilities `y = softmax(x)` of the last forward pass, `(classes, N)`.
    pub fn y(&self) -> &Matrix<T> {
        &self.y
    }

    /// Forward pass: stores `y = softmax(x)` and the targets, returns the mean loss over the batch.
    ///
    /// # Panics
    /// If the targets do not fit `x` (see [`Targets`]).
    pub fn forward(&mut self, x: &Matrix<T>, t: Targets<'_, T>) -> T {
        t.check(x.nrows(), x.ncols());
        ensure_shape(&mut self.y, x.nrows(), x.ncols());
        let mut total = T::zero();
        for (n, (xc, mut yc)) in x.column_iter().zip(self.y.column_iter_mut()).enumerate() {
            let max = xc
                .iter()
                .copied()
                .fold(T::of_f64(f64::NEG_INFINITY), |m, v| m.max(v));
            let mut sum = T::zero();
            for (y, &v) in yc.iter_mut().zip(xc.iter()) {
                *y = (v - max).exp();
                sum += *y;
            }
            yc.unscale_mut(sum);
            let log_sum = sum.ln();
            // −Σₖ tₖ·log yₖ with log yₖ = (xₖ − max) − log Σ.
            total += match t {
                Targets::Labels(labels) => log_sum - (xc[usize::from(labels[n])] - max),
                Targets::OneHot(t) => xc
                    .iter()
                    .zip(t.column(n).iter())
                    .filter(|&(_, &tk)| tk != T::zero())
                    .fold(T::zero(), |acc, (&v, &tk)| acc + tk * (log_sum - (v - max))),
            };
        }
        match (&mut self.t, t) {
            (StoredTargets::Labels(kept), Targets::Labels(labels)) => {
                kept.clear();
                kept.extend_from_slice(labels);
            }
            (StoredTargets::OneHot(kept), Targets::OneHot(t)) if kept.shape() == t.shape() => {
                kept.copy_from(t)
            }
            (kept, Targets::Labels(labels)) => *kept = StoredTargets::Labels(labels.to_vec()),
            (kept, Targets::OneHot(t)) => *kept = StoredTargets::OneHot(t.clone()),
        }
        total / T::from_usize(x.ncols().max(1)).expect("batch size fits in a float")
    }

    /// Backward pass (the loss is the last layer, so `dout = 1`): returns `dx = (y − t) / N`.
    pub fn backward(&mut self) -> &Matrix<T> {
        let (classes, batch) = self.y.shape();
        let inv_batch = T::one() / T::from_usize(batch.max(1)).expect("batch size fits in a float");
        ensure_shape(&mut self.dx, classes, batch);
        match &self.t {
            StoredTargets::Labels(labels) => {
                self.dx.zip_apply(&self.y, |d, y| *d = y * inv_batch);
                for (n, &label) in labels.iter().enumerate() {
                    self.dx[(usize::from(label), n)] -= inv_batch;
                }
            }
            StoredTargets::OneHot(t) => {
                self.dx.copy_from(&self.y);
                self.dx.zip_apply(t, |d, tv| *d = (*d - tv) * inv_batch);
            }
        }
        &self.dx
    }
}

/// The multiplication node (§5.4.1): `out = x·y`; backward swaps the inputs:
/// `dx = dout·y`, `dy = dout·x`.
///
/// ```
/// use nn_core::layers::MulLayer;
/// let mut mul = MulLayer::new();
/// assert_eq!(mul.forward(3.0_f64, 4.0), 12.0);
/// assert_eq!(mul.backward(1.0), (4.0, 3.0));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct MulLayer<T: Float> {
    x: T,
    y: T,
}

impl<T: Float> MulLayer<T> {
    /// A multiplication node.
    pub fn new() -> Self {
        MulLayer {
            x: T::zero(),
            y: T::zero(),
        }
    }

    /// Returns `x·y` and remembers both inputs.
    pub fn forward(&mut self, x: T, y: T) -> T {
        self.x = x;
        self.y = y;
        x * y
    }

    /// Returns `(dout·y, dout·x)`.
    pub fn backward(&self, dout: T) -> (T, T) {
        (dout * self.y, dout * self.x)
    }
}

/// The addition node (§5.4.2): `out = x + y`; backward passes `dout` to both inputs.
///
/// ```
/// use nn_core::layers::AddLayer;
/// let add = AddLayer;
/// assert_eq!(add.forward(3.0_f64, 4.0), 7.0);
/// assert_eq!(add.backward(2.0), (2.0, 2.0));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AddLayer;

impl AddLayer {
    /// Returns `x + y` (nothing to remember).
    pub fn forward<T: Float>(&self, x: T, y: T) -> T {
        x + y
    }

    /// Returns `(dout, dout)`.
    pub fn backward<T: Float>(&self, dout: T) -> (T, T) {
        (dout, dout)
    }
}
