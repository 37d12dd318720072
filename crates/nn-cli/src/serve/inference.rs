//! What the page shows of one image: `predict --image`'s probabilities, and the output of the
//! first hidden layer; and the strip of test images.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use mnist_io::Split;
use nn_core::{LayerSpec, Matrix, Model, NetSpec, Sequential, Shape, Trainable, functions};
use serde::Serialize;

use crate::predict;

/// The layer whose output the page draws: the first activation (ReLU or sigmoid) of the
/// network, which follows the first convolution in a CNN and the first affine layer in an MLP.
#[derive(Clone, Debug)]
pub struct FeatureView {
    /// Its index among the spec's layers (as `Sequential::inspect_layers` counts them).
    pub layer: usize,
    /// The shape of its output: `FN × OH × OW` after a convolution, `N × 1 × 1` after an
    /// affine layer.
    pub shape: Shape,
    /// Whether the network has a convolution.
    pub convolutional: bool,
    /// What it shows, for the page.
    pub description: String,
}

impl FeatureView {
    /// The view of `spec`'s network (its first activation, or its first layer if it has none).
    ///
    /// # Errors
    /// The spec's own problems (a model file's spec was checked when it loaded).
    pub fn of(spec: NetSpec) -> Result<Self> {
        let shapes = spec.check().context("the model's network is invalid")?;
        let convolutional = spec
            .layers
            .iter()
            .any(|layer| matches!(layer, LayerSpec::Convolution { .. }));
        let activation = spec
            .layers
            .iter()
            .position(|layer| matches!(layer, LayerSpec::Relu | LayerSpec::Sigmoid));
        let layer = activation.unwrap_or(0);
        let shape = shapes[layer];
        let after = match activation {
            Some(i) => format!(", after its {}", spec.layers[i]),
            None => String::new(),
        };
        let description = if convolutional {
            format!(
                "the first convolution's {} feature maps ({}×{}){after}",
                shape.channels, shape.height, shape.width
            )
        } else {
            format!(
                "the first hidden layer's {} activations{after}",
                shape.len().unwrap_or(0)
            )
        };
        Ok(FeatureView {
            layer,
            shape,
            convolutional,
            description,
        })
    }
}

/// What the network makes of one image.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// The 28×28 input, row-major, 0 background, 255 ink.
    pub pixels: Vec<u8>,
    /// [`predict::probabilities`] of it.
    pub probabilities: Vec<f32>,
    /// The most probable class (the first on ties, as `predict`).
    pub predicted: usize,
    /// The output of the [`FeatureView`]'s layer, in the layout of `shape` (channel by
    /// channel, each row-major).
    pub features: Vec<f32>,
    /// Its shape.
    pub shape: Shape,
}

/// A network, and a copy of its layers up to a [`FeatureView`]'s with the same weights.
///
/// [`Sequential::inspect_layers`] gives every layer's own output, and runs a network it fuses
/// (a convolution with its ReLU and pooling) layer by layer through a copy built for the call:
/// for SimpleConvNet, 5 ms spent drawing initial weights that are then overwritten, against
/// 0.07 ms for the prediction. The copy of the first layers costs that once, at startup, and
/// computes the same values: the same layers, with the same weights, on the same input.
#[derive(Clone, Debug)]
pub struct Networks {
    /// The whole network.
    pub net: Sequential<f32>,
    /// Its layers up to the view's.
    pub head: Sequential<f32>,
}

impl Networks {
    /// `net`, and the copy of its layers up to `view`'s.
    ///
    /// # Errors
    /// When the copy cannot take `net`'s weights (a bug: the same layers have the same
    /// parameters).
    pub fn new(mut net: Sequential<f32>, view: &FeatureView) -> Result<Self> {
        let spec = net.spec();
        let head_spec = NetSpec {
            layers: spec.layers[..=view.layer].to_vec(),
            ..spec
        };
        let mut head = Sequential::<f32>::new(head_spec, 0).context("the first layers")?;
        let mut values = BTreeMap::new();
        net.visit_params(&mut |p| {
            values.insert(p.name.to_string(), p.value.clone());
        });
        net.visit_state(&mut |s| {
            values.insert(s.name.to_string(), s.value.clone());
        });
        let mut missing = Vec::new();
        let mut copy = |name: String, value: &mut Matrix<f32>| match values.get(&name) {
            Some(v) if v.shape() == value.shape() => value.copy_from(v),
            _ => missing.push(name),
        };
        head.visit_params(&mut |p| copy(p.name.to_string(), p.value));
        head.visit_state(&mut |s| copy(s.name.to_string(), s.value));
        if !missing.is_empty() {
            bail!(
                "the first layers do not take the network's {}",
                missing.join(", ")
            );
        }
        Ok(Networks { net, head })
    }
}

/// The class probabilities of `pixels` through [`predict::probabilities`] (the function of
/// `predict --image`), and the output of `view`'s layer.
///
/// A model whose scores are not finite is an error naming `model`.
pub fn analyse(
    nets: &mut Networks,
    view: &FeatureView,
    pixels: Vec<u8>,
    model: &Path,
) -> Result<Analysis> {
    let probabilities = predict::probabilities(&mut nets.net, &pixels, model)?;
    let predicted = functions::argmax(&probabilities);
    let x = Matrix::<f32>::from_iterator(
        pixels.len(),
        1,
        pixels.iter().map(|&p| f32::from(p) / 255.0),
    );
    let mut features = Vec::new();
    nets.head.inspect_layers(&x, |i, _, out| {
        if i == view.layer {
            features = out.column(0).iter().copied().collect();
        }
    });
    Ok(Analysis {
        pixels,
        probabilities,
        predicted,
        features,
        shape: view.shape,
    })
}

/// A test image of the strip.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// Its index in the test set.
    pub index: usize,
    /// Its label.
    pub label: u8,
    /// The class the network gives it (through [`analyse`], as the page's own requests).
    pub predicted: usize,
    /// Its 28×28 pixels, row-major, 0 background, 255 ink.
    pub pixels: Vec<u8>,
}

/// The strip: the first `first` test images, then the first `wrong` ones after them that the
/// network misclassifies (fewer if it misclassifies fewer).
///
/// The test set is scanned in batches until `wrong` errors are found; each chosen image's
/// prediction is then computed alone, as the page will ask for it.
pub fn pick_samples(
    net: &mut Sequential<f32>,
    test: &Split,
    first: usize,
    wrong: usize,
    model: &Path,
) -> Result<Vec<Sample>> {
    const BATCH: usize = 500;
    let pixels = test.pixels_per_image();
    let mut chosen: Vec<usize> = (0..first.min(test.len())).collect();
    let mut errors = Vec::new();
    let mut start = 0;
    while errors.len() < wrong && start < test.len() {
        let end = (start + BATCH).min(test.len());
        let x = Matrix::<f32>::from_iterator(
            pixels,
            end - start,
            (start..end).flat_map(|i| test.image(i).iter().map(|&p| f32::from(p) / 255.0)),
        );
        let predicted: Vec<usize> = functions::argmax_columns(net.predict(&x)).collect();
        errors.extend(
            (start..end)
                .zip(predicted)
                .filter(|&(i, p)| i >= first && p != usize::from(test.label(i)))
                .map(|(i, _)| i)
                .take(wrong - errors.len()),
        );
        start = end;
    }
    chosen.extend(errors);
    chosen
        .into_iter()
        .map(|index| {
            let image = test.image(index).to_vec();
            let predicted = functions::argmax(&predict::probabilities(net, &image, model)?);
            Ok(Sample {
                index,
                label: test.label(index),
                predicted,
                pixels: image,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_core::MultiLayerNetConfig;

    #[test]
    fn views_the_first_activation() {
        let mlp = MultiLayerNetConfig {
            hidden: vec![30, 20],
            ..MultiLayerNetConfig::default()
        }
        .spec(Shape::new(1, 28, 28), 10);
        let view = FeatureView::of(mlp).unwrap();
        assert_eq!((view.layer, view.shape), (1, Shape::flat(30)));
        assert!(!view.convolutional);
        assert_eq!(
            view.description,
            "the first hidden layer's 30 activations, after its Sigmoid"
        );

        let cnn = NetSpec::simple_conv_net(Shape::new(1, 28, 28), 10);
        let view = FeatureView::of(cnn).unwrap();
        // Convolution 30×5×5 on 28×28: 30 maps of 24×24, then its ReLU.
        assert_eq!((view.layer, view.shape), (1, Shape::new(30, 24, 24)));
        assert!(view.convolutional);
        assert_eq!(
            view.description,
            "the first convolution's 30 feature maps (24×24), after its Relu"
        );
    }

    #[test]
    fn features_are_the_layers_own_output() {
        // One affine layer of 2 neurons, then ReLU: the features are max(0, Wᵀx + b).
        let spec = NetSpec {
            input: Shape::new(1, 28, 28),
            layers: vec![
                LayerSpec::Affine { out: 2 },
                LayerSpec::Relu,
                LayerSpec::Affine { out: 10 },
            ],
            init: nn_core::Init::Std(0.0),
            weight_decay: 0.0,
        };
        let view = FeatureView::of(spec.clone()).unwrap();
        let mut net = Sequential::<f32>::new(spec, 1).unwrap();
        // W1 = 0 but b1 = (0.5, -0.5): the ReLU gives (0.5, 0) whatever the image.
        net.visit_params(&mut |p| {
            if p.name.to_string() == "b1" {
                p.value[0] = 0.5;
                p.value[1] = -0.5;
            }
        });
        let mut nets = Networks::new(net, &view).unwrap();
        let analysis = analyse(&mut nets, &view, vec![255; 784], Path::new("test.ron")).unwrap();
        assert_eq!(analysis.features, [0.5, 0.0]);
        // All weights of the output layer are 0: every class is as probable.
        assert_eq!(analysis.probabilities, [0.1; 10]);
        assert_eq!(analysis.predicted, 0);
    }
}
