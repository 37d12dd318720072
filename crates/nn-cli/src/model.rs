//! The model file: nn-core's [`ModelFile`] (spec, parameters, state, seed and dataset in RON),
//! with the training options and the final accuracies in its metadata, written through
//! `safe-write`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use mnist_io::Dataset;
use mnist_io::idx::NUM_CLASSES;
use nn_core::{Float, Matrix, Model, ModelFile, Sequential};
use nn_train::{Evaluation, TrainConfig};

/// The model file of `net` as RON text (nn-core's [`ModelFile`], which records the network's
/// own spec), with the seed of its initial weights, the dataset it was trained on, the training
/// options and the final accuracies.
pub fn to_ron<M: Model<f32>>(
    net: &M,
    config: &TrainConfig,
    dataset: Dataset,
    last: Evaluation,
) -> Result<String> {
    let metadata = BTreeMap::from([
        ("train_config".to_owned(), ron::to_string(config)?),
        ("train_acc".to_owned(), format!("{:.4}", last.train_acc)),
        ("test_acc".to_owned(), format!("{:.4}", last.test_acc)),
    ]);
    let mut file = ModelFile::from_model(net, metadata)?;
    file.seed = Some(config.seed);
    file.dataset = Some(dataset.name().to_owned());
    Ok(file.to_ron()?)
}

/// Writes `file` to `path` atomically, as every output of nn-cli: a temporary file beside it,
/// then renamed (never over a folder or a device; removed on Ctrl-C).
pub fn save<T: Float>(file: &ModelFile<T>, path: &Path) -> Result<()> {
    let text = file.to_ron()?;
    safe_write::write(path, text.as_bytes())
        .with_context(|| format!("cannot write model file {}", path.display()))
}

/// The most samples nn-cli passes through a loaded network at once (`eval`'s and `predict`'s
/// chunks): what [`fits`] checks the network's passes against.
pub const INFERENCE_BATCH: usize = 1000;

/// Reads and validates the model file at `path` (any network `train` or `import` writes, or a
/// file of an older format version).
pub fn read<T: Float>(path: &Path) -> Result<ModelFile<T>> {
    if !path.exists() {
        bail!(
            "model file {} not found: train one first with `nn-cli train` (or pass --model)",
            path.display()
        );
    }
    Ok(ModelFile::<T>::load(path)?)
}

/// The model file at `path` if there is one (see [`read`]); `None` when nothing is there, so
/// that a command can report missing data first.
pub fn read_if_present<T: Float>(path: &Path) -> Result<Option<ModelFile<T>>> {
    if path.exists() {
        read(path).map(Some)
    } else {
        Ok(None)
    }
}

/// `file`, or the model file at `path` read now (an error naming it if it is missing).
pub fn or_read<T: Float>(file: Option<ModelFile<T>>, path: &Path) -> Result<ModelFile<T>> {
    match file {
        Some(file) => Ok(file),
        None => read(path),
    }
}

/// The dataset a model was trained on: the one its file records, MNIST for files that record
/// none (written before models recorded it, or imported from the book's weights).
pub fn dataset_of<T: Float>(file: &ModelFile<T>, path: &Path) -> Result<Dataset> {
    match file.dataset.as_deref() {
        None => Ok(Dataset::Mnist),
        Some(name) => name.parse().map_err(|_| {
            anyhow::anyhow!(
                "model file {} was trained on a dataset nn-cli does not know ({name:?}): it \
                 knows mnist and fashion",
                path.display()
            )
        }),
    }
}

/// The dataset a command works on: `flag` if given (refused if the model of `path` was trained
/// on another), else the model's (MNIST when there is no model file yet).
pub fn choose_dataset<T: Float>(
    file: Option<&ModelFile<T>>,
    path: &Path,
    flag: Option<Dataset>,
) -> Result<Dataset> {
    let Some(file) = file else {
        return Ok(flag.unwrap_or_default());
    };
    let trained = dataset_of(file, path)?;
    match flag {
        Some(asked) if asked != trained => bail!(
            "model file {} was trained on {}, not {}: a model only knows the classes of its \
             own dataset; use --dataset {} (or leave --dataset out), or a model trained on {}",
            path.display(),
            trained.title(),
            asked.title(),
            trained.name(),
            asked.title()
        ),
        _ => Ok(trained),
    }
}

/// The network of `file` (read from `path`), checked to take images of `input_size` pixels and
/// to score ten classes.
pub fn network<T: Float>(
    file: ModelFile<T>,
    path: &Path,
    input_size: usize,
) -> Result<Sequential<T>> {
    fits(&file.net, path, input_size)?;
    Ok(file.net)
}

/// The model file at `path` (see [`read`]), its network checked as [`network`] checks it.
pub fn load_file<T: Float>(path: &Path, input_size: usize) -> Result<ModelFile<T>> {
    let file = read(path)?;
    fits(&file.net, path, input_size)?;
    Ok(file)
}

/// Checks that `net` (read from `path`) takes images of `input_size` pixels, scores ten
/// classes, and runs [`INFERENCE_BATCH`] samples at once within nn-cli's limits.
fn fits<T: Float>(net: &Sequential<T>, path: &Path, input_size: usize) -> Result<()> {
    let what = format!("model file {} is too large to run here", path.display());
    crate::limits::check_network(&net.spec(), INFERENCE_BATCH, &what)?;
    let (inputs, classes) = (net.input_len(), net.output_len());
    if inputs != input_size {
        bail!(
            "model file {} expects images of {inputs} inputs but the data has {input_size} pixels \
             per image: use a model trained on this dataset",
            path.display()
        );
    }
    if classes != NUM_CLASSES {
        bail!(
            "model file {} has {classes} output classes where MNIST has {NUM_CLASSES}: use a \
             model trained by `nn-cli train`",
            path.display()
        );
    }
    Ok(())
}

/// `scores` (one column per sample, the first being sample `first`), after checking that every
/// score is finite: a model of finite but huge weights (3e38) overflows to infinity and NaN,
/// whose arg-max would be reported as a prediction.
pub fn finite_scores<'a>(
    scores: &'a Matrix<f32>,
    first: usize,
    model: &Path,
) -> Result<&'a Matrix<f32>> {
    if let Some(i) = scores.iter().position(|v| !v.is_finite()) {
        let (class, sample) = (i % scores.nrows(), first + i / scores.nrows());
        bail!(
            "model file {} computes the score {} for class {class} of image {sample}: its \
             arithmetic overflows (weights or statistics too large for f32), so it classifies \
             nothing: train the model again",
            model.display(),
            scores[i]
        );
    }
    Ok(scores)
}
