//! `experiment hyperparams`: the book's `ch06/hyperparameter_optimization.py` (§6.5.3, fig.
//! 6-24).
//!
//! A random search: the first 500 training images, shuffled (the book's `shuffle_dataset`),
//! 20% for validation (100) and the rest for training (400); then 100 trials, each drawing a
//! weight decay `10^U(-8, -4)` and a learning rate `10^U(-6, -2)` and training the book's
//! `MultiLayerNet` (six hidden ReLU layers of 100, He weights) with that weight decay by the
//! `Trainer` (SGD at that learning rate, minibatches of 100, 50 epochs), scored on the
//! training and validation images every epoch. The figure shows the 20 best trials by final
//! validation accuracy, validation solid and training dashed; the table lists them, then the
//! range of learning rates and weight decays of the best 5, which the book uses to narrow the
//! search. Every trial starts from the same random draws and sees the same minibatches: they
//! differ by their hyper-parameters only. `--quick`: 20 trials of 20 epochs.

use anyhow::{Context as _, Result};
use nn_core::MultiLayerNetConfig;
use nn_train::{Dataset, Length, OptimizerKind, Subset, TrainConfig};
use plotters::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::charts::{self, COLORS, Curve, Panel};
use super::overfit_weight_decay::network;
use super::runner::{Run, train_net};
use super::util::shuffled;
use super::{Context, table};

/// The book's `x_train[:500]`.
const IMAGES: usize = 500;
/// The book's `validation_rate`.
const VALIDATION_RATE: f64 = 0.2;
/// The book's `optimization_trial`, and `--quick`'s.
const TRIALS: [usize; 2] = [100, 20];
/// The book's `epocs=50`, and `--quick`'s.
const EPOCHS: [usize; 2] = [50, 20];
/// The book's `graph_draw_num`: trials drawn (and listed).
const SHOWN: usize = 20;
/// Trials whose ranges are printed at the end.
const BEST: usize = 5;

/// One trial's hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Trial {
    lr: f64,
    weight_decay: f64,
}

/// `n` trials drawn from `seed` (stream 4 of its generator): for each, as the book, the weight
/// decay `10^U(-8, -4)`, then the learning rate `10^U(-6, -2)`.
fn trials(n: usize, seed: u64) -> Vec<Trial> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(4);
    (0..n)
        .map(|_| {
            let weight_decay = 10f64.powf(rng.random_range(-8.0..-4.0));
            let lr = 10f64.powf(rng.random_range(-6.0..-2.0));
            Trial { lr, weight_decay }
        })
        .collect()
}

/// The final validation accuracy of a run (0 if it diverged).
fn val_acc(run: &Run) -> f64 {
    match run.diverged {
        Some(_) => 0.0,
        None => run.last().map_or(0.0, |e| e.test_acc),
    }
}

/// The trials' indices, best final validation accuracy first (ties: the earlier trial first).
fn ranking(runs: &[Run]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| val_acc(&runs[b]).total_cmp(&val_acc(&runs[a])));
    order
}

/// Runs the experiment.
pub fn run(ctx: &Context) -> Result<()> {
    let q = usize::from(ctx.quick);
    let (n, epochs) = (TRIALS[q], EPOCHS[q]);
    let (all, _, input) = ctx.splits()?;
    // x_train[:500], shuffled; the first 20% for validation.
    let order = shuffled(IMAGES.min(all.len()), ctx.seed);
    let validation = (order.len() as f64 * VALIDATION_RATE) as usize;
    let (val_indices, train_indices) = order.split_at(validation);
    let subset = |indices: &[usize]| {
        Subset::new(&all, indices.to_vec()).context("a shuffled index outside the data")
    };
    let (train, val) = (subset(train_indices)?, subset(val_indices)?);

    let trials = trials(n, ctx.seed);
    let configs = trials
        .iter()
        .map(|t| {
            TrainConfig {
                batch_size: 100.min(train.len()),
                length: Length::Epochs(epochs),
                optimizer: OptimizerKind::Sgd.with_lr(t.lr),
                seed: ctx.seed,
                ..TrainConfig::default()
            }
            .check()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let units = (n * configs[0].schedule(train.len()).iters) as u64;
    let runs = ctx.runner.run(ctx.name.as_str(), units, n, |i, ticks| {
        let net = MultiLayerNetConfig {
            weight_decay: trials[i].weight_decay,
            ..network()
        };
        train_net(&net.spec(input, 10), &configs[i], &train, &val, ticks)
    })?;
    let ranked = ranking(&runs);

    let rows: Vec<Vec<String>> = ranked
        .iter()
        .take(SHOWN)
        .enumerate()
        .map(|(rank, &i)| {
            let train_acc = runs[i].last().map_or(0.0, |e| e.train_acc);
            vec![
                format!("Best-{}", rank + 1),
                format!("{:.2}", val_acc(&runs[i])),
                format!("{train_acc:.2}"),
                format!("{:.2e}", trials[i].lr),
                format!("{:.2e}", trials[i].weight_decay),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["trial", "val acc", "train acc", "lr", "weight decay"],
            &rows
        )
    );
    let best: Vec<Trial> = ranked.iter().take(BEST).map(|&i| trials[i]).collect();
    let range = |f: fn(&Trial) -> f64| {
        let values = best.iter().map(f);
        let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        format!("{lo:.1e} to {hi:.1e}")
    };
    println!(
        "best {BEST} of {n}: lr {}, weight decay {}",
        range(|t| t.lr),
        range(|t| t.weight_decay)
    );

    let svg = figure(ctx, &trials, &runs, &ranked, epochs)?;
    ctx.write(&svg, |w| {
        writeln!(
            w,
            "trial,rank,lr,weight_decay,epoch,iteration,train_acc,val_acc"
        )?;
        for (rank, &i) in ranked.iter().enumerate() {
            let t = trials[i];
            for e in &runs[i].history.evaluations {
                writeln!(
                    w,
                    "{i},{},{},{},{},{},{},{}",
                    rank + 1,
                    t.lr,
                    t.weight_decay,
                    e.epoch,
                    e.iteration,
                    e.train_acc,
                    e.test_acc
                )?;
            }
        }
        Ok(())
    })
}

/// The book's grid of the best trials, 5 per row.
fn figure(
    ctx: &Context,
    trials: &[Trial],
    runs: &[Run],
    ranked: &[usize],
    epochs: usize,
) -> Result<String> {
    let shown = ranked.len().min(SHOWN);
    let columns = 5;
    let rows = shown.div_ceil(columns);
    let title = ctx.title(&format!(
        "Random search: the best {shown} of {} trials (validation solid, train dashed)",
        runs.len()
    ));
    let size = (1500, 260 * rows as u32 + 60);
    charts::figure(size, &title, |area| {
        let cells = area.split_evenly((rows, columns));
        for (k, (cell, &i)) in cells.iter().zip(ranked).enumerate() {
            let points = |acc: fn(&nn_train::Evaluation) -> f64| -> Vec<(f64, f64)> {
                runs[i]
                    .history
                    .evaluations
                    .iter()
                    .map(|e| (e.epoch as f64, acc(e)))
                    .collect()
            };
            let curves = [
                Curve::new("validation", points(|e| e.test_acc), COLORS[0]),
                Curve::new("train", points(|e| e.train_acc), COLORS[1]).dashed(),
            ];
            let t = trials[i];
            let name = format!(
                "Best-{}: lr {}, λ {}",
                k + 1,
                charts::short(t.lr),
                charts::short(t.weight_decay)
            );
            charts::draw_panel(
                cell,
                &Panel {
                    title: &name,
                    x_label: if k / columns == rows - 1 {
                        "epochs"
                    } else {
                        ""
                    },
                    y_label: if k % columns == 0 { "accuracy" } else { "" },
                    x: 0.0..epochs as f64,
                    y: 0.0..1.0,
                    curves: &curves,
                    legend: (k == 0).then_some(SeriesLabelPosition::LowerRight),
                    font_size: 15,
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
    fn trials_cover_the_books_ranges_and_depend_on_the_seed_only() {
        let drawn = trials(1000, 42);
        assert_eq!(drawn, trials(1000, 42));
        assert_ne!(drawn, trials(1000, 43));
        let log = |v: f64| v.log10();
        assert!(drawn.iter().all(|t| (-6.0..-2.0).contains(&log(t.lr))));
        assert!(
            drawn
                .iter()
                .all(|t| (-8.0..-4.0).contains(&log(t.weight_decay)))
        );
        // Spread over the whole range: some in each quarter of it.
        for quarter in 0..4 {
            let low = -6.0 + f64::from(quarter);
            assert!(drawn.iter().any(|t| (low..low + 1.0).contains(&log(t.lr))));
        }
    }
}
