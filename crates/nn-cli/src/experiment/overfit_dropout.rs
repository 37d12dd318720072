//! `experiment dropout`: the book's `ch06/overfit_dropout.py` (§6.4.3, figs. 6-22 and 6-23).
//!
//! The overfitting network of `weight-decay` (`MultiLayerNetExtend`, six hidden ReLU layers of
//! 100, He weights) on the first 300 training images, trained by the book's `Trainer` (SGD, lr
//! 0.01, minibatches of 100) for 301 epochs, without and with dropout (ratio 0.2, after each
//! hidden activation; the book edits `use_dropout` between two runs, here they go side by
//! side). Dropout keeps the training accuracy from reaching 100% and the gap to the test
//! accuracy smaller. `--quick`: 101 epochs, each evaluation on the first 1000 test images.

use anyhow::Result;
use nn_core::MultiLayerNetConfig;

use super::Context;
use super::overfit_weight_decay::{Variant, compare, network};

/// The book's `epochs=301`, and `--quick`'s.
const EPOCHS: [usize; 2] = [301, 101];
/// The book's `dropout_ratio`.
const RATIO: f64 = 0.2;

/// Runs the experiment.
pub fn run(ctx: &Context) -> Result<()> {
    let variants: Vec<Variant> = [None, Some(RATIO)]
        .into_iter()
        .map(|dropout| Variant {
            label: match dropout {
                None => "without dropout".into(),
                Some(ratio) => format!("dropout {ratio}"),
            },
            net: MultiLayerNetConfig {
                dropout,
                ..network()
            },
        })
        .collect();
    compare(ctx, &variants, EPOCHS, "network")
}
