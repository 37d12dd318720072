//! The scalar type of every computation, and the one place where matrices are multiplied.
//!
//! Training runs in `f32` (twice the numbers per cache line and per SIMD lane), gradient checks
//! in `f64` (central differences need the extra digits). Both implement [`Float`].
//!
//! [`Float::gemm`] is the only matrix product on the hot path. It hands
//! [`matrixmultiply`](https://docs.rs/matrixmultiply) the row and column strides of each operand,
//! so a transposed operand costs nothing: `Wᵀ·x` reads `W` with its strides swapped instead of
//! copying it. (nalgebra's `tr_mul` works too but falls back to dot-product loops, about three
//! times slower at our sizes.) A later performance pass may change the kernel here and only here;
//! results must stay identical for a given seed.

use crate::Matrix;
use nalgebra::RealField;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Whether [`Float::gemm`] uses a matrix as it is or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Use the matrix as stored: `A`.
    N,
    /// Use its transpose: `Aᵀ` (free: only the strides change).
    T,
}

/// A floating-point scalar the network can compute with: `f32` or `f64`.
pub trait Float:
    RealField + Copy + Default + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// Converts from `f64` (rounding to nearest for `f32`).
    fn of_f64(v: f64) -> Self;

    /// Converts to `f64` (exact for both `f32` and `f64`).
    fn to_f64(self) -> f64;

    /// General matrix product, in place: `C ← α·op(A)·op(B) + β·C`.
    ///
    /// `op(A)` must be `(m, k)`, `op(B)` `(k, n)` and `C` `(m, n)`. When `β` is zero, the old
    /// contents of `C` are ignored (even NaN), as in BLAS.
    ///
    /// # Panics
    /// If the shapes do not match: that is a bug in the caller, never a property of user data.
    ///
    /// ```
    /// use nn_core::{Float, Matrix, Op};
    /// let w = Matrix::from_row_slice(2, 3, &[1.0_f32, 2.0, 3.0, 4.0, 5.0, 6.0]);
    /// let x = Matrix::from_column_slice(2, 1, &[1.0_f32, 1.0]);
    /// let mut y = Matrix::zeros(3, 1);
    /// f32::gemm(1.0, &w, Op::T, &x, Op::N, 0.0, &mut y); // y = Wᵀ·x
    /// assert_eq!(y.as_slice(), &[5.0, 7.0, 9.0]);
    /// ```
    fn gemm(
        alpha: Self,
        a: &Matrix<Self>,
        op_a: Op,
        b: &Matrix<Self>,
        op_b: Op,
        beta: Self,
        c: &mut Matrix<Self>,
    );
}

/// The signature shared by `matrixmultiply::sgemm` and `matrixmultiply::dgemm`.
type RawGemm<T> = unsafe fn(
    usize,
    usize,
    usize,
    T,
    *const T,
    isize,
    isize,
    *const T,
    isize,
    isize,
    T,
    *mut T,
    isize,
    isize,
);

/// Shape `(rows, cols)` and strides `(row stride, column stride)` of `op(M)` for a column-major `M`.
fn view<T: Float>(m: &Matrix<T>, op: Op) -> ((usize, usize), (isize, isize)) {
    let (r, c) = m.shape();
    // Column-major storage: stepping down a row moves 1 element, stepping right moves `r`.
    let ld = isize::try_from(r).expect("matrix dimension fits in isize");
    match op {
        Op::N => ((r, c), (1, ld)),
        Op::T => ((c, r), (ld, 1)),
    }
}

/// Checks the shapes, then calls the kernel with the strides of each operand.
#[allow(unsafe_code, clippy::too_many_arguments)]
fn checked_gemm<T: Float>(
    kernel: RawGemm<T>,
    alpha: T,
    a: &Matrix<T>,
    op_a: Op,
    b: &Matrix<T>,
    op_b: Op,
    beta: T,
    c: &mut Matrix<T>,
) {
    let ((m, k), (rsa, csa)) = view(a, op_a);
    let ((kb, n), (rsb, csb)) = view(b, op_b);
    assert_eq!(k, kb, "gemm: op(A) is {m}x{k} but op(B) is {kb}x{n}");
    assert_eq!(
        c.shape(),
        (m, n),
        "gemm: C must be {m}x{n}, it is {:?}",
        c.shape()
    );
    let ((_, _), (rsc, csc)) = view(c, Op::N);
    // SAFETY: the pointers come from live nalgebra matrices whose shapes were checked above, so
    // every index the kernel forms from (m, k, n) and the strides stays inside its buffer; `c` is
    // borrowed mutably, so it cannot alias `a` or `b`.
    unsafe {
        kernel(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            rsc,
            csc,
        );
    }
}

impl Float for f32 {
    fn of_f64(v: f64) -> Self {
        v as f32
    }

    fn to_f64(self) -> f64 {
        f64::from(self)
    }

    fn gemm(
        alpha: Self,
        a: &Matrix<Self>,
        op_a: Op,
        b: &Matrix<Self>,
        op_b: Op,
        beta: Self,
        c: &mut Matrix<Self>,
    ) {
        checked_gemm(matrixmultiply::sgemm, alpha, a, op_a, b, op_b, beta, c);
    }
}

impl Float for f64 {
    fn of_f64(v: f64) -> Self {
        v
    }

    fn to_f64(self) -> f64 {
        self
    }

    fn gemm(
        alpha: Self,
        a: &Matrix<Self>,
        op_a: Op,
        b: &Matrix<Self>,
        op_b: Op,
        beta: Self,
        c: &mut Matrix<Self>,
    ) {
        checked_gemm(matrixmultiply::dgemm, alpha, a, op_a, b, op_b, beta, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination of transposes against the textbook triple loop, on small integers so the
    /// products are exact.
    #[test]
    fn gemm_matches_the_definition_for_every_transpose() {
        let a = Matrix::<f64>::from_fn(3, 4, |i, j| (i * 4 + j) as f64 - 5.0);
        let b = Matrix::<f64>::from_fn(4, 2, |i, j| (i * 2 + j) as f64 * 0.5);
        let expected = &a * &b;
        let at = a.transpose();
        let bt = b.transpose();
        for (lhs, op_a) in [(&a, Op::N), (&at, Op::T)] {
            for (rhs, op_b) in [(&b, Op::N), (&bt, Op::T)] {
                let mut c = Matrix::from_element(3, 2, 1.0);
                f64::gemm(2.0, lhs, op_a, rhs, op_b, 1.0, &mut c);
                let want = expected.map(|v| 2.0 * v + 1.0);
                assert_eq!(c, want, "op_a {op_a:?}, op_b {op_b:?}");
            }
        }
    }

    #[test]
    fn beta_zero_ignores_nan_in_c() {
        let a = Matrix::<f32>::identity(2, 2);
        let b = Matrix::<f32>::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
        let mut c = Matrix::from_element(2, 2, f32::NAN);
        f32::gemm(1.0, &a, Op::N, &b, Op::N, 0.0, &mut c);
        assert_eq!(c, b);
    }

    #[test]
    #[should_panic(expected = "gemm")]
    fn mismatched_shapes_panic() {
        let a = Matrix::<f32>::zeros(2, 3);
        let mut c = Matrix::<f32>::zeros(2, 2);
        f32::gemm(1.0, &a, Op::N, &a, Op::N, 0.0, &mut c);
    }
}
