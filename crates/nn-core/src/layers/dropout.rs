//! Dropout (§6.4.3).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Layer, ensure_shape};
use crate::{Float, Matrix};

/// Dropout (§6.4.3): in training, each value is kept or zeroed at random (zeroed with
/// probability `ratio`); at inference every value is scaled by `1 − ratio`, as the book does.
///
/// ```text
/// training:   mask = rand(x.shape) > ratio     out = x ⊙ mask     dx = dout ⊙ mask
/// inference:  out = x·(1 − ratio)
/// ```
///
/// The masks are reproducible: the mask of training step `s` is drawn from a ChaCha8 generator
/// seeded with the layer's seed, on stream `s`. The step advances at each backward pass, so all
/// the forward passes between two backward passes see the same mask: a numerical gradient's
/// thousands of loss evaluations differentiate one function. To compare backpropagation with
/// a numerical gradient (each ends a step), compute them on two copies of the network taken at
/// the same step ([`Model::snapshot`](crate::Model::snapshot)).
///
/// ```
/// use nn_core::{Matrix, layers::{Dropout, Layer}};
/// let mut dropout = Dropout::<f64>::new(0.5, 7);
/// let x = Matrix::from_element(1, 1000, 2.0);
/// let kept = dropout.forward(&x).iter().filter(|&&v| v == 2.0).count();
/// assert!((400..600).contains(&kept)); // about half, the others are 0
/// dropout.set_training(false);
/// assert_eq!(dropout.forward(&x)[0], 1.0); // 2·(1 − 0.5)
/// ```
#[derive(Clone, Debug)]
pub struct Dropout<T: Float> {
    /// The probability of dropping a value, in `[0, 1)` (the book's `dropout_ratio`).
    pub ratio: f64,
    seed: u64,
    step: u64,
    training: bool,
    mask: Matrix<T>,
    out: Matrix<T>,
    dx: Matrix<T>,
}

impl<T: Float> Dropout<T> {
    /// A dropout layer dropping values with probability `ratio`, its masks drawn from `seed`,
    /// in training mode.
    ///
    /// # Panics
    /// If `ratio` is not in `[0, 1)` (a network's spec checks it first).
    pub fn new(ratio: f64, seed: u64) -> Self {
        assert!(
            (0.0..1.0).contains(&ratio),
            "Dropout: the ratio must be in [0, 1), not {ratio}"
        );
        let empty = Matrix::zeros(0, 0);
        Dropout {
            ratio,
            seed,
            step: 0,
            training: true,
            mask: empty.clone(),
            out: empty.clone(),
            dx: empty,
        }
    }

    /// A copy without buffers (same ratio, seed, step and mode).
    pub(crate) fn snapshot(&self) -> Self {
        Dropout {
            step: self.step,
            training: self.training,
            ..Self::new(self.ratio, self.seed)
        }
    }

    /// Moves on to the next training step's mask (done by every backward pass).
    pub fn next_step(&mut self) {
        self.step = self.step.wrapping_add(1);
    }
}

impl<T: Float> Layer<T> for Dropout<T> {
    fn forward(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        ensure_shape(&mut self.out, x.nrows(), x.ncols());
        if self.training {
            ensure_shape(&mut self.mask, x.nrows(), x.ncols());
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
            rng.set_stream(self.step);
            let ratio = self.ratio;
            self.mask.apply(|m| {
                *m = if rng.random::<f64>() > ratio {
                    T::one()
                } else {
                    T::zero()
                }
            });
            self.out.copy_from(x);
            self.out.component_mul_assign(&self.mask);
        } else {
            let keep = T::of_f64(1.0 - self.ratio);
            self.out.zip_apply(x, |o, v| *o = v * keep);
        }
        &self.out
    }

    fn output(&self) -> &Matrix<T> {
        &self.out
    }

    /// `dx = dout ⊙ mask`; then the next training step's mask.
    fn backward(&mut self, _x: &Matrix<T>, dout: &Matrix<T>, want_dx: bool) -> Option<&Matrix<T>> {
        self.next_step();
        if !want_dx {
            return None;
        }
        ensure_shape(&mut self.dx, dout.nrows(), dout.ncols());
        self.dx.copy_from(dout);
        self.dx.component_mul_assign(&self.mask);
        Some(&self.dx)
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    /// The training step, whose mask the next training forward pass draws.
    fn visit_steps(&mut self, f: &mut dyn FnMut(&mut u64)) {
        f(&mut self.step);
    }
}
