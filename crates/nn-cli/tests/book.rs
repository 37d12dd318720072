//! `nn-cli book <script>` through the real binary: each script prints the book's figures (the
//! notebooks' outputs, or the book's text), and writes its SVG and CSV.

use std::fs;
use std::path::Path;

mod common;
use common::{nn_cli, real_mnist_or_skip};

/// stdout of `book <script> --out <out>` and extra arguments, after checking it succeeded.
fn book(script: &str, out: &Path, extra: &[&str]) -> String {
    let output = nn_cli()
        .args(["book", script, "--out"])
        .arg(out)
        .args(extra)
        .assert()
        .success()
        .get_output()
        .clone();
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_apples_print_what_the_books_notebook_prints() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = book("apples", dir.path(), &[]);
    // notebooks/ch05.ipynb's two outputs, line for line.
    assert!(
        stdout.contains("price: 220\ndApple: 2.2\ndApple_num: 110\ndTax: 200\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "price: 715\ndApple: 2.2\ndApple_num: 110\ndOrange: 3.3000000000000003\n\
             dOrange_num: 165\ndTax: 650\n"
        ),
        "{stdout}"
    );
}

#[test]
fn the_gates_print_the_books_truth_tables_and_draw_them() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = book("gates", dir.path(), &[]);
    // notebooks/ch02.ipynb: XOR's table.
    assert!(
        stdout.contains("XOR\n(0, 0) -> 0\n(1, 0) -> 1\n(0, 1) -> 1\n(1, 1) -> 0\n"),
        "{stdout}"
    );
    let csv = fs::read_to_string(dir.path().join("gates.csv")).unwrap();
    assert!(
        csv.contains("NAND,1,1,0\n") && csv.contains("OR,0,0,0\n"),
        "{csv}"
    );
    assert!(
        fs::read_to_string(dir.path().join("gates.svg"))
            .unwrap()
            .starts_with("<svg")
    );
}

#[test]
fn activations_and_gradients_print_the_books_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = book("activations", dir.path(), &[]);
    assert!(stdout.contains("relu([-1, 1, 2]) = [0, 1, 2]"), "{stdout}");
    let csv = fs::read_to_string(dir.path().join("activations.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        101,
        "the book's arange(-5, 5, 0.1) and a header"
    );
    let stdout = book("gradients", dir.path(), &[]);
    // notebooks/ch04.ipynb prints 0.1999999999990898; the book's code run in NumPy gives the
    // end point of gradient_method.py.
    assert!(
        stdout.contains("numerical_diff(function_1, 5) = 0.1999999999990898"),
        "{stdout}"
    );
    assert!(
        stdout.contains("end at (-0.03458764513817675, 0.04611686018418694)"),
        "{stdout}"
    );
    assert!(dir.path().join("gradients.svg").is_file());
}

#[test]
fn simplenet_gives_the_books_gradient_at_the_books_w() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = book("simplenet", dir.path(), &[]);
    // §4.4.2 prints p = [1.05414809, 0.63071653, 1.1328074] for its W; its dW (from the W before
    // rounding to 8 digits) is [[0.21924763 0.14356247 -0.36281009] [0.32887144 0.2153437
    // -0.54421514]], within 1e-6 of ours.
    assert!(
        stdout.contains("p = x·W = [1.05414809, 0.63071653, 1.13280740]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[[0.21924757, 0.14356243, -0.36281000]"),
        "{stdout}"
    );
}

#[test]
fn the_small_convnet_passes_its_gradient_check() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = book("conv-gradcheck", dir.path(), &[]);
    assert!(stdout.starts_with("W1 "), "{stdout}");
    assert!(
        stdout.contains("every mean absolute difference is below 1e-5"),
        "{stdout}"
    );
}

#[test]
fn mnist_show_and_apply_filter_on_real_mnist() {
    let Some(data) = real_mnist_or_skip() else {
        return;
    };
    let weights = common::root().join("../shared/data/book-weights");
    let dir = tempfile::tempdir().unwrap();
    let data = data.to_str().unwrap();
    let stdout = book("mnist-show", dir.path(), &["--data", data]);
    // mnist_show.py: `print(label)  # 5`, then the shapes.
    assert!(
        stdout.starts_with("x_train[0]: label 5\n(784,)\n(28, 28)\n"),
        "{stdout}"
    );
    if !weights.join("simple_convnet_params.npz").is_file() {
        common::data_missing("shared/data/book-weights/simple_convnet_params.npz");
        return;
    }
    let stdout = book(
        "apply-filter",
        dir.path(),
        &["--data", data, "--book-weights", weights.to_str().unwrap()],
    );
    assert!(stdout.contains("16 maps of 24×24"), "{stdout}");
    let csv = fs::read_to_string(dir.path().join("apply-filter.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 16 * 24 * 24);
}

#[test]
fn gradcheck_checks_a_fresh_network_of_trains_flags() {
    // ch06/batch_norm_gradient_check.py's network, smaller: every parameter of batch norm too.
    let (_dir, data) = common::synthetic();
    let output = nn_cli()
        .args([
            "gradcheck",
            "--hidden",
            "10,10",
            "--batch-norm",
            "--activation",
            "relu",
        ])
        .args(["--init", "he", "--step", "1e-6", "--data"])
        .arg(&data)
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8(output.stdout).unwrap();
    for name in ["W1", "gamma1", "beta1", "gamma2", "beta2", "W3", "b3"] {
        assert!(
            stdout.contains(&format!("\n{name}: ")) || stdout.starts_with(name),
            "{stdout}"
        );
    }
    assert!(stdout.contains("gradient check passed"), "{stdout}");
    // The two-layer network is checked on every entry with the book's step: --entries is refused.
    nn_cli()
        .args(["gradcheck", "--entries", "3", "--data"])
        .arg(&data)
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "--entries and --step apply to a saved model",
        ));
}

#[test]
fn the_books_sample_weight_imports_and_scores_0_9352() {
    let Some(data) = real_mnist_or_skip() else {
        return;
    };
    let weights = common::root().join("../shared/data/book-weights");
    if !weights.join("sample_weight.pkl").is_file() {
        common::data_missing("shared/data/book-weights/sample_weight.pkl");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("sample.ron");
    nn_cli()
        .args(["import", "--net", "neuralnet-mnist", "--book-weights"])
        .arg(weights.join("sample_weight.pkl"))
        .arg("--out")
        .arg(&model)
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "Affine(50) → Sigmoid → Affine(100)",
        ));
    let output = nn_cli()
        .arg("eval")
        .arg("--data")
        .arg(&data)
        .arg("--model")
        .arg(&model)
        .assert()
        .success()
        .get_output()
        .clone();
    let report = String::from_utf8(output.stdout).unwrap();
    // notebooks/ch03.ipynb: Accuracy:0.9352 (648 errors).
    assert!(
        report.starts_with("test acc 0.9352  (9352/10000)"),
        "{report}"
    );
    // The CNN flag on these weights names the right one.
    nn_cli()
        .args(["import", "--net", "simple-convnet", "--book-weights"])
        .arg(weights.join("sample_weight.npz"))
        .arg("--out")
        .arg(dir.path().join("wrong.ron"))
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "import them with --net neuralnet-mnist",
        ));
}
