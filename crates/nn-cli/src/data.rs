//! The bridge between mnist-io's splits and nn-train's [`Dataset`] trait, and the loading of the
//! MNIST folder (fetching it first when `train` finds it incomplete).

use std::path::Path;

use anyhow::{Context, Result};
use mnist_io::fetch::{self, FetchOptions};
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
        mnist_io::idx::NUM_CLASSES
    }

    fn pixels(&self, i: usize) -> &[u8] {
        self.0.image(i)
    }

    fn label(&self, i: usize) -> u8 {
        self.0.label(i)
    }
}

/// What to do when the dataset cannot be loaded.
fn advice(dir: &Path) -> String {
    format!(
        "cannot load MNIST from {} (run `cargo xtask fetch-mnist`, or `nn-cli train`, which \
         fetches it, or pass --data)",
        dir.display()
    )
}

/// Loads MNIST from `dir`; a missing file is an error that says how to fetch it.
pub fn load(dir: &Path) -> Result<Mnist> {
    Mnist::load(dir).with_context(|| advice(dir))
}

/// Loads one split from `dir`, given the canonical names of its images and labels files; a
/// missing file is an error that says how to fetch it.
pub fn load_split(dir: &Path, images: &str, labels: &str) -> Result<Split> {
    let find = |name: &str| {
        mnist_io::find_file(dir, name).ok_or_else(|| mnist_io::Error::Missing {
            path: dir.join(name),
        })
    };
    find(images)
        .and_then(|images| Split::load(&images, &find(labels)?))
        .with_context(|| advice(dir))
}

/// Loads MNIST from `dir`, first fetching it there when any of its four files is missing,
/// through the same code as `cargo xtask fetch-mnist`: the mirror named by `MNIST_MIRROR` (a URL
/// or a folder) if set, then the public mirrors; every file is checked against its SHA-256.
pub fn load_or_fetch(dir: &Path) -> Result<Mnist> {
    let missing = mnist_io::FILES
        .iter()
        .any(|name| mnist_io::find_file(dir, name).is_none());
    if missing {
        eprintln!(
            "MNIST is not complete in {}: fetching it",
            crate::files::shown(dir)
        );
        let mut options = FetchOptions::new(fetch::Dataset::Mnist, &[]);
        options.out = dir.to_path_buf();
        let summary = fetch::fetch(&options).map_err(|err| {
            // Only a file that no mirror could serve is the mirrors' fault.
            let advice = if matches!(err, fetch::FetchError::AllMirrorsFailed { .. }) {
                format!(
                    "cannot fetch MNIST into {} (set MNIST_MIRROR to a reachable mirror URL or \
                     to a folder holding the four files, or copy them there yourself)",
                    dir.display()
                )
            } else {
                format!("cannot fetch MNIST into --data {}", dir.display())
            };
            anyhow::Error::new(err).context(advice)
        })?;
        eprintln!("{summary}");
    }
    load(dir)
}
