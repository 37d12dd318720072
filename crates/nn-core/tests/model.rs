//! Model files: round trips, the spec and seed they record, version-1 and version-2 files, and
//! an error naming every kind of bad file.

use nn_core::layers::Name;
use nn_core::{
    Activation, LayerSpec, Matrix, Model, ModelError, ModelFile, NetSpec, Sequential, Shape,
    Targets, Trainable, TwoLayerConfig, TwoLayerNet, TwoLayerParams,
};
use std::collections::BTreeMap;

fn small_config() -> TwoLayerConfig {
    TwoLayerConfig {
        input_size: 3,
        hidden_size: 2,
        output_size: 2,
        activation: Activation::Relu,
        weight_init_std: 0.5,
    }
}

fn small_net() -> TwoLayerNet<f32> {
    TwoLayerNet::new(small_config(), 17).unwrap()
}

fn small_model_text() -> String {
    let net = small_net();
    ModelFile::from_model(&net, BTreeMap::new())
        .unwrap()
        .to_ron()
        .unwrap()
}

/// The four parameters with their names, as `Trainable::named_params` lists them.
fn named(params: &TwoLayerParams<f32>) -> Vec<(Name, Matrix<f32>)> {
    params
        .named()
        .iter()
        .map(|(name, m)| (name.parse().unwrap(), (*m).clone()))
        .collect()
}

#[test]
fn a_written_then_loaded_file_gives_the_same_network_seed_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.ron");
    let metadata: BTreeMap<_, _> = [("epochs".to_owned(), "17".to_owned())].into();
    let net = TwoLayerNet::<f32>::new(TwoLayerConfig::default(), 3).unwrap();
    let mut file = ModelFile::from_model(&net, metadata.clone()).unwrap();
    file.seed = Some(3);
    file.dataset = Some("fashion".to_owned());
    std::fs::write(&path, file.to_ron().unwrap()).unwrap();
    let mut loaded = ModelFile::<f32>::load(&path).unwrap();
    assert_eq!(loaded.net.named_params(), named(&net.params()));
    assert_eq!(loaded.net.spec(), net.config().spec());
    assert_eq!(loaded.dataset.as_deref(), Some("fashion"));
    assert_eq!((loaded.seed, loaded.metadata), (Some(3), metadata));
}

/// Before the model knew its own spec, `from_model` took a spec beside the model: a ReLU
/// network saved with the spec of a sigmoid one passed every check (the same names and shapes)
/// and loaded as a sigmoid network that computed something else. Now the file holds the
/// model's own spec.
#[test]
fn a_model_file_records_the_network_the_model_is() {
    let relu = TwoLayerConfig {
        activation: Activation::Relu,
        ..small_config()
    };
    let mut net = TwoLayerNet::<f32>::new(relu.clone(), 5).unwrap();
    let mut loaded = ModelFile::from_model(&net, BTreeMap::new()).unwrap();
    assert_eq!(loaded.net.spec(), relu.spec());
    assert!(loaded.net.spec().layers.contains(&LayerSpec::Relu));
    let x = Matrix::from_fn(3, 4, |i, n| (i as f32 - n as f32) / 3.0);
    assert_eq!(loaded.net.predict(&x), net.predict(&x));
}

#[test]
fn a_loaded_network_computes_what_the_saved_one_did() {
    let mut net = TwoLayerNet::<f32>::new(small_config(), 5).unwrap();
    let x = Matrix::from_fn(3, 4, |i, n| (i as f32 - n as f32) / 3.0);
    let mut loaded: ModelFile<f32> = ModelFile::from_ron(
        &ModelFile::from_model(&net, BTreeMap::new())
            .unwrap()
            .to_ron()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(loaded.net.predict(&x), net.predict(&x));
}

#[test]
fn batch_norm_statistics_are_saved_as_state() {
    let spec = NetSpec {
        input: Shape::flat(3),
        layers: vec![
            LayerSpec::Affine { out: 4 },
            LayerSpec::BatchNorm,
            LayerSpec::Relu,
            LayerSpec::Affine { out: 2 },
        ],
        init: nn_core::Init::He,
        weight_decay: 0.0,
    };
    let mut net = Sequential::<f64>::new(spec.clone(), 1).unwrap();
    let x = Matrix::from_fn(3, 5, |i, n| (i * n) as f64 / 7.0);
    net.loss(&x, Targets::Labels(&[0, 1, 0, 1, 1])); // moves the running statistics
    let text = ModelFile::from_model(&net, BTreeMap::new())
        .unwrap()
        .to_ron()
        .unwrap();
    for name in [
        "\"gamma1\"",
        "\"beta1\"",
        "\"running_mean1\"",
        "\"running_var1\"",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    let mut loaded = ModelFile::<f64>::from_ron(&text).unwrap();
    assert_eq!(loaded.net.predict(&x), net.predict(&x));
}

#[test]
fn the_file_stores_matrices_row_by_row() {
    let text = small_model_text();
    let w1 = small_net().params().w1;
    let row0 = format!("{}, {}", w1[(0, 0)], w1[(0, 1)]);
    assert!(
        text.contains(&row0),
        "W1's first row {row0} should be contiguous in:\n{text}"
    );
    assert!(text.contains("Relu"), "{text}");
}

/// Loads `text` after applying `edit`, expecting an error whose message contains every `needle`.
fn assert_rejected(text: &str, edit: impl Fn(&str) -> String, needles: &[&str]) {
    let text = edit(text);
    let err = ModelFile::<f32>::from_ron(&text).expect_err("the edited model must be rejected");
    let message = err.to_string();
    for needle in needles {
        assert!(
            message.contains(needle),
            "{message:?} should mention {needle:?}"
        );
    }
}

#[test]
fn a_shape_that_does_not_match_the_spec_is_named() {
    assert_rejected(
        &small_model_text(),
        |t| t.replacen("out: 2,", "out: 4,", 1),
        &["W1", "3x2", "3x4"],
    );
}

#[test]
fn a_huge_declared_network_is_refused_before_anything_is_allocated() {
    // 3 × 10⁹ weights (12 GB) declared by a file of a few hundred bytes: the spec alone says
    // that one sample's pass would keep too many values, before the network is built.
    assert_rejected(
        &small_model_text(),
        |t| t.replacen("out: 2,", "out: 1000000000,", 1),
        &["layer 1", "Affine(1000000000)", "values"],
    );
    // Within that bound, the names and shapes are checked before anything is allocated too.
    assert_rejected(
        &small_model_text(),
        |t| t.replacen("out: 2,", "out: 1000000,", 1),
        &["W1", "3x2", "3x1000000"],
    );
}

#[test]
fn missing_or_extra_parameters_are_named() {
    assert_rejected(
        &small_model_text(),
        |t| t.replacen("Relu, ", "Relu, Affine(out: 2), Relu, ", 1),
        &["W1 b1 W2 b2", "W1 b1 W2 b2 W3 b3"],
    );
}

#[test]
fn a_truncated_matrix_is_named() {
    assert_rejected(
        &small_model_text(),
        |t| {
            let start = t.find("\"b2\"").unwrap();
            let end = start + t[start..].find(']').unwrap();
            let comma = t[start..end].rfind(',').unwrap() + start;
            format!("{}{}", &t[..comma], &t[end..])
        },
        &["b2", "2x1", "holds 1"],
    );
}

#[test]
fn non_finite_values_are_named() {
    assert_rejected(
        &small_model_text(),
        |t| {
            let start = t.find("\"W2\"").unwrap();
            let open = start + t[start..].find('[').unwrap();
            let comma = open + t[open..].find(',').unwrap();
            format!("{}NaN{}", &t[..=open], &t[comma..])
        },
        &["W2", "NaN", "row 0, column 0"],
    );
}

#[test]
fn a_huge_declared_shape_is_an_error_not_an_overflow() {
    assert_rejected(
        &small_model_text(),
        |t| {
            t.replacen("rows: 3,", "rows: 4294967296,", 1).replacen(
                "cols: 2,",
                "cols: 4294967296,",
                1,
            )
        },
        &["W1", "4294967296x4294967296", "more than 2^64", "holds 6"],
    );
}

#[test]
fn bad_versions_specs_fields_and_syntax_are_explained() {
    let text = small_model_text();
    assert_rejected(
        &text,
        |t| t.replacen("format_version: 3", "format_version: 9", 1),
        &["version 9", "versions 1 to 3"],
    );
    assert_rejected(
        &text,
        |t| t.replacen("weight_decay: 0.0", "weight_decay: -1.0", 1),
        &["weight decay", "-1"],
    );
    assert_rejected(
        &text,
        |t| {
            t.replacen(
                "format_version: 3,",
                "format_version: 3, learning_rate: 0.1,",
                1,
            )
        },
        &["learning_rate"],
    );
    assert_rejected(&text, |t| t.replacen("Relu", "Tanh", 1), &["RON", "Tanh"]);
    assert_rejected(&text, |t| t[..t.len() / 2].to_owned(), &["RON"]);
}

/// A model file written by `ModelFile::to_ron` of nn-core at 9f5e0ca (format version 1), for
/// the network of `small_net()`.
const V1_SMALL: &str = include_str!("fixtures/v1-small.ron");

#[test]
fn a_version_1_file_loads_as_the_same_network() {
    let mut loaded = ModelFile::<f32>::from_ron(V1_SMALL).unwrap();
    assert_eq!(loaded.net.named_params(), named(&small_net().params()));
    assert_eq!(loaded.net.spec(), small_config().spec());
    assert!(loaded.metadata["note"].contains("format version 1"));
    // And it saves as version 3.
    assert!(
        ModelFile::new(loaded.net, BTreeMap::new())
            .to_ron()
            .unwrap()
            .contains("format_version: 3")
    );
}

#[test]
fn a_version_2_file_loads_without_a_seed() {
    let text = small_model_text().replacen("format_version: 3", "format_version: 2", 1);
    let text = text.replacen("    seed: None,\n", "", 1);
    let text = text.replacen("    dataset: None,\n", "", 1);
    assert!(
        !text.contains("seed") && !text.contains("dataset"),
        "{text}"
    );
    let mut loaded = ModelFile::<f32>::from_ron(&text).unwrap();
    assert_eq!(loaded.seed, None);
    assert_eq!(loaded.net.named_params(), named(&small_net().params()));
}

#[test]
fn a_bad_version_1_file_is_explained_too() {
    assert_rejected(
        V1_SMALL,
        |t| t.replacen("hidden_size: 2", "hidden_size: 4", 1),
        &["W1", "3x2", "3x4"],
    );
    assert_rejected(
        V1_SMALL,
        |t| t.replacen("weight_init_std: 0.5", "weight_init_std: -1.0", 1),
        &["weight_init_std", "-1"],
    );
    assert_rejected(
        V1_SMALL,
        |t| t.replacen("metadata:", "extra: 1, metadata:", 1),
        &["extra"],
    );
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.ron");
    let err = ModelFile::<f32>::load(&missing).unwrap_err();
    assert!(matches!(err, ModelError::Read { .. }));
    assert!(err.to_string().contains("missing.ron"), "{err}");

    let bad = dir.path().join("bad.ron");
    std::fs::write(&bad, "(format_version: 2)").unwrap();
    let err = ModelFile::<f32>::load(&bad).unwrap_err();
    assert!(matches!(err, ModelError::InFile { .. }));
    assert!(err.to_string().contains("bad.ron"), "{err}");

    let err = ModelFile::<f32>::load(dir.path()).unwrap_err();
    assert!(matches!(err, ModelError::NotAFile { .. }), "{err}");
}

/// A FIFO with no writer used to block `load` forever, and `/dev/zero` was read until memory
/// ran out (issue 23): both are refused at once.
#[cfg(unix)]
#[test]
fn a_fifo_or_a_device_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("model.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let err = ModelFile::<f32>::load(&fifo).unwrap_err();
        assert!(matches!(err, ModelError::NotAFile { .. }), "{err}");
        assert!(err.to_string().contains("model.fifo"), "{err}");
    }
    let err = ModelFile::<f32>::load("/dev/zero").unwrap_err();
    assert!(matches!(err, ModelError::NotAFile { .. }), "{err}");
}

#[test]
fn a_file_larger_than_any_model_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.ron");
    // Sparse: no disk space is used.
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(nn_core::MAX_FILE_BYTES + 1).unwrap();
    let err = ModelFile::<f32>::load(&huge).unwrap_err();
    assert!(matches!(err, ModelError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("huge.ron"), "{err}");
}

#[test]
fn an_f32_model_loads_as_f64_within_f32_rounding() {
    let mut wide = ModelFile::<f64>::from_ron(&small_model_text()).unwrap();
    let exact = small_net().params().cast::<f64>();
    for ((name, got), (_, want)) in wide.net.named_params().iter().zip(exact.named()) {
        let diff = (got - want).abs().max();
        assert!(diff < 1e-7, "{name}: {diff}");
    }
}

/// A negative running variance (issue 23: `predict` printed NaN probabilities for it) is refused
/// on load, naming the matrix.
#[test]
fn a_negative_running_variance_is_refused() {
    let spec = NetSpec {
        input: Shape::flat(3),
        layers: vec![
            LayerSpec::Affine { out: 2 },
            LayerSpec::BatchNorm,
            LayerSpec::Affine { out: 2 },
        ],
        init: nn_core::Init::He,
        weight_decay: 0.0,
    };
    let mut net = Sequential::<f32>::new(spec, 1).unwrap();
    net.visit_state(&mut |s| {
        if s.name.to_string() == "running_var1" {
            s.value.fill(0.25);
        }
    });
    let text = ModelFile::from_model(&net, BTreeMap::new())
        .unwrap()
        .to_ron()
        .unwrap();
    assert!(text.contains("data: [0.25, 0.25]"), "{text}");
    let text = text.replacen("data: [0.25, 0.25]", "data: [0.25, -0.5]", 1);
    let err = ModelFile::<f32>::from_ron(&text).unwrap_err();
    assert!(
        matches!(err, ModelError::NegativeVariance { row: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("running_var1"), "{err}");
}

/// A model file declaring 200 000 layers, or a convolution whose padding makes one sample's
/// output fill gigabytes, is refused from its spec before anything is allocated (issue 23).
#[test]
fn a_network_too_deep_or_too_wide_to_run_is_refused_from_its_spec() {
    let text = small_model_text();
    let relus = "Relu, ".repeat(200_000);
    assert_rejected(
        &text,
        |t| t.replacen("Relu, ", &relus, 1),
        &["200002 layers"],
    );
    assert_rejected(
        &text,
        |t| {
            t.replacen(
                "layers: [",
                "layers: [Convolution(filters: 64, size: 1, pad: 100000), ",
                1,
            )
        },
        &["layer 1", "Convolution", "values"],
    );
}
