//! What a run leaves behind: the loss of every iteration and the accuracy of every evaluation.

use std::io::{self, Write};

/// One evaluation of the network over the whole train and test splits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// The iteration (0-based) after whose update the evaluation ran.
    pub iteration: usize,
    /// Epochs completed: `iteration / iter_per_epoch`, and the rounded-up total for the final one.
    pub epoch: usize,
    /// Accuracy over the whole training split, in `[0, 1]`.
    pub train_acc: f64,
    /// Accuracy over the whole test split, in `[0, 1]`.
    pub test_acc: f64,
    /// Seconds since the start of training when the evaluation finished. Evaluations run beside
    /// the loop, so this is later than the end of iteration `iteration`, and may be later than
    /// the end of the next iterations.
    pub elapsed_s: f64,
}

/// The record of a training run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// The minibatch loss of every iteration, in order.
    pub train_loss: Vec<f32>,
    /// Seconds since the start of training at the end of every iteration (same length as
    /// `train_loss`).
    pub elapsed_s: Vec<f64>,
    /// Every evaluation, in order; the last one is after the last iteration.
    pub evaluations: Vec<Evaluation>,
}

impl History {
    /// An empty history with room for `iters` iterations (up to a million: a longer run grows
    /// its history now and then, instead of claiming gigabytes up front).
    pub fn with_capacity(iters: usize) -> Self {
        let capacity = iters.min(1 << 20);
        Self {
            train_loss: Vec::with_capacity(capacity),
            elapsed_s: Vec::with_capacity(capacity),
            evaluations: Vec::new(),
        }
    }

    /// The last evaluation, if any ran.
    pub fn last_evaluation(&self) -> Option<&Evaluation> {
        self.evaluations.last()
    }

    /// Wall time of the whole run in seconds (0 if no iteration ran).
    pub fn total_elapsed_s(&self) -> f64 {
        let last_iter = self.elapsed_s.last().copied().unwrap_or(0.0);
        let last_eval = self.last_evaluation().map_or(0.0, |e| e.elapsed_s);
        last_iter.max(last_eval)
    }

    /// Writes the history as CSV: a header `iteration,train_loss,train_acc,test_acc,elapsed_s`
    /// and one row per iteration, with the seconds since the start at the end of that iteration.
    /// The accuracy columns are filled only on the rows of iterations after which an evaluation
    /// ran, and left empty elsewhere, so that a plotting tool sees the loss curve at full
    /// resolution and the accuracy points exactly where they were measured. (When each
    /// evaluation finished is in [`Evaluation::elapsed_s`], not in the file.)
    ///
    /// ```
    /// use nn_train::{Evaluation, History};
    ///
    /// let history = History {
    ///     train_loss: vec![2.5, 1.25],
    ///     elapsed_s: vec![0.5, 1.0],
    ///     evaluations: vec![Evaluation { iteration: 1, epoch: 1, train_acc: 0.5, test_acc: 0.25, elapsed_s: 1.5 }],
    /// };
    /// let mut csv = Vec::new();
    /// history.write_csv(&mut csv).unwrap();
    /// assert_eq!(
    ///     String::from_utf8(csv).unwrap(),
    ///     "iteration,train_loss,train_acc,test_acc,elapsed_s\n0,2.5,,,0.5\n1,1.25,0.5,0.25,1\n"
    /// );
    /// ```
    pub fn write_csv<W: Write>(&self, mut out: W) -> io::Result<()> {
        writeln!(out, "iteration,train_loss,train_acc,test_acc,elapsed_s")?;
        let mut evals = self.evaluations.iter().peekable();
        for (i, (loss, elapsed)) in self.train_loss.iter().zip(&self.elapsed_s).enumerate() {
            match evals.next_if(|e| e.iteration == i) {
                Some(e) => writeln!(out, "{i},{loss},{},{},{elapsed}", e.train_acc, e.test_acc)?,
                None => writeln!(out, "{i},{loss},,,{elapsed}")?,
            }
        }
        out.flush()
    }
}
