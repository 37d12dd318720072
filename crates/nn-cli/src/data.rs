//! The bridge between mnist-io's splits and nn-train's [`Dataset`](nn_train::Dataset) trait, the
//! datasets by name (MNIST and Fashion-MNIST, `--dataset`), and the loading of their folders
//! (fetching them first when `train` finds them incomplete).

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use mnist_io::fetch::{self, FetchOptions};
use mnist_io::{Dataset, Mnist, Split};
use serde::{Deserialize, Serialize};

/// An mnist-io [`Split`] seen as an nn-train [`Dataset`](nn_train::Dataset).
#[derive(Clone, Copy)]
pub struct DataSplit<'a>(pub &'a Split);

impl nn_train::Dataset for DataSplit<'_> {
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

/// A dataset, as the value of `--dataset` and in config files (`dataset: fashion`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetArg {
    /// MNIST's handwritten digits.
    #[default]
    Mnist,
    /// Zalando's Fashion-MNIST: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt,
    /// Sneaker, Bag, Ankle boot.
    Fashion,
}

impl From<DatasetArg> for Dataset {
    fn from(arg: DatasetArg) -> Self {
        match arg {
            DatasetArg::Mnist => Dataset::Mnist,
            DatasetArg::Fashion => Dataset::Fashion,
        }
    }
}

impl From<Dataset> for DatasetArg {
    fn from(dataset: Dataset) -> Self {
        match dataset {
            Dataset::Mnist => DatasetArg::Mnist,
            Dataset::Fashion => DatasetArg::Fashion,
        }
    }
}

/// The name of class `label` of `dataset` as the commands print it: the digit for MNIST,
/// `Ankle boot` for Fashion-MNIST's 9.
pub fn class_name(dataset: Dataset, label: usize) -> &'static str {
    dataset.class_names().get(label).copied().unwrap_or("?")
}

/// What to do when the dataset cannot be loaded.
fn advice(dir: &Path, dataset: Dataset) -> String {
    let flag = match dataset {
        Dataset::Mnist => "",
        Dataset::Fashion => " --dataset fashion",
    };
    format!(
        "cannot load {} from {} (run `cargo xtask fetch-mnist{flag}`, or `nn-cli train{flag}`, \
         which fetches it, or pass --data)",
        dataset.title(),
        dir.display()
    )
}

/// Loads `dataset` from `dir`; a missing file is an error that says how to fetch it.
pub fn load(dir: &Path, dataset: Dataset) -> Result<Mnist> {
    Mnist::load(dir).with_context(|| advice(dir, dataset))
}

/// Loads one split of `dataset` from `dir`, given the canonical names of its images and labels
/// files; a missing file is an error that says how to fetch it.
pub fn load_split(dir: &Path, dataset: Dataset, images: &str, labels: &str) -> Result<Split> {
    let find = |name: &str| {
        mnist_io::find_file(dir, name).ok_or_else(|| mnist_io::Error::Missing {
            path: dir.join(name),
        })
    };
    find(images)
        .and_then(|images| Split::load(&images, &find(labels)?))
        .with_context(|| advice(dir, dataset))
}

/// Loads `dataset` from `dir`, first fetching it there when any of its four files is missing,
/// through the same code as `cargo xtask fetch-mnist`: the mirror named by `MNIST_MIRROR` (or
/// `FASHION_MNIST_MIRROR`; a URL or a folder) if set, then the public mirrors; every file is
/// checked against its SHA-256.
pub fn load_or_fetch(dir: &Path, dataset: Dataset) -> Result<Mnist> {
    let missing = mnist_io::FILES
        .iter()
        .any(|name| mnist_io::find_file(dir, name).is_none());
    if missing {
        let title = dataset.title();
        eprintln!(
            "{title} is not complete in {}: fetching it",
            crate::files::shown(dir)
        );
        let mut options = FetchOptions::new(dataset, &[]);
        options.out = dir.to_path_buf();
        let summary = fetch::fetch(&options).map_err(|err| {
            // Only a file that no mirror could serve is the mirrors' fault.
            let advice = if matches!(err, fetch::FetchError::AllMirrorsFailed { .. }) {
                format!(
                    "cannot fetch {title} into {} (set {} to a reachable mirror URL or to a \
                     folder holding the four files, or copy them there yourself)",
                    dir.display(),
                    dataset.mirror_env_var()
                )
            } else {
                format!("cannot fetch {title} into --data {}", dir.display())
            };
            anyhow::Error::new(err).context(advice)
        })?;
        eprintln!("{summary}");
    }
    load(dir, dataset)
}

/// Refuses the files in `dir` when they are recognizably the other dataset's (see
/// [`Dataset::recognize`]): a model of Fashion-MNIST evaluated on MNIST's files, say.
pub fn check_files(
    dir: &Path,
    dataset: Dataset,
    train: Option<&Split>,
    test: Option<&Split>,
) -> Result<()> {
    match Dataset::recognize(train, test) {
        Some(found) if found != dataset => bail!(
            "the files in {} are {}'s, not {}'s: pass --dataset {} (or --data with the {} \
             files)",
            dir.display(),
            found.title(),
            dataset.title(),
            found.name(),
            dataset.title()
        ),
        _ => Ok(()),
    }
}
