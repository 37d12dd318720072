//! `nn-cli predict`: the first test images as `predicted == label: o` (classes named by their
//! dataset: `Sneaker == Sneaker: o` for Fashion-MNIST), or your own digit.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use mnist_io::Dataset;
use mnist_io::idx::NUM_CLASSES;
use nn_core::{Matrix, Model, functions};

use crate::data::{self, DatasetArg};
use crate::{image, model};

/// Options of `predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// The trained model
    #[arg(long, default_value = "data/params.ron")]
    model: PathBuf,
    /// The dataset (mnist or fashion) [default: the one the model was trained on]
    #[arg(long, value_enum)]
    dataset: Option<DatasetArg>,
    /// Folder of the dataset's files [default: data/mnist, or data/fashion for Fashion-MNIST]
    #[arg(long)]
    data: Option<PathBuf>,
    /// How many test images to classify, from the first
    #[arg(short = 'n', long, default_value_t = 10)]
    count: usize,
    /// Classify this PNG instead: any size, dark ink on light paper or the reverse
    #[arg(long, value_name = "FILE.png")]
    image: Option<PathBuf>,
    /// With --image: draw the 28×28 input the network sees
    #[arg(long, requires = "image")]
    ascii: bool,
    /// With --image: how many of the most probable classes to print
    #[arg(long, default_value_t = 3, requires = "image")]
    top: usize,
}

/// Runs `predict`.
pub fn run(args: PredictArgs) -> Result<()> {
    match &args.image {
        Some(path) => predict_image(&args, path),
        None => predict_test(&args),
    }
}

/// Prints `predicted == label: o` (or `x`) for the first test images, then the time taken.
fn predict_test(args: &PredictArgs) -> Result<()> {
    if args.count == 0 {
        bail!("-n/--count 0 is invalid: classify at least 1 image");
    }
    // The model says which dataset; without it, the data's errors come first.
    let file = model::read_if_present::<f32>(&args.model)?;
    let dataset =
        model::choose_dataset(file.as_ref(), &args.model, args.dataset.map(Dataset::from))?;
    let data = args.data.clone().unwrap_or_else(|| dataset.default_dir());
    let test = data::load_split(&data, dataset, mnist_io::TEST_IMAGES, mnist_io::TEST_LABELS)?;
    data::check_files(&data, dataset, None, Some(&test))?;
    let file = model::or_read(file, &args.model)?;
    let mut net = model::network(file, &args.model, test.pixels_per_image())?;
    if args.count > test.len() {
        bail!(
            "-n/--count {} is more than the {} test images: use at most {}",
            args.count,
            test.len(),
            test.len()
        );
    }
    let count = args.count;

    let start = Instant::now();
    let mut predictions = Vec::with_capacity(count);
    // In chunks, as `eval`: the network's passes were checked for chunks of this size.
    for first in (0..count).step_by(model::INFERENCE_BATCH) {
        let chunk = model::INFERENCE_BATCH.min(count - first);
        let mut x = Matrix::<f32>::zeros(test.pixels_per_image(), chunk);
        for (i, column) in x.column_iter_mut().enumerate() {
            for (v, &p) in column.into_iter().zip(test.image(first + i)) {
                *v = f32::from(p) / 255.0;
            }
        }
        let scores = model::finite_scores(net.predict(&x), first, &args.model)?;
        predictions.extend(functions::argmax_columns(scores));
    }
    let elapsed = start.elapsed();

    let name = |class| data::class_name(dataset, class);
    for (i, &predicted) in predictions.iter().enumerate() {
        let label = usize::from(test.label(i));
        let mark = if predicted == label { 'o' } else { 'x' };
        println!("{} == {}: {mark}", name(predicted), name(label));
    }
    println!(
        "{count} images classified in {:.3} ms",
        elapsed.as_secs_f64() * 1e3
    );
    Ok(())
}

/// The class probabilities (softmax of the scores) of one 28×28 image, row-major, 0 background
/// and 255 ink, scaled to `[0, 1]` as the test images are: the one inference of `predict
/// --image` and of `serve`, so that both give the same numbers for the same digit. Scores that
/// are not finite (a model that overflows, see [`model::finite_scores`]) are an error naming
/// `model`, never probabilities.
pub fn probabilities<M: Model<f32>>(net: &mut M, pixels: &[u8], model: &Path) -> Result<Vec<f32>> {
    let x = Matrix::<f32>::from_iterator(
        pixels.len(),
        1,
        pixels.iter().map(|&p| f32::from(p) / 255.0),
    );
    let scores = model::finite_scores(net.predict(&x), 0, model)?;
    Ok(functions::softmax(scores).iter().copied().collect())
}

/// Prints the most probable classes of a user's digit.
fn predict_image(args: &PredictArgs, path: &std::path::Path) -> Result<()> {
    if args.top == 0 || args.top > NUM_CLASSES {
        bail!(
            "--top {} is invalid: there are {NUM_CLASSES} classes, show between 1 and {NUM_CLASSES}",
            args.top
        );
    }
    // The image is read first: its errors need no model.
    let pixels = image::load_digit(path)?;
    let file = model::read::<f32>(&args.model)?;
    let dataset = model::choose_dataset(Some(&file), &args.model, args.dataset.map(Dataset::from))?;
    let mut net = model::network(file, &args.model, pixels.len())?;
    if args.ascii {
        print!("{}", image::ascii(&pixels));
    }
    let probabilities = probabilities(&mut net, &pixels, &args.model)?;
    let mut ranked: Vec<(usize, f32)> = probabilities.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (class, p) in ranked.into_iter().take(args.top) {
        println!("{}: {p:.4}", data::class_name(dataset, class));
    }
    Ok(())
}
