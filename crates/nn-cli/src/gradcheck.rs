//! `nn-cli gradcheck`: the book's gradient check (§5.7.3), numerical against backprop on the
//! first training samples, in f64: of a fresh two-layer network, or of any saved model (the
//! CNNs of chapters 7 and 8 too). A large model has hundreds of thousands of weights, each taking
//! two forward passes: `--entries N` checks N of each parameter's entries, evenly spread.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use mnist_io::Dataset;
use nn_core::{Matrix, Model, Targets, Trainable, TwoLayerConfig, TwoLayerNet};

use crate::data::{self, DatasetArg};
use crate::{limits, model};

/// The largest mean absolute difference accepted.
const TOLERANCE: f64 = 1e-6;

/// Options of `gradcheck`.
#[derive(Args, Debug)]
pub struct GradcheckArgs {
    /// The dataset (mnist or fashion) [default: the model's with --model, else mnist]
    #[arg(long, value_enum)]
    dataset: Option<DatasetArg>,
    /// Folder of the dataset's files [default: data/mnist, or data/fashion for Fashion-MNIST]
    #[arg(long)]
    data: Option<PathBuf>,
    /// How many training samples, from the first
    #[arg(long, default_value_t = 3)]
    samples: usize,
    /// Neurons in the hidden layer
    #[arg(long, default_value_t = 50)]
    hidden: usize,
    /// Activation of the hidden layer
    #[arg(long, default_value = "sigmoid")]
    activation: nn_core::Activation,
    /// Seed of the initial weights
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Check this saved model (any network `train` or `import` writes) instead of a fresh
    /// two-layer one
    #[arg(long, value_name = "FILE.ron", conflicts_with_all = ["hidden", "activation", "seed"])]
    model: Option<PathBuf>,
    /// With --model: check only this many entries of each parameter, evenly spread (each entry
    /// costs two forward passes; SimpleConvNet has 434,000 of them) [default: every entry]
    #[arg(long, requires = "model")]
    entries: Option<usize>,
    /// With --model: the step h of the central differences. The book's 1e-4 crosses the kinks
    /// of ReLU and max pooling in a trained CNN on MNIST images (many values sit that close to
    /// them), which shows as differences near 1e-5; 1e-6 steps over them
    #[arg(long, default_value_t = nn_core::gradient::H, requires = "model")]
    step: f64,
}

/// Runs `gradcheck`.
pub fn run(args: GradcheckArgs) -> Result<()> {
    let flag = args.dataset.map(Dataset::from);
    // The model says which dataset; without it, the data's errors come first.
    let file = match &args.model {
        Some(path) => model::read_if_present::<f64>(path)?,
        None => None,
    };
    let dataset = match &args.model {
        Some(path) => model::choose_dataset(file.as_ref(), path, flag)?,
        None => flag.unwrap_or_default(),
    };
    let data = args.data.clone().unwrap_or_else(|| dataset.default_dir());
    let train = data::load_split(
        &data,
        dataset,
        mnist_io::TRAIN_IMAGES,
        mnist_io::TRAIN_LABELS,
    )?;
    data::check_files(&data, dataset, Some(&train), None)?;
    if args.samples == 0 || args.samples > train.len() {
        bail!(
            "--samples {} is invalid: use between 1 and the {} training samples",
            args.samples,
            train.len()
        );
    }
    let inputs = train.pixels_per_image();
    let x = Matrix::<f64>::from_iterator(
        inputs,
        args.samples,
        (0..args.samples).flat_map(|i| train.image(i).iter().map(|&p| f64::from(p) / 255.0)),
    );
    let labels = &train.labels()[..args.samples];
    let t = Targets::Labels(labels);

    let diffs: Vec<(String, f64)> = match &args.model {
        None => {
            let config = TwoLayerConfig {
                input_size: inputs,
                hidden_size: args.hidden,
                output_size: mnist_io::idx::NUM_CLASSES,
                activation: args.activation,
                ..TwoLayerConfig::default()
            };
            config.validate()?;
            let what = "use a smaller --hidden or fewer --samples";
            limits::check_network(&config.spec(), args.samples, what)?;
            let mut net = TwoLayerNet::<f64>::new(config, args.seed)?;
            let numerical = net.naive_numerical_gradient(&x, t);
            net.gradient(&x, t);
            let diffs = net.gradients().mean_abs_diff(&numerical);
            diffs.iter().map(|&(n, d)| (n.to_owned(), d)).collect()
        }
        Some(path) => {
            // Two copies at the same training step, so that dropout draws the same masks.
            let file = model::or_read(file, path)?;
            let mut net = model::network(file, path, inputs)?;
            limits::check_network(&net.spec(), args.samples, "use fewer --samples")?;
            let mut twin = net.snapshot();
            net.gradient(&x, t);
            if args.entries == Some(0) {
                bail!("--entries 0 is invalid: check at least 1 entry of each parameter");
            }
            if !(args.step > 0.0 && args.step.is_finite()) {
                bail!(
                    "--step {} is invalid: use a small positive number such as 1e-4",
                    args.step
                );
            }
            let count = args.entries.unwrap_or(usize::MAX);
            let backprop: Vec<(String, Matrix<f64>)> = net
                .named_gradients()
                .into_iter()
                .map(|(name, grad)| (name.to_string(), grad))
                .collect();
            sampled_diffs(&backprop, &mut twin, &x, t, count, args.step)
        }
    };
    for (name, diff) in &diffs {
        println!("{name}: {diff:e}");
    }
    verdict(&diffs)?;
    println!("gradient check passed: every mean absolute difference is below {TOLERANCE:e}");
    Ok(())
}

/// The mean absolute difference, for each parameter, between the backprop gradient `backprop`
/// and central differences of step `h` of the loss of `net` (a copy at the same step: dropout
/// draws the same masks) at `count` entries of the parameter, evenly spread (all of them if it
/// has fewer): the book's `numerical_gradient`, entry by entry.
fn sampled_diffs(
    backprop: &[(String, Matrix<f64>)],
    net: &mut nn_core::Sequential<f64>,
    x: &Matrix<f64>,
    t: Targets<'_, f64>,
    count: usize,
    h: f64,
) -> Vec<(String, f64)> {
    let mut diffs = Vec::new();
    for (index, (name, grad)) in backprop.iter().enumerate() {
        let len = grad.len();
        let picks: Vec<usize> = (0..count.min(len))
            .map(|k| k * len / count.min(len))
            .collect();
        let mut total = 0.0;
        for &i in &picks {
            let original = set_entry(net, index, i, 0.0);
            set_entry(net, index, i, original + h);
            let plus = net.loss(x, t);
            set_entry(net, index, i, original - h);
            let minus = net.loss(x, t);
            set_entry(net, index, i, original);
            total += (grad[i] - (plus - minus) / (2.0 * h)).abs();
        }
        diffs.push((name.clone(), total / picks.len() as f64));
    }
    diffs
}

/// Sets entry `i` of parameter number `index` of `net` to `value`; returns the value it held.
fn set_entry(net: &mut nn_core::Sequential<f64>, index: usize, i: usize, value: f64) -> f64 {
    use nn_core::Trainable;
    let (mut k, mut old) = (0, 0.0);
    net.visit_params(&mut |p| {
        if k == index {
            old = std::mem::replace(&mut p.value[i], value);
        }
        k += 1;
    });
    old
}

/// Fails, naming the parameter, when a mean absolute difference exceeds [`TOLERANCE`] or is NaN.
fn verdict<S: AsRef<str>>(diffs: &[(S, f64)]) -> Result<()> {
    if let Some((name, diff)) = diffs.iter().find(|(_, d)| d.is_nan() || *d > TOLERANCE) {
        let name = name.as_ref();
        bail!(
            "gradient check failed: {name} differs by {diff:e} on average, more than {TOLERANCE:e}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_above_the_tolerance_or_nan_fails_naming_the_parameter() {
        assert!(verdict(&[("W1", 3e-10), ("b1", 1e-6), ("W2", 0.0)]).is_ok());
        for (bad, text) in [(2e-6, "2e-6"), (f64::NAN, "NaN")] {
            let err = verdict(&[("W1", 3e-10), ("b2", bad)]).unwrap_err();
            let message = err.to_string();
            assert!(
                message.contains("b2") && message.contains(text),
                "{message}"
            );
        }
    }
}
