//! The training loop of *Deep Learning from Scratch* (§4.5): minibatches drawn at random,
//! gradients by backprop (or numerically), parameter updates by an [`Optimizer`], accuracy
//! over the whole train and test data once per epoch, and a [`History`] of it all.
//!
//! The crate knows nothing of file formats: it trains on anything that implements
//! [`Dataset`], reports progress to an [`Observer`] and prints nothing itself.
//!
//! ```
//! use nn_train::{Dataset, Sgd, Silent, TrainConfig, train};
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
//! // The book's chapter-4 run, scaled down: a hidden layer of 4, minibatches of 2.
//! let config = TrainConfig { hidden_size: 4, batch_size: 2, iters: 300, learning_rate: 2.0, ..TrainConfig::default() };
//! let mut sgd = Sgd::new(config.learning_rate as f32);
//! let trained = train(&config, &Pairs, &Pairs, &mut sgd, &mut Silent)?;
//!
//! let history = &trained.history;
//! assert_eq!(history.train_loss.len(), 300);
//! assert!(history.train_loss[299] < 0.1 * history.train_loss[0]); // ln 2 ≈ 0.69 at first
//! assert_eq!(history.last_evaluation().unwrap().test_acc, 1.0);
//! # Ok::<(), nn_train::TrainError>(())
//! ```

mod config;
mod dataset;
mod history;
mod observer;
mod optimizer;
mod trainer;

pub use config::{CheckedConfig, ConfigError, GradientMethod, TrainConfig};
pub use dataset::Dataset;
pub use history::{Evaluation, History};
pub use observer::{Observer, RunInfo, Silent};
pub use optimizer::{Optimizer, Sgd};
pub use trainer::{EVAL_CHUNK, Evaluator, TrainError, Trained, train};
