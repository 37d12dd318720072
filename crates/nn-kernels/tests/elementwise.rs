//! The element-wise kernels against their formulas: `exp_f32` within 2 ulp everywhere, the
//! division by 255 bit for bit, and the dispatched sigmoid with the bits of the scalar formula.

use nn_kernels::elementwise::{exp_f32, normalize_pixels, sigmoid_in_place};

/// Distance in units in the last place between an `f32` and the exact value (given in `f64`).
fn ulps(got: f32, exact: f64) -> f64 {
    let rounded = exact as f32;
    let ulp = f64::from(f32::from_bits(rounded.abs().to_bits() + 1) - rounded.abs());
    (f64::from(got) - exact).abs() / ulp
}

/// The correctly rounded `f32` of `p / 255`, computed independently of `f32` division: the
/// quotient in `f64` (53 bits) rounded to `f32` (24 bits) is rounded correctly, since double
/// rounding of a quotient is innocuous when the wider format has at least `2·24 + 2` bits.
fn exact_fraction_of_255(p: u8) -> f32 {
    (f64::from(p) / 255.0) as f32
}

/// Every 997th `f32` of [−87.3, 88.3] (about 1.1 million values, all binades) and a few exact
/// cases: `exp_f32` stays within 2 ulp of `exp` computed in `f64`, as the C library's `expf`
/// stays within 1.
#[test]
fn exp_f32_is_within_two_ulp_everywhere() {
    let mut worst = (0.0_f64, 0.0_f64);
    let mut bits = 0_u32;
    while bits < 0xFFFF_FFFF - 997 {
        let x = f32::from_bits(bits);
        bits += 997;
        if !(-87.3..=88.3).contains(&x) {
            continue;
        }
        let exact = f64::from(x).exp();
        worst.0 = worst.0.max(ulps(exp_f32(x), exact));
        worst.1 = worst.1.max(ulps(x.exp(), exact));
    }
    assert!(worst.0 <= 2.0, "exp_f32: {} ulp", worst.0);
    assert!(worst.1 <= 1.0, "std expf: {} ulp", worst.1);
    assert_eq!(exp_f32(0.0), 1.0);
    assert_eq!(exp_f32(1.0), std::f32::consts::E);
    assert_eq!(exp_f32(-1000.0), (-87.3_f32).exp());
    assert!(exp_f32(f32::NAN).is_nan());
}

/// `normalize_pixels` at lengths that exercise the empty slice, the remainder loops alone, one
/// whole vector, vectors plus remainders, an MNIST image and more: every output has the bits of
/// `f32::from(p) / 255.0` and of the correctly rounded `p / 255`, and all 256 values occur at the
/// longer lengths, each at several positions.
#[test]
fn normalize_pixels_is_bit_exact_with_the_division_by_255() {
    for len in [0, 1, 15, 16, 17, 63, 784, 1000] {
        for offset in [0_usize, 1, 7] {
            // 167 is odd, so any 256 consecutive positions hold every value once.
            let pixels: Vec<u8> = (0..len).map(|i| ((i + offset) * 167 % 256) as u8).collect();
            let mut out = vec![f32::NAN; len];
            normalize_pixels(&pixels, &mut out);
            for (i, (&p, &o)) in pixels.iter().zip(&out).enumerate() {
                let want = f32::from(p) / 255.0;
                assert_eq!(o.to_bits(), want.to_bits(), "len {len}, [{i}] = {p}: {o}");
                assert_eq!(o.to_bits(), exact_fraction_of_255(p).to_bits(), "{p}");
            }
        }
    }
    let all: Vec<u8> = (0..=255).collect();
    let mut out = [f32::NAN; 256];
    normalize_pixels(&all, &mut out);
    assert_eq!(out[0].to_bits(), 0.0_f32.to_bits()); // +0.0, not −0.0
    assert_eq!(out[255], 1.0);
    assert_eq!(out[51], 0.2); // 51/255 = 1/5 exactly
    assert_eq!(out[85], 1.0 / 3.0); // 85/255 = 1/3 exactly
}

/// Why `normalize_pixels` divides: multiplying by `1/255` (itself rounded) rounds 126 of the 256
/// quotients one ulp away (NumPy's `float32` agrees), e.g. `51 · (1/255)` gives `0.20000002`.
#[test]
fn multiplying_by_the_reciprocal_of_255_would_round_differently() {
    let reciprocal = 1.0_f32 / 255.0;
    let differ = (0..=255_u8)
        .filter(|&p| f32::from(p) * reciprocal != exact_fraction_of_255(p))
        .count();
    assert_eq!(differ, 126);
    assert_eq!(51.0_f32 * reciprocal, 0.200_000_02);
}

#[test]
#[should_panic(expected = "normalize_pixels: 3 pixels for 2 outputs")]
fn normalize_pixels_rejects_mismatched_lengths() {
    normalize_pixels(&[1, 2, 3], &mut [0.0; 2]);
}

/// The runtime-dispatched `f32` sigmoid (AVX-512, AVX2, SSE4.2 or baseline clone, whichever this
/// CPU runs) against the scalar formula `1 / (1 + exp_f32(−x))` value by value: the same bits
/// over a sweep of [−100, 100] that crosses both clamps of `exp_f32`, special values, and
/// slice lengths that end in every remainder of a 16-wide vector.
#[test]
fn dispatched_sigmoid_has_the_bits_of_the_scalar_formula() {
    let mut xs: Vec<f32> = (-100_000..=100_000).map(|i| i as f32 * 0.001).collect();
    xs.extend([
        -100.0,
        -88.0,
        -87.3,
        -0.0,
        0.0,
        88.0,
        88.3,
        100.0,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE / 4.0,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ]);
    for len in [xs.len(), xs.len() - 1, 33, 17, 16, 15, 1, 0] {
        let xs = &xs[xs.len() - len..];
        let mut ys = xs.to_vec();
        sigmoid_in_place(&mut ys);
        for (&x, &y) in xs.iter().zip(&ys) {
            let want = 1.0 / (1.0 + exp_f32(-x));
            if want.is_nan() {
                assert!(y.is_nan(), "sigmoid({x}) = {y}");
            } else {
                assert_eq!(
                    y.to_bits(),
                    want.to_bits(),
                    "sigmoid({x}) = {y}, want {want}"
                );
            }
        }
    }
}
