//! Numerical integration by the rectangle and midpoint rules: an aside from the project's
//! origin, the integral counterpart of [`numerical_diff`](crate::gradient::numerical_diff).
//!
//! Both split `[a, b]` into `n` strips of width `h = (b − a)/n` and add up `h·f(point)`: the
//! rectangle rule takes each strip's left end (error of order `h`), the midpoint rule its middle
//! (error of order `h²`, exact for straight lines).

use crate::Float;

/// Left rectangle rule: `∫ₐᵇ f ≈ h·Σᵢ f(a + i·h)`, `i = 0..n`.
///
/// ```
/// use nn_core::integrate::rectangle;
/// // ∫₀¹ x dx = 1/2; the left sum is (n − 1)/2n.
/// assert!((rectangle(|x: f64| x, 0.0, 1.0, 4) - 0.375).abs() < 1e-15);
/// ```
pub fn rectangle<T: Float>(f: impl Fn(T) -> T, a: T, b: T, n: usize) -> T {
    riemann_sum(f, a, b, n, T::zero())
}

/// Midpoint rule: `∫ₐᵇ f ≈ h·Σᵢ f(a + (i + ½)·h)`, `i = 0..n`.
///
/// ```
/// use nn_core::integrate::midpoint;
/// // Exact for straight lines: ∫₀² (3x + 1) dx = 8.
/// assert!((midpoint(|x: f64| 3.0 * x + 1.0, 0.0, 2.0, 3) - 8.0).abs() < 1e-12);
/// ```
pub fn midpoint<T: Float>(f: impl Fn(T) -> T, a: T, b: T, n: usize) -> T {
    riemann_sum(f, a, b, n, T::of_f64(0.5))
}

/// `h·Σᵢ f(a + (i + offset)·h)` for `i = 0..n` (zero when `n` is zero).
fn riemann_sum<T: Float>(f: impl Fn(T) -> T, a: T, b: T, n: usize, offset: T) -> T {
    if n == 0 {
        return T::zero();
    }
    let h = (b - a) / T::from_usize(n).expect("strip count fits in a float");
    let sum = (0..n).fold(T::zero(), |acc, i| {
        let i = T::from_usize(i).expect("strip index fits in a float");
        acc + f(a + (i + offset) * h)
    });
    sum * h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn left_rectangles_of_x_are_n_minus_one_over_two_n() {
        for n in [1, 2, 10, 1000] {
            let want = (n as f64 - 1.0) / (2.0 * n as f64);
            assert!(
                (rectangle(|x: f64| x, 0.0, 1.0, n) - want).abs() < 1e-12,
                "n = {n}"
            );
        }
    }

    #[test]
    fn midpoint_of_x_squared_misses_by_one_over_twelve_n_squared() {
        for n in [1, 3, 100] {
            let want = 1.0 / 3.0 - 1.0 / (12.0 * (n * n) as f64);
            assert!(
                (midpoint(|x: f64| x * x, 0.0, 1.0, n) - want).abs() < 1e-12,
                "n = {n}"
            );
        }
    }

    #[test]
    fn both_rules_converge_to_the_integral_of_sine() {
        // ∫₀^π sin x dx = 2; midpoint error ≈ π³/(24n²) ≈ 1.3e-6 for n = 1000.
        assert!((midpoint(f64::sin, 0.0, PI, 1000) - 2.0).abs() < 2e-6);
        assert!((rectangle(f64::sin, 0.0, PI, 1000) - 2.0).abs() < 3e-6);
        assert!((midpoint(f64::exp, 0.0, 1.0, 1000) - (1f64.exp() - 1.0)).abs() < 1e-7);
    }

    #[test]
    fn no_strips_give_zero() {
        assert_eq!(midpoint(|x: f64| x, 0.0, 1.0, 0), 0.0);
    }
}
