//! The book's `load_mnist` options as conversions: `normalize=True` (pixels to `f32` in
//! `[0, 1]`) and `one_hot_label=True`. `flatten=True` needs no conversion: images are stored
//! flat, 784 contiguous pixels each.
//!
//! Outputs follow the workspace's batch layout: one sample per column of a column-major
//! `(features, batch)` matrix, which is the same memory as the book's row-major `(batch,
//! features)` array.
//!
//! ```
//! use mnist_io::convert;
//!
//! assert_eq!(convert::normalize(&[0, 51, 255]), vec![0.0, 0.2, 1.0]);
//! assert_eq!(convert::one_hot(&[2, 0]), {
//!     let mut t = vec![0.0; 20];
//!     t[2] = 1.0; // sample 0 is class 2
//!     t[10] = 1.0; // sample 1 is class 0
//!     t
//! });
//! ```

use crate::idx::NUM_CLASSES;

/// Pixels `0..=255` as `f32` in `[0, 1]`.
pub fn normalize(pixels: &[u8]) -> Vec<f32> {
    let mut out = vec![0.0; pixels.len()];
    normalize_into(pixels, &mut out);
    out
}

/// Writes `pixels / 255` into `out`, without allocating.
///
/// # Panics
/// If `out.len() != pixels.len()`.
pub fn normalize_into(pixels: &[u8], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        pixels.len(),
        "normalize_into: output length differs from input length"
    );
    for (o, &p) in out.iter_mut().zip(pixels) {
        *o = f32::from(p) / 255.0;
    }
}

/// One-hot targets of `labels`: [`NUM_CLASSES`] values per label, `1.0` at the label's index.
///
/// # Panics
/// If a label is `>= NUM_CLASSES` (labels read by this crate never are).
pub fn one_hot(labels: &[u8]) -> Vec<f32> {
    let mut out = vec![0.0; labels.len() * NUM_CLASSES];
    one_hot_into(labels, &mut out);
    out
}

/// Writes the one-hot targets of `labels` into `out`, without allocating.
///
/// # Panics
/// If `out.len() != labels.len() * NUM_CLASSES` or a label is `>= NUM_CLASSES`.
pub fn one_hot_into(labels: &[u8], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        labels.len() * NUM_CLASSES,
        "one_hot_into: output must hold 10 values per label"
    );
    for (column, &label) in out.chunks_exact_mut(NUM_CLASSES).zip(labels) {
        column.fill(0.0);
        column[usize::from(label)] = 1.0;
    }
}
