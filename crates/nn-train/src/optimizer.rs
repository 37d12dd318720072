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

/// Parameters of at least this many values are updated in two halves, the second one on another
/// thread when one is free (`rayon::join`). A large gradient comes from nn-core's split product
/// (see [`nn_core::PARALLEL_MIN_MULADDS`]): its halves are the two cores' halves of the product,
/// each still in the cache of the core that computed it. (`W1` of the book's network: 39200
/// values; updating it while the other core is free went from 17 µs to 10 µs in `nn-cli train`.)
const SPLIT_MIN_LEN: usize = 1 << 14;

impl<T: Float> Optimizer<T> for Sgd<T> {
    fn step(&mut self, params: &mut dyn Parameters<T>) {
        let lr = self.lr;
        params.visit_params(&mut |p| {
            assert_eq!(
                p.value.shape(),
                p.grad.shape(),
                "{}: the gradient's shape differs from the parameter's",
                p.name
            );
            let (values, grads) = (p.value.as_mut_slice(), p.grad.as_slice());
            if values.len() >= SPLIT_MIN_LEN {
                let half = values.len() / 2;
                let (values_1, values_2) = values.split_at_mut(half);
                let (grads_1, grads_2) = grads.split_at(half);
                rayon::join(
                    || descend(lr, values_1, grads_1),
                    || descend(lr, values_2, grads_2),
                );
            } else {
                descend(lr, values, grads);
            }
        });
    }
}

/// `value ← value − lr · grad`, element by element.
fn descend<T: Float>(lr: T, values: &mut [T], grads: &[T]) {
    for (value, &grad) in values.iter_mut().zip(grads) {
        *value -= lr * grad;
    }
}
