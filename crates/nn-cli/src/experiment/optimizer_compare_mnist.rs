//! `experiment optimizers`: the book's `ch06/optimizer_compare_mnist.py` (§6.1.8, fig. 6-9).
//!
//! The book's `MultiLayerNet` with its defaults (784-100-100-100-100-10, ReLU, He weights),
//! trained on MNIST minibatches of 128 for 2000 iterations by SGD, Momentum, AdaGrad (lr 0.01)
//! and Adam (lr 0.001), the book's class defaults. The smoothed loss curves show SGD far above
//! the three others. `--quick`: 300 iterations.

use anyhow::Result;
use nn_core::{Activation, Init, MultiLayerNetConfig, NetSpec, Shape};
use nn_train::OptimizerKind;

use super::loss_curves::{self, Contender};
use super::{Context, table};

/// The book's `max_iterations`.
const ITERS: usize = 2000;
/// `--quick`'s.
const QUICK_ITERS: usize = 300;

/// The book's `MultiLayerNet(input_size=784, hidden_size_list=[100, 100, 100, 100],
/// output_size=10)`: ReLU and He weights are its defaults.
pub fn network(input: Shape, init: Init) -> NetSpec {
    MultiLayerNetConfig {
        hidden: vec![100; 4],
        activation: Activation::Relu,
        init,
        ..MultiLayerNetConfig::default()
    }
    .spec(input, 10)
}

/// Runs the experiment.
pub fn run(ctx: &Context) -> Result<()> {
    let (_, _, input) = ctx.splits()?;
    let contenders: Vec<Contender> = [
        OptimizerKind::Sgd,
        OptimizerKind::Momentum,
        OptimizerKind::AdaGrad,
        OptimizerKind::Adam,
    ]
    .into_iter()
    .map(|kind| Contender {
        label: kind.name().to_string(),
        spec: network(input, Init::He),
        optimizer: kind.with_lr(kind.class_lr()),
    })
    .collect();
    let iters = if ctx.quick { QUICK_ITERS } else { ITERS };
    let compared = loss_curves::train_all(ctx, &contenders, iters)?;

    let rows: Vec<Vec<String>> = contenders
        .iter()
        .zip(&compared)
        .map(|(c, r)| {
            vec![
                c.label.clone(),
                c.optimizer.lr().to_string(),
                format!("{:.4}", r.final_loss()),
                r.test_acc(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["optimizer", "lr", "loss (last 100 iterations)", "test acc"],
            &rows
        )
    );

    let title = ctx.title(&format!(
        "Optimizers on {}: 4×100 ReLU, He, batch {}",
        ctx.dataset_title(),
        loss_curves::BATCH
    ));
    let svg = loss_curves::figure(&title, &contenders, &compared, 1.0)?;
    ctx.write(&svg, |w| loss_curves::write_csv(w, &contenders, &compared))
}
