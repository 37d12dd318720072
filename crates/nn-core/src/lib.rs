//! The layers, losses and gradients of *Deep Learning from Scratch* (O'Reilly Japan), chapters 3
//! to 8 (from the perceptron's activations to DeepConvNet), in Rust on
//! [nalgebra](https://nalgebra.rs).
//!
//! # From the book's NumPy to this crate
//!
//! The book stores a batch as `x` of shape `(N, 784)`, one sample per **row**, and computes
//! `x·W + b`. nalgebra stores matrices column by column, so the very same memory is our matrix
//! of shape `(784, N)`: one sample per **column**. The weights keep the book's shapes (`W1` is
//! `(784, 50)`), and every formula is the book's, transposed:
//!
//! | book (NumPy, rows)                  | here (nalgebra, columns)              |
//! |-------------------------------------|---------------------------------------|
//! | `x` `(N, 784)`                      | `x` `(784, N)`                        |
//! | `y = np.dot(x, W) + b`              | `y = Wᵀ·x + b`                        |
//! | `dx = np.dot(dout, W.T)`            | `dx = W·dout`                         |
//! | `dW = np.dot(x.T, dout)`            | `dW = x·doutᵀ`                        |
//! | `db = np.sum(dout, axis=0)`         | `db = Σ_columns dout` (row sums)      |
//! | `np.argmax(y, axis=1)`              | [`functions::argmax_columns`]         |
//! | `loss_W = lambda W: self.loss(x, t)`| [`gradient::numerical_gradient`] hands the loss the network it perturbs |
//!
//! # Map
//!
//! - [`functions`]: `sigmoid`, `relu`, `step`, `softmax`, `cross_entropy_error`, ... (ch. 3–4);
//! - [`gradient`]: `numerical_diff`, `numerical_gradient` (§4.3–4.4); [`integrate`]: the
//!   rectangle and midpoint rules;
//! - [`layers`]: the [`Layer`](layers::Layer) trait, `Affine`, `Sigmoid`, `Relu`,
//!   `SoftmaxWithLoss`, `MulLayer`, `AddLayer` (ch. 5), `BatchNorm`, `Dropout` (ch. 6),
//!   `Convolution`, `Pooling` (ch. 7); [`im2col`]: the book's `im2col` and `col2im`;
//! - [`TwoLayerNet`]: the network of §4.5 and §5.7, with its [`TwoLayerConfig`];
//! - [`Init`]: the initial weights of §6.2 (a std, Xavier, He);
//! - [`NetSpec`]: a network of any shape as data (its layers, init, weight decay), and
//!   [`MultiLayerNetConfig`], the arguments of the book's `MultiLayerNetExtend`;
//!   [`Sequential`] builds and runs it (and [`fused`] decides which layers it runs as one);
//! - [`Model`]: what the training loop calls (`loss`, `gradient`, `predict`…), implemented by
//!   both networks; [`Trainable`] is what optimizers see, [`Param`] one parameter with its
//!   gradient;
//! - [`ModelFile`]: any network with its spec, parameters, state and seed, as RON text.
//!
//! Everything is generic over [`Float`] (`f32` to train, `f64` to check gradients). What
//! exists only for speed (matrix products on two cores with the same bits, the convolution
//! kernels, SIMD loops, the fast numerical gradient) is in the [`nn_kernels`] crate beneath,
//! re-exported as [`kernels`]; layers reuse their buffers, and a training step allocates
//! nothing of its own.
//!
//! ```
//! use nn_core::{Matrix, Model, TwoLayerConfig, Targets, Trainable, TwoLayerNet};
//! let mut net = TwoLayerNet::<f32>::new(TwoLayerConfig::default(), 0)?; // 784-50-10, sigmoid
//! let x = Matrix::from_element(784, 100, 0.5_f32); // a batch of 100 grey images
//! let labels = [3_u8; 100];
//! let before = net.gradient(&x, Targets::Labels(&labels));
//! // One step of SGD, W ← W − 0.1·∂L/∂W, as an optimizer in nn-train does it.
//! net.visit_params(&mut |p| p.value.zip_apply(p.grad, |w, g| *w -= 0.1 * g));
//! assert!(net.loss(&x, Targets::Labels(&labels)) < before);
//! # Ok::<(), nn_core::TwoLayerConfigError>(())
//! ```

mod float;
pub mod functions;
pub mod fused;
pub mod gradient;
pub mod im2col;
mod init;
pub mod integrate;
pub mod layers;
mod model;
mod model_file;
mod sequential;
mod spec;
mod targets;
mod two_layer_net;

pub use float::Float;
pub use init::{Init, ParseInitError};
pub use layers::Param;
pub use model::{Model, Trainable, count_matches};
pub use model_file::{FORMAT_VERSION, MAX_FILE_BYTES, ModelError, ModelFile};
pub use nn_kernels as kernels;
pub use nn_kernels::Scalar;
pub use sequential::Sequential;
pub use spec::{
    LayerError, LayerSpec, MAX_LAYERS, MAX_SAMPLE_VALUES, MultiLayerNetConfig, NamedShape, NetSpec,
    Shape, SpecError,
};
pub use targets::Targets;
pub use two_layer_net::{
    Activation, ParseActivationError, TwoLayerConfig, TwoLayerConfigError, TwoLayerGradients,
    TwoLayerNet, TwoLayerParams,
};

/// The matrix type of the whole workspace: a column-major, heap-allocated nalgebra matrix.
/// Batches are `(features, batch)`, one sample per column; biases are `(n, 1)`.
pub type Matrix<T> = nalgebra::DMatrix<T>;
