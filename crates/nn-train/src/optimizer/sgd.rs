//! Stochastic gradient descent (§4.5, §6.1.2).

use nn_core::{Float, Trainable};

use super::{Optimizer, OptimizerError, OptimizerState};
use nn_core::kernels::threads::in_halves;

/// Stochastic gradient descent (§6.1.2): `W ← W − lr · ∂L/∂W`.
///
/// ```
/// use nn_core::{Matrix, Param, Trainable, layers::Kind};
/// use nn_train::{Optimizer, Sgd};
/// struct One(Matrix<f64>, Matrix<f64>);
/// impl Trainable<f64> for One {
///     fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, f64>)) {
///         f(Param::of(Kind::Weight, &mut self.0, &mut self.1));
///     }
/// }
/// let mut w = One(Matrix::from_element(1, 1, 1.0), Matrix::from_element(1, 1, 2.0));
/// Sgd::new(0.1).update(&mut w);
/// assert_eq!(w.0[0], 1.0 - 0.1 * 2.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sgd<T> {
    /// The learning rate (book: 0.01; `train_neuralnet.py` uses 0.1).
    pub lr: T,
}

impl<T> Sgd<T> {
    /// SGD with learning rate `lr`.
    pub fn new(lr: T) -> Self {
        Self { lr }
    }
}

impl<T: Float> Optimizer<T> for Sgd<T> {
    fn update(&mut self, params: &mut dyn Trainable<T>) {
        let lr = self.lr;
        params.visit_params(&mut |p| {
            in_halves((p.value.as_mut_slice(), p.grad.as_slice()), |(w, g)| {
                for (w, &g) in w.iter_mut().zip(g) {
                    *w -= lr * g;
                }
            });
        });
    }

    fn state(&self) -> OptimizerState<T> {
        OptimizerState::default()
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<(), OptimizerError> {
        state.take_uncounted([]).map(|[]| ())
    }
}
