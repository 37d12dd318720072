//! How a layer shares a batch between two cores: by halves of samples, cut by the batch's shape
//! only (never by the number of threads), so that results are the same on one thread or two.

use crate::PARALLEL_MIN_MULADDS;

/// How to run a batch: at once, or as two halves of samples (`0..h` and `h..n`), each half
/// summing its own parameter gradients, the second's added to the first's at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Halves {
    /// All the samples in one go.
    One,
    /// The first `h` samples, then the others.
    Two(usize),
}

/// The cut of a batch of `n` samples whose work is `muladds` multiply-adds (or as much work
/// counted otherwise): two halves from [`PARALLEL_MIN_MULADDS`] on, as `Float::gemm` cuts its
/// products; handing a half to another thread costs about 10 µs.
pub(crate) fn split_samples(n: usize, muladds: usize) -> Halves {
    if n >= 2 && muladds >= PARALLEL_MIN_MULADDS {
        Halves::Two(n / 2)
    } else {
        Halves::One
    }
}
