//! The model file: nn-core's [`ModelFile`] (spec, parameters and state in RON), with the
//! training options and the final accuracies in its metadata.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};
use mnist_io::idx::NUM_CLASSES;
use nn_core::{Model, ModelFile, NetSpec, Sequential};
use nn_train::{Evaluation, TrainConfig};

/// The model file of `net`, the network `spec` describes, as RON text (nn-core's
/// [`ModelFile`]), with the training options and the final accuracies in its metadata.
pub fn to_ron<M: Model<f32>>(
    spec: NetSpec,
    net: &M,
    config: &TrainConfig,
    last: Evaluation,
) -> Result<String> {
    let metadata = BTreeMap::from([
        ("train_config".to_owned(), ron::to_string(config)?),
        ("train_acc".to_owned(), format!("{:.4}", last.train_acc)),
        ("test_acc".to_owned(), format!("{:.4}", last.test_acc)),
    ]);
    Ok(ModelFile::from_model(spec, net, metadata)?.to_ron()?)
}

/// Reads and validates the model at `path` (any network `train` writes, or a version-1 file of
/// the two-layer network), for images of `input_size` pixels and MNIST's ten classes.
pub fn load<T: nn_core::Float>(path: &Path, input_size: usize) -> Result<Sequential<T>> {
    if !path.exists() {
        bail!(
            "model file {} not found: train one first with `nn-cli train` (or pass --model)",
            path.display()
        );
    }
    let net = ModelFile::<T>::load(path)?.net;
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
    Ok(net)
}
