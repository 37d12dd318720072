//! `experiment init-histogram`: the book's `ch06/weight_init_activation_histogram.py` (§6.2.2,
//! figs. 6-10, 6-11, 6-13 and 6-14).
//!
//! 1000 random inputs of 100 values (`N(0, 1)`) go through 5 layers of 100 neurons (weights
//! only: the biases are 0, as the script has none), and the activations of each layer are
//! counted in 30 bins over `[0, 1]` (`plt.hist(a.flatten(), 30, range=(0,1))`). The book edits
//! the script for each of its figures; here one run draws them all, one row per setting:
//!
//! - sigmoid, std 1: the activations pile up at 0 and 1, where the gradient vanishes;
//! - sigmoid, std 0.01: they all sit at 0.5, every neuron saying the same thing;
//! - sigmoid, Xavier: they spread over `[0, 1]` in every layer;
//! - ReLU, std 0.01, Xavier and He: the activations shrink layer after layer for the first two
//!   (by ×0.07 and ×0.71 per layer), while He's keep their scale.
//!
//! The layers are nn-core's (a [`Sequential`] read layer by layer with
//! [`Sequential::inspect_layers`]), in `f64` like NumPy. `--quick` changes nothing: it takes
//! milliseconds.

use anyhow::Result;
use nn_core::{Activation, Init, LayerSpec, Matrix, NetSpec, Sequential, Shape};
use plotters::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::charts::{self, COLORS, DrawResult, FONT};
use super::{Context, table};

/// The book's `input_data = np.random.randn(1000, 100)`: samples...
const SAMPLES: usize = 1000;
/// ...and `node_num`, the neurons of each layer (and the values of each input).
const NODES: usize = 100;
/// `hidden_layer_size`.
const LAYERS: usize = 5;
/// Bins over `[0, 1]`.
const BINS: usize = 30;
/// The book's `plt.ylim(0, 7000)`: taller bars are cut there.
const Y_MAX: u64 = 7000;

/// One row of the figure: the activation function and the initial weights.
#[derive(Clone, Copy, Debug)]
struct Setting {
    activation: Activation,
    init: Init,
}

/// The book's figures 6-10, 6-11, 6-13 (sigmoid) and 6-14 (ReLU).
const SETTINGS: [Setting; 6] = [
    Setting {
        activation: Activation::Sigmoid,
        init: Init::Std(1.0),
    },
    Setting {
        activation: Activation::Sigmoid,
        init: Init::Std(0.01),
    },
    Setting {
        activation: Activation::Sigmoid,
        init: Init::Xavier,
    },
    Setting {
        activation: Activation::Relu,
        init: Init::Std(0.01),
    },
    Setting {
        activation: Activation::Relu,
        init: Init::Xavier,
    },
    Setting {
        activation: Activation::Relu,
        init: Init::He,
    },
];

impl Setting {
    fn name(&self) -> String {
        let activation = match self.activation {
            Activation::Sigmoid => "sigmoid",
            Activation::Relu => "ReLU",
        };
        let init = match self.init {
            Init::Std(std) => format!("std {std}"),
            Init::Xavier => "Xavier".into(),
            Init::He => "He".into(),
        };
        format!("{activation}, {init}")
    }
}

/// What one layer's activations look like.
#[derive(Clone, Debug)]
struct LayerStats {
    /// Values in each of the 30 bins of `[0, 1]` (the last bin includes 1, as NumPy's).
    counts: [u64; BINS],
    /// Their standard deviation, over all `SAMPLES × NODES` values.
    std: f64,
}

/// The book's random input: `NODES × SAMPLES` (one sample per column), `N(0, 1)` values drawn
/// from `seed` (stream 3: the network's weights use stream 0 of the same seed).
fn input(seed: u64) -> Matrix<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(3);
    Matrix::from_fn(NODES, SAMPLES, |_, _| StandardNormal.sample(&mut rng))
}

/// The activations of the 5 layers of `setting` on `x`, weights drawn from `seed`.
fn layers(setting: Setting, x: &Matrix<f64>, seed: u64) -> Result<Vec<LayerStats>> {
    let activation = match setting.activation {
        Activation::Sigmoid => LayerSpec::Sigmoid,
        Activation::Relu => LayerSpec::Relu,
    };
    let spec = NetSpec {
        input: Shape::flat(NODES),
        layers: (0..LAYERS)
            .flat_map(|_| [LayerSpec::Affine { out: NODES }, activation.clone()])
            .collect(),
        init: setting.init,
        weight_decay: 0.0,
    };
    let mut net = Sequential::<f64>::new(spec, seed)?;
    let mut stats = Vec::with_capacity(LAYERS);
    net.inspect_layers(x, |_, layer, out| {
        if *layer == activation {
            stats.push(LayerStats::of(out.as_slice()));
        }
    });
    Ok(stats)
}

impl LayerStats {
    fn of(values: &[f64]) -> Self {
        let mut counts = [0; BINS];
        for &v in values {
            if (0.0..=1.0).contains(&v) {
                counts[((v * BINS as f64) as usize).min(BINS - 1)] += 1;
            }
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        LayerStats {
            counts,
            std: var.sqrt(),
        }
    }
}

/// Runs the experiment.
pub fn run(ctx: &Context) -> Result<()> {
    let x = input(ctx.seed);
    let all = ctx.runner.run(
        ctx.name.as_str(),
        SETTINGS.len() as u64,
        SETTINGS.len(),
        |i, ticks| {
            let stats = layers(SETTINGS[i], &x, ctx.seed);
            ticks.tick(1);
            stats
        },
    )?;

    let rows: Vec<Vec<String>> = SETTINGS
        .iter()
        .zip(&all)
        .map(|(s, layers)| {
            let mut row = vec![s.name()];
            row.extend(layers.iter().map(|l| charts::short(l.std)));
            row
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "activation, weights",
                "layer 1",
                "layer 2",
                "layer 3",
                "layer 4",
                "layer 5"
            ],
            &rows
        )
    );
    println!("(the standard deviation of each layer's activations)");

    let svg = figure(ctx, &all)?;
    ctx.write(&svg, |w| {
        writeln!(w, "activation,init,layer,bin_low,bin_high,count")?;
        for (s, layers) in SETTINGS.iter().zip(&all) {
            let (activation, init) = s.name().split_once(", ").map_or_else(
                || (s.name(), String::new()),
                |(a, i)| (a.to_string(), i.to_string()),
            );
            for (l, stats) in layers.iter().enumerate() {
                for (b, count) in stats.counts.iter().enumerate() {
                    let (low, high) = (b as f64 / BINS as f64, (b + 1) as f64 / BINS as f64);
                    writeln!(w, "{activation},{init},{},{low},{high},{count}", l + 1)?;
                }
            }
        }
        Ok(())
    })
}

/// A row of histograms per setting, one column per layer.
fn figure(ctx: &Context, all: &[Vec<LayerStats>]) -> Result<String> {
    let title = ctx.title(&format!(
        "Activations of 5 layers of {NODES} for {SAMPLES} random inputs \
         (bars cut at {Y_MAX}, as in the book)"
    ));
    charts::figure((1500, 1320), &title, |area| {
        for (k, (row, (setting, layers))) in area
            .split_evenly((SETTINGS.len(), 1))
            .iter()
            .zip(SETTINGS.iter().zip(all))
            .enumerate()
        {
            let (label, panels) = row.split_horizontally(150);
            label.draw(&Text::new(
                setting.name(),
                (8, 90),
                (FONT, 18).into_font().color(&BLACK),
            ))?;
            let color = COLORS[if k < 3 { 0 } else { 2 }];
            for (l, (panel, stats)) in panels
                .split_evenly((1, LAYERS))
                .iter()
                .zip(layers)
                .enumerate()
            {
                histogram(panel, &format!("layer {}", l + 1), stats, color, l == 0)?;
            }
        }
        Ok(())
    })
}

/// One layer's histogram; y labels on the first column only (as the book's).
fn histogram(
    area: &charts::Area<'_>,
    title: &str,
    stats: &LayerStats,
    color: RGBColor,
    y_labels: bool,
) -> DrawResult {
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 15))
        .margin(4)
        .margin_right(12)
        .x_label_area_size(22)
        .y_label_area_size(if y_labels { 44 } else { 8 })
        .build_cartesian_2d(0.0..1.0, 0.0..Y_MAX as f64)?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(WHITE.mix(0.0))
        .x_labels(3)
        .label_style((FONT, 12))
        .x_label_formatter(&|v| charts::tick(*v))
        .y_label_formatter(&|v| charts::tick(*v));
    if !y_labels {
        mesh.y_labels(0);
    }
    mesh.draw()?;
    let width = 1.0 / BINS as f64;
    chart.draw_series(stats.counts.iter().enumerate().map(|(b, &count)| {
        let low = b as f64 * width;
        let height = count.min(Y_MAX) as f64;
        Rectangle::new([(low, 0.0), (low + width, height)], color.filled())
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(activation: Activation, init: Init) -> Vec<LayerStats> {
        layers(Setting { activation, init }, &input(42), 42).unwrap()
    }

    /// The share of the values in the bins below 0.1 or above 0.9.
    fn extremes(layer: &LayerStats) -> f64 {
        let edge = BINS / 10;
        let outer: u64 = layer.counts[..edge]
            .iter()
            .chain(&layer.counts[BINS - edge..])
            .sum();
        outer as f64 / (SAMPLES * NODES) as f64
    }

    #[test]
    fn sigmoid_with_std_1_saturates_and_std_001_sits_at_one_half() {
        // std 1: the weighted sums have a std of about √100 = 10 (then about 6.7), far out on
        // the sigmoid's flat ends.
        for layer in stats(Activation::Sigmoid, Init::Std(1.0)) {
            assert!(extremes(&layer) > 0.6, "{layer:?}");
        }
        // std 0.01: from layer 2 on, sums of std 0.05 at most: sigmoid within 0.5 ± 0.1.
        for layer in &stats(Activation::Sigmoid, Init::Std(0.01))[1..] {
            let middle: u64 = layer.counts[12..18].iter().sum(); // [0.4, 0.6)
            assert_eq!(middle, (SAMPLES * NODES) as u64, "{layer:?}");
            assert!(layer.std < 0.02);
        }
    }

    #[test]
    fn xavier_spreads_the_sigmoid_activations_in_every_layer() {
        for layer in stats(Activation::Sigmoid, Init::Xavier) {
            assert!(extremes(&layer) < 0.2, "{layer:?}");
            assert!((0.05..0.4).contains(&layer.std), "{layer:?}");
        }
    }

    #[test]
    fn relu_activations_keep_their_scale_with_he_only() {
        // Each ReLU layer multiplies the activations' scale by about √(n·σ²/2): 1 for He,
        // 0.71 for Xavier (0.25 after four layers), 0.07 for std 0.01.
        let ratio = |init| {
            let layers = stats(Activation::Relu, init);
            layers[LAYERS - 1].std / layers[0].std
        };
        assert!(ratio(Init::He) > 0.6, "He: {}", ratio(Init::He));
        assert!(
            ratio(Init::Xavier) < 0.45,
            "Xavier: {}",
            ratio(Init::Xavier)
        );
        assert!(
            ratio(Init::Std(0.01)) < 1e-3,
            "std 0.01: {}",
            ratio(Init::Std(0.01))
        );
    }
}
