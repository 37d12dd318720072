//! The activation layers (§5.5, the book's `Relu` and `Sigmoid`).

use nn_kernels::elementwise::{relu_backward_into, relu_into};

use super::{Layer, ensure_shape};
use crate::functions::sigmoid_in_place;
use crate::{Float, Matrix};

/// The sigmoid layer (§5.5.2): `out = σ(x)`, `dx = dout ⊙ (1 − out) ⊙ out`.
///
/// ```
/// use nn_core::{Matrix, layers::{Layer, Sigmoid}};
/// let mut sigmoid = Sigmoid::new();
/// let x = Matrix::from_column_slice(1, 1, &[0.0_f64]);
/// assert_eq!(sigmoid.forward(&x)[0], 0.5);
/// let dx = sigmoid.backward(&x, &Matrix::from_column_slice(1, 1, &[1.0]), true).unwrap();
/// assert_eq!(dx[0], 0.25); // (1 − y)·y
/// ```
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

    fn output(&self) -> &Matrix<T> {
        &self.out
    }

    fn backward(&mut self, _x: &Matrix<T>, dout: &Matrix<T>, want_dx: bool) -> Option<&Matrix<T>> {
        if !want_dx {
            return None;
        }
        ensure_shape(&mut self.dx, dout.nrows(), dout.ncols());
        self.dx.copy_from(dout);
        self.dx
            .zip_apply(&self.out, |d, y| *d *= (T::one() - y) * y);
        Some(&self.dx)
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
/// assert_eq!(relu.backward(&x, &dout, true).unwrap().as_slice(), &[0.0, 5.0]);
/// ```
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
        relu_into(x.as_slice(), self.out.as_mut_slice());
        &self.out
    }

    fn output(&self) -> &Matrix<T> {
        &self.out
    }

    fn backward(&mut self, _x: &Matrix<T>, dout: &Matrix<T>, want_dx: bool) -> Option<&Matrix<T>> {
        if !want_dx {
            return None;
        }
        ensure_shape(&mut self.dx, dout.nrows(), dout.ncols());
        relu_backward_into(dout.as_slice(), self.out.as_slice(), self.dx.as_mut_slice());
        Some(&self.dx)
    }
}
