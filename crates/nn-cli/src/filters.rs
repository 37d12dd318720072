//! `nn-cli filters`: the first convolution's filters of a model before and after training, as
//! an SVG grid (the book's `ch07/visualize_filter.py`): the filters the network started from
//! (rebuilt from its spec and the seed its model file records) above the trained ones, each
//! scaled from its own smallest weight (white) to its largest (black), channel 0 as the book.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use nn_core::{LayerSpec, Matrix, Model, Sequential, Trainable};

use crate::data::DatasetArg;
use crate::eval::check_svg;
use crate::figures::{self, Layout, Tile};
use crate::files;

/// Options of `filters`.
#[derive(Args, Debug)]
pub struct FiltersArgs {
    /// The model whose first layer is a convolution (e.g. `train --net simple-convnet`'s)
    #[arg(long, default_value = "data/params.ron")]
    model: PathBuf,
    /// The dataset the model must have been trained on (mnist or fashion) [default: the
    /// model's]
    #[arg(long, value_enum)]
    dataset: Option<DatasetArg>,
    /// Where to draw the filters (SVG)
    #[arg(long, default_value = "data/filters.svg", value_name = "FILE.svg")]
    out: PathBuf,
}

/// Runs `filters`.
pub fn run(args: FiltersArgs) -> Result<()> {
    check_svg(&args.out)?;
    safe_write::check_distinct(&[("--model", &args.model)], &[("--out", &args.out)])?;
    let file = crate::model::read::<f32>(&args.model)?;
    let dataset =
        crate::model::choose_dataset(Some(&file), &args.model, args.dataset.map(Into::into))?;
    let mut net = file.net;
    let spec = net.spec();
    let Some(LayerSpec::Convolution { size, .. }) = spec.layers.first() else {
        bail!(
            "the first layer of {} ({spec}) is not a convolution: only a CNN's first layer has \
             filters to draw (train one with `nn-cli train --net simple-convnet`)",
            args.model.display()
        );
    };
    let size = *size;
    let seed = file.seed;
    let trained = first_weights(&mut net)?;
    let mut tiles_levels = Vec::new();
    if let Some(seed) = seed {
        let mut initial = Sequential::<f32>::new(spec.clone(), seed).context("invalid network")?;
        tiles_levels.push(("initial", channel_zero(&first_weights(&mut initial)?, size)));
    }
    tiles_levels.push(("trained", channel_zero(&trained, size)));
    let filters = trained.nrows();
    let tiles: Vec<Tile<'_>> = tiles_levels
        .iter()
        .flat_map(|(when, levels)| {
            levels.iter().enumerate().map(move |(i, levels)| Tile {
                levels,
                caption: format!("{when} {}", i + 1),
            })
        })
        .collect();
    let title = match seed {
        Some(seed) => format!(
            "the {filters} first-layer filters: initial (seed {seed}, top) and trained on {} \
             (bottom)",
            dataset.title()
        ),
        None => format!(
            "the {filters} first-layer filters, trained on {} (no seed recorded)",
            dataset.title()
        ),
    };
    let layout = Layout {
        height: size,
        width: size,
        pixel: 12,
        columns: 10,
    };
    let mut outputs = files::Outputs::new();
    outputs.write(&args.out, figures::grid(&title, &tiles, layout).as_bytes())?;
    outputs.commit()?;
    if seed.is_none() {
        println!(
            "{} records no seed (an imported model, or one written before model files recorded \
             it): drew the trained filters only",
            args.model.display()
        );
    }
    println!(
        "drew the {filters} filters of {}×{size}×{size} in {}",
        spec.input.channels,
        args.out.display()
    );
    Ok(())
}

/// `W1`, the first layer's filters `(FN, C·FH·FW)`.
fn first_weights(net: &mut Sequential<f32>) -> Result<Matrix<f32>> {
    net.named_params()
        .into_iter()
        .next()
        .map(|(_, w)| w)
        .context("the network has no parameters")
}

/// The gray levels of channel 0 of each filter (the first `size²` weights of its row).
fn channel_zero(w: &Matrix<f32>, size: usize) -> Vec<Vec<u8>> {
    (0..w.nrows())
        .map(|f| {
            let weights: Vec<f32> = (0..size * size).map(|j| w[(f, j)]).collect();
            figures::scaled_levels(&weights)
        })
        .collect()
}
