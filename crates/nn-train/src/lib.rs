//! The training loop of *Deep Learning from Scratch* (§4.5): minibatches drawn at random,
//! gradients by backprop (or numerically), parameter updates by an [`Optimizer`], accuracy
//! over the whole train and test data once per epoch, and a [`History`] of it all.
//!
//! The crate knows nothing of file formats: it trains on anything that implements
//! [`Dataset`], reports progress to an [`Observer`] and prints nothing itself.
//!
//! ```no_run
//! # fn demo(train_data: &dyn nn_train::Dataset, test_data: &dyn nn_train::Dataset) -> Result<(), nn_train::TrainError> {
//! use nn_train::{Sgd, Silent, TrainConfig, train};
//!
//! let config = TrainConfig::default(); // the book's chapter-4 run
//! let mut sgd = Sgd::new(config.learning_rate as f32);
//! let trained = train(&config, train_data, test_data, &mut sgd, &mut Silent)?;
//! println!("test acc {}", trained.history.last_evaluation().unwrap().test_acc);
//! # Ok(()) }
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
