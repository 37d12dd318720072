//! Parameter updates: the [`Optimizer`] trait and the book's plain [`Sgd`].

use nn_core::{Float, Parameters};

/// Updates parameters from their gradients, once per iteration.
///
/// The loop only calls [`step`](Optimizer::step) after each gradient computation. An optimizer
/// with state (Momentum's velocities, AdaGrad's sums of squares, Adam's moments) keeps one
/// matrix per parameter, allocated on its first step and indexed by the fixed order in which
/// [`Parameters`] visits them, so it drops in without touching the loop.
pub trait Optimizer<T: Float> {
    /// Applies one update to every parameter, from the gradient stored beside it.
    fn step(&mut self, params: &mut dyn Parameters<T>);
}

/// Stochastic gradient descent (§4.5): `W ← W − lr · ∂L/∂W`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sgd<T> {
    /// The learning rate (book: 0.1).
    pub lr: T,
}

impl<T> Sgd<T> {
    /// SGD with learning rate `lr`.
    pub fn new(lr: T) -> Self {
        Self { lr }
    }
}

impl<T: Float> Optimizer<T> for Sgd<T> {
    fn step(&mut self, params: &mut dyn Parameters<T>) {
        let lr = self.lr;
        params.visit_params(&mut |p| {
            p.value.zip_apply(p.grad, |value, grad| *value -= lr * grad);
        });
    }
}
