//! The activation layers (§5.5): ReLU and sigmoid.

use super::{Layer, ensure_shape};
use crate::functions::sigmoid_in_place;
use crate::{Float, Matrix};

/// The sigmoid layer (§5.5.2): `out = σ(x)`, `dx = dout ⊙ (1 − out) ⊙ out`.
///
/// ```
/// use nn_core::{Matrix, layers::{Layer, Sigmoid}};
/// let mut sigmoid = Sigmoid::new();
/// let y = sigmoid.forward(&Matrix::from_column_slice(1, 1, &[0.0_f64]))[0];
/// assert_eq!(y, 0.5);
/// let dx = sigmoid.backward(&Matrix::from_column_slice(1, 1, &[1.0]))[0];
/// assert_eq!(dx, 0.25); // (1 − y)·y
/// ```
#[derive(Clone, Debug, Default)]
pub struct Sigmoid<T: Float> {
    out: Matrix<T>,
    dx: Matrix<T>,
}

impl<T: Float> Sigmoid<T> {
    /// The output of the last forward pass.
    pub(crate) fn output(&self) -> &Matrix<T> {
        &self.out
    }

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

/// `x = max(0, x)` in place, value by value.
#[multiversion::multiversion(targets = "simd")]
pub(crate) fn relu_in_place<T: Float>(x: &mut [T]) {
    for v in x {
        // Written as the ReLU layer's `if v > 0 { v } else { 0 }` (NaN gives 0).
        *v = if *v > T::zero() { *v } else { T::zero() };
    }
}

/// `out = max(0, x)`, value by value (compiled for the CPU's vector instructions).
#[multiversion::multiversion(targets = "simd")]
fn relu_into<T: Float>(x: &[T], out: &mut [T]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = if v > T::zero() { v } else { T::zero() };
    }
}

/// `dx = dout` where `out > 0`, else `0`.
#[multiversion::multiversion(targets = "simd")]
pub(crate) fn relu_backward_into<T: Float>(dout: &[T], out: &[T], dx: &mut [T]) {
    for ((d, &g), &y) in dx.iter_mut().zip(dout).zip(out) {
        *d = if y > T::zero() { g } else { T::zero() };
    }
}

/// The ReLU layer (§5.5.1): `out = max(0, x)`; `dx = dout` where `x > 0`, else `0`.
///
/// The book keeps a mask of `x <= 0`; `out > 0` holds exactly where `x > 0`, so the output serves
/// as the mask.
///
/// ```
/// use nn_core::{Matrix, layers::{Layer, Relu}};
/// let mut relu = Relu::new();
/// let x = Matrix::from_column_slice(2, 1, &[-1.0_f64, 2.0]);
/// assert_eq!(relu.forward(&x).as_slice(), &[0.0, 2.0]);
/// let dout = Matrix::from_column_slice(2, 1, &[5.0, 5.0]);
/// assert_eq!(relu.backward(&dout).as_slice(), &[0.0, 5.0]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Relu<T: Float> {
    out: Matrix<T>,
    dx: Matrix<T>,
}

impl<T: Float> Relu<T> {
    /// The output of the last forward pass.
    pub(crate) fn output(&self) -> &Matrix<T> {
        &self.out
    }

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
        relu_into(x.as_slice(), self.out.as_mut_slice());
        &self.out
    }

    fn backward(&mut self, dout: &Matrix<T>) -> &Matrix<T> {
        ensure_shape(&mut self.dx, dout.nrows(), dout.ncols());
        relu_backward_into(dout.as_slice(), self.out.as_slice(), self.dx.as_mut_slice());
        &self.dx
    }
}
