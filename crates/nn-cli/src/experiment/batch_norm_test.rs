//! `experiment batch-norm`: the book's `ch06/batch_norm_test.py` (§6.3.2, fig. 6-19).
//!
//! The book's `MultiLayerNetExtend` (784, five hidden ReLU layers of 100, 10) with and without
//! batch norm, its weights drawn with 16 standard deviations from 1 to 0.0001
//! (`np.logspace(0, -4, num=16)`), trained by SGD (lr 0.01) on the first 1000 training images,
//! minibatches of 100, for 20 epochs; the figure shows each pair's training accuracy per epoch.
//! With batch norm the networks learn for almost every scale; without it, only near the scale
//! that suits ReLU (He's √(2/100) ≈ 0.14). The networks of a pair start from the same random
//! draws and see the same minibatches.
//!
//! The book measures no test accuracy; `train` scores a test set at each evaluation all the
//! same, so the first 1000 test images serve (their accuracy is in the CSV). `--quick`: 4
//! scales (`logspace(0, -4, 4)`), 10 epochs.

use anyhow::Result;
use nn_core::{Activation, Init, MultiLayerNetConfig};
use nn_train::{Dataset, Length, OptimizerKind, Subset, TrainConfig};
use plotters::prelude::*;

use super::charts::{self, COLORS, Curve, Panel};
use super::runner::{Run, train_net};
use super::{Context, table};

/// The book's `x_train[:1000]`.
const TRAIN_IMAGES: usize = 1000;
/// Test images scored at each evaluation.
const TEST_IMAGES: usize = 1000;
/// The book's `max_epochs`, and `--quick`'s.
const EPOCHS: [usize; 2] = [20, 10];
/// `np.logspace(0, -4, num=16)`, and `--quick`'s 4.
const SCALES: [usize; 2] = [16, 4];
const BATCH: usize = 100;
const LR: f64 = 0.01;

/// `np.logspace(0, -4, num=n)`: `n` standard deviations from 1 down to 0.0001, evenly spaced
/// in log scale.
fn logspace(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 10f64.powf(-4.0 * i as f64 / (n - 1).max(1) as f64))
        .collect()
}

/// One pair's runs: without, then with batch norm.
struct Pair {
    scale: f64,
    plain: Run,
    batch_norm: Run,
}

/// The final training accuracy of a run, as text.
fn final_acc(run: &Run) -> String {
    match (run.diverged, run.last()) {
        (Some(i), _) => format!("diverged at {i}"),
        (None, Some(e)) => format!("{:.3}", e.train_acc),
        (None, None) => "-".into(),
    }
}

/// Runs the experiment.
pub fn run(ctx: &Context) -> Result<()> {
    let q = usize::from(ctx.quick);
    let (epochs, scales) = (EPOCHS[q], logspace(SCALES[q]));
    let (train, test, input) = ctx.splits()?;
    let (train, test) = (
        Subset::first(&train, TRAIN_IMAGES),
        Subset::first(&test, TEST_IMAGES),
    );
    let config = TrainConfig {
        batch_size: BATCH,
        length: Length::Epochs(epochs),
        optimizer: OptimizerKind::Sgd.with_lr(LR),
        seed: ctx.seed,
        ..TrainConfig::default()
    }
    .check()?;
    // Job 2k: scale k without batch norm; job 2k + 1: with.
    let spec = |job: usize| {
        MultiLayerNetConfig {
            hidden: vec![100; 5],
            activation: Activation::Relu,
            init: Init::Std(scales[job / 2]),
            batch_norm: job % 2 == 1,
            ..MultiLayerNetConfig::default()
        }
        .spec(input, 10)
    };
    let jobs = 2 * scales.len();
    let units = (jobs * config.schedule(train.len()).iters) as u64;
    let mut runs = ctx
        .runner
        .run(ctx.name.as_str(), units, jobs, |job, ticks| {
            train_net(&spec(job), &config, &train, &test, ticks)
        })?
        .into_iter();
    let pairs: Vec<Pair> = scales
        .iter()
        .map(|&scale| Pair {
            scale,
            plain: runs.next().expect("a run per job"),
            batch_norm: runs.next().expect("a run per job"),
        })
        .collect();

    let rows: Vec<Vec<String>> = pairs
        .iter()
        .map(|p| {
            vec![
                charts::short(p.scale),
                final_acc(&p.plain),
                final_acc(&p.batch_norm),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["weight std", "train acc without BN", "with BN"], &rows)
    );
    let wins = pairs
        .iter()
        .filter(|p| accuracy(&p.batch_norm) > accuracy(&p.plain))
        .count();
    println!(
        "batch norm ends higher for {wins} of {} scales",
        pairs.len()
    );

    let svg = figure(ctx, &pairs, epochs)?;
    ctx.write(&svg, |w| {
        writeln!(
            w,
            "weight_std,batch_norm,epoch,iteration,train_acc,test_acc"
        )?;
        for p in &pairs {
            for (bn, run) in [(false, &p.plain), (true, &p.batch_norm)] {
                for e in &run.history.evaluations {
                    writeln!(
                        w,
                        "{},{bn},{},{},{},{}",
                        p.scale, e.epoch, e.iteration, e.train_acc, e.test_acc
                    )?;
                }
            }
        }
        Ok(())
    })
}

/// The final training accuracy (0 for a run that diverged: it learned nothing it can use).
fn accuracy(run: &Run) -> f64 {
    match run.diverged {
        Some(_) => 0.0,
        None => run.last().map_or(0.0, |e| e.train_acc),
    }
}

/// The book's grid: one panel per scale, batch norm solid, without dashed.
fn figure(ctx: &Context, pairs: &[Pair], epochs: usize) -> Result<String> {
    let side = (pairs.len() as f64).sqrt().ceil() as usize;
    let title = ctx.title(&format!(
        "Training accuracy with and without batch norm, 5×100 ReLU, {TRAIN_IMAGES} images"
    ));
    let size = (300 * side as u32 + 60, 250 * side as u32 + 60);
    charts::figure(size, &title, |area| {
        let cells = area.split_evenly((side, side));
        for (k, (cell, p)) in cells.iter().zip(pairs).enumerate() {
            let points = |run: &Run| -> Vec<(f64, f64)> {
                run.history
                    .evaluations
                    .iter()
                    .map(|e| (e.epoch as f64, e.train_acc))
                    .collect()
            };
            let curves = [
                Curve::new("Batch Normalization", points(&p.batch_norm), COLORS[0]),
                Curve::new("Normal (without BatchNorm)", points(&p.plain), COLORS[1]).dashed(),
            ];
            let name = format!("W: {}", charts::short(p.scale));
            let diverged = if p.plain.diverged.is_some() {
                " (normal diverged)"
            } else {
                ""
            };
            let title = format!("{name}{diverged}");
            let last_row = k / side == side - 1 || k + side >= pairs.len();
            charts::draw_panel(
                cell,
                &Panel {
                    title: &title,
                    x_label: if last_row { "epochs" } else { "" },
                    y_label: if k % side == 0 { "accuracy" } else { "" },
                    x: 0.0..epochs as f64,
                    y: 0.0..1.0,
                    curves: &curves,
                    legend: (k + 1 == pairs.len()).then_some(SeriesLabelPosition::LowerRight),
                    font_size: 16,
                },
            )?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scales_are_numpys_logspace() {
        let scales = logspace(16);
        assert_eq!((scales[0], scales[15]), (1.0, 1e-4));
        assert!((scales[1] - 0.541_169_526_546_463_6).abs() < 1e-12); // np.logspace(0, -4, 16)[1]
        assert_eq!(
            logspace(4),
            [1.0, 10f64.powf(-4.0 / 3.0), 10f64.powf(-8.0 / 3.0), 1e-4]
        );
    }
}
