//! Numerical differentiation (§4.3 and §4.4): the slow, obviously-correct gradients that check
//! backpropagation.
//!
//! # Why the loss closure takes the state as an argument
//!
//! The book writes `loss_W = lambda W: self.loss(x, t)` and passes `W` to `numerical_gradient`,
//! which perturbs `W[i]` in place. The lambda ignores its argument: it works only because the
//! NumPy array it was given *is* the network's weight array, so the network sees the change.
//! Hand it a copy and every gradient silently becomes zero.
//!
//! Here [`numerical_gradient`] borrows the whole `state` (the network) mutably, selects the
//! parameter with `param`, and hands the perturbed `state` to the loss `f` as its argument. While
//! the gradient is computed the borrow checker lets nothing else see the state, so `f` cannot
//! capture a stale copy: the only network it can evaluate is the one that holds the perturbed
//! parameter. Each entry is restored right after its two evaluations, so the state is unchanged
//! afterwards.

use crate::{Float, Matrix};

/// The step of the central differences, `h = 1e-4` (§4.3.1): small enough for a good
/// approximation, large enough to stay clear of rounding error in `f64`.
pub const H: f64 = 1e-4;

/// Derivative of `f` at `x` by central difference (§4.3.1): `(f(x + h) − f(x − h)) / 2h`.
///
/// ```
/// use nn_core::gradient::numerical_diff;
/// let d = numerical_diff(|x: f64| 0.01 * x * x + 0.1 * x, 5.0);
/// assert!((d - 0.2).abs() < 1e-6); // the exact derivative is 0.02·x + 0.1
/// ```
pub fn numerical_diff<T: Float>(f: impl Fn(T) -> T, x: T) -> T {
    let h = T::of_f64(H);
    (f(x + h) - f(x - h)) / (h + h)
}

/// Gradient of the scalar `f(state)` with respect to the matrix `param(state)`, by central
/// differences (§4.4): `∂f/∂wᵢ ≈ (f(w + h·eᵢ) − f(w − h·eᵢ)) / 2h` for every entry `wᵢ`.
///
/// Returns a matrix of the parameter's shape. `f` is evaluated `2 × len` times, on the state whose
/// parameter holds the perturbed value (see the [module docs](self) for why the design makes the
/// book's aliasing trap impossible); each entry is restored after use.
///
/// For a function of a plain matrix, the state is the matrix itself and `param` is `|x| x`:
///
/// ```
/// use nn_core::{Matrix, gradient::numerical_gradient};
/// // f(x0, x1) = x0² + x1², whose gradient is (2·x0, 2·x1) (§4.4).
/// let mut x = Matrix::from_column_slice(2, 1, &[3.0_f64, 4.0]);
/// let g = numerical_gradient(|x: &mut Matrix<f64>| x[0] * x[0] + x[1] * x[1], &mut x, |x| x);
/// assert!((g[0] - 6.0).abs() < 1e-6 && (g[1] - 8.0).abs() < 1e-6);
/// assert_eq!(x.as_slice(), &[3.0, 4.0]); // restored
/// ```
pub fn numerical_gradient<T: Float, S: ?Sized>(
    mut f: impl FnMut(&mut S) -> T,
    state: &mut S,
    param: impl Fn(&mut S) -> &mut Matrix<T>,
) -> Matrix<T> {
    let h = T::of_f64(H);
    let (rows, cols) = param(state).shape();
    let mut grad = Matrix::zeros(rows, cols);
    for i in 0..rows * cols {
        let original = param(state)[i];
        param(state)[i] = original + h;
        let f_plus = f(state);
        param(state)[i] = original - h;
        let f_minus = f(state);
        param(state)[i] = original;
        grad[i] = (f_plus - f_minus) / (h + h);
    }
    grad
}
