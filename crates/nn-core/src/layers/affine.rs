//! The fully connected layer (§5.6.2, the book's `Affine`).

use nn_kernels::{Op, gemm::gemm};

use super::{Kind, Layer, Param, ensure_shape, row_sums_into};
use crate::{Float, Matrix};

/// The fully connected layer (§5.6.2), with the weights in the book's shape.
///
/// For `W` of shape `(in, out)`, `b` of shape `(out, 1)` and a batch `x` of shape `(in, N)`:
///
/// - forward: `y = Wᵀ·x + b` (`b` added to every column), shape `(out, N)`;
/// - backward: `dx = W·dout` `(in, N)`, `dW = x·doutᵀ` `(in, out)`, `db = Σ_columns dout` `(out, 1)`.
///
/// This is the book's `x·W + b` and `dW = xᵀ·dout` transposed, because our samples are columns
/// and the book's are rows: the memory is the same. An input of several channels (the output of
/// a convolution, `C·H·W` values per column) needs no reshaping: it already is one flat column
/// per sample, in the order of the book's `x.reshape(N, -1)`.
///
/// ```
/// use nn_core::{Matrix, layers::{Affine, Layer}};
/// let w = Matrix::from_row_slice(2, 3, &[1.0_f64, 2.0, 3.0, 4.0, 5.0, 6.0]);
/// let b = Matrix::from_column_slice(3, 1, &[0.5, 0.5, 0.5]);
/// let mut affine = Affine::new(w, b);
/// let x = Matrix::from_column_slice(2, 1, &[1.0, -1.0]);
/// assert_eq!(affine.forward(&x).as_slice(), &[-2.5, -2.5, -2.5]);
/// let dout = Matrix::from_column_slice(3, 1, &[1.0, 0.0, 0.0]);
/// let dx = affine.backward(&x, &dout, true).unwrap();
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
        Affine {
            w,
            b,
            dw,
            db,
            out: Matrix::zeros(0, 0),
            dx: Matrix::zeros(0, 0),
        }
    }

    /// A copy of the parameters, with empty buffers (the gradients are zero).
    pub(crate) fn snapshot(&self) -> Self {
        Affine::new(self.w.clone(), self.b.clone())
    }
}

impl<T: Float> Layer<T> for Affine<T> {
    /// `out = Wᵀ·x + b`: the bias broadcast into the output first, then one product adds `Wᵀ·x`
    /// to it (β = 1).
    fn forward(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        ensure_shape(&mut self.out, self.w.ncols(), x.ncols());
        for mut col in self.out.column_iter_mut() {
            col.copy_from(&self.b);
        }
        gemm(T::one(), &self.w, Op::T, x, Op::N, T::one(), &mut self.out);
        &self.out
    }

    fn output(&self) -> &Matrix<T> {
        &self.out
    }

    /// `dW = x·doutᵀ`, `db = Σ_columns dout`, and `dx = W·dout` when asked.
    fn backward(&mut self, x: &Matrix<T>, dout: &Matrix<T>, want_dx: bool) -> Option<&Matrix<T>> {
        gemm(T::one(), x, Op::N, dout, Op::T, T::zero(), &mut self.dw);
        row_sums_into(dout, &mut self.db);
        if !want_dx {
            return None;
        }
        ensure_shape(&mut self.dx, self.w.nrows(), dout.ncols());
        gemm(
            T::one(),
            &self.w,
            Op::N,
            dout,
            Op::N,
            T::zero(),
            &mut self.dx,
        );
        Some(&self.dx)
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, T>)) {
        f(Param::of(Kind::Weight, &mut self.w, &mut self.dw));
        f(Param::of(Kind::Bias, &mut self.b, &mut self.db));
    }
}
