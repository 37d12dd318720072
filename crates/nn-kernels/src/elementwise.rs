//! Value-by-value loops, compiled for the CPU's vector instructions: the book's `normalize=True`,
//! the sigmoid and ReLU of whole batches, and sums in a fixed order.
//!
//! Each loop is compiled for several instruction sets (AVX-512, AVX2, SSE4.2 and the baseline,
//! with `multiversion`) and the best one the CPU supports runs (detected on the first call), so
//! a portable binary handles 16 `f32` per instruction on a recent x86-64. The bits are the same
//! in every version: Rust never fuses a multiplication and an addition unless asked to.

use multiversion::multiversion;

use crate::Scalar;

/// Values per partial sum of [`sum`] (and of the convolution kernels' vectors): 16 `f32` fill an
/// AVX-512 register.
pub const LANES: usize = 16;

/// Writes every pixel divided by 255 into `out`, `out[i] = f32::from(pixels[i]) / 255.0`, bit for
/// bit: the book's `load_mnist(normalize=True)` (`x.astype(np.float32) / 255.0`), applied while a
/// batch is gathered.
///
/// It keeps the division: multiplying by `1/255` instead would round 126 of the 256 values
/// differently (`51 · (1/255)` is `0.20000002`; the tests check it).
///
/// # Panics
/// If `pixels` and `out` differ in length: the caller sizes both, so that is a bug.
///
/// ```
/// let mut out = [0.0_f32; 3];
/// nn_kernels::elementwise::normalize_pixels(&[0, 51, 255], &mut out);
/// assert_eq!(out, [0.0, 0.2, 1.0]);
/// ```
pub fn normalize_pixels(pixels: &[u8], out: &mut [f32]) {
    assert_eq!(
        pixels.len(),
        out.len(),
        "normalize_pixels: {} pixels for {} outputs",
        pixels.len(),
        out.len()
    );
    normalize(pixels, out);
}

#[multiversion(targets = "simd")]
fn normalize(pixels: &[u8], out: &mut [f32]) {
    for (o, &p) in out.iter_mut().zip(pixels) {
        *o = f32::from(p) / 255.0;
    }
}

/// The sigmoid `1 / (1 + exp(−x))` of every value of a slice, in place: the hot loop of the
/// sigmoid layer and of accuracy passes. For `f32` the exponential is [`exp_f32`], which the
/// compiler turns into SIMD code (about 4× faster than calling the C library's `expf` value by
/// value), for `f64` the standard library's.
///
/// ```
/// let mut v = [-1.0_f32, 0.0, 2.0];
/// nn_kernels::elementwise::sigmoid_in_place(&mut v);
/// for (got, want) in v.iter().zip([0.26894142_f32, 0.5, 0.88079708]) {
///     assert!((got - want).abs() < 1e-7);
/// }
/// ```
#[multiversion(targets = "simd")]
pub fn sigmoid_in_place<T: Scalar>(values: &mut [T]) {
    T::sigmoid_slice(values);
}

/// `exp(x)` in `f32`, written so that a loop over a slice vectorises: no branch, no call.
///
/// Cody–Waite reduction `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`, Cephes' degree-7 polynomial for
/// `exp(r)` (relative error below 2.5·10⁻⁷ on that interval), then `2ⁿ` built from its bits.
/// Over the whole range the result stays within 2 ulp of the exact value, against about 1 for
/// the C library's `expf` (tested). Inputs are clamped to `[−87.3, 88.3]`, where `exp` is a
/// normal `f32`: large arguments give `2.2·10³⁸` instead of infinity, so the sigmoid of
/// `x < −88.3` is a subnormal below `5·10⁻³⁹` instead of `0`. NaN stays NaN.
///
/// ```
/// let e = nn_kernels::elementwise::exp_f32(1.0);
/// assert!((e - std::f32::consts::E).abs() <= 2.0 * f32::EPSILON * e);
/// ```
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4; // 355/512: n·LN2_HI is exact for |n| < 2¹⁴
    const LN2_LO: f32 = -2.121_944_4e-4; // ln 2 − LN2_HI
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer
    let x = x.clamp(-87.3, 88.3);
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND; // round(x / ln 2), as a float
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = ((((1.987_569_2e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 0.166_666_65)
        * r
        + 0.5;
    let exp_r = (p * r) * r + r + 1.0;
    // t's bits are ROUND's plus n (|n| ≤ 127), and the exponent field of 2ⁿ is n + 127.
    let n_bits = t.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23;
    exp_r * f32::from_bits(n_bits)
}

/// `x = max(0, x)` in place, value by value, written as the ReLU layer's
/// `if x > 0 { x } else { 0 }` (NaN gives 0).
///
/// ```
/// let mut x = [-1.0_f32, 0.0, 2.0, f32::NAN];
/// nn_kernels::elementwise::relu_in_place(&mut x);
/// assert_eq!(x, [0.0, 0.0, 2.0, 0.0]);
/// ```
#[multiversion(targets = "simd")]
pub fn relu_in_place<T: Scalar>(x: &mut [T]) {
    for v in x {
        *v = if *v > T::ZERO { *v } else { T::ZERO };
    }
}

/// `out = max(0, x)`, value by value, as [`relu_in_place`].
///
/// # Panics
/// If the lengths differ.
#[multiversion(targets = "simd")]
pub fn relu_into<T: Scalar>(x: &[T], out: &mut [T]) {
    assert_eq!(x.len(), out.len(), "relu_into: lengths");
    for (o, &v) in out.iter_mut().zip(x) {
        *o = if v > T::ZERO { v } else { T::ZERO };
    }
}

/// ReLU's backward pass from its output: `dx = dout` where `out > 0`, else `0` (the output is
/// positive exactly where the input was).
///
/// # Panics
/// If the lengths differ.
///
/// ```
/// let mut dx = [9.0_f64; 3];
/// nn_kernels::elementwise::relu_backward_into(&[1.0, 2.0, 3.0], &[0.0, 0.5, 0.0], &mut dx);
/// assert_eq!(dx, [0.0, 2.0, 0.0]);
/// ```
#[multiversion(targets = "simd")]
pub fn relu_backward_into<T: Scalar>(dout: &[T], out: &[T], dx: &mut [T]) {
    assert!(
        dout.len() == out.len() && out.len() == dx.len(),
        "relu_backward_into: lengths"
    );
    for ((d, &g), &y) in dx.iter_mut().zip(dout).zip(out) {
        *d = if y > T::ZERO { g } else { T::ZERO };
    }
}

/// The sum of `values`, in [`LANES`] partial sums (value `i` to lane `i mod LANES`) added up at
/// the end: the same order whatever the machine, and a loop the compiler vectorises (a single
/// running sum waits for each addition in turn, 16 times slower).
///
/// ```
/// let values: Vec<f64> = (1..=100).map(f64::from).collect();
/// assert_eq!(nn_kernels::elementwise::sum(&values), 5050.0);
/// ```
pub fn sum<T: Scalar>(values: &[T]) -> T {
    sum_lanes(values)
}

#[multiversion(targets = "simd")]
fn sum_lanes<T: Scalar>(values: &[T]) -> T {
    let mut lanes = [T::ZERO; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (s, &v) in lanes.iter_mut().zip(chunk) {
            *s += v;
        }
    }
    for (s, &v) in lanes.iter_mut().zip(chunks.remainder()) {
        *s += v;
    }
    lanes.iter().fold(T::ZERO, |s, &v| s + v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lane sum of small integers is exact, for every remainder of `LANES`.
    #[test]
    fn sum_adds_every_value() {
        for len in 0..3 * LANES {
            let values: Vec<f32> = (0..len).map(|i| (i % 7) as f32 - 3.0).collect();
            let want: f32 = values.iter().sum();
            assert_eq!(sum(&values), want, "{len} values");
        }
    }
}
