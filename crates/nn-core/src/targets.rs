//! What a batch should have predicted: class labels or one-hot columns.

use crate::{Float, Matrix};

/// The targets of a batch, in either of the book's two encodings (§4.2.4).
///
/// For a batch of `N` samples and `C` classes: `Labels` holds `N` class indices in `0..C`;
/// `OneHot` is a `(C, N)` matrix, one target distribution per column. Functions that take
/// targets panic if they do not fit the batch (wrong count, label out of range): the data
/// loader validates labels, so a mismatch here is a bug in the caller.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a, T> {
    /// One class index per sample, e.g. `[2, 7, ...]`.
    Labels(&'a [u8]),
    /// One-hot (or any probability) columns, shape `(classes, batch)`.
    OneHot(&'a Matrix<T>),
}

impl<T: Float> Targets<'_, T> {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Labels(labels) => labels.len(),
            Targets::OneHot(t) => t.ncols(),
        }
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The target value of class `k` for sample `n` (1 or 0 for labels).
    pub fn value(&self, k: usize, n: usize) -> T {
        match self {
            Targets::Labels(labels) => {
                if usize::from(labels[n]) == k {
                    T::one()
                } else {
                    T::zero()
                }
            }
            Targets::OneHot(t) => t[(k, n)],
        }
    }

    /// Panics with a clear message unless these targets fit a `(classes, batch)` output.
    pub(crate) fn check(&self, classes: usize, batch: usize) {
        match self {
            Targets::Labels(labels) => {
                assert_eq!(
                    labels.len(),
                    batch,
                    "{} labels for a batch of {batch} samples",
                    labels.len()
                );
                if let Some((n, &l)) = labels
                    .iter()
                    .enumerate()
                    .find(|&(_, &l)| usize::from(l) >= classes)
                {
                    panic!("label {l} of sample {n} is out of range: there are {classes} classes");
                }
            }
            Targets::OneHot(t) => assert_eq!(
                t.shape(),
                (classes, batch),
                "one-hot targets are {:?}, the output is {classes}x{batch}",
                t.shape()
            ),
        }
    }
}
