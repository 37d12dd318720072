//! Momentum (§6.1.4).

use nn_core::{Float, Trainable};

use super::{Optimizer, OptimizerError, OptimizerState, States, state};
use nn_core::kernels::threads::in_halves;

/// Momentum SGD (§6.1.4): a velocity `v` per value, `v ← m·v − lr·g`, then `W ← W + v`.
#[derive(Debug, Clone, PartialEq)]
pub struct Momentum<T: Float> {
    /// The learning rate (book: 0.01).
    pub lr: T,
    /// The momentum `m` (book: 0.9).
    pub momentum: T,
    v: States<T>,
}

impl<T: Float> Momentum<T> {
    /// Momentum with learning rate `lr` and momentum `momentum`; velocities start at zero.
    pub fn new(lr: T, momentum: T) -> Self {
        Self {
            lr,
            momentum,
            v: States::new(),
        }
    }
}

impl<T: Float> Optimizer<T> for Momentum<T> {
    fn update(&mut self, params: &mut dyn Trainable<T>) {
        let (lr, m) = (self.lr, self.momentum);
        params.visit_params(&mut |p| {
            let v = state(&mut self.v, p.name, p.value);
            in_halves(
                (p.value.as_mut_slice(), p.grad.as_slice(), v.as_mut_slice()),
                |(w, g, v)| {
                    for ((w, &g), v) in w.iter_mut().zip(g).zip(v) {
                        *v = m * *v - lr * g;
                        *w += *v;
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
