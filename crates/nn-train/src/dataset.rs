//! The data the loop trains on: a small trait, so that nn-train knows nothing of file formats.

/// A labelled dataset of `u8` samples, read one sample at a time.
///
/// The training loop gathers samples from [`pixels`](Dataset::pixels) straight into its `f32`
/// batch matrix, dividing by 255 on the way, so implementations only lend out slices.
///
/// ```
/// use nn_train::Dataset;
///
/// /// Two samples of two pixels each.
/// struct Tiny;
/// impl Dataset for Tiny {
///     fn len(&self) -> usize { 2 }
///     fn input_size(&self) -> usize { 2 }
///     fn num_classes(&self) -> usize { 2 }
///     fn pixels(&self, i: usize) -> &[u8] { [[255, 0], [0, 255]][i].as_slice() }
///     fn label(&self, i: usize) -> u8 { i as u8 }
/// }
/// assert_eq!(Tiny.pixels(1), &[0, 255]);
/// assert!(!Tiny.is_empty());
/// ```
pub trait Dataset: Sync {
    /// Number of samples.
    fn len(&self) -> usize;

    /// Whether there are no samples at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of values per sample (784 for MNIST).
    fn input_size(&self) -> usize;

    /// Number of classes; every label is below it.
    fn num_classes(&self) -> usize;

    /// The `input_size()` raw values (0 to 255) of sample `i`. Panics if `i >= len()`.
    fn pixels(&self, i: usize) -> &[u8];

    /// The class of sample `i`. Panics if `i >= len()`.
    fn label(&self, i: usize) -> u8;
}
