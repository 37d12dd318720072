//! The datasets in MNIST's format that this crate knows by name: MNIST itself and
//! Fashion-MNIST, their folders, their class names, and how to recognise their files.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::dataset::Split;

/// A dataset of 28×28 gray images in ten classes, in MNIST's IDX files: the same format,
/// different images, classes, mirrors and checksums (see [`fetch`](crate) with feature `fetch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dataset {
    /// The MNIST handwritten digits (LeCun, Cortes, Burges).
    #[default]
    Mnist,
    /// Zalando's Fashion-MNIST, a drop-in replacement with clothing articles.
    Fashion,
}

/// MNIST's classes: the digits.
const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Fashion-MNIST's classes, as Zalando names them.
const CLOTHES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

impl Dataset {
    /// Both, MNIST first.
    pub const ALL: [Dataset; 2] = [Dataset::Mnist, Dataset::Fashion];

    /// Short name: `mnist` or `fashion`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mnist => "mnist",
            Self::Fashion => "fashion",
        }
    }

    /// The name people write: `MNIST` or `Fashion-MNIST`.
    pub fn title(self) -> &'static str {
        match self {
            Self::Mnist => "MNIST",
            Self::Fashion => "Fashion-MNIST",
        }
    }

    /// The folder the dataset goes to by default: `data/mnist` or `data/fashion`.
    pub fn default_dir(self) -> PathBuf {
        Path::new("data").join(self.name())
    }

    /// The name of each class, by label: the digits `0` to `9` for MNIST, `T-shirt/top`,
    /// `Trouser`, `Pullover`, `Dress`, `Coat`, `Sandal`, `Shirt`, `Sneaker`, `Bag`, `Ankle boot`
    /// for Fashion-MNIST.
    ///
    /// ```
    /// use mnist_io::Dataset;
    /// assert_eq!(Dataset::Mnist.class_names()[7], "7");
    /// assert_eq!(Dataset::Fashion.class_names()[9], "Ankle boot");
    /// ```
    pub fn class_names(self) -> &'static [&'static str; 10] {
        match self {
            Self::Mnist => &DIGITS,
            Self::Fashion => &CLOTHES,
        }
    }

    /// The first labels of the training and test files, which tell the real datasets apart.
    fn first_labels(self) -> ([u8; 10], [u8; 10]) {
        match self {
            Self::Mnist => (
                [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
                [7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
            ),
            Self::Fashion => (
                [9, 0, 0, 3, 0, 2, 7, 2, 5, 5],
                [9, 2, 1, 1, 6, 1, 4, 6, 5, 7],
            ),
        }
    }

    /// Which of the real datasets the splits given are, if either: a training split of 60000
    /// and a test split of 10000 images of 28×28 whose first ten labels are that dataset's (a
    /// coincidence of one chance in 10¹⁰ per split for other data). Subsets, other data, or no
    /// split at all are `None`.
    pub fn recognize(train: Option<&Split>, test: Option<&Split>) -> Option<Self> {
        let fits = |split: Option<&Split>, len: usize, first: [u8; 10]| {
            split.is_none_or(|s| {
                s.len() == len && (s.rows(), s.cols()) == (28, 28) && s.labels()[..10] == first
            })
        };
        if train.is_none() && test.is_none() {
            return None;
        }
        Self::ALL.into_iter().find(|d| {
            let (train_labels, test_labels) = d.first_labels();
            fits(train, 60_000, train_labels) && fits(test, 10_000, test_labels)
        })
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dataset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mnist" => Ok(Self::Mnist),
            "fashion" | "fashion-mnist" => Ok(Self::Fashion),
            other => Err(format!(
                "unknown dataset `{other}`: expected `mnist` or `fashion`"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Images;

    /// `count` black 28×28 images labelled `first`, then 0.
    fn split(count: usize, first: [u8; 10], side: usize) -> Split {
        let labels = (0..count)
            .map(|i| first.get(i).copied().unwrap_or(0))
            .collect();
        Split::new(
            Images::new(side, side, vec![0; count * side * side]).unwrap(),
            labels,
        )
        .unwrap()
    }

    #[test]
    fn the_real_datasets_are_recognized_by_their_first_labels_and_sizes() {
        for dataset in Dataset::ALL {
            let (train, test) = dataset.first_labels();
            let (train, test) = (split(60_000, train, 28), split(10_000, test, 28));
            for (t, v) in [
                (Some(&train), Some(&test)),
                (Some(&train), None),
                (None, Some(&test)),
            ] {
                assert_eq!(Dataset::recognize(t, v), Some(dataset));
            }
            assert_eq!(Dataset::recognize(None, None), None);
            // A subset, other sizes of image, other labels: not recognized.
            let first = dataset.first_labels();
            let subset = split(6_000, first.0, 28);
            assert_eq!(Dataset::recognize(Some(&subset), Some(&test)), None);
            let small = split(60_000, first.0, 8);
            assert_eq!(Dataset::recognize(Some(&small), None), None);
            let other = split(60_000, first.1, 28);
            assert_eq!(Dataset::recognize(Some(&other), Some(&test)), None);
        }
    }

    #[test]
    fn names_parse_and_classes_are_named() {
        assert_eq!("fashion".parse(), Ok(Dataset::Fashion));
        assert_eq!("fashion-mnist".parse(), Ok(Dataset::Fashion));
        assert_eq!("mnist".parse(), Ok(Dataset::Mnist));
        assert!("cifar".parse::<Dataset>().unwrap_err().contains("cifar"));
        assert_eq!(Dataset::Fashion.class_names()[0], "T-shirt/top");
        assert_eq!(Dataset::Fashion.default_dir(), Path::new("data/fashion"));
        assert_eq!(Dataset::Mnist.title(), "MNIST");
    }
}
