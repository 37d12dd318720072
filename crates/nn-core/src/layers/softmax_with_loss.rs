//! Softmax and the cross-entropy error as one loss layer (§5.6.3).

use super::ensure_shape;
use crate::{Float, Matrix, Targets};

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
