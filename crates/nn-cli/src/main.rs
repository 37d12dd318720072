//! `nn-cli`: train the networks of *Deep Learning from Scratch* on MNIST, then ask them
//! about the test set or about a digit you drew.
//!
//! ```text
//! nn-cli train                 # the book's chapter-4 run: fetch MNIST if missing, train, save
//! nn-cli train --resume data/params.ckpt               # go on with a run stopped by Ctrl-C
//! nn-cli train --dataset fashion                       # Fashion-MNIST instead of the digits
//! nn-cli train --hidden 100,100,100,100 --activation relu --init he --optimizer adam --batch-norm
//! nn-cli predict               # the first 10 test images: `7 == 7: o`
//! nn-cli predict --image 3.png --ascii
//! nn-cli eval                  # test accuracy, per class, confusion matrix
//! nn-cli eval --misclassified data/misclassified.svg   # and the first 20 errors, drawn
//! nn-cli filters --model data/simple.ron              # a CNN's first-layer filters (SVG)
//! nn-cli serve --model data/params.ron  # a page on 127.0.0.1:8080: draw a digit, see the answer
//! nn-cli gradcheck             # numerical against backprop gradients, in f64
//! nn-cli experiment init       # a chapter-6 experiment and its figure (--help lists them)
//! nn-cli book gates            # one of the book's smaller scripts, chapters 2 to 8 (--help)
//! nn-cli book-check            # every number the book publishes, ours beside it, in one table
//! ```

mod book;
mod book_check;
mod checkpoint;
mod data;
mod eval;
mod experiment;
mod export;
mod figures;
mod files;
mod filters;
mod gradcheck;
mod image;
mod import;
mod limits;
mod model;
mod plot;
mod predict;
mod serve;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Train, evaluate and query the networks of Deep Learning from Scratch on MNIST.
#[derive(Parser)]
#[command(name = "nn-cli", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a network on MNIST or Fashion-MNIST (fetching it if missing): the book's two-layer
    /// network by default, or a deeper one of chapter 6, or a CNN; save the model, the history
    /// CSV and the plot, and checkpoints that --resume goes on from.
    Train(Box<train::TrainArgs>),
    /// Classify the first test images, or your own digit with --image.
    Predict(predict::PredictArgs),
    /// Test accuracy, per-class accuracy and the confusion matrix of a saved model.
    Eval(eval::EvalArgs),
    /// Import the book's trained weights (.npz or .pkl of ch03's sample_weight, SimpleConvNet or
    /// DeepConvNet) into a model file.
    Import(import::ImportArgs),
    /// Export a model file: ONNX, the book's .npz or .pkl (NumPy, the book's Python classes),
    /// or safetensors.
    Export(export::ExportArgs),
    /// Compare numerical and backprop gradients on the first training samples (3 by default),
    /// in f64, as the book does, of a fresh two-layer network or of a saved model; fails when a
    /// mean difference exceeds 1e-6.
    Gradcheck(gradcheck::GradcheckArgs),
    /// Run one of chapter 6's experiments (or all) and draw the book's figure: optimizers,
    /// weight initialisation, batch norm, weight decay, dropout, hyper-parameter search.
    Experiment(experiment::ExperimentArgs),
    /// Draw the first convolution's filters of a CNN model before and after training (SVG).
    Filters(filters::FiltersArgs),
    /// Compute every number the book publishes (truth tables, activations, losses, gradients,
    /// the apples, the optimizers' paths, the accuracies of its trained weights) and print one
    /// table: the book's figure, ours, whether they agree; fails when one does not.
    BookCheck(book_check::BookCheckArgs),
    /// Run one of the book's smaller scripts of chapters 2 to 8 (gates, activations,
    /// mnist-show, gradients, simplenet, apples, conv-gradcheck, apply-filter, half-float)
    Book(book::BookArgs),
    /// Serve a page on 127.0.0.1 to draw a digit on and watch the network decide: the
    /// probabilities, the 28x28 input it sees, its first layer, and test images to load.
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Keep the second core spinning for a moment between split products (nn-kernels' keeper):
    // a binary's choice, which changes speed and never a result.
    nn_core::kernels::keep_warm(true);
    let result = check_thread_env().and_then(|()| match cli.command {
        Command::Train(args) => train::run(*args),
        Command::Predict(args) => predict::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Gradcheck(args) => gradcheck::run(args),
        Command::Experiment(args) => experiment::run(args),
        Command::Import(args) => import::run(args),
        Command::Export(args) => export::run(args),
        Command::Filters(args) => filters::run(args),
        Command::BookCheck(args) => book_check::run(args),
        Command::Book(args) => book::run(args),
        Command::Serve(args) => serve::run(args),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The message and its causes, without the backtrace anyhow adds when
            // RUST_BACKTRACE is set: these are user errors, not bugs.
            eprintln!("error: {}", files::escaped(&error.to_string()));
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {}", files::escaped(&cause.to_string()));
            }
            ExitCode::FAILURE
        }
    }
}

/// Refuses a `RAYON_NUM_THREADS` above what makes sense on this machine (rayon's pools read it
/// when no thread count is given): 1000 threads took 20 times longer than the 2 cores do.
fn check_thread_env() -> anyhow::Result<()> {
    let Some(value) = std::env::var_os("RAYON_NUM_THREADS") else {
        return Ok(());
    };
    let max = train::max_threads();
    match value.to_str().and_then(|v| v.trim().parse::<usize>().ok()) {
        Some(n) if n > max => anyhow::bail!(
            "RAYON_NUM_THREADS={n} is more than makes sense on this machine: use at most {max} \
             (four per core), or unset it to use every core"
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::files::escaped;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            escaped("model\nfile \u{1b}[31mred.ron: é ×"),
            "model\\nfile \\u{1b}[31mred.ron: é ×"
        );
    }
}
