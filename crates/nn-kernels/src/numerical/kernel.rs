//! The inner loops of [`FastNumericalGradient`](super::FastNumericalGradient): what one loss
//! difference costs, written so that the compiler turns [`LANES`] of them into a few SIMD
//! instructions, compiled for AVX-512, AVX2, SSE4.2 and the baseline (`multiversion`, picked at
//! run time like [`sigmoid_in_place`](crate::elementwise::sigmoid_in_place)).
//!
//! The loops call [`exp_f64`] and [`ln_f64`], branch-free versions of `f64::exp` and `f64::ln`
//! (the standard library's call the C library one value at a time, which no loop vectorises).
//! Nothing here uses `mul_add`, and Rust never fuses a multiplication and an addition by itself:
//! every clone computes the same bits.

use multiversion::multiversion;

use super::H;

/// How many loss differences one pass of the loops computes side by side: one AVX-512 register
/// of `f64`, two AVX2 registers.
pub(super) const LANES: usize = 8;

/// A hidden activation, as the kernels apply it to a changed pre-activation.
pub(super) trait Act {
    /// The activation of `u`.
    fn apply(u: f64) -> f64;
}

/// `σ(u) = 1 / (1 + exp(−u))`, the sigmoid's formula.
pub(super) struct SigmoidAct;

impl Act for SigmoidAct {
    #[inline(always)]
    fn apply(u: f64) -> f64 {
        1.0 / (1.0 + exp_f64(-u))
    }
}

/// `max(0, u)` exactly as the ReLU layer: `u` when `u > 0`, else `0` (also at the
/// kink, where a central difference straddling `0` sees one side only).
pub(super) struct ReluAct;

impl Act for ReluAct {
    #[inline(always)]
    fn apply(u: f64) -> f64 {
        if u > 0.0 { u } else { 0.0 }
    }
}

/// What every kernel call reads: the cached forward pass of the batch and the sparse inputs.
pub(super) struct Forward<'a> {
    /// Hidden units (without the bias unit).
    pub hidden: usize,
    /// Classes.
    pub classes: usize,
    /// `a1`, `(hidden, batch)` column-major.
    pub a1: &'a [f64],
    /// `[z1; 1]`, `(hidden + 1, batch)` column-major.
    pub z1: &'a [f64],
    /// `softmax(a2)`, `(classes, batch)` column-major.
    pub y: &'a [f64],
    /// The labels, one per sample.
    pub labels: &'a [u8],
    /// Sample `n`'s non-zero inputs (the bias input `1` last) are `rows[starts[n]..starts[n + 1]]`
    /// with the values `values[…]`.
    pub starts: &'a [usize],
    /// Input indices (rows of `[W1; b1ᵀ]`).
    pub rows: &'a [usize],
    /// Input values.
    pub values: &'a [f64],
}

/// `Σₙ (Lₙ(w + h) − Lₙ(w − h))` for every entry `w` of column `j` of `[W1; b1ᵀ]` (`w_col`), added
/// to `grad` (zeroed by the caller), with `w2_row` row `j` of `W2`.
///
/// Moving `W1[i, j]` from `w` to `w ± h` moves `a1[j, n]` by `d·x[i, n]` (`d = (w ± h) − w`, the
/// step the naive method really takes): nothing changes for the samples whose input `i` is zero,
/// and for the others only hidden unit `j`, whose output moves by `s = act(a1 + d·x) − z1`, which
/// moves every score by `s·W2[j, k]`. With `y = softmax(a2)` the sample's loss then changes by
/// `ΔL(s) = ln Σₖ yₖ·exp(s·W2[j, k]) − s·W2[j, label]` (the log-sum-exp of the new scores minus
/// the old one), and the kernel adds `ΔL(s₊) − ΔL(s₋)` in the order of the samples.
pub(super) fn w1_column<A: Act>(
    f: &Forward<'_>,
    j: usize,
    w_col: &[f64],
    w2_row: &[f64],
    grad: &mut [f64],
) {
    w1_column_simd::<A>(f, j, w_col, w2_row, grad);
}

#[multiversion(targets = "simd")]
fn w1_column_simd<A: Act>(
    f: &Forward<'_>,
    j: usize,
    w_col: &[f64],
    w2_row: &[f64],
    grad: &mut [f64],
) {
    let (hidden, classes) = (f.hidden, f.classes);
    assert_eq!(w2_row.len(), classes, "W2 row");
    // max_k s·W2[j, k] is s·max W2[j, ·] for s ≥ 0 and s·min W2[j, ·] below (rounding is
    // monotonic): the shift that keeps every exponent ≤ 0.
    let w_max = w2_row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w_min = w2_row.iter().copied().fold(f64::INFINITY, f64::min);
    for (n, &label) in f.labels.iter().enumerate() {
        let a = f.a1[j + hidden * n];
        let z = f.z1[j + (hidden + 1) * n];
        let y = &f.y[classes * n..classes * (n + 1)];
        let w_label = w2_row[usize::from(label)];
        let (rows, values) = (
            &f.rows[f.starts[n]..f.starts[n + 1]],
            &f.values[f.starts[n]..f.starts[n + 1]],
        );
        for (rows, values) in rows.chunks(LANES).zip(values.chunks(LANES)) {
            // Unused lanes keep x = 0: s = 0 there, and nothing is written back for them.
            let (mut x, mut w) = ([0.0; LANES], [0.0; LANES]);
            for ((x, w), (&i, &v)) in x.iter_mut().zip(&mut w).zip(rows.iter().zip(values)) {
                *x = v;
                *w = w_col[i];
            }
            let mut s_plus = [0.0; LANES];
            let mut s_minus = [0.0; LANES];
            for l in 0..LANES {
                let d_plus = (w[l] + H) - w[l];
                let d_minus = (w[l] - H) - w[l];
                s_plus[l] = A::apply(a + d_plus * x[l]) - z;
                s_minus[l] = A::apply(a + d_minus * x[l]) - z;
            }
            let diff = loss_differences(&s_plus, &s_minus, y, w2_row, (w_min, w_max), w_label);
            for (&i, d) in rows.iter().zip(diff) {
                grad[i] += d;
            }
        }
    }
}

/// `ΔL(s₊) − ΔL(s₋)` lane by lane, where a sample with probabilities `y` has each score `k`
/// moved by `s·w[k]`: `ΔL(s) = ln Σₖ yₖ·exp(s·w[k] − m) + m − s·w_label` with `m = max s·w[k]`.
/// One logarithm per lane, of `S₊ / S₋`.
///
/// Every exponent lies in `[−|s|·(w_max − w_min), 0]`. When that bound is below [`SMALL`] in
/// every lane (always, in practice: `|s|` is at most `h·x` and the weights are small), the
/// exponentials are taken by [`exp_small`], a third of [`exp_f64`]'s work.
#[inline(always)]
fn loss_differences(
    s_plus: &[f64; LANES],
    s_minus: &[f64; LANES],
    y: &[f64],
    w: &[f64],
    (w_min, w_max): (f64, f64),
    w_label: f64,
) -> [f64; LANES] {
    let shift = |s: f64| if s >= 0.0 { s * w_max } else { s * w_min };
    let mut m_plus = [0.0; LANES];
    let mut m_minus = [0.0; LANES];
    let mut largest: f64 = 0.0;
    for l in 0..LANES {
        m_plus[l] = shift(s_plus[l]);
        m_minus[l] = shift(s_minus[l]);
        largest = largest.max(s_plus[l].abs()).max(s_minus[l].abs());
    }
    // NaN fails the comparison and takes the general path.
    let (sum_plus, sum_minus) = if largest * (w_max - w_min) <= SMALL {
        sums(s_plus, s_minus, &m_plus, &m_minus, y, w, exp_small)
    } else {
        sums(s_plus, s_minus, &m_plus, &m_minus, y, w, exp_f64)
    };
    let mut diff = [0.0; LANES];
    for l in 0..LANES {
        diff[l] = ln_f64(sum_plus[l] / sum_minus[l]) + (m_plus[l] - m_minus[l])
            - (s_plus[l] - s_minus[l]) * w_label;
    }
    diff
}

/// `S = Σₖ yₖ·exp(s·w[k] − m)` for both signs, lane by lane, with the exponential `exp`.
#[inline(always)]
fn sums(
    s_plus: &[f64; LANES],
    s_minus: &[f64; LANES],
    m_plus: &[f64; LANES],
    m_minus: &[f64; LANES],
    y: &[f64],
    w: &[f64],
    exp: impl Fn(f64) -> f64,
) -> ([f64; LANES], [f64; LANES]) {
    let mut sum_plus = [0.0; LANES];
    let mut sum_minus = [0.0; LANES];
    for (&yk, &wk) in y.iter().zip(w) {
        for l in 0..LANES {
            sum_plus[l] += yk * exp(s_plus[l] * wk - m_plus[l]);
            sum_minus[l] += yk * exp(s_minus[l] * wk - m_minus[l]);
        }
    }
    (sum_plus, sum_minus)
}

/// `Σₙ (Lₙ(w + h) − Lₙ(w − h))` for the entry `w` of `[W2; b2ᵀ]` in row `j`, column `k`, where
/// `z_row` holds `[z1; 1][j, n]` for every sample `n` and `y_row` holds `y[k, n]`.
///
/// Moving `W2[j, k]` by `d` moves score `k` only, by `t = d·z1[j, n]`: the loss changes by
/// `ln(1 − yₖ + yₖ·exp(t)) − t·[k = label]`.
pub(super) fn w2_entry(z_row: &[f64], y_row: &[f64], labels: &[u8], k: usize, w: f64) -> f64 {
    w2_entry_simd(z_row, y_row, labels, k, w)
}

#[multiversion(targets = "simd")]
fn w2_entry_simd(z_row: &[f64], y_row: &[f64], labels: &[u8], k: usize, w: f64) -> f64 {
    let d_plus = (w + H) - w;
    let d_minus = (w - H) - w;
    let mut total = [0.0; LANES];
    for ((z_row, y_row), labels) in z_row
        .chunks(LANES)
        .zip(y_row.chunks(LANES))
        .zip(labels.chunks(LANES))
    {
        // Unused lanes keep z = 0, y = 0: their difference is ln(1/1) − 0 = 0.
        let (mut z, mut y, mut is_label) = ([0.0; LANES], [0.0; LANES], [0.0; LANES]);
        for l in 0..z_row.len() {
            z[l] = z_row[l];
            y[l] = y_row[l];
            is_label[l] = if usize::from(labels[l]) == k {
                1.0
            } else {
                0.0
            };
        }
        for l in 0..LANES {
            let (t_plus, t_minus) = (d_plus * z[l], d_minus * z[l]);
            let rest = 1.0 - y[l];
            let sum_plus = rest + y[l] * exp_f64(t_plus);
            let sum_minus = rest + y[l] * exp_f64(t_minus);
            total[l] += ln_f64(sum_plus / sum_minus) - is_label[l] * (t_plus - t_minus);
        }
    }
    total.iter().sum()
}

/// The largest `|x|` given to [`exp_small`]: `2⁻⁸`.
const SMALL: f64 = 1.0 / 256.0;

/// `exp(x)` for `|x| ≤ 2⁻⁸` ([`SMALL`]), within 1 ulp: the Taylor polynomial to degree 5, whose
/// truncation error there is below `|x|⁶/720 < 5·10⁻¹⁸` (0.05 ulp of a result near 1).
#[inline(always)]
pub(crate) fn exp_small(x: f64) -> f64 {
    1.0 + x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0)))))
}

/// `ln 2` rounded to 32 significant bits (fdlibm's `ln2_hi`): `n·LN2_HI` is exact for
/// `|n| < 2²¹`.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
/// `ln 2 − LN2_HI`, rounded (fdlibm's `ln2_lo`).
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// `exp(x)` in `f64`, branch-free so that loops over it vectorise: within 2 ulp of the exact
/// value (tested against `f64::exp`).
///
/// Cody–Waite reduction `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2` (fdlibm's two-part `ln 2`), the
/// Taylor polynomial of `exp(r)` to degree 13 (truncation below 5·10⁻¹⁸ relative), then `2ⁿ`
/// from its bits. Inputs are clamped to `[−708, 709]`, where `2ⁿ` is a normal `f64`: the result
/// is at least about `3·10⁻³⁰⁸` (instead of underflowing to 0) and at most `8.2·10³⁰⁷` (instead
/// of overflowing). NaN stays NaN.
#[inline(always)]
pub(crate) fn exp_f64(x: f64) -> f64 {
    const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5·2⁵²: adding it rounds to an integer
    // 1/k! for k = 13 down to 2.
    const C: [f64; 12] = [
        1.0 / 6_227_020_800.0,
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
    ];
    let x = x.clamp(-708.0, 709.0);
    let t = x * std::f64::consts::LOG2_E + ROUND;
    let n = t - ROUND; // round(x / ln 2), as a float
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = C[0];
    for c in &C[1..] {
        p = p * r + c;
    }
    let exp_r = 1.0 + (r + r * r * p);
    // t's bits are ROUND's plus n (|n| ≤ 1023), and the exponent field of 2ⁿ is n + 1023.
    let n_bits = t.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(1023) << 52;
    exp_r * f64::from_bits(n_bits)
}

/// `ln(x)` in `f64` for a positive normal `x`, branch-free so that loops over it vectorise:
/// within 2 ulp of the exact value, and with a small *relative* error near 1, where the
/// kernels take it (tested against `f64::ln`).
///
/// `x = 2ᵉ·m` with `m` in `[√½, √2)`, then `ln m = 2·atanh(f)` with `f = (m − 1)/(m + 1)`
/// (`|f| ≤ 0.172`), summed to the `f²¹` term, plus `e·ln 2` in two parts. Zero, subnormal,
/// negative, infinite and NaN inputs give meaningless results: the kernels never pass them
/// (their ratios of sums of positive terms are close to 1).
#[inline(always)]
pub(crate) fn ln_f64(x: f64) -> f64 {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    // 2/(2k + 1) for k = 10 down to 1: ln m = 2f + f·f²·(2/3 + f²·(2/5 + …)).
    const C: [f64; 10] = [
        2.0 / 21.0,
        2.0 / 19.0,
        2.0 / 17.0,
        2.0 / 15.0,
        2.0 / 13.0,
        2.0 / 11.0,
        2.0 / 9.0,
        2.0 / 7.0,
        2.0 / 5.0,
        2.0 / 3.0,
    ];
    let bits = x.to_bits();
    // The biased exponent as a float, without an integer conversion (which AVX2 lacks).
    let e = f64::from_bits(TWO_52.to_bits() | (bits >> 52)) - TWO_52 - 1023.0;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 1.0_f64.to_bits());
    let big = m > std::f64::consts::SQRT_2;
    let m = if big { 0.5 * m } else { m };
    let e = if big { e + 1.0 } else { e };
    let f = (m - 1.0) / (m + 1.0); // m − 1 is exact (Sterbenz)
    let s = f * f;
    let mut p = C[0];
    for c in &C[1..] {
        p = p * s + c;
    }
    let ln_m = 2.0 * f + f * s * p;
    e * LN2_HI + (e * LN2_LO + ln_m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `|got − want|` in units of `want`'s last place.
    fn ulps(got: f64, want: f64) -> f64 {
        let ulp = f64::from_bits(want.abs().to_bits() + 1) - want.abs();
        (got - want).abs() / ulp
    }

    #[test]
    fn exp_f64_is_within_2_ulp_of_std_over_its_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut worst: f64 = 0.0;
        for _ in 0..200_000 {
            let x = rng.random_range(-708.0..709.0);
            worst = worst.max(ulps(exp_f64(x), x.exp()));
        }
        for _ in 0..200_000 {
            // The kernels' arguments: tiny, mostly ≤ 0.
            let x = rng.random_range(-1e-3..1e-4) * rng.random::<f64>().powi(8);
            worst = worst.max(ulps(exp_f64(x), x.exp()));
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
        assert_eq!(exp_f64(0.0), 1.0);
        assert!(ulps(exp_f64(1.0), std::f64::consts::E) <= 1.0);
        assert!(exp_f64(f64::NAN).is_nan());
        // Clamped, never 0 or infinite.
        assert!(exp_f64(-1e4) > 0.0 && exp_f64(-1e4) < 1e-307);
        assert!(exp_f64(1e4).is_finite());
    }

    #[test]
    fn exp_small_is_within_1_ulp_of_std_up_to_its_bound() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut worst: f64 = 0.0;
        for _ in 0..200_000 {
            let x = rng.random_range(-SMALL..=SMALL) * rng.random::<f64>().powi(4);
            worst = worst.max(ulps(exp_small(x), x.exp()));
        }
        for x in [SMALL, -SMALL, 0.0] {
            worst = worst.max(ulps(exp_small(x), x.exp()));
        }
        assert!(worst <= 1.0, "worst {worst} ulp");
    }

    #[test]
    fn ln_f64_is_within_2_ulp_of_std_and_accurate_relative_to_its_value_near_1() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut worst: f64 = 0.0;
        for _ in 0..200_000 {
            let x = 2f64.powf(rng.random_range(-1000.0..1000.0));
            worst = worst.max(ulps(ln_f64(x), x.ln()));
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
        let mut worst_near_1: f64 = 0.0;
        for _ in 0..200_000 {
            let x = 1.0 + rng.random_range(-1e-3..1e-3) * rng.random::<f64>().powi(8);
            if x != 1.0 {
                worst_near_1 = worst_near_1.max(ulps(ln_f64(x), x.ln()));
            }
        }
        assert!(worst_near_1 <= 2.0, "worst near 1: {worst_near_1} ulp");
        assert_eq!(ln_f64(1.0), 0.0);
        assert_eq!(ln_f64(2.0), std::f64::consts::LN_2);
        assert_eq!(ln_f64(0.5), -std::f64::consts::LN_2);
    }

    #[test]
    fn the_sigmoid_of_the_kernels_is_the_library_formula_to_4_ulp() {
        // Both carry their exponential's error (up to 2 ulp here, about 1 for the C library's)
        // and a rounded addition and division.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut worst: f64 = 0.0;
        for _ in 0..100_000 {
            let u = rng.random_range(-40.0..40.0);
            worst = worst.max(ulps(SigmoidAct::apply(u), 1.0 / (1.0 + (-u).exp())));
        }
        assert!(worst <= 4.0, "worst {worst} ulp");
    }
}
