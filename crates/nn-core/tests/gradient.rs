//! Numerical differentiation against the book's worked examples (§4.3, §4.4).

use nn_core::Matrix;
use nn_core::gradient::{numerical_diff, numerical_gradient};
use proptest::prelude::*;

#[test]
fn numerical_diff_of_the_books_function() {
    // f(x) = 0.01x² + 0.1x, f'(x) = 0.02x + 0.1: 0.2 at 5, 0.3 at 10.
    let f = |x: f64| 0.01 * x * x + 0.1 * x;
    assert!((numerical_diff(f, 5.0) - 0.2).abs() < 1e-6);
    assert!((numerical_diff(f, 10.0) - 0.3).abs() < 1e-6);
}

fn function_2(x: &mut Matrix<f64>) -> f64 {
    x.iter().map(|v| v * v).sum()
}

#[test]
fn numerical_gradient_of_the_books_function() {
    // f(x0, x1) = x0² + x1²: (6, 8) at (3, 4), (0, 4) at (0, 2), (6, 0) at (3, 0).
    for (x, want) in [
        ([3.0, 4.0], [6.0, 8.0]),
        ([0.0, 2.0], [0.0, 4.0]),
        ([3.0, 0.0], [6.0, 0.0]),
    ] {
        let mut point = Matrix::from_column_slice(2, 1, &x);
        let g = numerical_gradient(function_2, &mut point, |p| p);
        assert!(
            (g[0] - want[0]).abs() < 1e-6 && (g[1] - want[1]).abs() < 1e-6,
            "{x:?}: {g}"
        );
        assert_eq!(point.as_slice(), &x, "the point is restored");
    }
}

/// A toy "network": the loss reads the weights it holds, like the book's `simpleNet` (§4.4.2).
struct Holder {
    w: Matrix<f64>,
    x: Matrix<f64>,
}

#[test]
fn the_loss_sees_the_perturbed_parameter_and_the_state_is_restored() {
    // loss = Σ (Wᵀx)ᵢ² / 2, so ∂loss/∂W = x·(Wᵀx)ᵀ.
    let w = Matrix::from_row_slice(2, 3, &[0.47, 0.99, 0.84, 0.85, 0.03, 0.69]);
    let x = Matrix::from_column_slice(2, 1, &[0.6, 0.9]);
    let mut holder = Holder {
        w: w.clone(),
        x: x.clone(),
    };
    let loss = |h: &mut Holder| (h.w.transpose() * &h.x).norm_squared() / 2.0;
    let g = numerical_gradient(loss, &mut holder, |h| &mut h.w);
    let want = &x * (w.transpose() * &x).transpose();
    assert!((g - want).abs().max() < 1e-8);
    assert_eq!(holder.w, w);
}

proptest! {
    #[test]
    fn numerical_gradient_of_a_cubic_errs_by_h_squared_over_three(
        v in prop::collection::vec(-10.0..10.0_f64, 1..8),
    ) {
        // f(x) = Σ xᵢ³/3 + xᵢ has gradient xᵢ² + 1; the central difference adds exactly h²/3.
        let mut x = Matrix::from_column_slice(v.len(), 1, &v);
        let g = numerical_gradient(|x: &mut Matrix<f64>| x.iter().map(|a| a * a * a / 3.0 + a).sum(), &mut x, |x| x);
        for (gi, xi) in g.iter().zip(&v) {
            prop_assert!((gi - (xi * xi + 1.0)).abs() < 1e-6, "{gi} vs {}", xi * xi + 1.0);
        }
        prop_assert_eq!(x.as_slice(), v.as_slice());
    }
}
