//! The model file: nn-core's [`ModelFile`] (config and parameters in RON), with the training
//! options and the final accuracies in its metadata.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};
use mnist_io::idx::NUM_CLASSES;
use nn_core::{ModelFile, TwoLayerNet};
use nn_train::TrainConfig;

/// Writes `net` to `path` atomically (nn-core's [`ModelFile::save`]), with `config` and the
/// final accuracies beside it; creates the parent folder if needed.
pub fn save(
    path: &Path,
    net: &TwoLayerNet<f32>,
    config: &TrainConfig,
    train_acc: f64,
    test_acc: f64,
) -> Result<()> {
    let metadata = BTreeMap::from([
        ("train_config".to_owned(), ron::to_string(config)?),
        ("train_acc".to_owned(), format!("{train_acc:.4}")),
        ("test_acc".to_owned(), format!("{test_acc:.4}")),
    ]);
    crate::files::create_parent(path)?;
    ModelFile::new(net.clone(), metadata).save(path)?;
    Ok(())
}

/// Reads and validates the model at `path`, for images of `input_size` pixels and MNIST's ten
/// classes.
pub fn load(path: &Path, input_size: usize) -> Result<TwoLayerNet<f32>> {
    if !path.exists() {
        bail!(
            "model file {} not found: train one first with `nn-cli train` (or pass --model)",
            path.display()
        );
    }
    let net = ModelFile::<f32>::load(path)?.net;
    let (inputs, classes) = (net.config().input_size, net.config().output_size);
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
    Ok(net)
}
