//! `nn-cli book-check`: every number the book and its repository publish, computed here, in one
//! table (the book's script, the book's figure, ours, whether they agree, where the book's figure
//! comes from); fails when a row disagrees.
//!
//! The book's figures are written in this file, each with its source:
//!
//! - **notebook**: the output stored in the repository's `notebooks/chNN.ipynb` (commit
//!   `07b1161`);
//! - **code**: the book's own code (its `common/` and chapter scripts at `07b1161`) run with
//!   NumPy on the same inputs, by hand, where the notebook prints no number or a rounded one;
//! - **weights README**: the accuracies of the book's 2016 trained weights with its own NumPy
//!   code, as `shared/data/book-weights/README.md` records them (the notebooks print those of the
//!   2022 replacement weights, 0.9797 for DeepConvNet).
//!
//! The rows of pure arithmetic take microseconds; the MNIST rows need the test set (`--data`)
//! and the book's weights (`--book-weights`), and take seconds (DeepConvNet twice over 10 000
//! images is most of it).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use half::f16;
use mnist_io::Split;
use nn_core::functions::{self, argmax_columns};
use nn_core::layers::{AddLayer, MulLayer};
use nn_core::{
    Activation, Matrix, Model, Sequential, Targets, Trainable, TwoLayerConfig, TwoLayerNet,
};

use crate::data;
use crate::import::{BookNet, book_network};

/// Options of `book-check`.
#[derive(Args, Debug)]
pub struct BookCheckArgs {
    /// The MNIST folder (for the accuracies and the gradient check)
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// The folder of the book's trained weights: sample_weight.npz, simple_convnet_params.npz,
    /// deep_convnet_params.npz (see shared/data/book-weights/README.md)
    #[arg(long, default_value = "../shared/data/book-weights")]
    book_weights: PathBuf,
}

/// Where a figure of the book comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Notebook(&'static str),
    Code,
    WeightsReadme,
    /// The book's printed text, at a section.
    BookText(&'static str),
    /// The book's script itself run here on the 2016 weights (the notebook shows the 2022
    /// weights' figures).
    ScriptRun(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Notebook(name) => write!(f, "notebooks/{name}.ipynb output"),
            Source::Code => write!(f, "the book's code run in NumPy"),
            Source::BookText(section) => write!(f, "the book's text, {section}"),
            Source::WeightsReadme => {
                write!(f, "book-weights README (the book's code, 2016 weights)")
            }
            Source::ScriptRun(script) => write!(
                f,
                "{script} run in NumPy on the 2016 weights (the notebook's 0.9797 / 0.9798 are \
                 of the 2022 weights)"
            ),
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug)]
pub struct Row {
    /// The book's script.
    pub script: &'static str,
    /// What is computed.
    pub what: String,
    /// The book's figure, as it prints it.
    pub book: String,
    /// Ours, printed the same way.
    pub ours: String,
    /// Whether they agree (to the tolerance the row states).
    pub agree: bool,
    source: Source,
}

/// Runs `book-check`.
pub fn run(args: BookCheckArgs) -> Result<()> {
    let mut rows = arithmetic_rows();
    rows.extend(mnist_rows(&args.data, &args.book_weights)?);
    print!("{}", table(&rows));
    verdict(&rows)?;
    println!("all {} rows agree with the book", rows.len());
    Ok(())
}

/// An error naming every row that disagrees, if any does.
fn verdict(rows: &[Row]) -> Result<()> {
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.agree).collect();
    if !failed.is_empty() {
        let names: Vec<String> = failed
            .iter()
            .map(|r| format!("{} ({})", r.script, r.what))
            .collect();
        bail!(
            "{} of {} rows disagree with the book: {}",
            failed.len(),
            rows.len(),
            names.join("; ")
        );
    }
    Ok(())
}

/// The rows as a Markdown table.
fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| book's script | what | book | ours | agree | book's figure from |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            r.script,
            r.what,
            r.book,
            r.ours,
            if r.agree { "yes" } else { "**NO**" },
            r.source
        ));
    }
    out
}

/// Numbers printed as the book prints them: space-separated, each with `{:?}`-like precision.
fn list(values: &[f64], decimals: usize) -> String {
    let cells: Vec<String> = values.iter().map(|v| format!("{v:.decimals$}")).collect();
    format!("[{}]", cells.join(", "))
}

/// A row comparing numbers, agreeing when each is within `tol` (absolute) of the book's.
fn numbers(
    script: &'static str,
    what: &str,
    book: &[f64],
    ours: &[f64],
    tol: f64,
    decimals: usize,
    source: Source,
) -> Row {
    let agree = book.len() == ours.len()
        && book
            .iter()
            .zip(ours)
            .all(|(b, o)| (b - o).abs() <= tol && o.is_finite());
    Row {
        script,
        what: format!("{what} (±{tol:e})"),
        book: list(book, decimals),
        ours: list(ours, decimals),
        agree,
        source,
    }
}

/// A row comparing printed text exactly.
fn text(script: &'static str, what: &str, book: &str, ours: String, source: Source) -> Row {
    Row {
        script,
        what: what.to_owned(),
        book: book.to_owned(),
        agree: ours == book,
        ours,
        source,
    }
}

/// The truth table of a gate over (0, 0), (1, 0), (0, 1), (1, 1), as the book's scripts print it.
fn truth_table(gate: fn(f64, f64) -> u8) -> String {
    [(0, 0), (1, 0), (0, 1), (1, 1)]
        .map(|(a, b)| format!("({a}, {b}) -> {}", gate(f64::from(a), f64::from(b))))
        .join(", ")
}

/// The rows that need no data: chapters 2 to 6's arithmetic.
pub fn arithmetic_rows() -> Vec<Row> {
    use nn_core::perceptron::{and, nand, or, xor};
    let mut rows = Vec::new();
    let ch02 = Source::Notebook("ch02");
    rows.push(text(
        "ch02/and_gate.py",
        "truth table",
        "(0, 0) -> 0, (1, 0) -> 0, (0, 1) -> 0, (1, 1) -> 1",
        truth_table(and),
        ch02,
    ));
    rows.push(text(
        "ch02/nand_gate.py",
        "truth table",
        "(0, 0) -> 1, (1, 0) -> 1, (0, 1) -> 1, (1, 1) -> 0",
        truth_table(nand),
        ch02,
    ));
    rows.push(text(
        "ch02/or_gate.py",
        "truth table",
        "(0, 0) -> 0, (1, 0) -> 1, (0, 1) -> 1, (1, 1) -> 1",
        truth_table(or),
        ch02,
    ));
    rows.push(text(
        "ch02/xor_gate.py",
        "truth table, AND(NAND, OR)",
        "(0, 0) -> 0, (1, 0) -> 1, (0, 1) -> 1, (1, 1) -> 0",
        truth_table(xor),
        ch02,
    ));

    // Chapter 3's functions on the book's example x = [−1, 1, 2] and a = [0.3, 2.9, 4.0].
    let x = [-1.0, 1.0, 2.0];
    let apply = |f: fn(f64) -> f64| x.map(f).to_vec();
    rows.push(numbers(
        "ch03/step_function.py",
        "step([-1, 1, 2])",
        &[0.0, 1.0, 1.0],
        &apply(functions::step),
        0.0,
        0,
        Source::Code,
    ));
    rows.push(numbers(
        "ch03/sigmoid.py",
        "sigmoid([-1, 1, 2])",
        &[0.2689414213699951, 0.7310585786300049, 0.8807970779778823],
        &apply(functions::sigmoid),
        1e-15,
        8,
        Source::Code,
    ));
    rows.push(numbers(
        "ch03/relu.py",
        "relu([-1, 1, 2])",
        &[0.0, 1.0, 2.0],
        &apply(functions::relu),
        0.0,
        0,
        Source::Code,
    ));
    let a = Matrix::from_column_slice(3, 1, &[0.3, 2.9, 4.0]);
    rows.push(numbers(
        "common/functions.py",
        "softmax([0.3, 2.9, 4.0])",
        &[0.01821127329554753, 0.24519181293507392, 0.7365969137693786],
        functions::softmax(&a).as_slice(),
        1e-15,
        8,
        Source::Code,
    ));

    // Chapter 4: the loss functions on the book's y and t (§4.2), the derivatives (§4.3).
    let y_right = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0];
    let y_wrong = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0];
    let loss = |y: &[f64], f: fn(&Matrix<f64>, Targets<'_, f64>) -> f64| {
        f(&Matrix::from_column_slice(10, 1, y), Targets::Labels(&[2]))
    };
    rows.push(numbers(
        "common/functions.py",
        "cross_entropy_error, t = 2, y(2) = 0.6 then 0.1",
        &[0.510825457099338, 2.302584092994546],
        &[
            loss(&y_right, functions::cross_entropy_error),
            loss(&y_wrong, functions::cross_entropy_error),
        ],
        1e-12,
        12,
        Source::Code,
    ));
    rows.push(numbers(
        "common/functions.py",
        "sum_squared_error, the same y and t",
        &[0.09750000000000003, 0.5975],
        &[
            loss(&y_right, functions::mean_squared_error),
            loss(&y_wrong, functions::mean_squared_error),
        ],
        1e-15,
        4,
        Source::Code,
    ));
    // The book's `0.01*x**2 + 0.1*x`: the square first (`0.01 * x * x` rounds otherwise).
    let function_1 = |x: f64| 0.01 * (x * x) + 0.1 * x;
    rows.push(numbers(
        "ch04/gradient_1d.py",
        "numerical_diff(function_1, 5), (…, 10)",
        &[0.1999999999990898, 0.2999999999986347],
        &[
            nn_core::gradient::numerical_diff(function_1, 5.0),
            nn_core::gradient::numerical_diff(function_1, 10.0),
        ],
        1e-15,
        16,
        Source::Notebook("ch04"),
    ));
    let function_2 = |x: &mut Matrix<f64>| x[0] * x[0] + x[1] * x[1];
    let gradient = |point: [f64; 2]| {
        let mut x = Matrix::from_column_slice(2, 1, &point);
        nn_core::gradient::numerical_gradient(function_2, &mut x, |x| x)
            .as_slice()
            .to_vec()
    };
    for (point, book) in [
        ([3.0, 4.0], [6.00000000000378, 7.999999999999119]),
        ([0.0, 2.0], [0.0, 4.000000000004]),
        ([3.0, 0.0], [6.000000000012662, 0.0]),
    ] {
        rows.push(numbers(
            "ch04/gradient_2d.py",
            &format!("numerical_gradient(function_2, {point:?})"),
            &book,
            &gradient(point),
            1e-11,
            12,
            Source::Code,
        ));
    }
    for (steps, book) in [
        (20, [-0.03458764513817675, 0.04611686018418694]),
        (100, [-6.111107928998789e-10, 8.148143905314271e-10]),
    ] {
        rows.push(numbers(
            "ch04/gradient_method.py",
            &format!("gradient_descent from (-3, 4), lr 0.1, {steps} steps"),
            &book,
            &gradient_descent([-3.0, 4.0], 0.1, steps),
            1e-15,
            if steps == 20 { 8 } else { 12 },
            Source::Code,
        ));
    }

    // simpleNet with the W the book prints (§4.4.2; its random draw, printed to 8 digits, so the
    // book's dW, computed from the unrounded W, is within 1e-6 of ours).
    let (_, dw) = crate::book::simple_net_gradient(crate::book::BOOK_W);
    rows.push(numbers(
        "ch04/gradient_simplenet.py",
        "dW of simpleNet at the book's printed W, x = [0.6, 0.9], t = 2",
        &[
            0.21924763,
            0.14356247,
            -0.36281009,
            0.32887144,
            0.2153437,
            -0.54421514,
        ],
        &[
            dw[(0, 0)],
            dw[(0, 1)],
            dw[(0, 2)],
            dw[(1, 0)],
            dw[(1, 1)],
            dw[(1, 2)],
        ],
        1e-6,
        8,
        Source::BookText("§4.4.2"),
    ));

    // Chapter 5's apples (§5.4): forward price, then every derivative.
    let ch05 = Source::Notebook("ch05");
    rows.push(numbers(
        "ch05/buy_apple.py",
        "price, dApple, dApple_num, dTax",
        &[220.0, 2.2, 110.0, 200.0],
        &buy_apple(),
        1e-12,
        1,
        ch05,
    ));
    rows.push(numbers(
        "ch05/buy_apple_orange.py",
        "price, dApple, dApple_num, dOrange, dOrange_num, dTax",
        &[715.0, 2.2, 110.0, 3.3000000000000003, 165.0, 650.0],
        &buy_apple_orange(),
        1e-12,
        1,
        ch05,
    ));

    // Chapter 6's four optimizers on x²/20 + y² (fig. 6-8): the 30th position of each.
    let book_ends = [
        [-0.3871745809417897, -0.09420257394492468],
        [0.8141121495081877, 0.2728778523795085],
        [-0.13618539990739692, 9.070978726153172e-17],
        [0.02014906471751432, 0.32195722187064785],
    ];
    let optimizers = crate::experiment::optimizer_compare_naive::optimizers();
    for (optimizer, book) in optimizers.iter().zip(book_ends) {
        let &(x, y) = crate::experiment::optimizer_compare_naive::path(optimizer)
            .last()
            .expect("30 positions");
        rows.push(numbers(
            "ch06/optimizer_compare_naive.py",
            &format!(
                "{} lr {} from (-7, 2): 30th position",
                optimizer.kind(),
                optimizer.lr()
            ),
            &book,
            &[x, y],
            1e-12,
            6,
            Source::Code,
        ));
    }
    rows
}

/// The book's `gradient_descent` (`ch04/gradient_method.py`): `x −= lr·∇f(x)` by numerical
/// gradient of `x0² + x1²`, `steps` times.
pub fn gradient_descent(start: [f64; 2], lr: f64, steps: usize) -> Vec<f64> {
    gradient_descent_path(start, lr, steps).0
}

/// [`gradient_descent`] with the book's `x_history`: `x` before each step.
pub fn gradient_descent_path(
    start: [f64; 2],
    lr: f64,
    steps: usize,
) -> (Vec<f64>, Vec<(f64, f64)>) {
    let mut x = Matrix::from_column_slice(2, 1, &start);
    let mut history = Vec::with_capacity(steps);
    for _ in 0..steps {
        history.push((x[0], x[1]));
        let grad = nn_core::gradient::numerical_gradient(
            |x: &mut Matrix<f64>| x[0] * x[0] + x[1] * x[1],
            &mut x,
            |x| x,
        );
        x -= grad * lr;
    }
    (x.as_slice().to_vec(), history)
}

/// `ch05/buy_apple.py`: 2 apples of 100 with a tax of 1.1; price, then dApple, dApple_num, dTax.
pub fn buy_apple() -> Vec<f64> {
    let (apple, apple_num, tax) = (100.0, 2.0, 1.1);
    let mut mul_apple_layer = MulLayer::new();
    let mut mul_tax_layer = MulLayer::new();
    let apple_price = mul_apple_layer.forward(apple, apple_num);
    let price = mul_tax_layer.forward(apple_price, tax);
    let (dapple_price, dtax) = mul_tax_layer.backward(1.0);
    let (dapple, dapple_num) = mul_apple_layer.backward(dapple_price);
    vec![price, dapple, dapple_num, dtax]
}

/// `ch05/buy_apple_orange.py`: 2 apples of 100 and 3 oranges of 150, tax 1.1; price, then
/// dApple, dApple_num, dOrange, dOrange_num, dTax.
pub fn buy_apple_orange() -> Vec<f64> {
    let (apple, apple_num, orange, orange_num, tax) = (100.0, 2.0, 150.0, 3.0, 1.1);
    let mut mul_apple_layer = MulLayer::new();
    let mut mul_orange_layer = MulLayer::new();
    let add_apple_orange_layer = AddLayer;
    let mut mul_tax_layer = MulLayer::new();
    let apple_price = mul_apple_layer.forward(apple, apple_num);
    let orange_price = mul_orange_layer.forward(orange, orange_num);
    let all_price = add_apple_orange_layer.forward(apple_price, orange_price);
    let price = mul_tax_layer.forward(all_price, tax);
    let (dall_price, dtax) = mul_tax_layer.backward(1.0);
    let (dapple_price, dorange_price) = add_apple_orange_layer.backward(dall_price);
    let (dorange, dorange_num) = mul_orange_layer.backward(dorange_price);
    let (dapple, dapple_num) = mul_apple_layer.backward(dapple_price);
    vec![price, dapple, dapple_num, dorange, dorange_num, dtax]
}

/// The rows that need MNIST and the book's weights.
fn mnist_rows(data: &Path, weights: &Path) -> Result<Vec<Row>> {
    let train = data::load_split(
        data,
        mnist_io::Dataset::Mnist,
        mnist_io::TRAIN_IMAGES,
        mnist_io::TRAIN_LABELS,
    )?;
    let test = data::load_split(
        data,
        mnist_io::Dataset::Mnist,
        mnist_io::TEST_IMAGES,
        mnist_io::TEST_LABELS,
    )?;
    if test.len() != 10_000 {
        bail!(
            "the test set in {} holds {} images, not MNIST's 10000: the book's accuracies are of \
             the real test set (fetch it with `cargo xtask fetch-mnist`)",
            data.display(),
            test.len()
        );
    }
    let mut rows = Vec::new();
    rows.push(gradient_check_row(&train));
    rows.push(batch_norm_gradient_check_row(&train)?);

    // ch03: the book's sample_weight, in float32 as the book (its images and weights are
    // float32), one image at a time and in batches of 100.
    let file = weight_file(weights, "sample_weight.npz")?;
    let mut net = book_network::<f32>(&file, BookNet::NeuralnetMnist)?;
    let one_by_one = correct(&mut net, &test, 1, |v| v);
    let batched = correct(&mut net, &test, 100, |v| v);
    let ch03 = Source::Notebook("ch03");
    rows.push(accuracy_row(
        "ch03/neuralnet_mnist.py",
        "sample_weight, one image at a time",
        9352,
        one_by_one,
        ch03,
    ));
    rows.push(accuracy_row(
        "ch03/neuralnet_mnist_batch.py",
        "sample_weight, batches of 100",
        9352,
        batched,
        ch03,
    ));

    let file = weight_file(weights, "simple_convnet_params.npz")?;
    let mut net = book_network::<f32>(&file, BookNet::SimpleConvNet)?;
    let simple = correct(&mut net, &test, 100, |v| v);
    rows.push(accuracy_row(
        "ch07/simple_convnet.py",
        "SimpleConvNet, the book's params.pkl",
        9890,
        simple,
        Source::WeightsReadme,
    ));

    let file = weight_file(weights, "deep_convnet_params.npz")?;
    let mut net = book_network::<f32>(&file, BookNet::DeepConvNet)?;
    let deep = correct(&mut net, &test, 100, |v| v);
    rows.push(accuracy_row(
        "ch08/misclassified_mnist.py",
        "DeepConvNet, the book's deep_convnet_params.pkl",
        9935,
        deep,
        Source::WeightsReadme,
    ));
    // half_float_network.py: images and weights rounded to float16 values, computed on.
    round_to_f16(&mut net);
    let half = correct(&mut net, &test, 100, |v| f16::from_f32(v).to_f32());
    rows.push(accuracy_row(
        "ch08/half_float_network.py",
        "DeepConvNet, weights and images rounded to float16 values (arithmetic: f64 in the book, f32 here)",
        9935,
        half,
        Source::ScriptRun("the book's half_float_network.py"),
    ));
    Ok(rows)
}

/// `dir/name`, or an error saying what the file is and where it comes from.
fn weight_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "{} is missing: book-check needs the book's trained weights (sample_weight.npz, \
             simple_convnet_params.npz, deep_convnet_params.npz: the repository's 2016 files, see \
             shared/data/book-weights/README.md); pass their folder with --book-weights",
            path.display()
        );
    }
    Ok(path)
}

/// Rounds every parameter of `net` to the nearest float16 value (the book's
/// `param[...] = param.astype(np.float16)`).
pub fn round_to_f16(net: &mut Sequential<f32>) {
    net.visit_params(&mut |p| {
        for v in p.value.iter_mut() {
            *v = f16::from_f32(*v).to_f32();
        }
    });
}

/// The number of test images `net` classifies right, `batch` at a time, each pixel `p / 255`
/// passed through `pixel`.
pub fn correct(
    net: &mut Sequential<f32>,
    test: &Split,
    batch: usize,
    pixel: impl Fn(f32) -> f32,
) -> usize {
    let inputs = test.pixels_per_image();
    let mut right = 0;
    let mut x = Matrix::<f32>::zeros(inputs, batch);
    for start in (0..test.len()).step_by(batch) {
        let range = start..(start + batch).min(test.len());
        if x.ncols() != range.len() {
            x = Matrix::zeros(inputs, range.len());
        }
        for (column, k) in x.as_mut_slice().chunks_exact_mut(inputs).zip(range.clone()) {
            for (v, &p) in column.iter_mut().zip(test.image(k)) {
                *v = pixel(f32::from(p) / 255.0);
            }
        }
        let scores = net.predict(&x);
        right += argmax_columns(scores)
            .zip(range)
            .filter(|&(prediction, k)| prediction == usize::from(test.label(k)))
            .count();
    }
    right
}

/// A row of accuracy over the 10 000 test images.
fn accuracy_row(script: &'static str, what: &str, book: usize, ours: usize, source: Source) -> Row {
    let shown = |n: usize| format!("{:.4} ({} errors)", n as f64 / 10_000.0, 10_000 - n);
    Row {
        script,
        what: what.to_owned(),
        book: shown(book),
        ours: shown(ours),
        agree: book == ours,
        source,
    }
}

/// `ch06/batch_norm_gradient_check.py`: a fresh `MultiLayerNetExtend` 784-100-100-10 (ReLU,
/// He, batch norm) on the first training image. With one sample, batch norm's output is `β`
/// whatever its input, so every gradient below the last batch norm is exactly 0, for both
/// methods; `β2` starts at 0, on ReLU's kink, where backprop takes the slope 0 and central
/// differences half the slope on the right: the notebook prints 0.0 for every parameter but
/// `beta2` (0.056) and `b3` (1.8e-7). Ours must show the same zeros and a `beta2` off by a
/// similar amount (its value depends on the random weights above it: between 0.01 and 0.1).
fn batch_norm_gradient_check_row(train: &Split) -> Result<Row> {
    let inputs = train.pixels_per_image();
    let x = Matrix::<f64>::from_iterator(
        inputs,
        1,
        train.image(0).iter().map(|&p| f64::from(p) / 255.0),
    );
    let t = Targets::Labels(&train.labels()[..1]);
    let config = nn_core::MultiLayerNetConfig {
        hidden: vec![100, 100],
        activation: Activation::Relu,
        init: nn_core::Init::He,
        batch_norm: true,
        dropout: None,
        weight_decay: 0.0,
    };
    let spec = config.spec(
        nn_core::Shape::new(1, train.rows(), train.cols()),
        mnist_io::idx::NUM_CLASSES,
    );
    let mut net = Sequential::<f64>::new(spec, 42)?;
    net.numerical_gradient(&x, t);
    let numerical = net.named_gradients();
    net.gradient(&x, t);
    let backprop = net.named_gradients();
    let diffs: Vec<(String, f64)> = numerical
        .iter()
        .zip(&backprop)
        .map(|((name, n), (_, b))| (name.to_string(), (n - b).abs().sum() / n.len() as f64))
        .collect();
    let zero_in_book = ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "W3"];
    let agree = diffs.iter().all(|(name, d)| match name.as_str() {
        "beta2" => (0.01..0.1).contains(d),
        "b3" => *d < 1e-6,
        name => zero_in_book.contains(&name) && *d == 0.0,
    });
    let shown: Vec<String> = diffs
        .iter()
        .filter(|(_, d)| *d != 0.0)
        .map(|(n, d)| format!("{n} {d:.1e}"))
        .collect();
    Ok(Row {
        script: "ch06/batch_norm_gradient_check.py",
        what:
            "mean abs. difference per parameter, fresh 784-100-100-10 ReLU + batch norm, 1 image: \
               the same zeros, beta2 on ReLU's kink"
                .to_owned(),
        book: "0.0 but beta2 5.6e-2, b3 1.8e-7".to_owned(),
        ours: format!("0.0 but {}", shown.join(", ")),
        agree,
        source: Source::Notebook("ch06"),
    })
}

/// The book's notebook prints, for a fresh ReLU `TwoLayerNet` on the first 3 training images,
/// mean absolute differences of W1 1.8e-06, b1 2.4e-05, W2 6.2e-09, b2 1.4e-07 (random weights,
/// so only their bound compares): ours, of a fresh network of the same shape, must be within the
/// largest.
fn gradient_check_row(train: &Split) -> Row {
    const BOOK_LARGEST: f64 = 2.3788128390528938e-05;
    let inputs = train.pixels_per_image();
    let samples = 3;
    let x = Matrix::<f64>::from_iterator(
        inputs,
        samples,
        (0..samples).flat_map(|i| train.image(i).iter().map(|&p| f64::from(p) / 255.0)),
    );
    let labels = &train.labels()[..samples];
    let t = Targets::Labels(labels);
    let config = TwoLayerConfig {
        input_size: inputs,
        hidden_size: 50,
        output_size: mnist_io::idx::NUM_CLASSES,
        activation: Activation::Relu,
        ..TwoLayerConfig::default()
    };
    let mut net = TwoLayerNet::<f64>::new(config, 42).expect("the book's shape is valid");
    Model::numerical_gradient(&mut net, &x, t);
    let numerical = net.gradients();
    Model::gradient(&mut net, &x, t);
    let diffs = net.gradients().mean_abs_diff(&numerical);
    let largest = diffs.iter().map(|&(_, d)| d).fold(0.0, f64::max);
    let shown: Vec<String> = diffs.iter().map(|(n, d)| format!("{n} {d:.1e}")).collect();
    Row {
        script: "ch05/gradient_check.py",
        what: "mean abs. difference of backprop and numerical gradients, fresh ReLU 784-50-10, first 3 training images: at most the book's largest".to_owned(),
        book: "W1 1.8e-6, b1 2.4e-5, W2 6.2e-9, b2 1.4e-7 (≤ 2.4e-5)".to_owned(),
        ours: shown.join(", "),
        agree: largest.is_finite() && largest <= BOOK_LARGEST,
        source: Source::Notebook("ch05"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_off_by_more_than_its_tolerance_disagrees_and_fails_the_check() {
        let source = Source::Code;
        let close = numbers(
            "s.py",
            "x",
            &[1.0, 2.0],
            &[1.0, 2.0 + 1e-13],
            1e-12,
            3,
            source,
        );
        let far = numbers(
            "s.py",
            "x",
            &[1.0, 2.0],
            &[1.0, 2.0 + 1e-11],
            1e-12,
            3,
            source,
        );
        let nan = numbers("s.py", "x", &[1.0], &[f64::NAN], 1e-12, 3, source);
        let short = numbers("s.py", "x", &[1.0, 2.0], &[1.0], 1e-12, 3, source);
        assert!(close.agree);
        assert!(!far.agree && !nan.agree && !short.agree);
        assert!(verdict(std::slice::from_ref(&close)).is_ok());
        let err = verdict(&[close, far.clone()]).unwrap_err().to_string();
        assert!(
            err.starts_with("1 of 2 rows disagree with the book: s.py (x"),
            "{err}"
        );
        assert!(table(&[far]).contains("| **NO** |"));
        let accuracy = accuracy_row("n.py", "net", 9352, 9351, source);
        assert!(!accuracy.agree);
        assert_eq!(accuracy.ours, "0.9351 (649 errors)");
    }

    #[test]
    fn the_arithmetic_rows_agree_with_the_book() {
        let rows = arithmetic_rows();
        assert_eq!(rows.len(), 23);
        for row in &rows {
            assert!(row.agree, "{row:?}");
        }
        // The truth tables are the book's printed ones, not ours copied.
        assert_eq!(
            rows[3].ours,
            "(0, 0) -> 0, (1, 0) -> 1, (0, 1) -> 1, (1, 1) -> 0"
        );
    }

    #[test]
    fn the_apples_are_the_books() {
        let close = |got: &[f64], want: &[f64]| {
            got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-12)
        };
        assert!(close(&buy_apple(), &[220.0, 2.2, 110.0, 200.0]));
        let all = buy_apple_orange();
        assert!(
            close(&all, &[715.0, 2.2, 110.0, 3.3, 165.0, 650.0]),
            "{all:?}"
        );
    }
}
