//! Raw `u8` pixels to the network's `f32` inputs: the book's `load_mnist(normalize=True)`.

use multiversion::multiversion;

/// Writes every pixel divided by 255 into `out`, `out[i] = f32::from(pixels[i]) / 255.0`, bit for
/// bit: the book's `load_mnist(normalize=True)` (`x.astype(np.float32) / 255.0`), applied while a
/// batch is gathered.
///
/// The loop is compiled for several instruction sets (AVX-512, AVX2, SSE4.2, and the baseline)
/// and the best one the CPU supports runs (detected on the first call), so a portable binary
/// converts 16 pixels per instruction on a recent x86-64. It keeps the division: multiplying by
/// `1/255` instead would round 126 of the 256 values differently (`51 · (1/255)` is
/// `0.20000002`; `tests/functions.rs` checks it).
///
/// # Panics
/// If `pixels` and `out` differ in length: the caller sizes both, so that is a bug.
///
/// ```
/// let mut out = [0.0_f32; 3];
/// nn_core::normalize_pixels(&[0, 51, 255], &mut out);
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

/// The loop of [`normalize_pixels`], on slices of equal length, compiled once per target of
/// `multiversion`'s `"simd"` set; the first call picks the clone the CPU supports.
#[multiversion(targets = "simd")]
fn normalize(pixels: &[u8], out: &mut [f32]) {
    for (o, &p) in out.iter_mut().zip(pixels) {
        *o = f32::from(p) / 255.0;
    }
}
