//! What nn-cli refuses to build or read, checked before anything is allocated: networks too
//! large for this machine, batches whose passes would fill the memory, files larger than what
//! they claim to be.

use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use nn_core::NetSpec;

/// The most parameters nn-cli builds a network of: over a hundred times the book's largest
/// network (SimpleConvNet, 433 890; DeepConvNet has 123 552). 50 million `f32` values are 200 MB,
/// and training needs several times that (gradients, optimizer state, buffers).
pub const MAX_PARAMS: usize = 50_000_000;

/// The most values a batch's passes may keep (every layer's outputs and gradients, see
/// `NetSpec::values_per_sample`, times the batch): 2²⁸, 1 GiB of `f32`. DeepConvNet keeps about
/// 2·10⁵ per sample, so a batch of 100 or an evaluation chunk of 1000 stays below.
pub const MAX_BATCH_VALUES: usize = 1 << 28;

/// The largest config file `train --config` reads: a config is a few hundred bytes, a `Spec` of
/// the most layers a network may have well under this.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Refuses a network with more than [`MAX_PARAMS`] parameters, or whose passes over batches of
/// `batch` samples would keep more than [`MAX_BATCH_VALUES`] values, naming its size; `what`
/// says which option to change. Returns the number of parameters.
pub fn check_network(spec: &NetSpec, batch: usize, what: &str) -> Result<usize> {
    let params = spec.param_count().context("invalid network")?;
    if params > MAX_PARAMS {
        bail!(
            "the network ({spec}) would have {params} parameters, more than the {MAX_PARAMS} \
             nn-cli builds ({} MB of weights alone): {what}",
            params / 250_000
        );
    }
    let values = spec.values_per_sample().context("invalid network")?;
    let total = values.saturating_mul(batch);
    if total > MAX_BATCH_VALUES {
        bail!(
            "the network ({spec}) keeps {values} values per sample: a batch of {batch} would take \
             {} MB, more than the {} MB nn-cli allows: {what}",
            total / 250_000,
            MAX_BATCH_VALUES / 250_000
        );
    }
    Ok(params)
}

/// The text of a small file (`what`, e.g. "config file"): a regular file (never a FIFO or a
/// device, which could be read forever) of at most `max` bytes.
pub fn read_text(path: &Path, what: &str, max: u64) -> Result<String> {
    let shown = path.display();
    let metadata = fs::metadata(path).with_context(|| format!("cannot read {what} {shown}"))?;
    if !metadata.is_file() {
        bail!("{what} {shown} is not a regular file: give the path of a file");
    }
    if metadata.len() > max {
        bail!(
            "{what} {shown} holds {} bytes, more than the {max} a {what} can be",
            metadata.len()
        );
    }
    let mut text = String::new();
    fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_string(&mut text))
        .with_context(|| format!("cannot read {what} {shown}"))?;
    if text.len() as u64 > max {
        bail!("{what} {shown} holds more than the {max} bytes a {what} can be");
    }
    Ok(text)
}
