//! Progress reporting: the loop calls an [`Observer`]; the library itself prints nothing.

use crate::history::{Evaluation, History};

/// The shape of a run, announced once before the first iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunInfo {
    /// Total number of iterations.
    pub iters: usize,
    /// `max(train_size / batch_size, 1)`: the iterations between two evaluations.
    pub iter_per_epoch: usize,
    /// `ceil(iters / iter_per_epoch)`: the epoch number of the final evaluation.
    pub epochs: usize,
}

/// Receives the progress of a training run. Every method does nothing by default.
///
/// `on_iteration` runs once per iteration, on the hot path: keep it cheap (no formatting or
/// drawing on every call).
pub trait Observer {
    /// Called once, before the first iteration.
    fn on_start(&mut self, _info: &RunInfo) {}
    /// Called after every iteration with its minibatch loss.
    fn on_iteration(&mut self, _iteration: usize, _loss: f32) {}
    /// Called after every evaluation over the whole splits.
    fn on_evaluation(&mut self, _evaluation: &Evaluation) {}
    /// Called once, after the final evaluation.
    fn on_finish(&mut self, _history: &History) {}
    /// Asked after every iteration: `true` stops the run (with
    /// [`TrainError::Stopped`](crate::TrainError::Stopped)), e.g. on Ctrl-C. Keep it cheap.
    fn should_stop(&mut self) -> bool {
        false
    }
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}
