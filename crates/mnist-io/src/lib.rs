//! MNIST's IDX files: reading, writing, validation, the train/test dataset, and (feature
//! `fetch`, on by default) a verified download from mirrors.
//!
//! ```no_run
//! use mnist_io::Mnist;
//!
//! let mnist = Mnist::load("data/mnist".as_ref())?;
//! assert_eq!((mnist.train.len(), mnist.test.len()), (60_000, 10_000));
//! let first: &[u8] = mnist.train.image(0); // 784 pixels, 0..=255
//! assert_eq!(mnist.train.label(0), 5);
//! # Ok::<(), mnist_io::Error>(())
//! ```
//!
//! Pixels and labels stay `u8` (47 MB for the training images); the book's `load_mnist` options
//! (`normalize`, `one_hot_label`) are conversions of a batch or a whole split ([`convert`],
//! [`Split::to_f32_normalized`], [`Split::normalized_batch_into`]...).

pub mod convert;
mod dataset;
mod error;
#[cfg(feature = "fetch")]
pub mod fetch;
pub mod idx;
mod known;

pub use dataset::{
    FILES, Mnist, Split, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, candidate_paths,
    find_file,
};
pub use error::Error;
pub use idx::{Images, Limits};
pub use known::Dataset;
