//! `experiment weight-decay`: the book's `ch06/overfit_weight_decay.py` (§6.4.1–6.4.2, figs.
//! 6-20 and 6-21).
//!
//! A network too large for its data overfits: the book's `MultiLayerNet` with six hidden ReLU
//! layers of 100 (He weights, its default) learns the first 300 training images by heart with
//! SGD (lr 0.01, minibatches of 100, 201 epochs), while its accuracy on the 10000 test images
//! stays far lower. The book runs the script twice, editing `weight_decay_lambda` (0, then
//! 0.1); here both runs go side by side, from the same weights and minibatches, and the figure
//! shows each one's train and test accuracy per epoch: weight decay narrows the gap.
//! `--quick`: 101 epochs, each evaluation on the first 1000 test images (the last on all).
//!
//! `overfit_dropout.rs` runs the same comparison for dropout, through [`compare`].

use anyhow::Result;
use nn_core::{Activation, Init, MultiLayerNetConfig};
use nn_train::{Dataset, Length, OptimizerKind, Subset, TrainConfig};
use plotters::prelude::*;

use super::charts::{self, COLORS, Curve, Marker, Panel};
use super::runner::{Run, train_net};
use super::{Context, table};

/// The book's `x_train[:300]`.
const TRAIN_IMAGES: usize = 300;
/// The book's `max_epochs`, and `--quick`'s.
const EPOCHS: [usize; 2] = [201, 101];
/// `--quick` scores each epoch on this many test images (the final evaluation on all).
const QUICK_EVAL_SAMPLES: usize = 1000;

/// One network of an overfitting comparison.
pub struct Variant {
    /// Its name in the table, the panel's title and the CSV.
    pub label: String,
    /// The network (`MultiLayerNet`'s or `MultiLayerNetExtend`'s arguments).
    pub net: MultiLayerNetConfig,
}

/// The book's overfitting network: 784, six hidden ReLU layers of 100 with He weights, 10.
pub fn network() -> MultiLayerNetConfig {
    MultiLayerNetConfig {
        hidden: vec![100; 6],
        activation: Activation::Relu,
        init: Init::He,
        ..MultiLayerNetConfig::default()
    }
}

/// The accuracies' gap at the end of a run: train minus test.
fn gap(run: &Run) -> Option<f64> {
    run.last().map(|e| e.train_acc - e.test_acc)
}

/// Trains each variant on the first 300 training images for `epochs[quick]` epochs (SGD, lr
/// 0.01, batch 100), scoring the whole test set every epoch (`--quick`: the first 1000); prints
/// the table, writes the figure (one panel per variant) and the CSV.
pub fn compare(ctx: &Context, variants: &[Variant], epochs: [usize; 2], what: &str) -> Result<()> {
    let epochs = epochs[usize::from(ctx.quick)];
    let (train, test, input) = ctx.splits()?;
    let train = Subset::first(&train, TRAIN_IMAGES);
    let config = TrainConfig {
        batch_size: 100,
        length: Length::Epochs(epochs),
        optimizer: OptimizerKind::Sgd.with_lr(0.01),
        seed: ctx.seed,
        eval_samples: ctx.quick.then_some(QUICK_EVAL_SAMPLES),
        ..TrainConfig::default()
    }
    .check()?;
    // All of it, as a `Subset` too: `train` takes both splits as one type.
    let test = Subset::first(&test, usize::MAX);
    let units = (variants.len() * config.schedule(train.len()).iters) as u64;
    let runs = ctx
        .runner
        .run(ctx.name.as_str(), units, variants.len(), |i, ticks| {
            train_net(
                &variants[i].net.spec(input, 10),
                &config,
                &train,
                &test,
                ticks,
            )
        })?;

    let rows: Vec<Vec<String>> = variants
        .iter()
        .zip(&runs)
        .map(|(v, run)| match (run.diverged, run.last()) {
            (None, Some(e)) => vec![
                v.label.clone(),
                format!("{:.4}", e.train_acc),
                format!("{:.4}", e.test_acc),
                format!("{:.4}", e.train_acc - e.test_acc),
            ],
            (diverged, _) => vec![
                v.label.clone(),
                diverged.map_or("-".into(), |i| format!("diverged at {i}")),
                "-".into(),
                "-".into(),
            ],
        })
        .collect();
    print!("{}", table(&[what, "train acc", "test acc", "gap"], &rows));
    if let [Some(without), Some(with)] = [gap(&runs[0]), gap(&runs[runs.len() - 1])] {
        println!(
            "the gap is {:.1} points with, {:.1} without",
            100.0 * with,
            100.0 * without
        );
    }

    let svg = figure(ctx, variants, &runs, epochs)?;
    ctx.write(&svg, |w| {
        writeln!(w, "variant,epoch,iteration,train_acc,test_acc")?;
        for (v, run) in variants.iter().zip(&runs) {
            for e in &run.history.evaluations {
                writeln!(
                    w,
                    "{},{},{},{},{}",
                    v.label, e.epoch, e.iteration, e.train_acc, e.test_acc
                )?;
            }
        }
        Ok(())
    })
}

/// One panel per variant: train and test accuracy per epoch (the book's fig. 6-20/6-21,
/// 6-22/6-23 side by side).
fn figure(ctx: &Context, variants: &[Variant], runs: &[Run], epochs: usize) -> Result<String> {
    let title = ctx.title(&format!(
        "Overfitting {TRAIN_IMAGES} images: 6×100 ReLU, SGD lr 0.01"
    ));
    let every = (epochs / 20).max(1);
    charts::figure((1200, 520), &title, |area| {
        let panels = area.split_evenly((1, variants.len()));
        for (k, ((panel, v), run)) in panels.iter().zip(variants).zip(runs).enumerate() {
            let points = |acc: fn(&nn_train::Evaluation) -> f64| -> Vec<(f64, f64)> {
                run.history
                    .evaluations
                    .iter()
                    .map(|e| (e.epoch as f64, acc(e)))
                    .collect()
            };
            let curves = [
                Curve::new("train", points(|e| e.train_acc), COLORS[0])
                    .marked(Marker::Circle, every),
                Curve::new("test", points(|e| e.test_acc), COLORS[1]).marked(Marker::Square, every),
            ];
            charts::draw_panel(
                panel,
                &Panel {
                    title: &v.label,
                    x_label: "epochs",
                    y_label: if k == 0 { "accuracy" } else { "" },
                    x: 0.0..epochs as f64,
                    y: 0.0..1.0,
                    curves: &curves,
                    legend: Some(SeriesLabelPosition::LowerRight),
                    font_size: 20,
                },
            )?;
        }
        Ok(())
    })
}

/// Runs the experiment.
pub fn run(ctx: &Context) -> Result<()> {
    let variants: Vec<Variant> = [0.0, 0.1]
        .into_iter()
        .map(|lambda| Variant {
            label: if lambda == 0.0 {
                "without weight decay".into()
            } else {
                format!("weight decay λ = {lambda}")
            },
            net: MultiLayerNetConfig {
                weight_decay: lambda,
                ..network()
            },
        })
        .collect();
    compare(ctx, &variants, EPOCHS, "network")
}
