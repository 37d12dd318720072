//! The convolutional networks of chapters 7 and 8 through the real `nn-cli` binary: the book's
//! trained weights imported and scored on MNIST (the golden test of our convolution, pooling and
//! layout), `train --net simple-convnet|deep-convnet` on small synthetic images, the commands that
//! read models, and the errors.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use mnist_io::idx::Images;
use predicates::prelude::*;
use tempfile::TempDir;

mod common;
use common::{nn_cli, real_mnist_or_skip, root};

/// The files of the book's trained weights these tests import.
const BOOK_WEIGHTS: [&str; 4] = [
    "simple_convnet_params.npz",
    "simple_convnet_params.pkl",
    "deep_convnet_params.npz",
    "deep_convnet_params.pkl",
];

/// The book's trained weights (`../shared/data/book-weights`), or `None` after
/// [`common::data_missing`] (a failure on CI) names the missing files and where they come from.
#[track_caller]
fn book_weights_or_skip() -> Option<PathBuf> {
    let dir = root().join("../shared/data/book-weights");
    let missing: Vec<&str> = BOOK_WEIGHTS
        .into_iter()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if missing.is_empty() {
        return Some(dir);
    }
    common::data_missing(&format!(
        "the book's trained weights: {} has no {}. They are the book's ch07/params.pkl \
         (SimpleConvNet) and ch08/deep_convnet_params.pkl (DeepConvNet) of \
         oreilly-japan/deep-learning-from-scratch at commit 0dda3d1, renamed as in \
         shared/data/book-weights/README.md, with an .npz copy of each (numpy.savez)",
        dir.display(),
        missing.join(", ")
    ));
    None
}

/// `count` images of 10×10 in 10 classes: class `c` is a bright 3×3 square at a place of its own
/// (row `1 + 3·(c / 4)`, column `1 + 2·(c mod 4)`) on faint noise.
fn synthetic_split(count: usize, seed: u64) -> (Images, Vec<u8>) {
    const SIDE: usize = 10;
    let mut noise = common::noise(seed, 40);
    let mut pixels = Vec::with_capacity(count * SIDE * SIDE);
    let mut labels = Vec::with_capacity(count);
    for i in 0..count {
        let c = (i * 7 + 3) % 10;
        labels.push(c as u8);
        let (top, left) = (1 + 3 * (c / 4), 1 + 2 * (c % 4));
        for y in 0..SIDE {
            for x in 0..SIDE {
                let inside = (top..top + 3).contains(&y) && (left..left + 3).contains(&x);
                pixels.push(if inside { 255 } else { noise() });
            }
        }
    }
    (Images::new(SIDE, SIDE, pixels).unwrap(), labels)
}

/// A temporary folder with `mnist/` holding the synthetic dataset under canonical names.
fn synthetic() -> (TempDir, PathBuf) {
    common::dataset(synthetic_split)
}

/// `train` on `data` with its outputs in `dir`.
fn train(dir: &Path, data: &Path, extra: &[&str]) -> Command {
    let mut cmd = nn_cli();
    cmd.arg("train")
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(dir.join("params.ron"))
        .arg("--history")
        .arg(dir.join("history.csv"))
        .arg("--plot")
        .arg(dir.join("plot.svg"))
        .args(extra);
    cmd
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.assert().success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

/// The number after `label` in `text`, e.g. `test acc 0.9500`.
fn number_after(text: &str, label: &str) -> f64 {
    let rest = &text[text
        .rfind(label)
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        + label.len()..];
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn the_books_trained_weights_score_what_the_book_scores() {
    let (Some(weights), Some(data)) = (book_weights_or_skip(), real_mnist_or_skip()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (file, net, score) in [
        (
            "simple_convnet_params.npz",
            "simple-convnet",
            "test acc 0.9890  (9890/10000)",
        ),
        (
            "simple_convnet_params.pkl",
            "simple-convnet",
            "test acc 0.9890  (9890/10000)",
        ),
        (
            "deep_convnet_params.npz",
            "deep-convnet",
            "test acc 0.9935  (9935/10000)",
        ),
        (
            "deep_convnet_params.pkl",
            "deep-convnet",
            "test acc 0.9935  (9935/10000)",
        ),
    ] {
        let model = dir.path().join(format!("{file}.ron"));
        nn_cli()
            .args(["import", "--net", net, "--book-weights"])
            .arg(weights.join(file))
            .arg("--out")
            .arg(&model)
            .assert()
            .success()
            .stdout(predicate::str::contains("Convolution"));
        let report = stdout_of(
            nn_cli()
                .arg("eval")
                .arg("--data")
                .arg(&data)
                .arg("--model")
                .arg(&model),
        );
        assert!(report.starts_with(score), "{file}: {report}");
    }
    // The .npz and the .pkl hold the same values: the same model, but for its source note.
    let strip = |name: &str| {
        fs::read_to_string(dir.path().join(name))
            .unwrap()
            .lines()
            .filter(|l| !l.contains("\"source\""))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        strip("deep_convnet_params.npz.ron") == strip("deep_convnet_params.pkl.ron"),
        "the .npz and .pkl imports differ"
    );
    // The book's first predictions, and its gradients checked by central differences at a step
    // that clears the kinks of a trained network.
    let model = dir.path().join("simple_convnet_params.npz.ron");
    let predictions = stdout_of(
        nn_cli()
            .args(["predict", "-n", "3", "--data"])
            .arg(&data)
            .arg("--model")
            .arg(&model),
    );
    assert!(
        predictions.starts_with("7 == 7: o\n2 == 2: o\n1 == 1: o\n"),
        "{predictions}"
    );
    let check = stdout_of(
        nn_cli()
            .args(["gradcheck", "--entries", "20", "--step", "1e-6", "--data"])
            .arg(&data)
            .arg("--model")
            .arg(&model),
    );
    assert!(check.contains("gradient check passed"), "{check}");
}

#[test]
fn import_refuses_wrong_files_and_weights_of_the_other_network() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("params.ron");
    let import = |file: &Path, net: &str| {
        let mut cmd = nn_cli();
        cmd.args(["import", "--net", net, "--book-weights"])
            .arg(file)
            .arg("--out")
            .arg(&out);
        cmd
    };
    import(&dir.path().join("missing.npz"), "simple-convnet")
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("missing.npz").and(predicate::str::contains("--book-weights")),
        );
    let text = dir.path().join("weights.txt");
    fs::write(&text, "W1 = [1, 2, 3]").unwrap();
    import(&text, "simple-convnet")
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "neither a NumPy .npz archive nor a Python pickle",
        ));
    let Some(weights) = book_weights_or_skip() else {
        return;
    };
    import(&weights.join("simple_convnet_params.npz"), "deep-convnet")
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("W4")
                .and(predicate::str::contains("missing"))
                .and(predicate::str::contains("--net simple-convnet")),
        );
    assert!(!out.exists(), "nothing written after an error");
}

#[test]
fn train_a_simple_conv_net_then_predict_eval_and_gradcheck_it() {
    let (dir, data) = synthetic();
    let out = stdout_of(&mut train(
        dir.path(),
        &data,
        &[
            "--net",
            "simple-convnet",
            "--epochs",
            "3",
            "--batch-size",
            "20",
        ],
    ));
    // The book's train_convnet.py settings: Adam, evaluations of 1000 samples (all 600 here).
    assert!(
        out.contains("Convolution(30×5×5) → Relu → Pooling(2×2) → Affine(100) → Relu → Affine(10)")
            && out.contains("Adam(lr 0.001)"),
        "{out}"
    );
    assert!(out.contains("epoch  3/3"), "{out}");
    let acc = number_after(&out, "test acc");
    assert!(acc > 0.9, "the CNN should learn the squares: {out}");
    let model = dir.path().join("params.ron");
    let report = stdout_of(
        nn_cli()
            .arg("eval")
            .arg("--data")
            .arg(&data)
            .arg("--model")
            .arg(&model),
    );
    assert_eq!(number_after(&report, "test acc"), acc, "{report}");
    let predictions = stdout_of(
        nn_cli()
            .args(["predict", "-n", "5", "--data"])
            .arg(&data)
            .arg("--model")
            .arg(&model),
    );
    assert_eq!(predictions.lines().filter(|l| l.contains("==")).count(), 5);
    let check = stdout_of(
        nn_cli()
            .args(["gradcheck", "--entries", "30", "--data"])
            .arg(&data)
            .arg("--model")
            .arg(&model),
    );
    assert!(
        check.contains("W1: ") && check.contains("b3: ") && check.contains("passed"),
        "{check}"
    );
}

#[test]
fn a_deep_conv_net_trains_on_one_thread_or_two_to_the_same_bits() {
    let (dir, data) = synthetic();
    let mut models = Vec::new();
    for threads in ["1", "2"] {
        let run = dir.path().join(threads);
        fs::create_dir(&run).unwrap();
        let out = stdout_of(&mut train(
            &run,
            &data,
            &[
                "--net",
                "deep-convnet",
                "--iters",
                "30",
                "--batch-size",
                "16",
                "--threads",
                threads,
            ],
        ));
        assert!(
            out.contains("Convolution(32×3×3, pad 2)") && out.contains("Dropout(0.5)"),
            "{out}"
        );
        models.push(fs::read_to_string(run.join("params.ron")).unwrap());
    }
    assert!(models[0] == models[1], "the thread count changed the model");
}

#[test]
fn mlp_flags_are_refused_with_a_cnn_and_a_config_file_can_give_any_layers() {
    let (dir, data) = synthetic();
    for flag in [
        vec!["--hidden", "20"],
        vec!["--activation", "relu"],
        vec!["--batch-norm"],
        vec!["--dropout", "0.5"],
        vec!["--init", "he"],
        vec!["--weight-decay", "0.1"],
    ] {
        let mut args = vec!["--net", "deep-convnet"];
        args.extend(&flag);
        train(dir.path(), &data, &args)
            .assert()
            .failure()
            .stderr(predicate::str::contains(flag[0]).and(predicate::str::contains("--net mlp")));
    }
    // A Spec in a config file: its own layers, the CNN training defaults.
    let config = dir.path().join("run.ron");
    fs::write(
        &config,
        "(net: Spec(input: (channels: 1, height: 10, width: 10),
                   layers: [Convolution(filters: 4, size: 3, pad: 1), Relu, Pooling(size: 2),
                            Affine(out: 10)],
                   init: He),
          training: (batch_size: 20, length: Epochs(2), optimizer: Adam(lr: 0.01)))",
    )
    .unwrap();
    let printed = stdout_of(
        nn_cli()
            .args(["train", "--print-config", "--config"])
            .arg(&config),
    );
    assert!(
        printed.contains("Convolution(") && printed.contains("Epochs(2)"),
        "{printed}"
    );
    let out = stdout_of(&mut train(
        dir.path(),
        &data,
        &["--config", config.to_str().unwrap()],
    ));
    assert!(
        out.contains("1×10×10 → Convolution(4×3×3, pad 1) → Relu → Pooling(2×2) → Affine(10)"),
        "{out}"
    );
    // The MLP flags do not apply to a Spec either; a Spec for other images is refused.
    train(
        dir.path(),
        &data,
        &["--config", config.to_str().unwrap(), "--hidden", "5"],
    )
    .assert()
    .failure()
    .stderr(predicate::str::contains("Spec"));
    fs::write(
        &config,
        "(net: Spec(input: (channels: 1, height: 28, width: 28), layers: [Affine(out: 10)]))",
    )
    .unwrap();
    train(dir.path(), &data, &["--config", config.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("1×28×28").and(predicate::str::contains("1×10×10")));
    // --net picks the book's defaults for the CNN when the config file has no training section.
    let printed = stdout_of(nn_cli().args(["train", "--net", "simple-convnet", "--print-config"]));
    assert!(
        printed.contains("net: SimpleConvNet")
            && printed.contains("Epochs(20)")
            && printed.contains("Adam(")
            && printed.contains("eval_samples: Some(1000)"),
        "{printed}"
    );
}

#[test]
fn real_mnist_simple_conv_net_learns_in_a_few_hundred_iterations() {
    let Some(data) = real_mnist_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = stdout_of(&mut train(
        dir.path(),
        &data,
        &["--net", "simple-convnet", "--iters", "200"],
    ));
    let test = number_after(&out, "test acc");
    assert!(
        test > 0.9,
        "after 200 iterations of Adam the CNN passes 90 %: {out}"
    );
}

/// The `(index, label, prediction)` of every test image the model at `model` gets wrong,
/// computed here through the library (not the CLI): pixels / 255, the largest score wins.
fn errors_of(model: &Path, images: &Images, labels: &[u8]) -> Vec<(usize, u8, usize)> {
    use nn_core::{Model, ModelFile};
    let mut net = ModelFile::<f32>::load(model).unwrap().net;
    let inputs = images.rows() * images.cols();
    let x = nn_core::Matrix::<f32>::from_iterator(
        inputs,
        labels.len(),
        (0..labels.len()).flat_map(|k| images.image(k).iter().map(|&p| f32::from(p) / 255.0)),
    );
    let scores = net.predict(&x);
    (0..labels.len())
        .filter_map(|k| {
            let column = scores.column(k);
            let best = (0..column.len())
                .max_by(|&a, &b| column[a].total_cmp(&column[b]).then(b.cmp(&a)))
                .unwrap();
            (best != usize::from(labels[k])).then_some((k, labels[k], best))
        })
        .collect()
}

/// The gray levels of tile `n` of a figure, by pixel index (absent pixels are white, 0).
fn tile_levels(svg: &str, n: usize, pixels: usize) -> Vec<u8> {
    let tile = svg.split(r#"<g class="tile">"#).nth(n + 1).unwrap();
    let tile = &tile[..tile.find("</g>").unwrap()];
    let mut levels = vec![0; pixels];
    for rect in tile.split("<rect").filter(|r| r.contains(r#"class="px""#)) {
        let attr = |name: &str| {
            let start = rect.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            &rect[start..start + rect[start..].find('"').unwrap()]
        };
        let i: usize = attr("data-i").parse().unwrap();
        let fill = attr("fill");
        let gray: u8 = fill[4..fill.find(',').unwrap()].parse().unwrap();
        levels[i] = 255 - gray;
    }
    levels
}

#[test]
fn eval_lists_and_draws_the_first_twenty_misclassified_test_images() {
    let (dir, data) = synthetic();
    // A few iterations: a network that still gets many images wrong.
    train(
        dir.path(),
        &data,
        &[
            "--net",
            "simple-convnet",
            "--iters",
            "4",
            "--batch-size",
            "20",
        ],
    )
    .assert()
    .success();
    let model = dir.path().join("params.ron");
    let figure = dir.path().join("figures/misclassified.svg");
    let out = stdout_of(
        nn_cli()
            .arg("eval")
            .arg("--data")
            .arg(&data)
            .arg("--model")
            .arg(&model)
            .arg("--misclassified")
            .arg(&figure),
    );
    let (images, labels) = synthetic_split(200, 2);
    let errors = errors_of(&model, &images, &labels);
    assert!(
        errors.len() > 20,
        "the test needs a network that errs: {out}"
    );
    let listed: Vec<(usize, u8, usize)> = out
        .lines()
        .skip_while(|l| !l.starts_with("the first 20 misclassified"))
        .skip(1)
        .take_while(|l| l.contains("->"))
        .map(|l| {
            let (k, rest) = l.trim().split_once(": ").unwrap();
            let (label, prediction) = rest.split_once(" -> ").unwrap();
            (
                k.parse().unwrap(),
                label.parse().unwrap(),
                prediction.parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, errors[..20], "{out}");
    let correct = 200 - errors.len();
    assert!(out.contains(&format!("({correct}/200)")), "{out}");
    let svg = fs::read_to_string(&figure).unwrap();
    assert_eq!(svg.matches(r#"<g class="tile">"#).count(), 20);
    for (n, &(k, label, prediction)) in errors[..20].iter().enumerate() {
        assert_eq!(tile_levels(&svg, n, 100), images.image(k), "tile {n}");
        assert!(svg.contains(&format!(">#{k}: {label} → {prediction}<")));
    }
    // The figure must be an SVG file, and not the model.
    for bad in ["mis.png", "params.ron"] {
        nn_cli()
            .arg("eval")
            .arg("--data")
            .arg(&data)
            .arg("--model")
            .arg(&model)
            .arg("--misclassified")
            .arg(dir.path().join(bad))
            .assert()
            .failure();
    }
}

/// `imshow`'s scaling of one filter to gray levels, written out here: its smallest weight
/// white (0), its largest black (255).
fn imshow_levels(weights: &[f32]) -> Vec<u8> {
    let min = weights.iter().copied().fold(f32::INFINITY, f32::min);
    let max = weights.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    weights
        .iter()
        .map(|&w| (255.0 * (w - min) / (max - min)).round() as u8)
        .collect()
}

#[test]
fn filters_draws_the_first_layer_before_and_after_training() {
    let (dir, data) = synthetic();
    train(
        dir.path(),
        &data,
        &["--net", "simple-convnet", "--iters", "30", "--seed", "7"],
    )
    .assert()
    .success();
    let model = dir.path().join("params.ron");
    let figure = dir.path().join("filters.svg");
    nn_cli()
        .arg("filters")
        .arg("--model")
        .arg(&model)
        .arg("--out")
        .arg(&figure)
        .assert()
        .success();
    let svg = fs::read_to_string(&figure).unwrap();
    assert_eq!(
        svg.matches(r#"<g class="tile">"#).count(),
        60,
        "30 before, 30 after"
    );
    let spec = nn_core::NetSpec::simple_conv_net(nn_core::Shape::new(1, 10, 10), 10);
    use nn_core::Trainable;
    let initial = nn_core::Sequential::<f32>::new(spec, 7)
        .unwrap()
        .named_params()[0]
        .1
        .clone();
    let trained = nn_core::ModelFile::<f32>::load(&model)
        .unwrap()
        .net
        .named_params()[0]
        .1
        .clone();
    assert_eq!(trained.shape(), (30, 25));
    assert_ne!(initial, trained, "training moved the filters");
    for f in [0, 17, 29] {
        let row = |w: &nn_core::Matrix<f32>| -> Vec<f32> { w.row(f).iter().copied().collect() };
        assert_eq!(
            tile_levels(&svg, f, 25),
            imshow_levels(&row(&initial)),
            "initial {f}"
        );
        assert_eq!(
            tile_levels(&svg, 30 + f, 25),
            imshow_levels(&row(&trained)),
            "trained {f}"
        );
        assert!(svg.contains(&format!(">initial {}<", f + 1)));
        assert!(svg.contains(&format!(">trained {}<", f + 1)));
    }
    // A network without a convolution has no filters to draw.
    train(dir.path(), &data, &["--iters", "2"])
        .assert()
        .success();
    nn_cli()
        .arg("filters")
        .arg("--model")
        .arg(&model)
        .arg("--out")
        .arg(&figure)
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a convolution"));
}
