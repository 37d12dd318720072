//! RMSprop (§6.1.5, the book's `RMSprop`).

use nn_core::{Float, Trainable};

use super::{EPSILON, Optimizer, OptimizerError, OptimizerState, States, state};
use nn_core::kernels::threads::in_halves;

/// RMSprop: AdaGrad with a decaying mean instead of a sum of squared gradients:
/// `h ← ρ·h + (1 − ρ)·g²`, `W ← W − lr·g / (√h + 1e-7)`.
#[derive(Debug, Clone, PartialEq)]
pub struct RmsProp<T: Float> {
    /// The learning rate (book: 0.01).
    pub lr: T,
    /// The decay `ρ` of the mean (book: 0.99).
    pub decay_rate: T,
    h: States<T>,
}

impl<T: Float> RmsProp<T> {
    /// RMSprop with learning rate `lr` and decay rate `decay_rate`; the means start at zero.
    pub fn new(lr: T, decay_rate: T) -> Self {
        Self {
            lr,
            decay_rate,
            h: States::new(),
        }
    }
}

impl<T: Float> Optimizer<T> for RmsProp<T> {
    fn update(&mut self, params: &mut dyn Trainable<T>) {
        let (lr, rho, eps) = (self.lr, self.decay_rate, T::of_f64(EPSILON));
        params.visit_params(&mut |p| {
            let h = state(&mut self.h, p.name, p.value);
            in_halves(
                (p.value.as_mut_slice(), p.grad.as_slice(), h.as_mut_slice()),
                |(w, g, h)| {
                    for ((w, &g), h) in w.iter_mut().zip(g).zip(h) {
                        *h *= rho;
                        *h += (T::one() - rho) * g * g;
                        *w -= lr * g / (h.sqrt() + eps);
                    }
                },
            );
        });
    }

    fn state(&self) -> OptimizerState<T> {
        OptimizerState::of(0, &[("h", &self.h)])
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<(), OptimizerError> {
        [self.h] = state.take_uncounted(["h"])?;
        Ok(())
    }
}
