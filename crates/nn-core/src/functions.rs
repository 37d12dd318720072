//! The activation and loss functions of chapters 3 and 4 (`common/functions.py` in the book).
//!
//! Scalar functions ([`sigmoid`], [`relu`], ...) are applied to a matrix with nalgebra's `map`:
//! `x.map(sigmoid)`. Functions of a whole batch ([`softmax`], [`cross_entropy_error`],
//! [`mean_squared_error`]) take a `(classes, batch)` matrix, one sample per column; a single
//! sample is a one-column matrix.

use crate::{Float, Matrix, Targets};

/// The identity function `h(x) = x`, the output activation of regression (§3.5.1).
pub fn identity<T: Float>(x: T) -> T {
    x
}

/// The step function (§3.2.2): `1` if `x > 0`, else `0`. It is also the derivative of [`relu`].
pub fn step<T: Float>(x: T) -> T {
    if x > T::zero() { T::one() } else { T::zero() }
}

/// The sigmoid function (§3.2.4): `σ(x) = 1 / (1 + exp(−x))`.
///
/// ```
/// assert_eq!(nn_core::functions::sigmoid(0.0_f64), 0.5);
/// ```
pub fn sigmoid<T: Float>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

/// The sigmoid of every value of a slice, in place: the hot loop of the sigmoid layer and of
/// accuracy passes, with [`sigmoid`]'s formula `1 / (1 + exp(−x))`. The loop is
/// [`nn_kernels::elementwise::sigmoid_in_place`]: compiled for each SIMD level, with an `f32`
/// exponential that vectorises (within 2 ulp of the exact value).
///
/// ```
/// let mut v = [-1.0_f32, 0.0, 2.0];
/// nn_core::functions::sigmoid_in_place(&mut v);
/// for (got, want) in v.iter().zip([0.26894142_f32, 0.5, 0.88079708]) {
///     assert!((got - want).abs() < 1e-7);
/// }
/// ```
pub fn sigmoid_in_place<T: Float>(values: &mut [T]) {
    nn_kernels::elementwise::sigmoid_in_place(values);
}

/// The derivative of the sigmoid (§5.5.2): `σ'(x) = (1 − σ(x))·σ(x)`.
pub fn sigmoid_grad<T: Float>(x: T) -> T {
    let s = sigmoid(x);
    (T::one() - s) * s
}

/// The ReLU function (§3.2.7): `max(0, x)`.
pub fn relu<T: Float>(x: T) -> T {
    if x > T::zero() { x } else { T::zero() }
}

/// Softmax of each column, in place (§3.5): `yₖ = exp(aₖ − max a) / Σᵢ exp(aᵢ − max a)`.
///
/// Subtracting the column's maximum first changes nothing mathematically and keeps `exp` from
/// overflowing (§3.5.2): inputs of 1000 are fine.
pub fn softmax_in_place<T: Float>(a: &mut Matrix<T>) {
    for mut col in a.column_iter_mut() {
        let max = col
            .iter()
            .copied()
            .fold(T::of_f64(f64::NEG_INFINITY), |m, v| m.max(v));
        let mut sum = T::zero();
        for v in col.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        col.unscale_mut(sum);
    }
}

/// Softmax of each column (one sample per column), see [`softmax_in_place`].
///
/// ```
/// use nn_core::{Matrix, functions::softmax};
/// let y = softmax(&Matrix::from_column_slice(3, 1, &[1010.0_f64, 1000.0, 990.0]));
/// assert!((y.sum() - 1.0).abs() < 1e-15);
/// assert!(y[0] > 0.99);
/// ```
pub fn softmax<T: Float>(a: &Matrix<T>) -> Matrix<T> {
    let mut y = a.clone();
    softmax_in_place(&mut y);
    y
}

/// The `delta` the book adds inside the logarithm of [`cross_entropy_error`] (§4.2.2), so that
/// `log(0)` never happens.
pub const CROSS_ENTROPY_DELTA: f64 = 1e-7;

/// Cross-entropy error of a batch, the book's form (§4.2.2 and §4.2.4):
/// `E = −(1/N)·Σₙ Σₖ tₙₖ·log(yₙₖ + δ)` with `δ = 1e-7`.
///
/// `y` is `(classes, N)`, one probability distribution per column; the targets are class labels
/// or one-hot columns. For the exact loss without `δ`, see [`cross_entropy_error_with_delta`];
/// [`SoftmaxWithLoss`](crate::layers::SoftmaxWithLoss) computes it from the scores directly.
///
/// # Panics
/// If the targets do not match `y` (see [`Targets`]).
///
/// ```
/// use nn_core::{Matrix, Targets, functions::cross_entropy_error};
/// let y = Matrix::from_column_slice(3, 1, &[0.1_f64, 0.7, 0.2]);
/// let e = cross_entropy_error(&y, Targets::Labels(&[1]));
/// assert!((e - (-(0.7_f64 + 1e-7).ln())).abs() < 1e-15);
/// ```
pub fn cross_entropy_error<T: Float>(y: &Matrix<T>, t: Targets<'_, T>) -> T {
    cross_entropy_error_with_delta(y, t, T::of_f64(CROSS_ENTROPY_DELTA))
}

/// Cross-entropy error of a batch with a chosen `delta`:
/// `E = −(1/N)·Σₙ Σₖ tₙₖ·log(yₙₖ + δ)`; `δ = 0` gives the exact loss.
///
/// # Panics
/// If the targets do not match `y` (see [`Targets`]).
pub fn cross_entropy_error_with_delta<T: Float>(y: &Matrix<T>, t: Targets<'_, T>, delta: T) -> T {
    t.check(y.nrows(), y.ncols());
    let mut sum = T::zero();
    match t {
        Targets::Labels(labels) => {
            for (col, &label) in y.column_iter().zip(labels) {
                sum += (col[usize::from(label)] + delta).ln();
            }
        }
        Targets::OneHot(t) => {
            for (&yv, &tv) in y.iter().zip(t.iter()) {
                if tv != T::zero() {
                    sum += tv * (yv + delta).ln();
                }
            }
        }
    }
    -sum / T::from_usize(y.ncols()).expect("batch size fits in a float")
}

/// Mean squared error (§4.2.1): `E = ½·Σₖ (yₖ − tₖ)²` for one sample, averaged over the columns
/// of a batch.
///
/// # Panics
/// If the targets do not match `y` (see [`Targets`]).
///
/// ```
/// use nn_core::{Matrix, Targets, functions::mean_squared_error};
/// let y = Matrix::from_column_slice(2, 1, &[0.5_f64, 0.5]);
/// assert_eq!(mean_squared_error(&y, Targets::Labels(&[0])), 0.25);
/// ```
pub fn mean_squared_error<T: Float>(y: &Matrix<T>, t: Targets<'_, T>) -> T {
    t.check(y.nrows(), y.ncols());
    let half = T::of_f64(0.5);
    let mut sum = T::zero();
    for (n, col) in y.column_iter().enumerate() {
        for (k, &yv) in col.iter().enumerate() {
            let d = yv - t.value(k, n);
            sum += d * d;
        }
    }
    half * sum / T::from_usize(y.ncols()).expect("batch size fits in a float")
}

/// Index of the largest value of each column (the first one on ties, as NumPy's `argmax`).
pub fn argmax_columns<T: Float>(y: &Matrix<T>) -> impl Iterator<Item = usize> + '_ {
    y.column_iter().map(|col| first_max(col.iter().copied()))
}

/// Index of the largest of `values` (the first one on ties, as NumPy's `np.argmax`); 0 when
/// there is none.
///
/// ```
/// assert_eq!(nn_core::functions::argmax(&[0.1f32, 0.7, 0.7, 0.2]), 1);
/// assert_eq!(nn_core::functions::argmax(&[0.9f32]), 0);
/// ```
pub fn argmax<T: Float>(values: &[T]) -> usize {
    first_max(values.iter().copied())
}

/// The index of the first largest value.
fn first_max<T: Float>(values: impl Iterator<Item = T>) -> usize {
    let mut best: Option<(usize, T)> = None;
    for (i, v) in values.enumerate() {
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map_or(0, |(i, _)| i)
}
