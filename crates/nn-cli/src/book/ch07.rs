//! `book conv-gradcheck` (`ch07/gradient_check.py`) and `book apply-filter`
//! (`ch07/apply_filter.py`).

use anyhow::{Result, bail};
use nn_core::{LayerSpec, Matrix, Model, NetSpec, Sequential, Shape, Targets, Trainable};
use rand::{RngExt, SeedableRng};

use super::BookArgs;
use crate::figures::{self, Tile};
use crate::import::{BookNet, book_network};

/// The book's small `SimpleConvNet` of `gradient_check.py`: input 1×10×10, 10 filters of 3×3
/// (stride 1, pad 0), hidden 10, 10 outputs, weights of std 0.01.
pub fn small_conv_net() -> NetSpec {
    NetSpec::simple_conv_net_of(Shape::new(1, 10, 10), 10, 3, 10, 10)
}

/// The mean absolute difference of backprop and numerical gradients per parameter of the small
/// convnet (seeded weights), on one uniform random 10×10 image of label 1, in f64.
pub fn conv_gradient_differences(seed: u64) -> Result<Vec<(String, f64)>> {
    let mut net = Sequential::<f64>::new(small_conv_net(), seed)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x = Matrix::<f64>::from_fn(100, 1, |_, _| rng.random::<f64>());
    let t = Targets::Labels(&[1]);
    net.numerical_gradient(&x, t);
    let numerical = net.named_gradients();
    net.gradient(&x, t);
    let backprop = net.named_gradients();
    Ok(numerical
        .iter()
        .zip(&backprop)
        .map(|((name, n), (_, b))| {
            let diff = (n - b).abs().sum() / n.len() as f64;
            (name.to_string(), diff)
        })
        .collect())
}

/// Runs `book conv-gradcheck`: prints each parameter's mean difference, as the book's script.
pub fn conv_gradcheck(args: &BookArgs) -> Result<()> {
    let diffs = conv_gradient_differences(args.seed)?;
    for (name, diff) in &diffs {
        println!("{name} {diff:e}");
    }
    // The book's own run prints W1 1.6e-6 and b1 2.9e-6 (notebooks/ch07.ipynb): with weights of
    // std 0.01, a step of h = 1e-4 moves some convolution outputs across ReLU's kink or changes
    // a pooling window's maximum, so the first layer's central differences are that far off in
    // f64 too. The other parameters agree to 1e-10.
    const TOLERANCE: f64 = 1e-5;
    if let Some((name, diff)) = diffs.iter().find(|(_, d)| d.is_nan() || *d > TOLERANCE) {
        bail!(
            "gradient check failed: {name} differs by {diff:e} on average, more than {TOLERANCE:e}"
        );
    }
    println!("every mean absolute difference is below {TOLERANCE:e}");
    Ok(())
}

/// The responses of `filters` (`count × size²` weights of one input channel, row by row) to the
/// `side × side` image `x`, bias 0 (the book's `Convolution(w, 0)`): one
/// `out × out` map per filter, `out = (side + 2·pad − size) / stride + 1`.
pub fn responses(
    filters: &[f32],
    size: usize,
    stride: usize,
    pad: usize,
    x: &[f32],
    side: usize,
) -> (usize, Vec<Vec<f32>>) {
    let out = (side + 2 * pad - size) / stride + 1;
    let maps = filters
        .chunks_exact(size * size)
        .map(|w| {
            let mut map = vec![0.0; out * out];
            for (oy, row) in map.chunks_exact_mut(out).enumerate() {
                for (ox, v) in row.iter_mut().enumerate() {
                    let mut sum = 0.0;
                    for i in 0..size {
                        for j in 0..size {
                            let (y, x_) = (oy * stride + i, ox * stride + j);
                            if y >= pad && x_ >= pad && y - pad < side && x_ - pad < side {
                                sum += w[i * size + j] * x[(y - pad) * side + (x_ - pad)];
                            }
                        }
                    }
                    *v = sum;
                }
            }
            map
        })
        .collect();
    (out, maps)
}

/// Runs `book apply-filter`: the first 16 filters of the first convolution of the book's
/// trained `SimpleConvNet` (or `--model`), each applied to an MNIST image (or `--image`).
pub fn apply_filter(args: &BookArgs) -> Result<()> {
    let mut net: Sequential<f32> = match &args.model {
        Some(path) => crate::model::load_file::<f32>(path, 784)?.net,
        None => {
            let file = args.book_weights.join("simple_convnet_params.npz");
            if !file.is_file() {
                bail!(
                    "{} is missing: pass a CNN model with --model, or the folder of the book's \
                     trained weights with --book-weights",
                    file.display()
                );
            }
            book_network(&file, BookNet::SimpleConvNet)?
        }
    };
    let spec = net.spec();
    let Some(&LayerSpec::Convolution {
        filters,
        size,
        stride,
        pad,
    }) = spec.layers.first()
    else {
        bail!("the model's first layer is not a convolution: apply-filter needs a CNN (--model)");
    };
    if spec.input.channels != 1 {
        bail!(
            "the model takes {} channels: apply-filter filters a gray image",
            spec.input.channels
        );
    }
    let mut weights = Vec::new();
    let mut first = true;
    net.visit_params(&mut |p| {
        if first {
            // (FN, C·FH·FW), row by row: filter k is row k. Our matrices are column-major.
            let (rows, cols) = p.value.shape();
            weights = (0..rows)
                .flat_map(|r| (0..cols).map(move |c| (r, c)))
                .map(|(r, c)| p.value[(r, c)])
                .collect();
            first = false;
        }
    });
    let (pixels, what) = match &args.image {
        Some(path) => (crate::image::load_digit(path)?, crate::files::shown(path)),
        None => {
            let split = args.split()?;
            if args.index >= split.len() {
                bail!(
                    "--index {} is past the {} images of the {} set",
                    args.index,
                    split.len(),
                    args.split_name()
                );
            }
            (
                split.image(args.index).to_vec(),
                format!("x_{}[{}]", args.split_name(), args.index),
            )
        }
    };
    let x: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    let shown = filters.min(16);
    let (out, maps) = responses(&weights[..shown * size * size], size, stride, pad, &x, 28);
    println!("{shown} filters of {size}×{size} applied to {what}: {shown} maps of {out}×{out}");
    let levels: Vec<Vec<u8>> = maps.iter().map(|m| figures::scaled_levels(m)).collect();
    let tiles: Vec<Tile<'_>> = levels
        .iter()
        .enumerate()
        .map(|(k, l)| Tile {
            levels: l,
            caption: format!("filter {}", k + 1),
        })
        .collect();
    let svg = figures::grid(
        &format!("the first {shown} filters applied to {what} (apply_filter.py)"),
        &tiles,
        figures::Layout {
            height: out,
            width: out,
            pixel: 4,
            columns: 4,
        },
    );
    args.write(&svg, |w| {
        writeln!(w, "filter,row,col,response")?;
        for (k, map) in maps.iter().enumerate() {
            for (i, v) in map.iter().enumerate() {
                writeln!(w, "{},{},{},{v}", k + 1, i / out, i % out)?;
            }
        }
        Ok(())
    })
}
