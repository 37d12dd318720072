//! A network of any shape: the layers of a [`NetSpec`], in order, then `SoftmaxWithLoss`.
//!
//! This is the book's `MultiLayerNet` and `MultiLayerNetExtend` (chapter 6), `SimpleConvNet`
//! (chapter 7) and `DeepConvNet` (chapter 8) made general: their
//! `layers` `OrderedDict`, their `predict`, `loss` (with weight decay), `accuracy`, `gradient`
//! and `numerical_gradient`, for whatever layers the spec lists.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::fused::{self, ConvReluPool};
use crate::gradient::numerical_gradient;
use crate::im2col::Geometry;
use crate::init::gaussian;
use crate::layers::{
    Affine, BatchNorm, Convolution, Dropout, Kind, Layer, Param, Pooling, Relu, Sigmoid,
    SoftmaxWithLoss, State, visit_numbered, visit_state_numbered,
};
use crate::spec::{LayerSpec, NetSpec, SpecError};
use crate::{Float, Matrix, Model, Targets, Trainable};

/// One layer of a [`Sequential`] network.
#[derive(Clone, Debug)]
enum Node<T: Float> {
    Affine(Affine<T>),
    Relu(Relu<T>),
    Sigmoid(Sigmoid<T>),
    BatchNorm(Box<BatchNorm<T>>),
    Dropout(Dropout<T>),
    Convolution(Box<Convolution<T>>),
    Pooling(Box<Pooling<T>>),
    /// A convolution with the ReLU (and pooling) after it, run as one layer (see [`fused`]).
    Fused(Box<ConvReluPool<T>>),
}

impl<T: Float> Node<T> {
    /// The layer itself.
    fn layer(&mut self) -> &mut dyn Layer<T> {
        match self {
            Node::Affine(l) => l,
            Node::Relu(l) => l,
            Node::Sigmoid(l) => l,
            Node::BatchNorm(l) => l.as_mut(),
            Node::Dropout(l) => l,
            Node::Convolution(l) => l.as_mut(),
            Node::Pooling(l) => l.as_mut(),
            Node::Fused(l) => l.as_mut(),
        }
    }

    /// The output of the layer's last forward pass.
    fn output(&self) -> &Matrix<T> {
        match self {
            Node::Affine(l) => l.output(),
            Node::Relu(l) => l.output(),
            Node::Sigmoid(l) => l.output(),
            Node::BatchNorm(l) => l.output(),
            Node::Dropout(l) => l.output(),
            Node::Convolution(l) => l.output(),
            Node::Pooling(l) => l.output(),
            Node::Fused(l) => l.output(),
        }
    }

    /// A copy of the parameters and state, without buffers.
    fn snapshot(&self) -> Self {
        match self {
            Node::Affine(l) => Node::Affine(l.snapshot()),
            Node::Relu(_) => Node::Relu(Relu::new()),
            Node::Sigmoid(_) => Node::Sigmoid(Sigmoid::new()),
            Node::BatchNorm(l) => Node::BatchNorm(Box::new(l.snapshot())),
            Node::Dropout(l) => Node::Dropout(l.snapshot()),
            Node::Convolution(l) => Node::Convolution(Box::new(l.snapshot())),
            Node::Pooling(l) => Node::Pooling(Box::new(l.snapshot())),
            Node::Fused(l) => Node::Fused(Box::new(l.snapshot())),
        }
    }

    /// Each parameter with its gradient, mutably (for the numerical gradient).
    fn params_and_grads(&mut self) -> Vec<(&mut Matrix<T>, &mut Matrix<T>)> {
        match self {
            Node::Affine(l) => vec![(&mut l.w, &mut l.dw), (&mut l.b, &mut l.db)],
            Node::BatchNorm(l) => vec![(&mut l.gamma, &mut l.dgamma), (&mut l.beta, &mut l.dbeta)],
            Node::Convolution(l) => vec![(&mut l.w, &mut l.dw), (&mut l.b, &mut l.db)],
            Node::Fused(l) => vec![
                (&mut l.conv.w, &mut l.conv.dw),
                (&mut l.conv.b, &mut l.conv.db),
            ],
            Node::Relu(_) | Node::Sigmoid(_) | Node::Dropout(_) | Node::Pooling(_) => Vec::new(),
        }
    }
}

/// A network built from a [`NetSpec`]: its layers in order, then
/// [`SoftmaxWithLoss`]. Parameters are named as the book numbers them ([`NetSpec::numbers`]):
/// `W1`, `b1` for the first affine (or convolution) layer, `gamma1`, `beta1` for the first
/// batch norm...
///
/// The weights start as `std · N(0, 1)` (see [`Init`](crate::Init)) drawn layer by layer from a
/// ChaCha8 generator seeded with the given seed, as [`TwoLayerNet`](crate::TwoLayerNet) draws
/// them: the spec `[Affine(50), Sigmoid, Affine(10)]` with `Std(0.01)` starts from exactly the
/// weights of the `TwoLayerNet` of the same seed.
///
/// A convolution followed by ReLU (and max pooling) runs as one fused layer (see
/// [`fused`](crate::fused)), which computes the same bits as the separate layers.
///
/// ```
/// use nn_core::{Init, LayerSpec::*, Matrix, Model, NetSpec, Sequential, Shape, Targets, Trainable};
/// let spec = NetSpec {
///     input: Shape::flat(4),
///     layers: vec![Affine { out: 8 }, BatchNorm, Relu, Affine { out: 3 }],
///     init: Init::He,
///     weight_decay: 0.01,
/// };
/// let mut net = Sequential::<f64>::new(spec, 42)?;
/// let mut twin = net.snapshot(); // the same parameters and state
/// let x = Matrix::from_fn(4, 6, |i, n| ((i + 2 * n) % 5) as f64 / 4.0);
/// let labels = [0, 1, 2, 0, 1, 2];
/// net.gradient(&x, Targets::Labels(&labels)); // backprop
/// twin.numerical_gradient(&x, Targets::Labels(&labels)); // central differences
/// for ((name, b), (_, n)) in net.named_gradients().iter().zip(twin.named_gradients()) {
///     let diff = (b - n).abs().mean();
///     assert!(diff < 1e-7, "{name}: {diff}");
/// }
/// # Ok::<(), nn_core::SpecError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Sequential<T: Float> {
    spec: NetSpec,
    layers: Vec<Node<T>>,
    /// The book's number of each layer's matrices (1-based), 0 for layers without any.
    numbers: Vec<usize>,
    last_layer: SoftmaxWithLoss<T>,
    weight_decay: T,
    training: bool,
    input_len: usize,
    output_len: usize,
}

impl<T: Float> Sequential<T> {
    /// Builds the network `spec` describes, with weights drawn from `seed`.
    ///
    /// # Errors
    /// The first problem of the spec (see [`NetSpec::check`]).
    pub fn new(spec: NetSpec, seed: u64) -> Result<Self, SpecError> {
        Self::build(spec, seed, true)
    }

    /// Builds the network; with `fuse`, each convolution followed by ReLU (and max pooling) is
    /// one fused layer (see [`fused::plan`]), which computes the same bits.
    pub(crate) fn build(spec: NetSpec, seed: u64, fuse: bool) -> Result<Self, SpecError> {
        let shapes = spec.check()?;
        let spec_numbers = spec.numbers();
        // Weights from stream 0 of the seed's generator (as TwoLayerNet), dropout seeds from
        // stream 2 (nn-train draws minibatches from stream 1).
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut dropout_seeds = ChaCha8Rng::seed_from_u64(seed);
        dropout_seeds.set_stream(2);
        let (mut layers, mut numbers) = (Vec::new(), Vec::new());
        let inputs: Vec<_> = std::iter::once(spec.input)
            .chain(shapes.iter().copied())
            .collect();
        let mut i = 0;
        while i < spec.layers.len() {
            let (layer, input) = (&spec.layers[i], inputs[i]);
            let fan_in = input.len().expect("checked by NetSpec::check");
            let span = if fuse {
                fused::plan(&spec.layers, i)
            } else {
                1
            };
            let node = match *layer {
                LayerSpec::Affine { out } => {
                    let w = gaussian(fan_in, out, spec.init.std(fan_in), &mut rng);
                    Node::Affine(Affine::new(w, Matrix::zeros(out, 1)))
                }
                LayerSpec::Relu => Node::Relu(Relu::new()),
                LayerSpec::Sigmoid => Node::Sigmoid(Sigmoid::new()),
                LayerSpec::BatchNorm => Node::BatchNorm(Box::new(BatchNorm::new(fan_in))),
                LayerSpec::Dropout { ratio } => {
                    Node::Dropout(Dropout::new(ratio, dropout_seeds.random()))
                }
                LayerSpec::Convolution { filters, .. } => {
                    let window = layer.window().expect("a convolution has a window");
                    // One filter per row, in C, FH, FW order: NumPy's randn(FN, C, FH, FW).
                    let fan_in = input.channels * window.height * window.width;
                    let w = gaussian(filters, fan_in, spec.init.std(fan_in), &mut rng);
                    let b = Matrix::zeros(filters, 1);
                    let conv =
                        Convolution::new(w, b, input, window).expect("checked by NetSpec::check");
                    match span {
                        1 => Node::Convolution(Box::new(conv)),
                        _ => {
                            let pool = (span == 3).then(|| {
                                let window = spec.layers[i + 2].window().expect("a pooling window");
                                Geometry::new(shapes[i + 1], window)
                                    .expect("checked by NetSpec::check")
                            });
                            let fused =
                                ConvReluPool::new(conv, pool).expect("checked by NetSpec::check");
                            Node::Fused(Box::new(fused))
                        }
                    }
                }
                LayerSpec::Pooling { .. } => {
                    let window = layer.window().expect("a pooling layer has a window");
                    let pool = Pooling::new(input, window).expect("checked by NetSpec::check");
                    Node::Pooling(Box::new(pool))
                }
            };
            layers.push(node);
            numbers.push(spec_numbers[i]);
            i += span;
        }
        Ok(Sequential {
            input_len: spec.input.len().expect("checked by NetSpec::check"),
            output_len: shapes
                .last()
                .and_then(|s| s.len())
                .expect("checked by NetSpec::check"),
            weight_decay: T::of_f64(spec.weight_decay),
            spec,
            layers,
            numbers,
            last_layer: SoftmaxWithLoss::new(),
            training: true,
        })
    }

    /// The same network with every layer run on its own, none fused, holding the same
    /// parameters and state.
    fn unfused(&mut self) -> Self {
        let mut plain = Self::build(self.spec.clone(), 0, false).expect("a valid network's spec");
        let mut values = Vec::new();
        self.visit_params(&mut |p| values.push(p.value.clone()));
        self.visit_state(&mut |s| values.push(s.value.clone()));
        let mut values = values.into_iter();
        plain.visit_params(&mut |p| *p.value = values.next().expect("the same parameters"));
        plain.visit_state(&mut |s| *s.value = values.next().expect("the same state"));
        plain
    }

    /// Runs the batch `x` through the layers in inference mode (as [`Model::predict`]) and
    /// hands `f` the output of each layer of the spec, with the layer's position and spec: the
    /// activations the book plots in `weight_init_activation_histogram.py` (§6.2.2), a
    /// convolution's feature maps. Layers that the network runs fused are run one by one here,
    /// so that every layer's own output is seen.
    ///
    /// ```
    /// use nn_core::{Init, LayerSpec::*, Matrix, NetSpec, Sequential, Shape};
    /// let spec = NetSpec {
    ///     input: Shape::flat(3),
    ///     layers: vec![Affine { out: 4 }, Sigmoid, Affine { out: 2 }],
    ///     init: Init::Xavier,
    ///     weight_decay: 0.0,
    /// };
    /// let mut net = Sequential::<f64>::new(spec, 0)?;
    /// let mut shapes = Vec::new();
    /// net.inspect_layers(&Matrix::zeros(3, 5), |i, layer, out| {
    ///     shapes.push((i, layer.to_string(), out.shape()));
    ///     if *layer == Sigmoid {
    ///         assert!(out.iter().all(|&a| a == 0.5)); // zero inputs, zero biases
    ///     }
    /// });
    /// assert_eq!(shapes[1], (1, "Sigmoid".to_string(), (4, 5)));
    /// assert_eq!(shapes.len(), 3);
    /// # Ok::<(), nn_core::SpecError>(())
    /// ```
    ///
    /// # Panics
    /// If `x` does not have [`Model::input_len`] rows.
    pub fn inspect_layers(
        &mut self,
        x: &Matrix<T>,
        mut f: impl FnMut(usize, &LayerSpec, &Matrix<T>),
    ) {
        assert_eq!(
            x.nrows(),
            self.input_len,
            "a batch of {} values per sample for a network of {} inputs",
            x.nrows(),
            self.input_len
        );
        let mut plain = if self.layers.len() == self.spec.layers.len() {
            self.snapshot()
        } else {
            self.unfused()
        };
        plain.set_training(false);
        let mut out = x;
        for (i, (node, spec)) in plain.layers.iter_mut().zip(&plain.spec.layers).enumerate() {
            out = node.layer().forward(out);
            f(i, spec, out);
        }
    }

    /// Switches every layer to training or inference mode, if it is not in it already.
    fn set_training(&mut self, training: bool) {
        if self.training != training {
            for node in &mut self.layers {
                node.layer().set_training(training);
            }
            self.training = training;
        }
    }

    /// The weight decay term of the loss: `λ·½ Σ ‖W‖²` over every weight matrix.
    fn weight_decay_loss(&mut self) -> T {
        let lambda = self.weight_decay;
        if lambda == T::zero() {
            return T::zero();
        }
        let mut sum = T::zero();
        self.visit_params(&mut |p| {
            if p.name.kind == Kind::Weight {
                sum += p.value.norm_squared();
            }
        });
        lambda * sum / (T::one() + T::one())
    }

    /// The gradient of the weight decay term, `λ·W`, added to every weight matrix's gradient:
    /// the matrices [`weight_decay_loss`](Self::weight_decay_loss) sums.
    fn add_weight_decay(&mut self) {
        let lambda = self.weight_decay;
        if lambda == T::zero() {
            return;
        }
        self.visit_params(&mut |p| {
            if p.name.kind == Kind::Weight {
                p.grad.zip_apply(p.value, |g, w| *g += lambda * w);
            }
        });
    }

    /// The `i`-th parameter and its gradient, in the order of `visit_params`.
    fn param_and_grad(&mut self, i: usize) -> (&mut Matrix<T>, &mut Matrix<T>) {
        self.layers
            .iter_mut()
            .flat_map(Node::params_and_grads)
            .nth(i)
            .expect("a parameter of this index")
    }
}

/// Runs the layers' forward passes, the first one on the caller's `x`, each other one on the
/// output of the layer before, which stays there until the backward pass, and returns the last
/// layer's output.
fn forward<'a, T: Float>(layers: &'a mut [Node<T>], x: &Matrix<T>) -> &'a Matrix<T> {
    let (first, rest) = layers.split_first_mut().expect("a network has layers");
    let mut out = first.layer().forward(x);
    for node in rest {
        out = node.layer().forward(out);
    }
    out
}

impl<T: Float> Trainable<T> for Sequential<T> {
    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_, T>)) {
        for (node, &number) in self.layers.iter_mut().zip(&self.numbers) {
            visit_numbered(node.layer(), number, f);
        }
    }
}

impl<T: Float> Model<T> for Sequential<T> {
    fn input_len(&self) -> usize {
        self.input_len
    }

    fn output_len(&self) -> usize {
        self.output_len
    }

    fn spec(&self) -> NetSpec {
        self.spec.clone()
    }

    fn loss(&mut self, x: &Matrix<T>, t: Targets<'_, T>) -> T {
        assert_eq!(
            x.nrows(),
            self.input_len,
            "a batch of {} values per sample for a network of {} inputs",
            x.nrows(),
            self.input_len
        );
        self.set_training(true);
        let scores = forward(&mut self.layers, x);
        let loss = self.last_layer.forward(scores, t);
        loss + self.weight_decay_loss()
    }

    fn backward(&mut self, x: &Matrix<T>) {
        let mut dout = self.last_layer.backward();
        // From the last layer to the second, each given its input: the output of the one before.
        let mut rest = &mut self.layers[..];
        while rest.len() > 1 {
            let (node, before) = std::mem::take(&mut rest)
                .split_last_mut()
                .expect("two layers or more");
            let previous = before.last().expect("two layers or more");
            dout = node
                .layer()
                .backward(previous.output(), dout, true)
                .expect("dx was asked for");
            rest = before;
        }
        rest[0].layer().backward(x, dout, false);
        self.add_weight_decay();
    }

    /// Central differences on every parameter, each loss in training mode (as the book's
    /// `numerical_gradient`), with the same dropout masks as the backward pass would use. The
    /// state (batch norm's running statistics) is restored afterwards, then updated once, by
    /// the loss this returns.
    fn numerical_gradient(&mut self, x: &Matrix<T>, t: Targets<'_, T>) -> T {
        let mut state = Vec::new();
        self.visit_state(&mut |s| state.push(s.value.clone()));
        let count = self
            .layers
            .iter_mut()
            .map(|n| n.params_and_grads().len())
            .sum();
        let grads: Vec<Matrix<T>> = (0..count)
            .map(|i| {
                numerical_gradient(
                    |net: &mut Self| net.loss(x, t),
                    self,
                    |net| net.param_and_grad(i).0,
                )
            })
            .collect();
        for (i, grad) in grads.into_iter().enumerate() {
            *self.param_and_grad(i).1 = grad;
        }
        let mut saved = state.into_iter();
        self.visit_state(&mut |s| *s.value = saved.next().expect("the same state"));
        let loss = self.loss(x, t);
        for node in &mut self.layers {
            if let Node::Dropout(dropout) = node {
                dropout.next_step();
            }
        }
        loss
    }

    fn predict(&mut self, x: &Matrix<T>) -> &Matrix<T> {
        self.set_training(false);
        forward(&mut self.layers, x)
    }

    fn visit_state(&mut self, f: &mut dyn FnMut(State<'_, T>)) {
        for (node, &number) in self.layers.iter_mut().zip(&self.numbers) {
            visit_state_numbered(node.layer(), number, f);
        }
    }

    fn visit_steps(&mut self, f: &mut dyn FnMut(&mut u64)) {
        for node in &mut self.layers {
            node.layer().visit_steps(f);
        }
    }

    fn snapshot(&self) -> Self {
        Sequential {
            spec: self.spec.clone(),
            layers: self.layers.iter().map(Node::snapshot).collect(),
            numbers: self.numbers.clone(),
            last_layer: SoftmaxWithLoss::new(),
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shape;

    /// A fused convolution (+ ReLU + pooling) computes the very bits of the separate layers:
    /// scores, loss and every gradient, with and without the first layer's `dx`, with overlapping
    /// and padded pooling windows.
    #[test]
    fn fused_layers_compute_the_bits_of_the_separate_ones() {
        let conv = |filters, size, stride, pad| LayerSpec::Convolution {
            filters,
            size,
            stride,
            pad,
        };
        let pool = |size, stride, pad| LayerSpec::Pooling { size, stride, pad };
        let specs = [
            NetSpec::simple_conv_net(Shape::new(1, 28, 28), 10),
            NetSpec::deep_conv_net(Shape::new(1, 28, 28), 10),
            NetSpec {
                input: Shape::new(2, 9, 9),
                layers: vec![
                    conv(3, 3, 1, 1),
                    LayerSpec::Relu,
                    pool(3, Some(1), 1),
                    conv(4, 2, 2, 0),
                    LayerSpec::Relu,
                    conv(2, 1, 1, 0),
                    LayerSpec::Sigmoid,
                    pool(2, None, 0),
                    LayerSpec::Affine { out: 3 },
                ],
                init: crate::Init::He,
                weight_decay: 0.01,
            },
        ];
        for spec in specs {
            let inputs = spec.input.len().unwrap();
            let classes = spec.output_len().unwrap();
            let x =
                Matrix::<f32>::from_fn(inputs, 40, |i, n| ((i * 7 + n * 13) % 31) as f32 / 31.0);
            let labels: Vec<u8> = (0..40).map(|n| (n % classes) as u8).collect();
            let mut fused = Sequential::<f32>::build(spec.clone(), 3, true).unwrap();
            let mut plain = Sequential::<f32>::build(spec.clone(), 3, false).unwrap();
            assert!(
                fused.layers.len() < plain.layers.len(),
                "{spec}: nothing fused"
            );
            for _ in 0..2 {
                let t = Targets::Labels(&labels);
                assert_eq!(fused.gradient(&x, t), plain.gradient(&x, t), "{spec}: loss");
                assert_eq!(
                    fused.named_gradients(),
                    plain.named_gradients(),
                    "{spec}: gradients"
                );
                // An update, so that the second round starts from other weights.
                for net in [&mut fused, &mut plain] {
                    net.visit_params(&mut |p| p.value.zip_apply(p.grad, |w, g| *w -= 0.5 * g));
                }
            }
            assert_eq!(fused.predict(&x), plain.predict(&x), "{spec}: scores");
            // A snapshot keeps the fusion.
            let mut copy = fused.snapshot();
            assert_eq!(copy.layers.len(), fused.layers.len());
            assert_eq!(copy.predict(&x), plain.predict(&x));
        }
    }
}
