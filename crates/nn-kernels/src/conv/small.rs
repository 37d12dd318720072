//! A convolution's filter gradient for small filters, by a kernel of our own.
//!
//! `dW = Σ_samples doutᵀ·col` multiplies two matrices that are both stored along the sum: each
//! filter's `dout` plane and each weight's col plane hold the sample's `OH·OW` positions one after
//! the other. The `gemm` crate must then copy `doutᵀ` into its own layout for every sample, and
//! its kernel loads and stores the tiny `dW` (`30×25` for the book's first layer) every few
//! hundred multiply-adds: about 45 GFLOP/s on one core, against 100 for a large product.
//!
//! [`FilterGradient`] instead keeps, for each pair (filter, weight), a vector of
//! [`LANES`] partial sums: position `p` of every sample goes to lane `p mod LANES`. A block of 4
//! filters × 5 weights (20 vectors, which the compiler keeps in registers) reads 4 + 5 rows of 16
//! values per 20 fused multiply-adds. The lanes are added up once, at the end of the batch. The
//! order of every sum depends on the shapes only: the results are the same on any number of
//! threads (and, `mul_add` being exact, on any CPU).
//!
//! The partial sums take `filters · weights · LANES` values, so this serves filters of up to
//! [`MAX_PAIRS`] pairs (the book's first layers); larger ones go through the filter-gradient
//! kernel of [`direct`](super::direct) (filters in multiples of 16) or `gemm`.

use multiversion::multiversion;

use crate::Scalar;
use crate::elementwise::LANES;

/// The most (filter, weight) pairs whose partial sums [`FilterGradient`] keeps (256 KiB of `f32`
/// sums: they stay in the core's L2 cache).
const MAX_PAIRS: usize = 4096;

/// Filters per block.
const FB: usize = 4;
/// Weights per block.
const KB: usize = 5;

/// The partial sums of `dW = Σ doutᵀ·col` over the samples of a batch (or of half of it).
#[derive(Clone, Debug, Default)]
pub(crate) struct FilterGradient<T> {
    filters: usize,
    weights: usize,
    /// `LANES` partial sums per pair, pair `(f, k)` at `(f·weights + k)·LANES`.
    sums: Vec<T>,
}

/// Whether [`FilterGradient`] serves a gradient of `filters × weights` pairs (at most
/// [`MAX_PAIRS`]).
pub(crate) fn serves(filters: usize, weights: usize) -> bool {
    filters * weights <= MAX_PAIRS
}

impl<T: Scalar> FilterGradient<T> {
    /// Starts a sum of `filters × weights` (all partial sums at zero).
    pub(crate) fn start(&mut self, filters: usize, weights: usize) {
        self.filters = filters;
        self.weights = weights;
        let len = filters * weights * LANES;
        if self.sums.len() != len {
            self.sums = vec![T::ZERO; len];
        } else {
            self.sums.fill(T::ZERO);
        }
    }

    /// Adds one sample: `dout` holds `filters` planes and `col` `weights` planes, each of
    /// `positions` values.
    pub(crate) fn add(&mut self, dout: &[T], col: &[T], positions: usize) {
        assert_eq!(dout.len(), self.filters * positions, "dout planes");
        assert_eq!(col.len(), self.weights * positions, "col planes");
        add_sample(&mut self.sums, self.weights, dout, col, positions);
    }

    /// Writes `dW` into `dw`, a column-major `(filters, weights)` matrix: each pair's lanes added
    /// up in order.
    pub(crate) fn finish(&self, dw: &mut [T]) {
        assert_eq!(dw.len(), self.filters * self.weights, "dW");
        for f in 0..self.filters {
            for k in 0..self.weights {
                let lanes = &self.sums[(f * self.weights + k) * LANES..][..LANES];
                dw[k * self.filters + f] = lanes.iter().fold(T::ZERO, |s, &v| s + v);
            }
        }
    }
}

#[multiversion(targets = "simd")]
fn add_sample<T: Scalar>(sums: &mut [T], weights: usize, dout: &[T], col: &[T], positions: usize) {
    let filters = dout.len() / positions;
    let mut f = 0;
    while f < filters {
        let fb = (filters - f).min(FB);
        let mut k = 0;
        while k < weights {
            let kb = (weights - k).min(KB);
            match (fb, kb) {
                (FB, KB) => block::<T, FB, KB>(sums, weights, dout, col, positions, f, k),
                (FB, _) => {
                    for j in k..k + kb {
                        block::<T, FB, 1>(sums, weights, dout, col, positions, f, j);
                    }
                }
                (_, KB) => {
                    for i in f..f + fb {
                        block::<T, 1, KB>(sums, weights, dout, col, positions, i, k);
                    }
                }
                _ => {
                    for i in f..f + fb {
                        for j in k..k + kb {
                            block::<T, 1, 1>(sums, weights, dout, col, positions, i, j);
                        }
                    }
                }
            }
            k += kb;
        }
        f += fb;
    }
}

/// The pairs of filters `f..f + R` and weights `k..k + C`: their partial sums, loaded into local
/// arrays (registers), gain one sample.
#[inline(always)]
fn block<T: Scalar, const R: usize, const C: usize>(
    sums: &mut [T],
    weights: usize,
    dout: &[T],
    col: &[T],
    positions: usize,
    f: usize,
    k: usize,
) {
    let mut acc = [[[T::ZERO; LANES]; C]; R];
    for (i, row) in acc.iter_mut().enumerate() {
        for (j, lanes) in row.iter_mut().enumerate() {
            let at = ((f + i) * weights + k + j) * LANES;
            lanes.copy_from_slice(&sums[at..at + LANES]);
        }
    }
    let d: [&[T]; R] = std::array::from_fn(|i| &dout[(f + i) * positions..][..positions]);
    let c: [&[T]; C] = std::array::from_fn(|j| &col[(k + j) * positions..][..positions]);
    let full = positions / LANES * LANES;
    for p in (0..full).step_by(LANES) {
        let dv = std::array::from_fn(|i| d[i][p..p + LANES].try_into().expect("LANES values"));
        let cv = std::array::from_fn(|j| c[j][p..p + LANES].try_into().expect("LANES values"));
        step(&mut acc, &dv, &cv);
    }
    if full < positions {
        // The last positions, padded with zeros (which add exactly nothing): the same vector code,
        // so that the sums stay in registers (indexing a lane by a variable would keep them in
        // memory for the whole loop).
        let padded = |row: &[T]| {
            let mut v = [T::ZERO; LANES];
            for (v, &x) in v.iter_mut().zip(&row[full..]) {
                *v = x;
            }
            v
        };
        let dv = std::array::from_fn(|i| padded(d[i]));
        let cv = std::array::from_fn(|j| padded(c[j]));
        step(&mut acc, &dv, &cv);
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, lanes) in row.iter().enumerate() {
            let at = ((f + i) * weights + k + j) * LANES;
            sums[at..at + LANES].copy_from_slice(lanes);
        }
    }
}

/// One step of every partial sum of a block: `acc[i][j] += dv[i] ⊙ cv[j]`, fused.
#[inline(always)]
pub(crate) fn step<T: Scalar, const R: usize, const C: usize>(
    acc: &mut [[[T; LANES]; C]; R],
    dv: &[[T; LANES]; R],
    cv: &[[T; LANES]; C],
) {
    for i in 0..R {
        for j in 0..C {
            for l in 0..LANES {
                acc[i][j][l] = dv[i][l].fma(cv[j][l], acc[i][j][l]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the definition, on small integers (exact sums), with every kind of remainder:
    /// filters and weights not multiples of the block, positions not a multiple of `LANES`.
    #[test]
    fn the_gradient_is_the_sum_of_the_products() {
        for (filters, weights, positions) in [(30, 25, 576), (7, 11, 37), (1, 1, 3), (4, 5, 16)] {
            let mut grad = FilterGradient::<f64>::default();
            grad.start(filters, weights);
            let mut want = vec![0.0; filters * weights];
            for sample in 0..3 {
                let dout: Vec<f64> = (0..filters * positions)
                    .map(|i| ((i * 7 + sample) % 9) as f64 - 4.0)
                    .collect();
                let col: Vec<f64> = (0..weights * positions)
                    .map(|i| ((i * 5 + 3 * sample) % 7) as f64 - 3.0)
                    .collect();
                grad.add(&dout, &col, positions);
                for f in 0..filters {
                    for k in 0..weights {
                        for p in 0..positions {
                            want[k * filters + f] +=
                                dout[f * positions + p] * col[k * positions + p];
                        }
                    }
                }
            }
            let mut dw = vec![f64::NAN; filters * weights];
            grad.finish(&mut dw);
            assert_eq!(dw, want, "{filters}×{weights}×{positions}");
        }
    }
}
