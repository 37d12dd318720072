//! Batch normalization (§6.3, the book's `BatchNormalization`).

use super::{Kind, Layer, Name, Param, State, ensure_shape};
use crate::{Float, Matrix};

/// The book's `10e-7` (that is, 10⁻⁶) added to the variance before its square root.
const EPSILON: f64 = 10e-7;

/// Batch normalization (§6.3.1): each feature (row) of the batch is normalized to mean 0 and
/// variance 1 over the batch's samples, then scaled by `gamma` and shifted by `beta`.
///
/// For a batch `x` of shape `(D, N)`, one sample per column:
///
/// ```text
/// training:   μ = mean over columns of x      σ² = mean of (x − μ)²    (D, 1) each
///             x̂ = (x − μ) / √(σ² + 10e-7)
///             running_mean ← m·running_mean + (1 − m)·μ    (the same for running_var, m = 0.9)
/// inference:  x̂ = (x − running_mean) / √(running_var + 10e-7)
/// out = gamma ⊙ x̂ + beta                                    (D, N)
/// ```
///
/// The backward pass is the book's, step by step through the computational graph of Fig. 6-17.
/// As in the book, a convolution's output (`C·H·W` values per sample) is normalized per value,
/// not per channel. `gamma` starts at one, `beta` at zero, the running statistics at zero.
///
/// ```
/// use nn_core::{Matrix, layers::{BatchNorm, Layer}};
/// let mut bn = BatchNorm::<f64>::new(1);
/// let x = Matrix::from_row_slice(1, 2, &[1.0, 3.0]);
/// let out = bn.forward(&x).clone();
/// // mean 2, variance 1: x̂ = ±1/√(1 + 10e-7)
/// assert!((out[0] + 1.0).abs() < 1e-6 && (out[1] - 1.0).abs() < 1e-6);
/// assert!((bn.running_mean[0] - 0.2).abs() < 1e-12); // 0.9·0 + 0.1·2
/// ```
#[derive(Clone, Debug)]
pub struct BatchNorm<T: Float> {
    /// Scale, `(D, 1)`.
    pub gamma: Matrix<T>,
    /// Shift, `(D, 1)`.
    pub beta: Matrix<T>,
    /// `∂L/∂gamma` from the last backward pass.
    pub dgamma: Matrix<T>,
    /// `∂L/∂beta` from the last backward pass.
    pub dbeta: Matrix<T>,
    /// The mean used at inference, `(D, 1)`.
    pub running_mean: Matrix<T>,
    /// The variance used at inference, `(D, 1)`.
    pub running_var: Matrix<T>,
    /// Weight of the old running statistics in each update (book: 0.9).
    pub momentum: T,
    training: bool,
    xc: Matrix<T>,
    xn: Matrix<T>,
    std: Matrix<T>,
    /// `dstd`, then `dvar`, of the backward pass, `(D, 1)`.
    dvar: Matrix<T>,
    /// `dmu` of the backward pass, `(D, 1)`.
    dmu: Matrix<T>,
    out: Matrix<T>,
    dx: Matrix<T>,
}

impl<T: Float> BatchNorm<T> {
    /// A layer for `features` values per sample: `gamma = 1`, `beta = 0`, momentum 0.9, in
    /// training mode.
    pub fn new(features: usize) -> Self {
        Self::with_params(
            Matrix::from_element(features, 1, T::one()),
            Matrix::zeros(features, 1),
        )
    }

    /// A layer with the given `gamma` and `beta`, both `(D, 1)`.
    ///
    /// # Panics
    /// If their shapes differ or are not one column.
    pub fn with_params(gamma: Matrix<T>, beta: Matrix<T>) -> Self {
        assert!(
            gamma.ncols() == 1 && gamma.shape() == beta.shape(),
            "BatchNorm: gamma {:?} and beta {:?} must be the same (D, 1) column",
            gamma.shape(),
            beta.shape()
        );
        let d = gamma.nrows();
        let empty = Matrix::zeros(0, 0);
        BatchNorm {
            dgamma: Matrix::zeros(d, 1),
            dbeta: Matrix::zeros(d, 1),
            running_mean: Matrix::zeros(d, 1),
            running_var: Matrix::zeros(d, 1),
            gamma,
            beta,
            momentum: T::of_f64(0.9),
            training: true,
            xc: empty.clone(),
            xn: empty.clone(),
            std: Matrix::zeros(d, 1),
            dvar: Matrix::zeros(d, 1),
            dmu: Matrix::zeros(d, 1),
            out: empty.clone(),
            dx: empty,
        }
    }

    /// A copy of the parameters and statistics, with empty buffers.
    pub(crate) fn snapshot(&self) -> Self {
        let mut copy = Self::with_params(self.gamma.clone(), self.beta.clone());
        copy.running_mean.copy_from(&self.running_mean);
        copy.running_var.copy_from(&self.running_var);
        copy.momentum = self.momentum;
        copy.training = self.training;
        copy
    }

    /// `out = gamma ⊙ xn + beta`, column by column.
    fn scale_and_shift(&mut self) {
        ensure_shape(&mut self.out, self.xn.nrows(), self.xn.ncols());
        for (mut out, xn) in self.out.column_iter_mut().zip(self.xn.column_iter()) {
            for (d, o) in out.iter_mut().enumerate() {
                *o = self.gamma[d] * xn[d] + self.beta[d];
            }
        }
    }
}

impl<T: Float> Layer<T> for BatchNorm<T> {
    fn forward(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        let (d, n) = x.shape();
        assert_eq!(
            d,
            self.gamma.nrows(),
            "BatchNorm: {d} features for a layer of {}",
            self.gamma.nrows()
        );
        ensure_shape(&mut self.xc, d, n);
        ensure_shape(&mut self.xn, d, n);
        let eps = T::of_f64(EPSILON);
        if self.training {
            let inv_n = T::one() / T::from_usize(n.max(1)).expect("batch size fits in a float");
            // μ, into `std` for now.
            let mu = &mut self.std;
            mu.fill(T::zero());
            for col in x.column_iter() {
                *mu += col;
            }
            *mu *= inv_n;
            for (mut xc, col) in self.xc.column_iter_mut().zip(x.column_iter()) {
                xc.copy_from(&col);
                xc -= &*mu;
            }
            let m = self.momentum;
            self.running_mean
                .zip_apply(mu, |r, mu| *r = m * *r + (T::one() - m) * mu);
            // σ², then √(σ² + ε).
            let var = &mut self.std;
            var.fill(T::zero());
            for xc in self.xc.column_iter() {
                for (v, &c) in var.iter_mut().zip(xc.iter()) {
                    *v += c * c;
                }
            }
            *var *= inv_n;
            self.running_var
                .zip_apply(var, |r, var| *r = m * *r + (T::one() - m) * var);
            self.std.apply(|v| *v = (*v + eps).sqrt());
        } else {
            for (mut xc, col) in self.xc.column_iter_mut().zip(x.column_iter()) {
                xc.copy_from(&col);
                xc -= &self.running_mean;
            }
            self.std.copy_from(&self.running_var);
            self.std.apply(|v| *v = (*v + eps).sqrt());
        }
        for (mut xn, xc) in self.xn.column_iter_mut().zip(self.xc.column_iter()) {
            for ((o, &c), &s) in xn.iter_mut().zip(xc.iter()).zip(self.std.iter()) {
                *o = c / s;
            }
        }
        self.scale_and_shift();
        &self.out
    }

    fn output(&self) -> &Matrix<T> {
        &self.out
    }

    /// The book's backward pass through the graph of Fig. 6-17; `dx` (always computed, its
    /// intermediate sums are `dgamma`'s) is returned when asked.
    fn backward(&mut self, _x: &Matrix<T>, dout: &Matrix<T>, want_dx: bool) -> Option<&Matrix<T>> {
        let (d, n) = dout.shape();
        assert_eq!(
            self.xc.shape(),
            (d, n),
            "BatchNorm: backward without a matching forward pass"
        );
        let inv_n = T::one() / T::from_usize(n.max(1)).expect("batch size fits in a float");
        let two = T::one() + T::one();
        // dbeta = Σ dout, dgamma = Σ xn·dout, dstd = −Σ dxn·xc / std² (dxn = gamma·dout).
        self.dbeta.fill(T::zero());
        self.dgamma.fill(T::zero());
        let dstd = &mut self.dvar;
        dstd.fill(T::zero());
        for ((dout, xn), xc) in dout
            .column_iter()
            .zip(self.xn.column_iter())
            .zip(self.xc.column_iter())
        {
            for k in 0..d {
                let (g, s) = (dout[k], self.std[k]);
                self.dbeta[k] += g;
                self.dgamma[k] += xn[k] * g;
                let dxn = self.gamma[k] * g;
                dstd[k] -= (dxn * xc[k]) / (s * s);
            }
        }
        // dvar = 0.5·dstd / std
        let half = T::one() / two;
        self.dvar.zip_apply(&self.std, |v, s| *v = half * *v / s);
        // dxc = dxn / std + (2/N)·xc·dvar, dmu = Σ dxc, dx = dxc − dmu/N
        ensure_shape(&mut self.dx, d, n);
        self.dmu.fill(T::zero());
        for ((mut dx, dout), xc) in self
            .dx
            .column_iter_mut()
            .zip(dout.column_iter())
            .zip(self.xc.column_iter())
        {
            for k in 0..d {
                let dxn = self.gamma[k] * dout[k];
                dx[k] = dxn / self.std[k] + two * inv_n * xc[k] * self.dvar[k];
                self.dmu[k] += dx[k];
            }
        }
        for mut dx in self.dx.column_iter_mut() {
            for (v, &m) in dx.iter_mut().zip(self.dmu.iter()) {
                *v -= m * inv_n;
            }
        }
        want_dx.then_some(&self.dx)
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, T>)) {
        f(Param::of(Kind::Gamma, &mut self.gamma, &mut self.dgamma));
        f(Param::of(Kind::Beta, &mut self.beta, &mut self.dbeta));
    }

    fn visit_state(&mut self, f: &mut dyn FnMut(State<'_, T>)) {
        f(State {
            name: Name::of(Kind::RunningMean),
            value: &mut self.running_mean,
        });
        f(State {
            name: Name::of(Kind::RunningVar),
            value: &mut self.running_var,
        });
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}
