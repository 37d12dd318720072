//! Adam (§6.1.6).

use nn_core::{Float, Trainable};

use super::{EPSILON, Optimizer, OptimizerError, OptimizerState, States, state};
use nn_core::kernels::threads::in_halves;

/// Adam (§6.1.6, Kingma and Ba), as the book writes it: moments `m` and `v` of the gradient,
/// updated as `m ← m + (1 − β₁)(g − m)` and `v ← v + (1 − β₂)(g² − v)`, and a step of
/// `lr_t·m / (√v + 1e-7)` with the bias correction folded into the learning rate:
/// `lr_t = lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ)` at update `t` (from 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Adam<T: Float> {
    /// The learning rate (book: 0.001).
    pub lr: f64,
    /// Decay of the first moment (book: 0.9).
    pub beta1: f64,
    /// Decay of the second moment (book: 0.999).
    pub beta2: f64,
    iter: i32,
    m: States<T>,
    v: States<T>,
}

impl<T: Float> Adam<T> {
    /// Adam with learning rate `lr` and moment decays `beta1`, `beta2`; the moments start at
    /// zero.
    pub fn new(lr: f64, beta1: f64, beta2: f64) -> Self {
        Self {
            lr,
            beta1,
            beta2,
            iter: 0,
            m: States::new(),
            v: States::new(),
        }
    }
}

impl<T: Float> Optimizer<T> for Adam<T> {
    fn update(&mut self, params: &mut dyn Trainable<T>) {
        self.iter = self.iter.saturating_add(1);
        let lr_t = self.lr * (1.0 - self.beta2.powi(self.iter)).sqrt()
            / (1.0 - self.beta1.powi(self.iter));
        let (lr_t, eps) = (T::of_f64(lr_t), T::of_f64(EPSILON));
        let (b1, b2) = (T::of_f64(self.beta1), T::of_f64(self.beta2));
        params.visit_params(&mut |p| {
            let m = state(&mut self.m, p.name, p.value);
            let v = state(&mut self.v, p.name, p.value);
            in_halves(
                (
                    p.value.as_mut_slice(),
                    p.grad.as_slice(),
                    m.as_mut_slice(),
                    v.as_mut_slice(),
                ),
                |(w, g, m, v)| {
                    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
                        *m += (T::one() - b1) * (g - *m);
                        *v += (T::one() - b2) * (g * g - *v);
                        *w -= lr_t * *m / (v.sqrt() + eps);
                    }
                },
            );
        });
    }

    fn state(&self) -> OptimizerState<T> {
        OptimizerState::of(
            u64::try_from(self.iter).unwrap_or(0),
            &[("m", &self.m), ("v", &self.v)],
        )
    }

    fn load_state(&mut self, mut state: OptimizerState<T>) -> Result<(), OptimizerError> {
        [self.m, self.v] = state.take(["m", "v"])?;
        self.iter = i32::try_from(state.updates).unwrap_or(i32::MAX);
        Ok(())
    }
}
