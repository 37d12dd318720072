//! The bridge between mnist-io's splits and nn-train's [`Dataset`] trait, and the loading of the
//! MNIST folder (fetching it first when `train` finds it incomplete).

use std::path::Path;

use anyhow::{Context, Result};
use mnist_io::{Mnist, Split};
use nn_train::Dataset;

/// An mnist-io [`Split`] seen as an nn-train [`Dataset`].
#[derive(Clone, Copy)]
pub struct DataSplit<'a>(pub &'a Split);

impl Dataset for DataSplit<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn input_size(&self) -> usize {
        self.0.pixels_per_image()
    }

    fn num_classes(&self) -> usize {
        mnist_io::NUM_CLASSES
    }

    fn pixels(&self, i: usize) -> &[u8] {
        self.0.image(i)
    }

    fn label(&self, i: usize) -> u8 {
        self.0.label(i)
    }
}

/// Loads MNIST from `dir`; a missing file is an error that says how to fetch it.
pub fn load(dir: &Path) -> Result<Mnist> {
    Mnist::load(dir).with_context(|| {
        format!(
            "cannot load MNIST from {} (run `cargo xtask fetch-mnist`, or `nn-cli train`, which fetches it)",
            dir.display()
        )
    })
}
