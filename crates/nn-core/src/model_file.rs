//! Model files: a network's spec, parameters and state, the seed its weights were drawn from,
//! plus free-form metadata, in RON.
//!
//! Version 3 (written today) holds the [`NetSpec`], the seed, the dataset, then every parameter (`W1`, `b1`,
//! `gamma1`…) and every state matrix (batch norm's `running_mean1`…) under its name:
//!
//! ```text
//! (
//!     format_version: 3,
//!     spec: (input: (channels: 1, height: 28, width: 28), layers: [Affine(out: 50), Sigmoid, Affine(out: 10)], init: Std(0.01), weight_decay: 0.0),
//!     seed: Some(42),
//!     dataset: Some("mnist"),
//!     params: [(name: "W1", rows: 784, cols: 50, data: [...]), ...],
//!     state: [],
//!     metadata: {"test_acc": "0.9453", ...},
//! )
//! ```
//!
//! Version 2 (the same without the seed and the dataset) and version 1 (the two-layer network's `config`,
//! `W1 b1 W2 b2`, loaded as the equivalent stack) still load. Matrices are stored row by row, as
//! the book prints them. Loading checks everything and names the first problem: an unknown
//! field, a missing or extra parameter, a wrong shape, a value count that does not match the
//! shape, a non-finite value, an unknown version, a spec that declares more parameters than the
//! file holds (so a small file cannot make the loader allocate gigabytes).
//!
//! This module reads and writes text; where and how the text is written (atomically, safe from
//! Ctrl-C) is the caller's policy: `nn-cli` writes through the `safe-write` crate.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::layers::{Kind, Name};
use crate::{
    Float, Matrix, Model, NetSpec, Sequential, SpecError, Trainable, TwoLayerConfig,
    TwoLayerConfigError,
};

/// The format version written in every model file.
pub const FORMAT_VERSION: u32 = 3;

/// The largest model file [`ModelFile::load`] reads: 1 GiB, room for about 80 million
/// parameters in RON text (the book's largest network has 433 890).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Why a model could not be loaded, validated or saved.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read.
    #[error("cannot read model file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: io::Error,
    },
    /// The path is not a regular file (a folder, a FIFO, a device...).
    #[error("model file {} is not a regular file: give the path of a model written by `nn-cli train`", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file is larger than any model can be.
    #[error("model file {} holds {size} bytes, more than the {MAX_FILE_BYTES} a model file can be: it is not a model", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size, or at least the bytes read.
        size: u64,
    },
    /// The file is unreadable as a model; wraps the problem found in its contents.
    #[error("model file {}: {error}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with its contents.
        error: Box<ModelError>,
    },
    /// The text is not a RON model.
    #[error("not a model file in RON: {0} (expected the output of `nn-cli train`)")]
    Parse(ron::error::SpannedError),
    /// The model could not be turned into RON.
    #[error("cannot write the model as RON: {0}")]
    Serialize(ron::Error),
    /// The format version is not one this library reads.
    #[error(
        "format version {found} is not supported: this version of nn-core reads versions 1 to {FORMAT_VERSION}"
    )]
    Version {
        /// The version in the file.
        found: u32,
    },
    /// The two-layer config of a version-1 file is invalid.
    #[error("invalid network config: {0}")]
    Config(#[from] TwoLayerConfigError),
    /// The spec describes no network.
    #[error("invalid network spec: {0}")]
    Spec(#[from] SpecError),
    /// The parameters (or state matrices) are not those the spec's network has.
    #[error(
        "the file holds {found} where the network ({spec}) has {expected}: the values do not belong to this network"
    )]
    Names {
        /// The names the network has, e.g. `W1 b1 W2 b2`.
        expected: String,
        /// The names found in the file.
        found: String,
        /// The spec, e.g. `784 → Affine(50) → Sigmoid → Affine(10)`.
        spec: String,
    },
    /// A parameter's shape does not match the spec.
    #[error(
        "parameter {name} is {}x{} but the network ({spec}) needs {}x{}: the parameters do not belong to this network",
        found.0, found.1, expected.0, expected.1
    )]
    Shape {
        /// `W1`, `b1`...
        name: String,
        /// The shape the spec requires.
        expected: (usize, usize),
        /// The shape found.
        found: (usize, usize),
        /// The spec.
        spec: String,
    },
    /// A stored matrix holds a different number of values than its rows × cols.
    #[error("parameter {name} declares {rows}x{cols} = {} values but holds {len}: the file is truncated or corrupt",
        rows.checked_mul(*cols).map_or_else(|| "more than 2^64".to_owned(), |n| n.to_string()))]
    DataLength {
        /// `W1`, `b1`...
        name: String,
        /// Declared rows.
        rows: usize,
        /// Declared columns.
        cols: usize,
        /// Values present.
        len: usize,
    },
    /// A running variance of batch norm is negative: no data gives one, the file is corrupt.
    #[error(
        "{name} holds {value} at row {row}: a variance is never negative, the file is corrupt \
         (train the model again)"
    )]
    NegativeVariance {
        /// `running_var1`...
        name: String,
        /// Row of the value.
        row: usize,
        /// The value.
        value: f64,
    },
    /// A parameter holds NaN or an infinity (training diverged, or the file is corrupt).
    #[error(
        "parameter {name} holds {value} at row {row}, column {col}: a usable model has only finite values"
    )]
    NotFinite {
        /// `W1`, `b1`...
        name: String,
        /// Row of the value.
        row: usize,
        /// Column of the value.
        col: usize,
        /// The value.
        value: f64,
    },
}

/// A matrix as stored in a file: its name, its shape and its values row by row.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredMatrix<T> {
    name: String,
    rows: usize,
    cols: usize,
    data: Vec<T>,
}

impl<T: Float> StoredMatrix<T> {
    fn from_matrix(name: String, m: &Matrix<T>) -> Self {
        StoredMatrix {
            name,
            rows: m.nrows(),
            cols: m.ncols(),
            data: m.transpose().as_slice().to_vec(),
        }
    }

    fn into_matrix(self) -> Result<(String, Matrix<T>), ModelError> {
        let StoredMatrix {
            name,
            rows,
            cols,
            data,
        } = self;
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(ModelError::DataLength {
                name,
                rows,
                cols,
                len: data.len(),
            });
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NotFinite {
                value: data[i].to_f64(),
                row: i / cols,
                col: i % cols,
                name,
            });
        }
        Ok((name, Matrix::from_row_slice(rows, cols, &data)))
    }
}

/// Versions 2 and 3 on disk (version 2 has no seed).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredModel<T> {
    format_version: u32,
    spec: NetSpec,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    dataset: Option<String>,
    params: Vec<StoredMatrix<T>>,
    #[serde(default)]
    state: Vec<StoredMatrix<T>>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// A version-1 matrix: no name, the field says which it is.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredMatrixV1<T> {
    rows: usize,
    cols: usize,
    data: Vec<T>,
}

impl<T> StoredMatrixV1<T> {
    fn named(self, name: &str) -> StoredMatrix<T> {
        StoredMatrix {
            name: name.to_owned(),
            rows: self.rows,
            cols: self.cols,
            data: self.data,
        }
    }
}

/// Version 1 on disk: the two-layer network of chapters 4 and 5.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredModelV1<T> {
    #[allow(dead_code)] // checked by `Versioned` first
    format_version: u32,
    config: TwoLayerConfig,
    #[serde(rename = "W1")]
    w1: StoredMatrixV1<T>,
    b1: StoredMatrixV1<T>,
    #[serde(rename = "W2")]
    w2: StoredMatrixV1<T>,
    b2: StoredMatrixV1<T>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// Just the version of a model file, whatever else it holds (unknown fields are skipped).
#[derive(Deserialize)]
struct Versioned {
    format_version: u32,
}

/// A network with its metadata, as saved to and loaded from a RON file.
///
/// Any [`Model`] turns into one through [`ModelFile::from_model`], with the spec it reports;
/// loading always gives a [`Sequential`] network, which computes what the saved one did.
///
/// ```
/// use nn_core::{Model, ModelFile, TwoLayerConfig, Trainable, TwoLayerNet};
/// let net = TwoLayerNet::<f32>::new(TwoLayerConfig::default(), 7)?;
/// let metadata = [("test_accuracy".to_owned(), "0.97".to_owned())].into();
/// let mut file = ModelFile::from_model(&net, metadata)?;
/// file.seed = Some(7);
/// let mut back = ModelFile::<f32>::from_ron(&file.to_ron()?)?;
/// let params = back.net.named_params();
/// assert_eq!(params[0].1, net.params().w1); // f32 values survive the text exactly
/// assert_eq!(params[0].0.to_string(), "W1");
/// assert_eq!((back.seed, back.metadata["test_accuracy"].as_str()), (Some(7), "0.97"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ModelFile<T: Float> {
    /// The network.
    pub net: Sequential<T>,
    /// The seed its initial weights were drawn from, if known (files of version 3 on).
    pub seed: Option<u64>,
    /// The dataset it was trained on (`mnist`, `fashion`…), if known (files of version 3 on):
    /// what its classes are, and which data it may be evaluated on.
    pub dataset: Option<String>,
    /// Free-form notes: training settings, final accuracies...
    pub metadata: BTreeMap<String, String>,
}

impl<T: Float> ModelFile<T> {
    /// Bundles a network with its metadata (no seed recorded).
    pub fn new(net: Sequential<T>, metadata: BTreeMap<String, String>) -> Self {
        ModelFile {
            net,
            seed: None,
            dataset: None,
            metadata,
        }
    }

    /// The [`Sequential`] network of `model`'s [`spec`](Model::spec), holding `model`'s
    /// parameters and state (no seed recorded).
    ///
    /// # Errors
    /// [`ModelError::Spec`], or [`ModelError::Names`]/[`ModelError::Shape`] if `model`'s
    /// parameters are not those its spec describes (a bug of the model).
    pub fn from_model<M: Model<T>>(
        model: &M,
        metadata: BTreeMap<String, String>,
    ) -> Result<Self, ModelError> {
        let mut copy = model.snapshot();
        let mut params = Vec::new();
        copy.visit_params(&mut |p| params.push((p.name.to_string(), p.value.clone())));
        let mut state = Vec::new();
        copy.visit_state(&mut |s| state.push((s.name.to_string(), s.value.clone())));
        Ok(ModelFile::new(
            assemble(model.spec(), params, state)?,
            metadata,
        ))
    }

    /// The model as RON text.
    pub fn to_ron(&self) -> Result<String, ModelError> {
        let mut net = self.net.snapshot();
        let mut params = Vec::new();
        net.visit_params(&mut |p| {
            params.push(StoredMatrix::from_matrix(p.name.to_string(), p.value))
        });
        let mut state = Vec::new();
        net.visit_state(&mut |s| {
            state.push(StoredMatrix::from_matrix(s.name.to_string(), s.value))
        });
        let stored = StoredModel {
            format_version: FORMAT_VERSION,
            spec: self.net.spec(),
            seed: self.seed,
            dataset: self.dataset.clone(),
            params,
            state,
            metadata: self.metadata.clone(),
        };
        let pretty = ron::ser::PrettyConfig::new().compact_arrays(true);
        ron::ser::to_string_pretty(&stored, pretty).map_err(ModelError::Serialize)
    }

    /// Parses and validates RON text written by [`to_ron`](Self::to_ron), or a file of version 1
    /// or 2.
    ///
    /// # Errors
    /// The first problem found: syntax, an unknown field, the version, the spec, a parameter's
    /// name, value count, values or shape (see [`ModelError`]).
    pub fn from_ron(text: &str) -> Result<Self, ModelError> {
        let Versioned { format_version, .. } = ron::from_str(text).map_err(ModelError::Parse)?;
        match format_version {
            1 => {
                let v1: StoredModelV1<T> = ron::from_str(text).map_err(ModelError::Parse)?;
                v1.config.validate()?;
                let params = [
                    v1.w1.named("W1"),
                    v1.b1.named("b1"),
                    v1.w2.named("W2"),
                    v1.b2.named("b2"),
                ];
                let params = params
                    .into_iter()
                    .map(StoredMatrix::into_matrix)
                    .collect::<Result<_, _>>()?;
                let net = assemble(v1.config.spec(), params, Vec::new())?;
                Ok(ModelFile::new(net, v1.metadata))
            }
            2 | FORMAT_VERSION => {
                let stored: StoredModel<T> = ron::from_str(text).map_err(ModelError::Parse)?;
                let unpack = |matrices: Vec<StoredMatrix<T>>| {
                    matrices
                        .into_iter()
                        .map(StoredMatrix::into_matrix)
                        .collect::<Result<Vec<_>, _>>()
                };
                let net = assemble(stored.spec, unpack(stored.params)?, unpack(stored.state)?)?;
                Ok(ModelFile {
                    net,
                    seed: stored.seed,
                    dataset: stored.dataset,
                    metadata: stored.metadata,
                })
            }
            found => Err(ModelError::Version { found }),
        }
    }

    /// Reads and validates a model file: a regular file (never a FIFO or a device, which could
    /// be read forever) of at most [`MAX_FILE_BYTES`].
    ///
    /// # Errors
    /// [`ModelError::Read`], [`ModelError::NotAFile`] or [`ModelError::TooLarge`] naming the
    /// file, or [`ModelError::InFile`] naming the file and the problem if its contents are not a
    /// valid model.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let read = |error| ModelError::Read {
            path: path.to_owned(),
            error,
        };
        // Checked before opening: opening a FIFO with no writer would wait forever.
        if !fs::metadata(path).map_err(read)?.is_file() {
            return Err(ModelError::NotAFile {
                path: path.to_owned(),
            });
        }
        let file = fs::File::open(path).map_err(read)?;
        let size = file.metadata().map_err(read)?.len();
        if size > MAX_FILE_BYTES {
            return Err(ModelError::TooLarge {
                path: path.to_owned(),
                size,
            });
        }
        let mut text = String::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(read)?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(ModelError::TooLarge {
                path: path.to_owned(),
                size: text.len() as u64,
            });
        }
        Self::from_ron(&text).map_err(|error| ModelError::InFile {
            path: path.to_owned(),
            error: Box::new(error),
        })
    }
}

/// The network of `spec` with the given parameters and state, after checking that they are
/// exactly the network's, in its order, with its shapes.
fn assemble<T: Float>(
    spec: NetSpec,
    params: Vec<(String, Matrix<T>)>,
    state: Vec<(String, Matrix<T>)>,
) -> Result<Sequential<T>, ModelError> {
    // The names and shapes come from the spec alone: checked before the network is allocated,
    // so a file can only make us build a network whose values it holds.
    let spec_text = spec.to_string();
    let (expected, expected_state): (Vec<_>, Vec<_>) = spec
        .matrices()?
        .into_iter()
        .partition(|(name, _)| name.kind.is_trained());
    check_names(&expected, &params, &spec_text)?;
    check_names(&expected_state, &state, &spec_text)?;
    for ((name, _), (_, m)) in expected_state.iter().zip(&state) {
        if name.kind == Kind::RunningVar
            && let Some(row) = m.iter().position(|&v| v < T::zero())
        {
            return Err(ModelError::NegativeVariance {
                name: name.to_string(),
                row,
                value: m[row].to_f64(),
            });
        }
    }
    let mut net = Sequential::new(spec, 0)?;
    let mut params = params.into_iter();
    net.visit_params(&mut |p| *p.value = params.next().expect("checked").1);
    let mut state = state.into_iter();
    net.visit_state(&mut |s| *s.value = state.next().expect("checked").1);
    Ok(net)
}

/// Checks that `found` holds exactly the `expected` names, in order, with their shapes.
fn check_names<T: Float>(
    expected: &[(Name, (usize, usize))],
    found: &[(String, Matrix<T>)],
    spec: &str,
) -> Result<(), ModelError> {
    let same_names = expected.len() == found.len()
        && expected
            .iter()
            .zip(found)
            .all(|((name, _), (found, _))| name.to_string() == *found);
    if !same_names {
        let list = |names: Vec<String>| {
            if names.is_empty() {
                "nothing".to_owned()
            } else {
                names.join(" ")
            }
        };
        return Err(ModelError::Names {
            expected: list(expected.iter().map(|(n, _)| n.to_string()).collect()),
            found: list(found.iter().map(|(n, _)| n.clone()).collect()),
            spec: spec.to_owned(),
        });
    }
    for ((name, shape), (_, m)) in expected.iter().zip(found) {
        if m.shape() != *shape {
            return Err(ModelError::Shape {
                name: name.to_string(),
                expected: *shape,
                found: m.shape(),
                spec: spec.to_owned(),
            });
        }
    }
    Ok(())
}
