//! Checkpoints and resumed runs: what the loop hands out every so often ([`Checkpoint`]) and takes
//! back to go on exactly where a run stopped ([`RunState`]).
//!
//! A run is a function of its config, its seed and its data. After `n` iterations, what the rest
//! of it depends on is: the network's parameters and state, its dropout layers' steps
//! ([`Model::visit_steps`]), the optimizer's state ([`OptimizerState`]), the position of the
//! minibatch generator, and the history so far. A [`RunState`] holds all of it but the network
//! (which the caller saves and rebuilds as it likes: nn-cli keeps it beside the state in one
//! checkpoint file). The evaluations that run beside the loop are finished before a checkpoint
//! is taken, so that its history holds every evaluation of the iterations it covers. A run
//! resumed from a checkpoint ends with the very bits of the run that never stopped, whatever the
//! number of threads of either.

use nn_core::Model;

use crate::history::History;
use crate::observer::RunInfo;
use crate::optimizer::{OptimizerError, OptimizerKind, OptimizerState};

/// Where a run stands after some iterations: with the network, everything the loop needs to go
/// on as if it had never stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    /// Iterations done.
    pub iterations: usize,
    /// The length of the run (its total number of iterations) when the state was saved: a
    /// resumed run may be longer.
    pub planned: usize,
    /// The loss and time of every iteration done, and every evaluation after them.
    pub history: History,
    /// The optimizer's state after the last update.
    pub optimizer: OptimizerState<f32>,
    /// The position of the minibatch generator (ChaCha8, stream 1 of the seed), in 32-bit words
    /// since the start of its stream.
    pub batch_rng_word_pos: u128,
}

/// Why the loop hands out a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointReason {
    /// Every [`Checkpoints::every`] iterations.
    Periodic,
    /// The observer asked to stop ([`Observer::should_stop`](crate::Observer::should_stop)):
    /// the run ends after this checkpoint with [`TrainError::Stopped`](crate::TrainError::Stopped).
    Stopped,
    /// The run is complete, its final evaluation done: a resumed run can only lengthen it.
    Finished,
}

/// A run as it stands after [`RunState::iterations`] iterations, handed to [`Checkpoints::save`].
#[derive(Debug)]
pub struct Checkpoint<'a, M> {
    /// The network after the last iteration (its steps included, see [`Model::visit_steps`]).
    pub network: &'a M,
    /// The rest of the run's state.
    pub state: &'a RunState,
    /// Why the checkpoint is taken.
    pub reason: CheckpointReason,
}

/// Checkpoints of a run: where it resumes from, how often to take one, and what to do with it.
pub struct Checkpoints<'a, M> {
    /// Go on from this state (the network given to the loop must be the one saved with it).
    pub resume: Option<RunState>,
    /// A checkpoint every this many iterations (counted from the start of the run); 0 for none
    /// but the ones of a stop and of the end.
    pub every: usize,
    /// No periodic checkpoint within this time of the last one (nor of the start), decided
    /// before any of its work (waiting for an evaluation, copying the state); `Duration::ZERO`
    /// for every one. A run's results never depend on when its checkpoints are written.
    pub min_gap: std::time::Duration,
    /// Called with each checkpoint; an error ends the run with
    /// [`TrainError::Checkpoint`](crate::TrainError::Checkpoint).
    #[allow(clippy::type_complexity)] // a plain callback
    pub save: &'a mut (dyn FnMut(&Checkpoint<'_, M>) -> Result<(), String> + Send),
}

impl<M> std::fmt::Debug for Checkpoints<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoints")
            .field("resume", &self.resume)
            .field("every", &self.every)
            .field("min_gap", &self.min_gap)
            .finish_non_exhaustive()
    }
}

/// Why a run cannot resume from a [`RunState`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResumeError {
    /// The run would be shorter than the checkpoint's.
    #[error(
        "the checkpoint's run was to make {planned} iterations ({done} done) but this one makes \
         {iters}: a resumed run may only be as long or longer (--iters or --epochs)"
    )]
    Shorter {
        /// The checkpoint's length.
        planned: usize,
        /// Its iterations done.
        done: usize,
        /// The new length.
        iters: usize,
    },
    /// The state does not hang together: a history of another length, evaluations out of
    /// order, more iterations done than planned.
    #[error("the checkpoint's state is inconsistent: {0}")]
    Inconsistent(String),
    /// The optimizer's state does not fit.
    #[error(transparent)]
    Optimizer(#[from] OptimizerError),
}

impl RunState {
    /// Checks that the state can go on in a run of `schedule` with an optimizer of `kind`, on
    /// `network`.
    pub(crate) fn check<M: Model<f32>>(
        &self,
        schedule: &RunInfo,
        kind: OptimizerKind,
        network: &mut M,
    ) -> Result<(), ResumeError> {
        let bad = |why: String| Err(ResumeError::Inconsistent(why));
        let done = self.iterations;
        if done > self.planned {
            return bad(format!(
                "{done} iterations done of a run of {}",
                self.planned
            ));
        }
        if schedule.iters < self.planned {
            return Err(ResumeError::Shorter {
                planned: self.planned,
                done,
                iters: schedule.iters,
            });
        }
        let h = &self.history;
        if h.train_loss.len() != done || h.elapsed_s.len() != done {
            return bad(format!(
                "{done} iterations done but a history of {} losses and {} times",
                h.train_loss.len(),
                h.elapsed_s.len()
            ));
        }
        if let Some(i) = h.train_loss.iter().position(|l| !l.is_finite()) {
            return bad(format!("the loss of iteration {i} is not finite"));
        }
        let mut previous = None;
        for e in &h.evaluations {
            let valid = e.iteration < done
                && previous.is_none_or(|p| p < e.iteration)
                && (0.0..=1.0).contains(&e.train_acc)
                && (0.0..=1.0).contains(&e.test_acc);
            if !valid {
                return bad(format!(
                    "an evaluation after iteration {} is out of order or out of range",
                    e.iteration
                ));
            }
            previous = Some(e.iteration);
        }
        // Adam counts its updates: one per iteration.
        let counted = if kind == OptimizerKind::Adam { done } else { 0 };
        if self.optimizer.updates != counted as u64 {
            return bad(format!(
                "{done} iterations done but the optimizer counted {} updates",
                self.optimizer.updates
            ));
        }
        self.optimizer.check(network)?;
        if done > 0 && kind != OptimizerKind::Sgd && self.optimizer.slots.is_empty() {
            return bad(format!(
                "{done} iterations done but the optimizer {kind} kept no state"
            ));
        }
        Ok(())
    }
}
