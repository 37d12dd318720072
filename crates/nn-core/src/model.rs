//! Model files: a network's config and parameters, plus free-form metadata, in RON.
//!
//! Matrices are stored row by row, as the book prints them (`W1` has `input_size` rows of
//! `hidden_size` values). Loading checks everything against the config and names the first
//! problem: a parameter of the wrong shape, a value count that does not match the shape, a
//! non-finite value, an unknown format version. Saving is atomic: the file is written next to
//! its destination under a temporary name, then renamed over it.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use atomic_write_file::AtomicWriteFile;
use serde::{Deserialize, Serialize};

use crate::{ConfigError, Float, Matrix, NetConfig, Params, TwoLayerNet};

/// The format version written in every model file.
pub const FORMAT_VERSION: u32 = 1;

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
    /// The file could not be written.
    #[error("cannot write model file {}: {error}", path.display())]
    Write {
        /// The destination.
        path: PathBuf,
        /// The I/O error.
        error: io::Error,
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
        "format version {found} is not supported: this version of nn-core reads version {FORMAT_VERSION}"
    )]
    Version {
        /// The version in the file.
        found: u32,
    },
    /// The config is invalid.
    #[error("invalid network config: {0}")]
    Config(#[from] ConfigError),
    /// A parameter's shape does not match the config.
    #[error(
        "parameter {name} is {}x{} but the config ({config}) needs {}x{}: the parameters do not belong to this config",
        found.0, found.1, expected.0, expected.1
    )]
    Shape {
        /// `W1`, `b1`, `W2` or `b2`.
        name: &'static str,
        /// The shape the config requires.
        expected: (usize, usize),
        /// The shape found.
        found: (usize, usize),
        /// The config, e.g. `784-50-10 sigmoid`.
        config: String,
    },
    /// A stored matrix holds a different number of values than its rows × cols.
    #[error("parameter {name} declares {rows}x{cols} = {} values but holds {len}: the file is truncated or corrupt", rows * cols)]
    DataLength {
        /// `W1`, `b1`, `W2` or `b2`.
        name: &'static str,
        /// Declared rows.
        rows: usize,
        /// Declared columns.
        cols: usize,
        /// Values present.
        len: usize,
    },
    /// A parameter holds NaN or an infinity (training diverged, or the file is corrupt).
    #[error(
        "parameter {name} holds {value} at row {row}, column {col}: a usable model has only finite values"
    )]
    NotFinite {
        /// `W1`, `b1`, `W2` or `b2`.
        name: &'static str,
        /// Row of the value.
        row: usize,
        /// Column of the value.
        col: usize,
        /// The value.
        value: f64,
    },
}

/// A matrix as stored in a file: its shape and its values row by row.
#[derive(Serialize, Deserialize)]
struct StoredMatrix<T> {
    rows: usize,
    cols: usize,
    data: Vec<T>,
}

impl<T: Float> StoredMatrix<T> {
    fn from_matrix(m: &Matrix<T>) -> Self {
        let data = m
            .row_iter()
            .flat_map(|row| row.iter().copied().collect::<Vec<_>>())
            .collect();
        StoredMatrix {
            rows: m.nrows(),
            cols: m.ncols(),
            data,
        }
    }

    fn into_matrix(self, name: &'static str) -> Result<Matrix<T>, ModelError> {
        let StoredMatrix { rows, cols, data } = self;
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
                name,
                row: i / cols,
                col: i % cols,
                value: data[i].to_f64(),
            });
        }
        Ok(Matrix::from_row_slice(rows, cols, &data))
    }
}

/// The on-disk layout.
#[derive(Serialize, Deserialize)]
struct StoredModel<T> {
    format_version: u32,
    config: NetConfig,
    #[serde(rename = "W1")]
    w1: StoredMatrix<T>,
    b1: StoredMatrix<T>,
    #[serde(rename = "W2")]
    w2: StoredMatrix<T>,
    b2: StoredMatrix<T>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// A network with its metadata, as saved to and loaded from a RON file.
///
/// ```
/// use nn_core::{ModelFile, NetConfig, TwoLayerNet};
/// let net = TwoLayerNet::<f32>::new(NetConfig::default(), 7)?;
/// let file = ModelFile::new(net, [("test_accuracy".to_owned(), "0.97".to_owned())].into());
/// let text = file.to_ron()?;
/// let back = ModelFile::<f32>::from_ron(&text)?;
/// assert_eq!(back.net.params(), file.net.params()); // f32 values survive the text exactly
/// assert_eq!(back.metadata["test_accuracy"], "0.97");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ModelFile<T: Float> {
    /// The network.
    pub net: TwoLayerNet<T>,
    /// Free-form notes: training settings, final accuracies...
    pub metadata: BTreeMap<String, String>,
}

impl<T: Float> ModelFile<T> {
    /// Bundles a network with its metadata.
    pub fn new(net: TwoLayerNet<T>, metadata: BTreeMap<String, String>) -> Self {
        ModelFile { net, metadata }
    }

    /// The model as RON text.
    pub fn to_ron(&self) -> Result<String, ModelError> {
        let p = self.net.params();
        let stored = StoredModel {
            format_version: FORMAT_VERSION,
            config: self.net.config().clone(),
            w1: StoredMatrix::from_matrix(&p.w1),
            b1: StoredMatrix::from_matrix(&p.b1),
            w2: StoredMatrix::from_matrix(&p.w2),
            b2: StoredMatrix::from_matrix(&p.b2),
            metadata: self.metadata.clone(),
        };
        let pretty = ron::ser::PrettyConfig::new().compact_arrays(true);
        ron::ser::to_string_pretty(&stored, pretty).map_err(ModelError::Serialize)
    }

    /// Parses and validates RON text written by [`to_ron`](Self::to_ron).
    ///
    /// # Errors
    /// The first problem found: syntax, version, config, a parameter's value count, values or
    /// shape (see [`ModelError`]).
    pub fn from_ron(text: &str) -> Result<Self, ModelError> {
        let stored: StoredModel<T> = ron::from_str(text).map_err(ModelError::Parse)?;
        if stored.format_version != FORMAT_VERSION {
            return Err(ModelError::Version {
                found: stored.format_version,
            });
        }
        let params = Params {
            w1: stored.w1.into_matrix("W1")?,
            b1: stored.b1.into_matrix("b1")?,
            w2: stored.w2.into_matrix("W2")?,
            b2: stored.b2.into_matrix("b2")?,
        };
        let net = TwoLayerNet::from_params(stored.config, params)?;
        Ok(ModelFile {
            net,
            metadata: stored.metadata,
        })
    }

    /// Reads and validates a model file.
    ///
    /// # Errors
    /// [`ModelError::Read`] if the file cannot be read, [`ModelError::InFile`] naming the file
    /// and the problem if its contents are not a valid model.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|error| ModelError::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::from_ron(&text).map_err(|error| ModelError::InFile {
            path: path.to_owned(),
            error: Box::new(error),
        })
    }

    /// Writes the model atomically: to a temporary file in the same folder, then renamed to
    /// `path`, so a reader never sees half a model.
    ///
    /// # Errors
    /// [`ModelError::Write`] naming the file if it cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        let text = self.to_ron()?;
        write_atomically(path, text.as_bytes()).map_err(|error| ModelError::Write {
            path: path.to_owned(),
            error,
        })
    }
}

/// Writes `bytes` to a fresh temporary file next to `path`, syncs it, and renames it to `path`
/// (the `atomic-write-file` crate); on error the temporary file is removed and an older `path`
/// is left as it was.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicWriteFile::open(path)?;
    file.write_all(bytes)?;
    file.commit()
}
