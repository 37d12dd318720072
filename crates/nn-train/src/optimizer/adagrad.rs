//! AdaGrad (§6.1.5).

use nn_core::{Float, Trainable};

use super::{EPSILON, Optimizer, OptimizerError, OptimizerState, States, state};
use nn_core::kernels::threads::in_halves;

/// AdaGrad (§6.1.5): each value's step shrinks with the sum `h` of its squared gradients:
/// `h ← h + g²`, `W ← W − lr·g / (√h + 1e-7)`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaGrad<T: Float> {
    /// The learning rate (book: 0.01).
    pub lr: T,
    h: States<T>,
}

impl<T: Float> AdaGrad<T> {
    /// AdaGrad with learning rate `lr`; the sums start at zero.
    pub fn new(lr: T) -> Self {
        Self {
            lr,
            h: States::new(),
        }
    }
}

impl<T: Float> Optimizer<T> for AdaGrad<T> {
    fn update(&mut self, params: &mut dyn Trainable<T>) {
        let (lr, eps) = (self.lr, T::of_f64(EPSILON));
        params.visit_params(&mut |p| {
            let h = state(&mut self.h, p.name, p.value);
            in_halves(
                (p.value.as_mut_slice(), p.grad.as_slice(), h.as_mut_slice()),
                |(w, g, h)| {
                    for ((w, &g), h) in w.iter_mut().zip(g).zip(h) {
                        *h += g * g;
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
