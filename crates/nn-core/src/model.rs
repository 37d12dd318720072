//! The seam between a network and whatever trains or uses it: [`Trainable`] for optimizers,
//! [`Model`] for the training loop and evaluation.

use crate::functions::argmax_columns;
use crate::layers::{Name, Param, State};
use crate::{Float, Matrix, NetSpec, Targets};

/// What optimizers update: each parameter with its gradient, in a fixed order with stable names
/// (the book's `params` and `grads` dictionaries).
pub trait Trainable<T: Float> {
    /// Calls `f` on each parameter and its gradient from the last backward pass, always in the
    /// same order (for a network, from the input to the output: `W1`, `b1`, `gamma1`…).
    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, T>));

    /// A copy of every parameter with its name, in the order of
    /// [`visit_params`](Self::visit_params): the book's `network.params`.
    fn named_params(&mut self) -> Vec<(Name, Matrix<T>)> {
        let mut params = Vec::new();
        self.visit_params(&mut |p| params.push((p.name, p.value.clone())));
        params
    }

    /// A copy of every parameter's gradient from the last backward pass (or numerical
    /// gradient), with its name, in the order of [`visit_params`](Self::visit_params): the
    /// book's `grads`.
    fn named_gradients(&mut self) -> Vec<(Name, Matrix<T>)> {
        let mut grads = Vec::new();
        self.visit_params(&mut |p| grads.push((p.name, p.grad.clone())));
        grads
    }
}

/// A network that can be trained and evaluated: the methods of the book's network classes
/// (`TwoLayerNet`, `MultiLayerNetExtend`, `SimpleConvNet`…) that the training loop calls.
///
/// [`TwoLayerNet`](crate::TwoLayerNet) and [`Sequential`](crate::Sequential) implement it. The
/// batch `x` is `(input_len, N)`, one sample per column; scores are `(output_len, N)`.
///
/// ```
/// use nn_core::{Matrix, Model, TwoLayerConfig, Targets, TwoLayerNet};
/// fn sgd_step<M: Model<f64>>(net: &mut M, x: &Matrix<f64>, labels: &[u8]) -> f64 {
///     let loss = net.gradient(x, Targets::Labels(labels));
///     net.visit_params(&mut |p| p.value.zip_apply(p.grad, |w, g| *w -= 0.5 * g));
///     loss
/// }
/// let config = TwoLayerConfig { input_size: 2, hidden_size: 3, output_size: 2, ..TwoLayerConfig::default() };
/// let mut net = TwoLayerNet::<f64>::new(config, 1)?;
/// let x = Matrix::from_column_slice(2, 2, &[1.0, 0.0, 0.0, 1.0]);
/// let first = sgd_step(&mut net, &x, &[0, 1]);
/// for _ in 0..300 { sgd_step(&mut net, &x, &[0, 1]); }
/// assert!(sgd_step(&mut net, &x, &[0, 1]) < first / 10.0);
/// assert_eq!(net.accuracy(&x, &[0, 1]), 1.0);
/// # Ok::<(), nn_core::TwoLayerConfigError>(())
/// ```
pub trait Model<T: Float>: Trainable<T> + Send + Sync + Sized {
    /// Values per input sample (784 for MNIST).
    fn input_len(&self) -> usize;

    /// Scores per sample: the number of classes.
    fn output_len(&self) -> usize;

    /// The network as data: its layers, initialisation and weight decay. The one source of
    /// truth of what the network is (a model file records it).
    fn spec(&self) -> NetSpec;

    /// The mean loss of the batch, in training mode (the book's `loss(x, t)`, with
    /// `train_flg=True`): batch norm normalizes by the batch's statistics and updates its
    /// running ones, dropout drops. Includes the weight decay term, if any.
    ///
    /// # Panics
    /// If `x` or the targets do not fit the network.
    fn loss(&mut self, x: &Matrix<T>, t: Targets<'_, T>) -> T;

    /// The backward pass after [`loss`](Self::loss) on the same batch `x`: stores every
    /// parameter's gradient beside it (see [`Trainable`]).
    ///
    /// # Panics
    /// If `loss` was not called on a batch of the shape of `x`.
    fn backward(&mut self, x: &Matrix<T>);

    /// The book's `gradient(x, t)`: [`loss`](Self::loss), then [`backward`](Self::backward);
    /// returns the loss.
    fn gradient(&mut self, x: &Matrix<T>, t: Targets<'_, T>) -> T {
        let loss = self.loss(x, t);
        self.backward(x);
        loss
    }

    /// The book's `numerical_gradient(x, t)` (§4.4): the gradient of the loss by central
    /// differences, stored where [`backward`](Self::backward) stores its own. Returns the loss
    /// at the current parameters. Slow: for teaching and gradient checks.
    fn numerical_gradient(&mut self, x: &Matrix<T>, t: Targets<'_, T>) -> T;

    /// The scores of the batch in inference mode (the book's `predict(x, train_flg=False)`):
    /// batch norm uses its running statistics, dropout scales instead of dropping.
    fn predict(&mut self, x: &Matrix<T>) -> &Matrix<T>;

    /// The fraction of the samples whose highest score is their label (0 for an empty batch).
    ///
    /// # Panics
    /// If `labels` has not one entry per column of `x`.
    fn accuracy(&mut self, x: &Matrix<T>, labels: &[u8]) -> f64 {
        assert_eq!(
            labels.len(),
            x.ncols(),
            "{} labels for {} samples",
            labels.len(),
            x.ncols()
        );
        if labels.is_empty() {
            return 0.0;
        }
        count_matches(self.predict(x), labels) as f64 / labels.len() as f64
    }

    /// Calls `f` on each matrix of model state: values that are not trained by gradients but
    /// belong to the model (batch norm's running mean and variance), in a fixed order.
    fn visit_state(&mut self, f: &mut dyn FnMut(State<'_, T>)) {
        let _ = f;
    }

    /// Calls `f` on each counter of random draws, in a fixed order: the training step of each
    /// dropout layer (see [`Layer::visit_steps`](crate::layers::Layer::visit_steps)). With the
    /// parameters and state, what a run must keep to go on exactly where it stopped; networks
    /// without randomness have none.
    fn visit_steps(&mut self, f: &mut dyn FnMut(&mut u64)) {
        let _ = f;
    }

    /// A copy of the parameters and state, in its current mode, without the buffers of the
    /// forward and backward passes: what an evaluation beside the training loop scores.
    fn snapshot(&self) -> Self;
}

/// How many columns of `scores` have their highest value at their label.
pub fn count_matches<T: Float>(scores: &Matrix<T>, labels: &[u8]) -> usize {
    argmax_columns(scores)
        .zip(labels)
        .filter(|&(predicted, &label)| predicted == usize::from(label))
        .count()
}
