//! What `optimizer_compare_mnist.rs` and `weight_init_compare.rs` share: networks trained on
//! MNIST for the same number of minibatches (batch 128, the book's `max_iterations`), their
//! losses smoothed by the book's `smooth_curve`, one figure of the smoothed curves, one CSV.
//!
//! The book trains its networks in one loop on the same minibatches; here each network is a job
//! of its own, and all of them draw the same minibatches from the experiment's seed (nn-train's
//! batch stream depends on the seed only) and start from the same random draws (scaled by each
//! one's initialisation): the curves differ by what the experiment varies, and nothing else.
//! The loss recorded at an iteration is the minibatch's before the update (the book's scripts
//! compute it again after the update: one iteration later, the same curve).

use std::io::Write;

use anyhow::Result;
use nn_core::NetSpec;
use nn_train::{Length, OptimizerSpec, TrainConfig};
use plotters::prelude::SeriesLabelPosition;

use super::Context;
use super::charts::{self, COLORS, Curve, Marker, Panel};
use super::runner::{Run, train_net};
use super::util::smooth_curve;

/// The book's minibatch size for these comparisons.
pub const BATCH: usize = 128;

/// Samples of each split scored at the evaluation of each epoch (the book scores none; the
/// final evaluation covers both splits whole).
const EVAL_SAMPLES: usize = 1000;

/// One of the networks compared.
pub struct Contender {
    /// Its name in the legend, the table and the CSV header.
    pub label: String,
    /// The network.
    pub spec: NetSpec,
    /// How it is trained.
    pub optimizer: OptimizerSpec,
}

/// A contender's run and its smoothed loss curve.
pub struct Compared {
    /// The run: losses, evaluations.
    pub run: Run,
    /// `smooth_curve` of the losses.
    pub smoothed: Vec<f64>,
}

impl Compared {
    /// The mean of the last (up to) 100 raw losses: where the curve ended, with the noise of
    /// single minibatches averaged out.
    pub fn final_loss(&self) -> f64 {
        let losses = &self.run.history.train_loss;
        let tail = &losses[losses.len().saturating_sub(100)..];
        tail.iter().map(|&l| f64::from(l)).sum::<f64>() / tail.len().max(1) as f64
    }

    /// The test accuracy of the final evaluation (over the whole test split), as text.
    pub fn test_acc(&self) -> String {
        match (self.run.diverged, self.run.last()) {
            (Some(i), _) => format!("diverged at {i}"),
            (None, Some(e)) => format!("{:.4}", e.test_acc),
            (None, None) => "-".into(),
        }
    }
}

/// Trains every contender for `iters` iterations on MNIST, in parallel.
pub fn train_all(ctx: &Context, contenders: &[Contender], iters: usize) -> Result<Vec<Compared>> {
    let (train, test, _) = ctx.splits()?;
    let configs = contenders
        .iter()
        .map(|c| {
            TrainConfig {
                batch_size: BATCH,
                length: Length::Iters(iters),
                optimizer: c.optimizer,
                seed: ctx.seed,
                eval_samples: Some(EVAL_SAMPLES),
                ..TrainConfig::default()
            }
            .check()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let units = (iters * contenders.len()) as u64;
    let runs = ctx
        .runner
        .run(ctx.name.as_str(), units, contenders.len(), |i, ticks| {
            train_net(&contenders[i].spec, &configs[i], &train, &test, ticks)
        })?;
    Ok(runs
        .into_iter()
        .map(|run| {
            let losses: Vec<f64> = run
                .history
                .train_loss
                .iter()
                .map(|&l| f64::from(l))
                .collect();
            Compared {
                smoothed: smooth_curve(&losses),
                run,
            }
        })
        .collect())
}

/// The CSV: `iteration`, each contender's loss, then each one's smoothed loss
/// (`<label> smoothed`); a run that diverged leaves its cells empty from there on.
pub fn write_csv(
    w: &mut dyn Write,
    contenders: &[Contender],
    compared: &[Compared],
) -> std::io::Result<()> {
    write!(w, "iteration")?;
    for c in contenders {
        write!(w, ",{}", c.label)?;
    }
    for c in contenders {
        write!(w, ",{} smoothed", c.label)?;
    }
    writeln!(w)?;
    let rows = compared.iter().map(|c| c.smoothed.len()).max().unwrap_or(0);
    for i in 0..rows {
        write!(w, "{i}")?;
        for c in compared {
            match c.run.history.train_loss.get(i) {
                Some(l) => write!(w, ",{l}")?,
                None => write!(w, ",")?,
            }
        }
        for c in compared {
            match c.smoothed.get(i) {
                Some(l) => write!(w, ",{l}")?,
                None => write!(w, ",")?,
            }
        }
        writeln!(w)?;
    }
    Ok(())
}

/// The book's figure: the smoothed loss of each contender against the iterations, a marker
/// every 100 iterations, the y axis from 0 to `y_max` (the book's `plt.ylim`).
pub fn figure(
    title: &str,
    contenders: &[Contender],
    compared: &[Compared],
    y_max: f64,
) -> Result<String> {
    let iters = compared.iter().map(|c| c.smoothed.len()).max().unwrap_or(1);
    let every = (iters / 20).max(1);
    let curves: Vec<Curve> = contenders
        .iter()
        .zip(compared)
        .enumerate()
        .map(|(k, (c, r))| {
            let points = r
                .smoothed
                .iter()
                .enumerate()
                .map(|(i, &l)| (i as f64, l))
                .collect();
            Curve::new(c.label.clone(), points, COLORS[k % COLORS.len()])
                .marked(Marker::ALL[k % Marker::ALL.len()], every)
        })
        .collect();
    charts::figure((960, 640), title, |area| {
        charts::draw_panel(
            area,
            &Panel {
                title: "",
                x_label: "iterations",
                y_label: "loss (smoothed)",
                x: 0.0..iters as f64,
                y: 0.0..y_max,
                curves: &curves,
                legend: Some(SeriesLabelPosition::UpperRight),
                font_size: 20,
            },
        )
    })
}
