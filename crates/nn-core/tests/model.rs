//! Model files: round trips, atomic saves, and an error naming every kind of bad file.

use nn_core::{Activation, ModelError, ModelFile, NetConfig, TwoLayerNet};
use std::collections::BTreeMap;

fn small_net() -> TwoLayerNet<f32> {
    let config = NetConfig {
        input_size: 3,
        hidden_size: 2,
        output_size: 2,
        activation: Activation::Relu,
        weight_init_std: 0.5,
    };
    TwoLayerNet::new(config, 17).unwrap()
}

fn small_model_text() -> String {
    ModelFile::new(small_net(), BTreeMap::new())
        .to_ron()
        .unwrap()
}

#[test]
fn save_then_load_gives_the_same_network_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.ron");
    let metadata: BTreeMap<_, _> = [("epochs".to_owned(), "17".to_owned())].into();
    let net = TwoLayerNet::<f32>::new(NetConfig::default(), 3).unwrap();
    ModelFile::new(net.clone(), metadata.clone())
        .save(&path)
        .unwrap();
    let loaded = ModelFile::<f32>::load(&path).unwrap();
    assert_eq!(loaded.net.params(), net.params());
    assert_eq!(loaded.net.config(), net.config());
    assert_eq!(loaded.metadata, metadata);
    // Only the model is left in the folder: the temporary file was renamed.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["model.ron"]);
    // Saving again replaces the file.
    ModelFile::new(small_net(), BTreeMap::new())
        .save(&path)
        .unwrap();
    assert_eq!(
        ModelFile::<f32>::load(&path)
            .unwrap()
            .net
            .config()
            .input_size,
        3
    );
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
    assert!(text.contains("activation: relu"));
}

/// Loads `text` after applying `edit`, expecting an error whose message contains every `needle`.
fn assert_rejected(edit: impl Fn(&str) -> String, needles: &[&str]) {
    let text = edit(&small_model_text());
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
fn a_shape_that_does_not_match_the_config_is_named() {
    assert_rejected(
        |t| t.replacen("hidden_size: 2", "hidden_size: 4", 1),
        &["W1", "3x2", "3x4"],
    );
}

#[test]
fn a_truncated_matrix_is_named() {
    assert_rejected(
        |t| {
            let start = t.find("b2:").unwrap();
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
        |t| {
            let start = t.find("W2:").unwrap();
            let open = start + t[start..].find('[').unwrap();
            let comma = open + t[open..].find(',').unwrap();
            format!("{}NaN{}", &t[..=open], &t[comma..])
        },
        &["W2", "NaN", "row 0, column 0"],
    );
}

#[test]
fn bad_versions_configs_and_syntax_are_explained() {
    assert_rejected(
        |t| t.replacen("format_version: 1", "format_version: 9", 1),
        &["version 9", "version 1"],
    );
    assert_rejected(
        |t| t.replacen("weight_init_std: 0.5", "weight_init_std: -1.0", 1),
        &["weight_init_std", "-1"],
    );
    assert_rejected(|t| t.replacen("relu", "tanh", 1), &["RON"]);
    assert_rejected(|t| t[..t.len() / 2].to_owned(), &["RON"]);
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.ron");
    let err = ModelFile::<f32>::load(&missing).unwrap_err();
    assert!(matches!(err, ModelError::Read { .. }));
    assert!(err.to_string().contains("missing.ron"), "{err}");

    let bad = dir.path().join("bad.ron");
    std::fs::write(&bad, "(format_version: 1)").unwrap();
    let err = ModelFile::<f32>::load(&bad).unwrap_err();
    assert!(matches!(err, ModelError::InFile { .. }));
    assert!(err.to_string().contains("bad.ron"), "{err}");

    let nowhere = dir.path().join("no-such-dir").join("model.ron");
    let err = ModelFile::new(small_net(), BTreeMap::new())
        .save(&nowhere)
        .unwrap_err();
    assert!(
        matches!(err, ModelError::Write { .. }) && err.to_string().contains("no-such-dir"),
        "{err}"
    );
}

#[test]
fn an_f32_model_loads_as_f64_within_f32_rounding() {
    let text = small_model_text();
    let wide = ModelFile::<f64>::from_ron(&text).unwrap();
    for (name, diff) in wide.net.params().max_abs_diff(&small_net().params().cast()) {
        assert!(diff < 1e-7, "{name}: {diff}");
    }
}
