//! A dataset folder: the train and test splits of MNIST (or Fashion-MNIST, same layout).

use std::path::{Path, PathBuf};

use crate::Error;
use crate::convert;
use crate::idx::{Images, Limits, NUM_CLASSES};

/// Canonical name of the training images file.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// Canonical name of the training labels file.
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// Canonical name of the test images file.
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// Canonical name of the test labels file.
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
/// The four canonical file names, in download order.
pub const FILES: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// Every path under which [`find_file`] looks for the file of canonical name `name` in `dir`,
/// in order: the canonical name, then with `.gz`, then the dotted variant
/// (`train-images.idx3-ubyte`), then the dotted variant with `.gz`.
///
/// These are the paths a loader of `dir` may read: a program that writes files can refuse
/// to write over any of them (`safe_write::check_distinct`).
pub fn candidate_paths(dir: &Path, name: &str) -> [PathBuf; 4] {
    let dotted = name.replacen("-idx", ".idx", 1);
    [
        name.to_owned(),
        format!("{name}.gz"),
        dotted.clone(),
        format!("{dotted}.gz"),
    ]
    .map(|candidate| dir.join(candidate))
}

/// Finds the file of canonical name `name` (such as `train-images-idx3-ubyte`) in `dir` under
/// any accepted name ([`candidate_paths`], in that order).
///
/// The first regular file wins. When no candidate is a regular file but one exists as something
/// else (a folder, a symbolic link loop or to nothing, a named pipe), that path is returned, so
/// that reading it says what is wrong with it instead of "not found".
pub fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let candidates = candidate_paths(dir, name);
    let regular = candidates.iter().find(|path| path.is_file());
    regular
        .or_else(|| {
            candidates
                .iter()
                .find(|path| std::fs::symlink_metadata(path).is_ok())
        })
        .cloned()
}

/// Images and their labels: a training or test split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    images: Images,
    labels: Vec<u8>,
}

impl Split {
    /// Pairs images with their labels.
    ///
    /// # Errors
    /// [`Error::Shape`] if the counts differ or a label is `>= 10`.
    pub fn new(images: Images, labels: Vec<u8>) -> Result<Self, Error> {
        if images.count() != labels.len() || labels.iter().any(|&l| usize::from(l) >= NUM_CLASSES) {
            return Err(Error::Shape {
                what: "labels",
                len: labels.len(),
                shape: format!(
                    "one class index 0..=9 for each of {} images",
                    images.count()
                ),
            });
        }
        Ok(Self { images, labels })
    }

    /// Reads a split from its images and labels files (any name [`crate::idx::read_images`] accepts).
    ///
    /// # Errors
    /// Any [`Error`] of reading either file, and [`Error::CountMismatch`] if their counts differ.
    pub fn load(images_path: &Path, labels_path: &Path) -> Result<Self, Error> {
        Self::load_with(images_path, labels_path, &Limits::default())
    }

    /// [`Split::load`] within `limits` instead of the default ones.
    ///
    /// # Errors
    /// As [`Split::load`].
    pub fn load_with(
        images_path: &Path,
        labels_path: &Path,
        limits: &Limits,
    ) -> Result<Self, Error> {
        let labels = limits.read_labels(labels_path)?;
        let images = limits.read_images(images_path)?;
        if images.count() != labels.len() {
            return Err(Error::CountMismatch {
                images: images_path.to_path_buf(),
                labels: labels_path.to_path_buf(),
                image_count: images.count(),
                label_count: labels.len(),
            });
        }
        Ok(Self { images, labels })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split has no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image height in pixels.
    pub fn rows(&self) -> usize {
        self.images.rows()
    }

    /// Image width in pixels.
    pub fn cols(&self) -> usize {
        self.images.cols()
    }

    /// Pixels per image (784 for MNIST): the network's input size.
    pub fn pixels_per_image(&self) -> usize {
        self.images.pixels_per_image()
    }

    /// The pixels of sample `i`, row-major.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        self.images.image(i)
    }

    /// The label of sample `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// All the images.
    pub fn images(&self) -> &Images {
        &self.images
    }

    /// All the labels.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The whole split's pixels as `f32` in `[0, 1]` (the book's `normalize=True`), one image
    /// after another.
    pub fn to_f32_normalized(&self) -> Vec<f32> {
        convert::normalize(self.images.pixels())
    }

    /// The whole split's one-hot targets (the book's `one_hot_label=True`), 10 values per sample.
    pub fn one_hot(&self) -> Vec<f32> {
        convert::one_hot(&self.labels)
    }

    /// Gathers the samples `indices` into `out` as normalized `f32`, one image after another
    /// (a `(pixels_per_image, indices.len())` column-major batch), without allocating.
    ///
    /// # Panics
    /// If an index is out of range or `out.len() != indices.len() * self.pixels_per_image()`.
    pub fn normalized_batch_into(&self, indices: &[usize], out: &mut [f32]) {
        let size = self.pixels_per_image();
        assert_eq!(
            out.len(),
            indices.len() * size,
            "normalized_batch_into: wrong output length"
        );
        for (column, &i) in out.chunks_exact_mut(size).zip(indices) {
            convert::normalize_into(self.image(i), column);
        }
    }

    /// Gathers the one-hot targets of the samples `indices` into `out` (a `(10,
    /// indices.len())` column-major batch), without allocating.
    ///
    /// # Panics
    /// If an index is out of range or `out.len() != indices.len() * 10`.
    pub fn one_hot_batch_into(&self, indices: &[usize], out: &mut [f32]) {
        assert_eq!(
            out.len(),
            indices.len() * NUM_CLASSES,
            "one_hot_batch_into: wrong output length"
        );
        for (column, &i) in out.chunks_exact_mut(NUM_CLASSES).zip(indices) {
            convert::one_hot_into(&self.labels[i..=i], column);
        }
    }
}

/// MNIST (or Fashion-MNIST): 60 000 training and 10 000 test images of 28×28 `u8` pixels with
/// their `u8` labels, as read from a folder (47 MB of pixels for training, where the book's
/// `f32` copy takes 188 MB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mnist {
    /// The training split.
    pub train: Split,
    /// The test split.
    pub test: Split,
}

impl Mnist {
    /// Loads the four files from `dir`, found by [`find_file`] under any accepted name, raw or
    /// gzip.
    ///
    /// # Errors
    /// [`Error::Missing`] (which says to run `cargo xtask fetch-mnist`) for an absent file, and
    /// any error of [`Split::load`].
    pub fn load(dir: &Path) -> Result<Self, Error> {
        Self::load_with(dir, &Limits::default())
    }

    /// [`Mnist::load`] within `limits` instead of the default ones (to read larger datasets in
    /// the same format, such as EMNIST).
    ///
    /// # Errors
    /// As [`Mnist::load`].
    pub fn load_with(dir: &Path, limits: &Limits) -> Result<Self, Error> {
        let find = |name| {
            find_file(dir, name).ok_or_else(|| Error::Missing {
                path: dir.join(name),
            })
        };
        let train = Split::load_with(&find(TRAIN_IMAGES)?, &find(TRAIN_LABELS)?, limits)?;
        let test = Split::load_with(&find(TEST_IMAGES)?, &find(TEST_LABELS)?, limits)?;
        Ok(Self { train, test })
    }
}
