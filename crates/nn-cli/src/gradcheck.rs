//! `nn-cli gradcheck`: the book's gradient check (§5.7.3), numerical against backprop on the
//! first training samples, in f64: of a fresh two-layer network, or of any saved model.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use nn_core::{Matrix, Model, NetConfig, Targets, TwoLayerNet};

use crate::{data, model};

/// The largest mean absolute difference accepted.
const TOLERANCE: f64 = 1e-6;

/// Options of `gradcheck`.
#[derive(Args, Debug)]
pub struct GradcheckArgs {
    /// Folder of the MNIST files
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
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
    /// Check this saved model (any network `train` writes) instead of a fresh two-layer one
    #[arg(long, value_name = "FILE.ron", conflicts_with_all = ["hidden", "activation", "seed"])]
    model: Option<PathBuf>,
}

/// Runs `gradcheck`.
pub fn run(args: GradcheckArgs) -> Result<()> {
    let train = data::load_split(&args.data, mnist_io::TRAIN_IMAGES, mnist_io::TRAIN_LABELS)?;
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
            let config = NetConfig {
                input_size: inputs,
                hidden_size: args.hidden,
                output_size: mnist_io::idx::NUM_CLASSES,
                activation: args.activation,
                ..NetConfig::default()
            };
            let mut net = TwoLayerNet::<f64>::new(config, args.seed)?;
            let numerical = TwoLayerNet::numerical_gradient(&mut net, &x, t);
            net.gradient(&x, t);
            let diffs = net.gradients().mean_abs_diff(&numerical);
            diffs.iter().map(|&(n, d)| (n.to_owned(), d)).collect()
        }
        Some(path) => {
            // Two copies at the same training step, so that dropout draws the same masks.
            let mut net = model::load::<f64>(path, inputs)?;
            let mut twin = net.snapshot();
            net.gradient(&x, t);
            twin.numerical_gradient(&x, t);
            let diff = |(name, b): &(String, Matrix<f64>), (_, n): &(String, Matrix<f64>)| {
                (name.clone(), (b - n).abs().mean())
            };
            (net.gradients().iter().zip(&twin.gradients()))
                .map(|(b, n)| diff(b, n))
                .collect()
        }
    };
    for (name, diff) in &diffs {
        println!("{name}: {diff:e}");
    }
    verdict(&diffs)?;
    println!("gradient check passed: every mean absolute difference is below {TOLERANCE:e}");
    Ok(())
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
