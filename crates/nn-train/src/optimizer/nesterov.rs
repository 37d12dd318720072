//! Nesterov's accelerated gradient (the book's `Nesterov`, after arXiv:1212.0901).

use nn_core::{Float, Trainable};

use super::{Optimizer, OptimizerError, OptimizerState, States, state};
use nn_core::kernels::threads::in_halves;

/// Nesterov's accelerated gradient, as the book's `common/optimizer.py` writes it since its fix:
/// `W ← W + m²·v − (1 + m)·lr·g` with the velocity of the step before, then `v ← m·v − lr·g`.
///
/// Erratum: the book's first `Nesterov` (the repository's 2016 code) updated the velocity
/// first and stepped with the new one (`v ← m·v − lr·g; W ← W + m²·v − (1 + m)·lr·g`). The
/// book's repository fixed the order on 2021-01-18 (commit `89eadd0`, "Fix Nesterov update
/// function"); this follows the fixed code. The two differ from the first step on: the pre-fix
/// order steps by `m²·(m·v − lr·g)` where the fixed one steps by `m²·v`.
#[derive(Debug, Clone, PartialEq)]
pub struct Nesterov<T: Float> {
    /// The learning rate (book: 0.01).
    pub lr: T,
    /// The momentum `m` (book: 0.9).
    pub momentum: T,
    v: States<T>,
}

impl<T: Float> Nesterov<T> {
    /// Nesterov with learning rate `lr` and momentum `momentum`; velocities start at zero.
    pub fn new(lr: T, momentum: T) -> Self {
        Self {
            lr,
            momentum,
            v: States::new(),
        }
    }
}

impl<T: Float> Optimizer<T> for Nesterov<T> {
    fn update(&mut self, params: &mut dyn Trainable<T>) {
        let (lr, m) = (self.lr, self.momentum);
        params.visit_params(&mut |p| {
            let v = state(&mut self.v, p.name, p.value);
            in_halves(
                (p.value.as_mut_slice(), p.grad.as_slice(), v.as_mut_slice()),
                |(w, g, v)| {
                    for ((w, &g), v) in w.iter_mut().zip(g).zip(v) {
                        *w += m * m * *v;
                        *w -= (T::one() + m) * lr * g;
                        *v *= m;
                        *v -= lr * g;
                    }
                },
            );
        });
    }

    fn state(&self) -> OptimizerState<T> {
        OptimizerState::of(0, &[("v", &self.v)])
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<(), OptimizerError> {
        [self.v] = state.take_uncounted(["v"])?;
        Ok(())
    }
}
