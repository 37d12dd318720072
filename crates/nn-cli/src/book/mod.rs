//! `nn-cli book <script>`: the book's smaller scripts of chapters 2 to 8 that no other command
//! runs, each printing what the book's prints and, where the book draws, writing its figure
//! (`<out>/<script>.svg`) and the figure's data (`<out>/<script>.csv`), atomically.
//!
//! | name             | book script                                                 | file        |
//! |------------------|-------------------------------------------------------------|-------------|
//! | `gates`          | `ch02/and_gate.py`, `nand_gate.py`, `or_gate.py`, `xor_gate.py` | `ch02.rs` |
//! | `activations`    | `ch03/step_function.py`, `sigmoid.py`, `relu.py`, `sig_step_compare.py` | `ch03.rs` |
//! | `mnist-show`     | `ch03/mnist_show.py`                                        | `ch03.rs`   |
//! | `gradients`      | `ch04/gradient_1d.py`, `gradient_2d.py`, `gradient_method.py` | `ch04.rs` |
//! | `simplenet`      | `ch04/gradient_simplenet.py`                                | `ch04.rs`   |
//! | `apples`         | `ch05/buy_apple.py`, `buy_apple_orange.py`                  | `ch05.rs`   |
//! | `conv-gradcheck` | `ch07/gradient_check.py`                                    | `ch07.rs`   |
//! | `apply-filter`   | `ch07/apply_filter.py`                                      | `ch07.rs`   |
//! | `half-float`     | `ch08/half_float_network.py`                                | `ch08.rs`   |

mod ch02;
mod ch03;
mod ch04;
mod ch05;
mod ch07;
mod ch08;

pub use ch04::{BOOK_W, simple_net_gradient};

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};

use crate::files;

/// Options of `book`.
#[derive(Args, Debug)]
pub struct BookArgs {
    /// The book's script to run
    #[arg(value_enum)]
    script: Script,
    /// Folder of the four MNIST IDX files (mnist-show, apply-filter, half-float)
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Folder for the figures (SVG) and their data (CSV)
    #[arg(long, default_value = "data/book")]
    out: PathBuf,
    /// The MNIST image shown (mnist-show) or filtered (apply-filter): its index in --split
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// The MNIST split of --index
    #[arg(long, value_enum, default_value = "train")]
    split: SplitName,
    /// apply-filter: your own digit (a PNG, prepared as `predict --image` does) instead of
    /// an MNIST image
    #[arg(long, value_name = "FILE.png")]
    image: Option<PathBuf>,
    /// apply-filter, half-float: a model file (a CNN for apply-filter) instead of the book's
    /// trained weights
    #[arg(long, value_name = "FILE.ron")]
    model: Option<PathBuf>,
    /// The folder of the book's trained weights (simple_convnet_params.npz for apply-filter,
    /// deep_convnet_params.npz for half-float), used without --model
    #[arg(long, default_value = "../shared/data/book-weights")]
    book_weights: PathBuf,
    /// Seed of the random weights and input (simplenet's W when --random, conv-gradcheck)
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// simplenet: a random W (seeded) instead of the one the book prints
    #[arg(long)]
    random: bool,
}

/// An MNIST split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SplitName {
    /// The 60 000 training images
    Train,
    /// The 10 000 test images
    Test,
}

/// The scripts, in the book's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Script {
    /// Perceptron AND, NAND, OR and XOR: truth tables, and the lines that split the inputs
    /// [ch02/and_gate.py, nand_gate.py, or_gate.py, xor_gate.py]
    Gates,
    /// step, sigmoid and ReLU on [-5, 5), and sigmoid against step [ch03/step_function.py,
    /// sigmoid.py, relu.py, sig_step_compare.py]
    Activations,
    /// An MNIST image and its label, in the terminal and as SVG [ch03/mnist_show.py]
    MnistShow,
    /// numerical_diff and its tangent, the field of -∇(x0² + x1²), gradient descent from
    /// (-3, 4) [ch04/gradient_1d.py, gradient_2d.py, gradient_method.py]
    Gradients,
    /// simpleNet: a 2×3 W, its loss and its numerical gradient [ch04/gradient_simplenet.py]
    Simplenet,
    /// The apples (and oranges): the price forward, every derivative backward
    /// [ch05/buy_apple.py, buy_apple_orange.py]
    Apples,
    /// Numerical against backprop gradients of a small convnet on one random 10×10 image
    /// [ch07/gradient_check.py]
    ConvGradcheck,
    /// The first 16 trained filters, each applied to an image [ch07/apply_filter.py]
    ApplyFilter,
    /// DeepConvNet's test accuracy in f32, then with weights and images in half precision
    /// [ch08/half_float_network.py]
    HalfFloat,
}

impl Script {
    /// The name on the command line and of the output files.
    fn as_str(self) -> &'static str {
        match self {
            Script::Gates => "gates",
            Script::Activations => "activations",
            Script::MnistShow => "mnist-show",
            Script::Gradients => "gradients",
            Script::Simplenet => "simplenet",
            Script::Apples => "apples",
            Script::ConvGradcheck => "conv-gradcheck",
            Script::ApplyFilter => "apply-filter",
            Script::HalfFloat => "half-float",
        }
    }
}

/// Runs `book`.
pub fn run(args: BookArgs) -> Result<()> {
    match args.script {
        Script::Gates => ch02::gates(&args),
        Script::Activations => ch03::activations(&args),
        Script::MnistShow => ch03::mnist_show(&args),
        Script::Gradients => ch04::gradients(&args),
        Script::Simplenet => ch04::simplenet(&args),
        Script::Apples => ch05::apples(),
        Script::ConvGradcheck => ch07::conv_gradcheck(&args),
        Script::ApplyFilter => ch07::apply_filter(&args),
        Script::HalfFloat => ch08::half_float(&args),
    }
}

impl BookArgs {
    /// `<out>/<script>.<extension>`.
    fn path(&self, extension: &str) -> PathBuf {
        self.out
            .join(Path::new(self.script.as_str()).with_extension(extension))
    }

    /// Writes the script's figure and its data, both or neither, and says where.
    fn write(
        &self,
        svg: &str,
        csv: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        let (svg_path, csv_path) = (self.path("svg"), self.path("csv"));
        files::check_outputs(
            &self.data,
            &[],
            &[("--out", &svg_path), ("--out", &csv_path)],
        )?;
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("--out {}: cannot create the folder", self.out.display()))?;
        let mut outputs = files::Outputs::new();
        outputs.write_with(&csv_path, csv)?;
        outputs.write(&svg_path, svg.as_bytes())?;
        outputs.commit()?;
        println!("figure: {}", files::shown(&svg_path));
        println!("data:   {}", files::shown(&csv_path));
        Ok(())
    }

    /// The MNIST split of `--split`.
    fn split(&self) -> Result<mnist_io::Split> {
        let (images, labels) = match self.split {
            SplitName::Train => (mnist_io::TRAIN_IMAGES, mnist_io::TRAIN_LABELS),
            SplitName::Test => (mnist_io::TEST_IMAGES, mnist_io::TEST_LABELS),
        };
        crate::data::load_split(&self.data, mnist_io::Dataset::Mnist, images, labels)
    }

    /// The name of `--split`, as the book's variables (`x_train`, `x_test`).
    fn split_name(&self) -> &'static str {
        match self.split {
            SplitName::Train => "train",
            SplitName::Test => "test",
        }
    }
}
