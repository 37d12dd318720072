//! `experiment init`: the book's `ch06/weight_init_compare.py` (§6.2.4, fig. 6-15).
//!
//! The 784-100-100-100-100-10 ReLU network of `optimizers`, started with weights of std 0.01,
//! Xavier's or He's, trained by SGD (lr 0.01) on MNIST minibatches of 128 for 2000 iterations.
//! With std 0.01 the signal fades layer after layer and the loss stays near ln 10 ≈ 2.30; He's
//! weights learn fastest. `--quick`: 500 iterations.

use anyhow::Result;
use nn_core::Init;
use nn_train::OptimizerKind;

use super::loss_curves::{self, Contender};
use super::optimizer_compare_mnist::network;
use super::{Context, table};

/// The book's `max_iterations`.
const ITERS: usize = 2000;
/// `--quick`'s.
const QUICK_ITERS: usize = 500;

/// The book's `weight_init_types`.
const INITS: [(&str, Init); 3] = [
    ("std=0.01", Init::Std(0.01)),
    ("Xavier", Init::Xavier),
    ("He", Init::He),
];

/// Runs the experiment.
pub fn run(ctx: &Context) -> Result<()> {
    let (_, _, input) = ctx.splits()?;
    let contenders: Vec<Contender> = INITS
        .iter()
        .map(|&(label, init)| Contender {
            label: label.to_string(),
            spec: network(input, init),
            optimizer: OptimizerKind::Sgd.with_lr(0.01),
        })
        .collect();
    let iters = if ctx.quick { QUICK_ITERS } else { ITERS };
    let compared = loss_curves::train_all(ctx, &contenders, iters)?;

    // The smoothed loss at a quarter, half and all of the run.
    let marks = [iters / 4, iters / 2, iters];
    let rows: Vec<Vec<String>> = contenders
        .iter()
        .zip(&compared)
        .map(|(c, r)| {
            let mut row = vec![c.label.clone()];
            for &m in &marks {
                row.push(match r.smoothed.get(m - 1) {
                    Some(l) => format!("{l:.4}"),
                    None => "-".into(),
                });
            }
            row.push(r.test_acc());
            row
        })
        .collect();
    let headers: Vec<String> = marks.iter().map(|m| format!("loss @ {m}")).collect();
    let mut header = vec!["init"];
    header.extend(headers.iter().map(String::as_str));
    header.push("test acc");
    print!("{}", table(&header, &rows));
    println!("(loss: smoothed, as plotted)");

    let title = ctx.title(&format!(
        "Weight initialisation: 4×100 ReLU on {}, SGD lr 0.01",
        ctx.dataset_title()
    ));
    let svg = loss_curves::figure(&title, &contenders, &compared, 2.5)?;
    ctx.write(&svg, |w| loss_curves::write_csv(w, &contenders, &compared))
}
