//! AdaGrad (§6.1.5).

use nn_core::{Float, Matrix, Parameters};

use super::{EPSILON, Optimizer, state};
use crate::parallel::in_halves;

/// AdaGrad (§6.1.5): each value's step shrinks with the sum `h` of its squared gradients:
/// `h ← h + g²`, `W ← W − lr·g / (√h + 1e-7)`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaGrad<T: Float> {
    /// The learning rate (book: 0.01).
    pub lr: T,
    h: Vec<Matrix<T>>,
}

impl<T: Float> AdaGrad<T> {
    /// AdaGrad with learning rate `lr`; the sums start at zero.
    pub fn new(lr: T) -> Self {
        Self { lr, h: Vec::new() }
    }
}

impl<T: Float> Optimizer<T> for AdaGrad<T> {
    fn update(&mut self, params: &mut dyn Parameters<T>) {
        let (lr, eps) = (self.lr, T::of_f64(EPSILON));
        let mut i = 0;
        params.visit_params(&mut |p| {
            let h = state(&mut self.h, i, p.value);
            i += 1;
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
}
