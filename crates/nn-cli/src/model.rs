//! The model file: nn-core's [`ModelFile`] (spec, parameters, state and seed in RON), with the
//! training options and the final accuracies in its metadata, written through `safe-write`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use mnist_io::idx::NUM_CLASSES;
use nn_core::{Float, Matrix, Model, ModelFile, Sequential};
use nn_train::{Evaluation, TrainConfig};

/// The model file of `net` as RON text (nn-core's [`ModelFile`], which records the network's
/// own spec), with the seed of its initial weights, the training options and the final
/// accuracies.
pub fn to_ron<M: Model<f32>>(net: &M, config: &TrainConfig, last: Evaluation) -> Result<String> {
    let metadata = BTreeMap::from([
        ("train_config".to_owned(), ron::to_string(config)?),
        ("train_acc".to_owned(), format!("{:.4}", last.train_acc)),
        ("test_acc".to_owned(), format!("{:.4}", last.test_acc)),
    ]);
    let mut file = ModelFile::from_model(net, metadata)?;
    file.seed = Some(config.seed);
    file.dataset = Some("mnist".to_owned());
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
/// chunks): what [`load`] checks the network's passes against.
pub const INFERENCE_BATCH: usize = 1000;

/// Reads and validates the model at `path` (any network `train` writes, or a file of an older
/// format version), for images of `input_size` pixels and MNIST's ten classes.
pub fn load<T: Float>(path: &Path, input_size: usize) -> Result<Sequential<T>> {
    Ok(load_file(path, input_size)?.net)
}

/// [`load`], keeping the whole file: the network with its seed, dataset and metadata.
pub fn load_file<T: Float>(path: &Path, input_size: usize) -> Result<ModelFile<T>> {
    if !path.exists() {
        bail!(
            "model file {} not found: train one first with `nn-cli train` (or pass --model)",
            path.display()
        );
    }
    let file = ModelFile::<T>::load(path)?;
    let net = &file.net;
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
    Ok(file)
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
