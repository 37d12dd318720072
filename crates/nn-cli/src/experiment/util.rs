//! The helpers of the book's `common/util.py` that the experiments use: `smooth_curve` (the
//! loss curves of §6.1.8 and §6.2.3) and `shuffle_dataset` (the validation split of §6.5.3).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Points of the smoothing window.
const WINDOW: usize = 11;

/// The book's `smooth_curve`: a moving average weighted by a Kaiser window of 11 points
/// (β = 2), over the series mirrored at both ends exactly as the book pads it (`np.r_[x[10:0:-1],
/// x, x[-1:-11:-1]]`: the first value is not repeated, the last one is). Series shorter than
/// the window are returned as they are (the book's padding needs 11 values).
pub fn smooth_curve(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    if n < WINDOW {
        return x.to_vec();
    }
    let w = kaiser(WINDOW, 2.0);
    let sum: f64 = w.iter().sum();
    let half = (WINDOW / 2) as isize;
    // Index k of the padded series, relative to x: mirrored without repeating x[0] on the
    // left, repeating x[n-1] on the right.
    let at = |k: isize| -> f64 {
        let n = n as isize;
        let i = if k < 0 {
            -k
        } else if k >= n {
            2 * n - 1 - k
        } else {
            k
        };
        x[i as usize]
    };
    (0..n as isize)
        .map(|i| {
            w.iter()
                .enumerate()
                .map(|(j, wj)| wj * at(i - half + j as isize))
                .sum::<f64>()
                / sum
        })
        .collect()
}

/// NumPy's `kaiser(m, beta)`: `I₀(β·√(1 − ((n − α)/α)²)) / I₀(β)` for `n` in `0..m`, `α =
/// (m − 1)/2`.
fn kaiser(m: usize, beta: f64) -> Vec<f64> {
    let alpha = (m as f64 - 1.0) / 2.0;
    (0..m)
        .map(|n| {
            let r = (n as f64 - alpha) / alpha;
            bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(beta)
        })
        .collect()
}

/// The modified Bessel function of the first kind of order 0, by its power series
/// `Σ ((x/2)^k / k!)²` (exact to rounding for the small arguments of a window).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-17 * sum {
        term *= (x / (2.0 * k)).powi(2);
        sum += term;
        k += 1.0;
    }
    sum
}

/// The book's `shuffle_dataset`, for indices: `0..n` in an order drawn from `seed`.
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..n).collect();
    indices.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    indices
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-7)
    }

    #[test]
    fn the_window_is_numpys_kaiser() {
        // np.kaiser(11, 2)
        let numpy = [
            0.43867628, 0.61139435, 0.767675, 0.89216143, 0.9723298, 1.0, 0.9723298, 0.89216143,
            0.767675, 0.61139435, 0.43867628,
        ];
        assert!(close(&kaiser(11, 2.0), &numpy), "{:?}", kaiser(11, 2.0));
    }

    #[test]
    fn smoothing_matches_the_books_smooth_curve() {
        // smooth_curve(np.array([(i * 7) % 5 for i in range(15)], dtype=float)), run in NumPy.
        let x: Vec<f64> = (0..15).map(|i| ((i * 7) % 5) as f64).collect();
        let numpy = [
            1.94038828, 2.00183595, 2.03127797, 2.03093817, 2.00085799, 1.93889101, 2.0,
            2.06110899, 1.94669683, 2.05330317, 2.09622653, 2.16683737, 2.26334893, 2.22734636,
            2.21113659,
        ];
        assert!(close(&smooth_curve(&x), &numpy), "{:?}", smooth_curve(&x));
        // A constant stays constant; a short series is left alone.
        assert!(
            smooth_curve(&[2.5; 30])
                .iter()
                .all(|&v| (v - 2.5).abs() < 1e-12)
        );
        assert_eq!(smooth_curve(&[1.0, 3.0]), [1.0, 3.0]);
    }

    #[test]
    fn a_shuffle_is_a_permutation_fixed_by_its_seed() {
        let mut order = shuffled(500, 42);
        assert_eq!(order, shuffled(500, 42));
        assert_ne!(order, shuffled(500, 43));
        assert_ne!(order, (0..500).collect::<Vec<_>>());
        order.sort_unstable();
        assert_eq!(order, (0..500).collect::<Vec<_>>());
    }
}
