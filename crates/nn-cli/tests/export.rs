//! `nn-cli export` and its consumers: ONNX Runtime, the book's own Python classes, NumPy and
//! safetensors (through `xtask/reference/export_check.py`, in the Python environment
//! `target/py-export` that `.ci/run` makes), on the 10000 MNIST test images, for the two-layer
//! network, a batch-norm stack, SimpleConvNet and DeepConvNet; the round trip through
//! `import`; the errors.
//!
//! Our side of every comparison is `nn-cli eval`'s accuracy, and the scores of the model as
//! `eval` computes them (nn-core's `predict` in f32 on chunks of 1000, here in-process: the
//! same code, optimised even in test builds), for all 10000 images, DeepConvNet's too.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use book_weights::{Expected, Float};
use nn_core::{Matrix, Model, ModelFile, Trainable};

mod common;
use common::{nn_cli, real_mnist_or_skip, root};

/// What `export_check.py` imports.
const PYTHON_MODULES: &str = "numpy, onnx, onnxruntime, safetensors";

/// The Python of `target/py-export` (or `NN_EXPORT_PYTHON`) if it imports
/// [`PYTHON_MODULES`], else `None` after [`common::data_missing`] (a failure on CI) says how to
/// install them.
#[track_caller]
fn python_or_skip() -> Option<PathBuf> {
    let python = std::env::var_os("NN_EXPORT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/py-export/bin/python"));
    let imports = Process::new(&python)
        .args(["-c", &format!("import {PYTHON_MODULES}")])
        .output();
    if imports.is_ok_and(|out| out.status.success()) {
        return Some(python);
    }
    common::data_missing(&format!(
        "a Python with {PYTHON_MODULES} at {} (or NN_EXPORT_PYTHON): make it with `python3 -m \
         venv target/py-export && target/py-export/bin/pip install -r \
         xtask/reference/export-requirements.txt` (.ci/run does)",
        python.display()
    ));
    None
}

/// The book's trained CNN weights, or `None` after [`common::data_missing`].
#[track_caller]
fn book_weights_or_skip() -> Option<PathBuf> {
    let dir = root().join("../shared/data/book-weights");
    let files = ["simple_convnet_params.pkl", "deep_convnet_params.pkl"];
    if files.iter().all(|f| dir.join(f).is_file()) {
        return Some(dir);
    }
    common::data_missing(&format!(
        "the book's trained weights {} in {} (see shared/data/book-weights/README.md)",
        files.join(", "),
        dir.display()
    ));
    None
}

fn stdout(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.assert().success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

/// The number after `label` in `text` (`test acc 0.9890  (…)` → 0.9890).
fn number_after(text: &str, label: &str) -> String {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {text}"));
    text[at + label.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// `export --format FORMAT` of `model` to `out`.
fn export(model: &Path, format: &str, out: &Path) {
    nn_cli()
        .args(["export", "--format", format, "--model"])
        .arg(model)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
}

/// The scores and softmax probabilities of `model` on the MNIST test set in `data`, as `eval`
/// computes them, one `Vec` of 10 per image.
fn our_scores(model: &Path, data: &Path) -> (Vec<[f32; 10]>, Vec<[f32; 10]>, Vec<u8>) {
    let find = |name| mnist_io::find_file(data, name).unwrap();
    let test =
        mnist_io::Split::load(&find(mnist_io::TEST_IMAGES), &find(mnist_io::TEST_LABELS)).unwrap();
    let mut net = ModelFile::<f32>::load(model).unwrap().net;
    let inputs = test.pixels_per_image();
    let (mut scores, mut probabilities) = (Vec::new(), Vec::new());
    for start in (0..test.len()).step_by(1000) {
        let end = (start + 1000).min(test.len());
        let mut x = Matrix::<f32>::zeros(inputs, end - start);
        for (column, k) in x.as_mut_slice().chunks_exact_mut(inputs).zip(start..end) {
            for (v, &p) in column.iter_mut().zip(test.image(k)) {
                *v = f32::from(p) / 255.0;
            }
        }
        let s = net.predict(&x).clone();
        let p = nn_core::functions::softmax(&s);
        for (s, p) in s.column_iter().zip(p.column_iter()) {
            scores.push(std::array::from_fn(|i| s[i]));
            probabilities.push(std::array::from_fn(|i| p[i]));
        }
    }
    (scores, probabilities, test.labels().to_vec())
}

fn argmax(v: &[f32; 10]) -> usize {
    (0..10).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

/// Exports `model` in the four formats, runs `export_check.py` (`net_args`: its `--net` and
/// options), and checks every consumer against `nn-cli eval` and our scores. Returns the
/// accuracy.
fn check_consumers(python: &Path, data: &Path, model: &Path, net_args: &[&str]) -> String {
    check_consumers_with(python, data, model, net_args, &[])
}

/// [`check_consumers`] with more options of `export_check.py` (`--book-images N`,
/// `--same-as FILE`).
fn check_consumers_with(
    python: &Path,
    data: &Path,
    model: &Path,
    net_args: &[&str],
    more: &[&OsStr],
) -> String {
    let dir = model.parent().unwrap();
    let stem = model.file_stem().unwrap().to_str().unwrap();
    let file = |ext: &str| dir.join(format!("{stem}.{ext}"));
    for format in ["onnx", "npz", "pkl", "safetensors"] {
        export(model, format, &file(format));
    }
    let report = stdout(
        nn_cli()
            .arg("eval")
            .arg("--data")
            .arg(data)
            .arg("--model")
            .arg(model),
    );
    let accuracy = number_after(&report, "test acc ");

    let scores_file = file("scores");
    let output = Process::new(python)
        .arg(root().join("xtask/reference/export_check.py"))
        .arg("--data")
        .arg(data)
        .args(net_args)
        .arg("--onnx")
        .arg(file("onnx"))
        .arg("--scores-out")
        .arg(&scores_file)
        .arg("--npz")
        .arg(file("npz"))
        .arg("--pkl")
        .arg(file("pkl"))
        .arg("--safetensors")
        .arg(file("safetensors"))
        .args(more)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stem}: export_check.py failed:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{stem}: eval {accuracy}; {}", text.replace('\n', "; "));
    assert_eq!(number_after(&text, "onnx acc "), accuracy, "{stem}: {text}");
    assert!(text.contains("safetensors equal "), "{stem}: {text}");
    if more.iter().any(|a| *a == "--same-as") {
        assert!(text.contains("same as the original "), "{stem}: {text}");
    }

    // ONNX Runtime's scores beside ours, image by image.
    let (scores, probabilities, labels) = our_scores(model, data);
    let raw = fs::read(&scores_file).unwrap();
    let floats: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let n = labels.len();
    assert_eq!(floats.len(), 2 * n * 10, "{stem}: scores and probabilities");
    let (onnx_scores, onnx_probabilities) = floats.split_at(n * 10);
    let (mut score_diff, mut probability_diff, mut correct) = (0f32, 0f32, 0);
    for k in 0..n {
        let theirs: [f32; 10] = onnx_scores[k * 10..][..10].try_into().unwrap();
        let probs = &onnx_probabilities[k * 10..][..10];
        assert_eq!(argmax(&theirs), argmax(&scores[k]), "{stem}: image {k}");
        correct += usize::from(argmax(&scores[k]) == usize::from(labels[k]));
        for i in 0..10 {
            // Relative beyond 1: logits of 20 carry f32's rounding of 20.
            let scale = scores[k][i].abs().max(1.0);
            score_diff = score_diff.max((theirs[i] - scores[k][i]).abs() / scale);
            probability_diff = probability_diff.max((probs[i] - probabilities[k][i]).abs());
        }
    }
    // The book's classes: as many right among the images they scored as our scores.
    for format in ["pkl", "npz"] {
        let label = format!("{format} correct ");
        if !text.contains(&label) {
            assert!(
                format == "npz" || net_args.contains(&"other"),
                "{stem}: {text}"
            );
            continue;
        }
        let count = number_after(&text, &label);
        let (right, images) = count.split_once('/').unwrap();
        let images: usize = images.parse().unwrap();
        let ours = (0..images)
            .filter(|&k| argmax(&scores[k]) == usize::from(labels[k]))
            .count();
        assert_eq!(
            right.parse::<usize>().unwrap(),
            ours,
            "{stem}: {format}: {text}"
        );
    }
    println!(
        "{stem}: largest differences: scores {score_diff:e} (relative beyond 1), probabilities {probability_diff:e}"
    );
    assert!(score_diff <= 1e-5, "{stem}: scores differ by {score_diff}");
    assert!(
        probability_diff <= 1e-5,
        "{stem}: probabilities differ by {probability_diff}"
    );
    assert_eq!(
        format!("{:.4}", correct as f64 / n as f64),
        accuracy,
        "{stem}: our scores' accuracy"
    );
    accuracy
}

#[test]
fn the_books_cnns_exported_score_the_books_accuracy_in_onnx_runtime_and_the_books_classes() {
    let (Some(weights), Some(data), Some(python)) = (
        book_weights_or_skip(),
        real_mnist_or_skip(),
        python_or_skip(),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The book's DeepConvNet in NumPy takes 25 s on the 10000 images (90 s on a loaded
    // machine): it scores the first 2000 here. Its exported arrays are the book's own, bit for
    // bit (--same-as), so on the 10000 it scores what the book's file scores, 0.9935.
    for (file, net, expected, book_images) in [
        (
            "simple_convnet_params.pkl",
            "simple-convnet",
            "0.9890",
            "10000",
        ),
        ("deep_convnet_params.pkl", "deep-convnet", "0.9935", "2000"),
    ] {
        let model = dir.path().join(format!("{net}.ron"));
        nn_cli()
            .args(["import", "--net", net, "--book-weights"])
            .arg(weights.join(file))
            .arg("--out")
            .arg(&model)
            .assert()
            .success();
        let original = weights.join(file);
        let more = [
            OsStr::new("--book-images"),
            OsStr::new(book_images),
            OsStr::new("--same-as"),
            original.as_os_str(),
        ];
        let accuracy = check_consumers_with(&python, &data, &model, &["--net", net], &more);
        assert_eq!(accuracy, expected, "{net}");
    }
}

#[test]
fn trained_mlps_exported_agree_with_eval_in_onnx_runtime_and_the_books_classes() {
    let (Some(data), Some(python)) = (real_mnist_or_skip(), python_or_skip()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let train = |name: &str, options: &[&str]| {
        let model = dir.path().join(format!("{name}.ron"));
        nn_cli()
            .arg("train")
            .arg("--data")
            .arg(&data)
            .args(["--iters", "1000", "--eval-samples", "1000", "--out"])
            .arg(&model)
            .arg("--history")
            .arg(dir.path().join(format!("{name}.csv")))
            .arg("--plot")
            .arg(dir.path().join(format!("{name}.svg")))
            .args(options)
            .assert()
            .success();
        model
    };
    // The chapter-4 network (flat inputs: ONNX's (N, 784)), the book's ch04 TwoLayerNet.
    let two_layer = train("two_layer", &[]);
    let accuracy = check_consumers(
        &python,
        &data,
        &two_layer,
        &["--net", "two-layer", "--activation", "sigmoid"],
    );
    assert!(accuracy.as_str() > "0.80", "{accuracy}");
    // With ReLU: ch05's TwoLayerNet (of layers).
    let relu = train(
        "two_layer_relu",
        &["--hidden", "50", "--activation", "relu", "--init", "he"],
    );
    let accuracy = check_consumers(
        &python,
        &data,
        &relu,
        &["--net", "two-layer", "--activation", "relu"],
    );
    assert!(accuracy.as_str() > "0.85", "{accuracy}");
    // Chapter 6's stack: batch norm (running statistics) and dropout (scaled in inference),
    // the book's MultiLayerNetExtend.
    let options = "--hidden 100,100,100 --activation relu --init he --batch-norm --dropout 0.15 --optimizer adam";
    let stack = train("batch_norm", &options.split(' ').collect::<Vec<_>>());
    let accuracy = check_consumers(
        &python,
        &data,
        &stack,
        &[
            "--net",
            "multi-layer",
            "--activation",
            "relu",
            "--batch-norm",
            "--dropout",
            "0.15",
        ],
    );
    assert!(accuracy.as_str() > "0.90", "{accuracy}");
}

/// The model file's text without its metadata (the source note differs).
fn without_metadata(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    text[..text.find("metadata:").unwrap()].to_owned()
}

#[test]
fn importing_our_exported_npz_and_pkl_gives_the_same_model() {
    let Some(weights) = book_weights_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    for (file, net) in [
        ("simple_convnet_params.pkl", "simple-convnet"),
        ("deep_convnet_params.pkl", "deep-convnet"),
    ] {
        let import = |from: &Path, to: &Path| {
            nn_cli()
                .args(["import", "--net", net, "--book-weights"])
                .arg(from)
                .arg("--out")
                .arg(to)
                .assert()
                .success();
        };
        let original = path(&format!("{net}.ron"));
        import(&weights.join(file), &original);
        for format in ["npz", "pkl"] {
            let exported = path(&format!("{net}.{format}"));
            export(&original, format, &exported);
            let again = path(&format!("{net}-{format}.ron"));
            import(&exported, &again);
            assert!(
                without_metadata(&again) == without_metadata(&original),
                "{net} through {format}: the model changed"
            );
        }
    }
}

#[test]
fn an_mlps_npz_and_pkl_hold_the_model_files_values_under_the_books_names_and_import_back() {
    let (_data_dir, data) = common::synthetic();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bn.ron");
    nn_cli()
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args([
            "--iters",
            "20",
            "--hidden",
            "6,5",
            "--batch-norm",
            "--dropout",
            "0.2",
        ])
        .arg("--out")
        .arg(&model)
        .arg("--history")
        .arg(dir.path().join("h.csv"))
        .arg("--plot")
        .arg(dir.path().join("p.svg"))
        .assert()
        .success();
    let mut net = ModelFile::<f64>::load(&model).unwrap().net;
    let inputs = net.input_len();
    let mut matrices = net.named_params();
    net.visit_state(&mut |s| matrices.push((s.name, s.value.clone())));
    let names: Vec<String> = matrices.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        names.join(" "),
        "W1 b1 gamma1 beta1 W2 b2 gamma2 beta2 W3 b3 running_mean1 running_var1 running_mean2 \
         running_var2"
    );
    let shape = |name: &str| -> Vec<usize> {
        match name {
            "W1" => vec![inputs, 6],
            "W2" => vec![6, 5],
            "W3" => vec![5, 10],
            "b3" => vec![10],
            n if n.ends_with('1') => vec![6],
            _ => vec![5],
        }
    };
    let expected = names.iter().fold(Expected::new(), |e, name| {
        e.array(name, &shape(name), &[Float::F64])
    });
    for format in ["npz", "pkl"] {
        let out = dir.path().join(format!("bn.{format}"));
        export(&model, format, &out);
        // The round trip: `import --like` the model gives the same model file, but for its
        // metadata (import notes the source, not the training run).
        let again = dir.path().join(format!("bn-{format}.ron"));
        nn_cli()
            .args(["import", "--book-weights"])
            .arg(&out)
            .arg("--like")
            .arg(&model)
            .arg("--out")
            .arg(&again)
            .assert()
            .success();
        let (a, b) = (without_metadata(&again), without_metadata(&model));
        // The seed is not the weights' (import records none).
        let unseeded = |t: &str| {
            t.lines()
                .filter(|l| !l.trim_start().starts_with("seed:"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert!(unseeded(&a) == unseeded(&b), "{format}: the model changed");
        // The arrays of another network: refused, naming both files, nothing written.
        let other = root().join("crates/nn-cli/tests/fixtures/v1-mnist-784-10-10.ron");
        let refused = dir.path().join(format!("refused-{format}.ron"));
        let assert = nn_cli()
            .args(["import", "--book-weights"])
            .arg(&out)
            .arg("--like")
            .arg(&other)
            .arg("--out")
            .arg(&refused)
            .assert()
            .failure();
        let err = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(
            err.contains("as the network of --like") && err.contains("gamma1"),
            "{err}"
        );
        assert!(!refused.exists());
        let arrays = book_weights::read(&out, &expected).unwrap();
        for (name, matrix) in &matrices {
            let array = arrays.get(&name.to_string()).unwrap();
            // Row by row, every bit.
            let rows: Vec<u64> = matrix.transpose().iter().map(|v| v.to_bits()).collect();
            let read: Vec<u64> = array.data.iter().map(|v| v.to_bits()).collect();
            assert_eq!(read, rows, "{format}: {name}");
        }
    }
}

#[test]
fn export_refuses_to_overwrite_its_model_and_names_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.ron");
    let text =
        fs::read_to_string(root().join("crates/nn-cli/tests/fixtures/v1-mnist-784-10-10.ron"))
            .unwrap();
    fs::write(&model, &text).unwrap();
    for format in ["onnx", "npz", "pkl", "safetensors"] {
        let out = nn_cli()
            .args(["export", "--format", format, "--model"])
            .arg(&model)
            .arg("--out")
            .arg(&model)
            .assert()
            .failure();
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(err.contains("same file as the input --model"), "{err}");
        assert_eq!(fs::read_to_string(&model).unwrap(), text, "{format}");
    }
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing written"
    );
    let out = nn_cli()
        .args(["export", "--format", "onnx", "--model"])
        .arg(dir.path().join("missing.ron"))
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("missing.ron not found: train one first"),
        "{err}"
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing written"
    );
    // The default output: the model's path with the format's extension.
    nn_cli()
        .args(["export", "--format", "safetensors", "--model"])
        .arg(&model)
        .assert()
        .success();
    assert!(dir.path().join("model.safetensors").is_file());
}

/// A network of every layer kind in the places the book's classes do not put them: batch norm
/// after a convolution (over every value, as the book's layer: `Flatten`, then `Reshape` back
/// for the next convolution), a pooling that pads (zeros, through `Pad`), a strided
/// convolution, sigmoid and dropout between convolutions. No class of the book loads it: ONNX
/// Runtime and the arrays only.
#[test]
fn any_spec_exported_to_onnx_computes_what_eval_computes() {
    let (Some(data), Some(python)) = (real_mnist_or_skip(), python_or_skip()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("odd.ron");
    fs::write(
        &config,
        "(net: Spec(input: (channels: 1, height: 28, width: 28), layers: [
            Convolution(filters: 8, size: 3, pad: 1), BatchNorm, Relu,
            Pooling(size: 2, stride: Some(2), pad: 1),
            Convolution(filters: 4, size: 3, stride: 2), Sigmoid, Dropout(ratio: 0.2),
            Affine(out: 20), BatchNorm, Relu, Dropout(ratio: 0.3), Affine(out: 10)], init: He),
          training: (batch_size: 50, length: Iters(60), optimizer: Adam(lr: 0.01, beta1: 0.9,
            beta2: 0.999), seed: 1, gradient: backprop, eval_samples: Some(100)))",
    )
    .unwrap();
    let model = dir.path().join("odd_model.ron");
    nn_cli()
        .arg("train")
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&model)
        .arg("--history")
        .arg(dir.path().join("odd.csv"))
        .arg("--plot")
        .arg(dir.path().join("odd.svg"))
        .assert()
        .success();
    let accuracy = check_consumers(&python, &data, &model, &["--net", "other"]);
    assert!(accuracy.as_str() > "0.30", "{accuracy}");
}
