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

/// Some samples of a dataset, in a given order: the book's `x_train[:300]`
/// ([`first`](Subset::first)) or a shuffled split ([`new`](Subset::new) with a permutation).
///
/// ```
/// use nn_train::{Dataset, Subset};
/// # struct Tiny;
/// # impl Dataset for Tiny {
/// #     fn len(&self) -> usize { 3 }
/// #     fn input_size(&self) -> usize { 1 }
/// #     fn num_classes(&self) -> usize { 3 }
/// #     fn pixels(&self, i: usize) -> &[u8] { [[0], [1], [2]][i].as_slice() }
/// #     fn label(&self, i: usize) -> u8 { i as u8 }
/// # }
/// let first_two = Subset::first(&Tiny, 2);
/// assert_eq!((first_two.len(), first_two.label(1)), (2, 1));
/// let reversed = Subset::new(&Tiny, vec![2, 1, 0]).unwrap();
/// assert_eq!(reversed.pixels(0), &[2]);
/// assert!(Subset::new(&Tiny, vec![3]).is_none()); // no sample 3
/// ```
#[derive(Debug, Clone)]
pub struct Subset<'a, D: ?Sized> {
    data: &'a D,
    indices: Vec<usize>,
}

impl<'a, D: Dataset + ?Sized> Subset<'a, D> {
    /// The samples `indices` of `data`, in that order (repeats allowed), or `None` if an index
    /// is not below `data.len()`.
    pub fn new(data: &'a D, indices: Vec<usize>) -> Option<Self> {
        indices
            .iter()
            .all(|&i| i < data.len())
            .then_some(Self { data, indices })
    }

    /// The first `n` samples of `data` (all of them if it has fewer).
    pub fn first(data: &'a D, n: usize) -> Self {
        Self {
            data,
            indices: (0..n.min(data.len())).collect(),
        }
    }
}

impl<D: Dataset + ?Sized> Dataset for Subset<'_, D> {
    fn len(&self) -> usize {
        self.indices.len()
    }

    fn input_size(&self) -> usize {
        self.data.input_size()
    }

    fn num_classes(&self) -> usize {
        self.data.num_classes()
    }

    fn pixels(&self, i: usize) -> &[u8] {
        self.data.pixels(self.indices[i])
    }

    fn label(&self, i: usize) -> u8 {
        self.data.label(self.indices[i])
    }
}
