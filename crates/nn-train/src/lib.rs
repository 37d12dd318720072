//! The training loop of *Deep Learning from Scratch* (§4.5 and the `Trainer` of chapters 6 to
//! 8): minibatches drawn at random, gradients by backprop (or numerically), parameter updates by
//! an optimizer (§6.1), accuracy once per epoch, and a [`History`] of it all.
//!
//! The crate trains anything that implements nn-core's [`Model`](nn_core::Model) (the book's
//! `TwoLayerNet`, or a [`Sequential`](nn_core::Sequential) stack of any shape) on anything that
//! implements [`Dataset`]; it knows nothing of file formats, reports progress to an
//! [`Observer`] and prints nothing itself.
//!
//! | book                                   | here                                   |
//! |----------------------------------------|----------------------------------------|
//! | `train_neuralnet.py`, `Trainer`        | [`train`] (`trainer.rs`)               |
//! | `SGD`, `Momentum`, `Nesterov`, `AdaGrad`, `RMSprop`, `Adam` | [`optimizer`] |
//! | `train_loss_list`, `train_acc_list`... | [`History`]                            |
//! | (none: the book's runs cannot resume)  | [`train_with`], [`Checkpoints`], [`RunState`] |
//!
//! ```
//! use nn_core::{Init, LayerSpec, NetSpec, Sequential, Shape};
//! use nn_train::{Dataset, Length, OptimizerSpec, Silent, TrainConfig, train};
//!
//! /// Two-pixel images: class 0 lights the first pixel, class 1 the second.
//! struct Pairs;
//! impl Dataset for Pairs {
//!     fn len(&self) -> usize { 2 }
//!     fn input_size(&self) -> usize { 2 }
//!     fn num_classes(&self) -> usize { 2 }
//!     fn pixels(&self, i: usize) -> &[u8] { [[255, 0], [0, 255]][i].as_slice() }
//!     fn label(&self, i: usize) -> u8 { i as u8 }
//! }
//!
//! // A stack of two hidden ReLU layers trained by Adam, on minibatches of 2.
//! let spec = NetSpec {
//!     input: Shape::flat(2),
//!     layers: vec![
//!         LayerSpec::Affine { out: 8 }, LayerSpec::Relu,
//!         LayerSpec::Affine { out: 8 }, LayerSpec::Relu,
//!         LayerSpec::Affine { out: 2 },
//!     ],
//!     init: Init::He,
//!     weight_decay: 0.0,
//! };
//! let network = Sequential::<f32>::new(spec, 42)?;
//! let config = TrainConfig {
//!     batch_size: 2,
//!     length: Length::Iters(200),
//!     optimizer: OptimizerSpec::Adam { lr: 0.01, beta1: 0.9, beta2: 0.999 },
//!     ..TrainConfig::default()
//! };
//! let trained = train(&config.check()?, network, &Pairs, &Pairs, &mut Silent)?;
//!
//! let history = &trained.history;
//! assert_eq!(history.train_loss.len(), 200);
//! assert!(history.train_loss[199] < 0.1 * history.train_loss[0]);
//! assert_eq!(history.last_evaluation().unwrap().test_acc, 1.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod batch;
mod config;
mod dataset;
mod evaluation;
mod history;
mod observer;
pub mod optimizer;
mod resume;
mod trainer;

pub use config::{CheckedConfig, ConfigError, GradientMethod, Length, MAX_ITERS, TrainConfig};
pub use dataset::{Dataset, Subset};
pub use evaluation::{EVAL_CHUNK, Evaluator};
pub use history::{Evaluation, History};
pub use observer::{Observer, RunInfo, Silent};
pub use optimizer::{Optimizer, OptimizerError, OptimizerKind, OptimizerSpec, OptimizerState, Sgd};
pub use resume::{Checkpoint, CheckpointReason, Checkpoints, ResumeError, RunState};
pub use trainer::{TrainError, Trained, train, train_with};
