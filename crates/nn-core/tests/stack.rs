//! Networks of any shape (chapter 6): gradient checks of deep stacks with every layer, batch
//! norm and dropout against their definitions, weight decay, initialisations, specs.

use nn_core::layers::{BatchNorm, Dropout, Kind, Layer};
use nn_core::{
    Activation, Init, LayerSpec, Matrix, Model, MultiLayerNetConfig, NetSpec, Sequential, Shape,
    SpecError, Targets, Trainable, TwoLayerConfig, TwoLayerNet,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_batch(inputs: usize, n: usize, classes: u8, seed: u64) -> (Matrix<f64>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Matrix::from_fn(inputs, n, |_, _| rng.random::<f64>() * 2.0 - 0.5);
    let labels = (0..n).map(|_| rng.random_range(0..classes)).collect();
    (x, labels)
}

/// Backprop against central differences on every parameter of `spec`, in f64; also checks that
/// the gradients are not vacuously small. The two gradients are computed on two copies of the
/// network at the same training step, so that dropout draws the same masks for both.
fn gradient_check(spec: NetSpec, seed: u64) {
    let inputs = spec.input.len().unwrap();
    let classes = spec.output_len().unwrap() as u8;
    let mut net = Sequential::<f64>::new(spec.clone(), seed).unwrap();
    let mut twin = net.snapshot();
    let (x, labels) = random_batch(inputs, 7, classes, seed + 1);
    let t = Targets::Labels(&labels);
    let params_before = net.named_params();
    net.gradient(&x, t);
    let backprop = net.named_gradients();
    twin.numerical_gradient(&x, t);
    let numerical = twin.named_gradients();
    assert_eq!(
        twin.named_params(),
        params_before,
        "the parameters are restored"
    );
    assert_eq!(backprop.len(), numerical.len());
    // A bias right before batch norm has no effect (the normalization subtracts it again): its
    // gradient is zero. Every other gradient is far from zero.
    let mut affine = 0;
    let mut biases_before_batch_norm = Vec::new();
    for (i, layer) in spec.layers.iter().enumerate() {
        if let LayerSpec::Affine { .. } = layer {
            affine += 1;
            if spec.layers.get(i + 1) == Some(&LayerSpec::BatchNorm) {
                biases_before_batch_norm.push(format!("b{affine}"));
            }
        }
    }
    for ((name, b), (_, n)) in backprop.iter().zip(&numerical) {
        let diff = (b - n).abs().mean();
        eprintln!("{spec}: {name}: mean |backprop − numerical| = {diff:e}");
        assert!(diff < 1e-6, "{spec}: {name}: {diff:e}");
        if biases_before_batch_norm.contains(&name.to_string()) {
            assert!(b.abs().max() < 1e-12, "{spec}: {name} should be 0: {b}");
        } else {
            assert!(b.abs().max() > 1e-4, "{spec}: {name} is suspiciously small");
        }
    }
}

fn deep_spec(init: Init, activation: LayerSpec, weight_decay: f64) -> NetSpec {
    NetSpec {
        input: Shape::flat(6),
        layers: vec![
            LayerSpec::Affine { out: 10 },
            LayerSpec::BatchNorm,
            activation.clone(),
            LayerSpec::Dropout { ratio: 0.3 },
            LayerSpec::Affine { out: 8 },
            LayerSpec::BatchNorm,
            activation,
            LayerSpec::Dropout { ratio: 0.2 },
            LayerSpec::Affine { out: 5 },
        ],
        init,
        weight_decay,
    }
}

#[test]
fn gradient_check_of_a_deep_stack_with_every_layer() {
    gradient_check(deep_spec(Init::He, LayerSpec::Relu, 0.1), 1);
    gradient_check(deep_spec(Init::Xavier, LayerSpec::Sigmoid, 0.0), 2);
    gradient_check(deep_spec(Init::Std(0.5), LayerSpec::Sigmoid, 0.3), 3);
}

#[test]
fn gradient_check_of_a_four_layer_multi_layer_net() {
    let config = MultiLayerNetConfig {
        hidden: vec![12, 12, 12, 12],
        activation: Activation::Relu,
        init: Init::He,
        batch_norm: true,
        dropout: Some(0.15),
        weight_decay: 0.1,
    };
    gradient_check(config.spec(Shape::new(1, 3, 3), 4), 5);
}

#[test]
fn parameters_are_named_as_the_book_numbers_them() {
    let mut net = Sequential::<f32>::new(deep_spec(Init::He, LayerSpec::Relu, 0.0), 0).unwrap();
    let mut names = Vec::new();
    net.visit_params(&mut |p| names.push(p.name.to_string()));
    assert_eq!(
        names,
        [
            "W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"
        ]
    );
    let mut state = Vec::new();
    net.visit_state(&mut |s| state.push(s.name.to_string()));
    assert_eq!(
        state,
        [
            "running_mean1",
            "running_var1",
            "running_mean2",
            "running_var2"
        ]
    );
}

#[test]
fn batch_norm_normalizes_each_feature_and_tracks_running_statistics() {
    // Two features of four samples: means 2.5 and 10, variances 1.25 and 0.
    let x = Matrix::from_row_slice(2, 4, &[1.0, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 10.0]);
    let mut bn = BatchNorm::<f64>::new(2);
    bn.gamma = Matrix::from_column_slice(2, 1, &[2.0, 1.0]);
    bn.beta = Matrix::from_column_slice(2, 1, &[0.5, -1.0]);
    let out = bn.forward(&x).clone();
    let std = (1.25_f64 + 10e-7).sqrt();
    for (n, &v) in [1.0, 2.0, 3.0, 4.0].iter().enumerate() {
        assert!((out[(0, n)] - (2.0 * (v - 2.5) / std + 0.5)).abs() < 1e-12);
        assert!(
            (out[(1, n)] - -1.0).abs() < 1e-12,
            "a constant feature becomes beta"
        );
    }
    // running ← 0.9·running + 0.1·batch, from zero.
    assert!((bn.running_mean[0] - 0.25).abs() < 1e-12 && (bn.running_mean[1] - 1.0).abs() < 1e-12);
    assert!((bn.running_var[0] - 0.125).abs() < 1e-12 && bn.running_var[1].abs() < 1e-12);
    // Inference uses the running statistics.
    bn.set_training(false);
    let single = Matrix::from_column_slice(2, 1, &[1.0, 3.0]);
    let out = bn.forward(&single);
    assert!((out[0] - (2.0 * (1.0 - 0.25) / (0.125_f64 + 10e-7).sqrt() + 0.5)).abs() < 1e-12);
    assert!((out[1] - ((3.0 - 1.0) / 10e-7_f64.sqrt() - 1.0)).abs() < 1e-6);
}

#[test]
fn batch_norm_backward_matches_numerical_gradients() {
    // L = Σ out ⊙ R for a fixed R: ∂L/∂out = R.
    let (x, _) = random_batch(3, 5, 1, 7);
    let r = Matrix::from_fn(3, 5, |i, n| ((i * 5 + n) % 7) as f64 - 3.0);
    let gamma = Matrix::from_column_slice(3, 1, &[1.5, -0.5, 2.0]);
    let beta = Matrix::from_column_slice(3, 1, &[0.1, 0.2, 0.3]);
    let loss = |x: &Matrix<f64>, gamma: &Matrix<f64>, beta: &Matrix<f64>| {
        let mut bn = BatchNorm::with_params(gamma.clone(), beta.clone());
        bn.forward(x).component_mul(&r).sum()
    };
    let mut bn = BatchNorm::with_params(gamma.clone(), beta.clone());
    bn.forward(&x);
    let dx = bn.backward(&x, &r, true).unwrap().clone();
    let h = 1e-5;
    let numerical = |f: &dyn Fn(&Matrix<f64>) -> f64, at: &Matrix<f64>| {
        Matrix::from_fn(at.nrows(), at.ncols(), |i, j| {
            let (mut plus, mut minus) = (at.clone(), at.clone());
            plus[(i, j)] += h;
            minus[(i, j)] -= h;
            (f(&plus) - f(&minus)) / (2.0 * h)
        })
    };
    let num_dx = numerical(&|x| loss(x, &gamma, &beta), &x);
    let num_dgamma = numerical(&|g| loss(&x, g, &beta), &gamma);
    let num_dbeta = numerical(&|b| loss(&x, &gamma, b), &beta);
    assert!((dx - num_dx).abs().max() < 1e-7);
    assert!((&bn.dgamma - num_dgamma).abs().max() < 1e-7);
    assert!((&bn.dbeta - num_dbeta).abs().max() < 1e-7);
}

#[test]
fn dropout_drops_at_the_ratio_scales_at_inference_and_keeps_its_mask_until_backward() {
    let x = Matrix::from_element(10, 1000, 3.0_f64);
    let mut dropout = Dropout::new(0.2, 11);
    let first = dropout.forward(&x).clone();
    let kept = first.iter().filter(|&&v| v == 3.0).count();
    assert_eq!(kept + first.iter().filter(|&&v| v == 0.0).count(), 10_000);
    // 8000 expected, binomial std 40: six sigmas either way.
    assert!((7760..8240).contains(&kept), "{kept} kept");
    assert_eq!(
        dropout.forward(&x),
        &first,
        "the same mask until the backward pass"
    );
    let dx = dropout
        .backward(&x, &Matrix::from_element(10, 1000, 1.0), true)
        .unwrap()
        .clone();
    assert_eq!(
        dx,
        first.map(|v| v / 3.0),
        "backward passes through the same mask"
    );
    assert_ne!(
        dropout.forward(&x),
        &first,
        "a new mask after the backward pass"
    );
    // The same seed gives the same masks.
    let mut again = Dropout::new(0.2, 11);
    assert_eq!(again.forward(&x), &first);
    dropout.set_training(false);
    assert_eq!(
        dropout.forward(&x),
        &Matrix::from_element(10, 1000, 3.0 * 0.8)
    );
}

#[test]
fn weight_decay_adds_half_lambda_squared_weights_to_the_loss_and_lambda_w_to_their_gradient() {
    let lambda = 0.25;
    let (x, labels) = random_batch(6, 7, 5, 9);
    let t = Targets::Labels(&labels);
    let mut plain = Sequential::<f64>::new(deep_spec(Init::He, LayerSpec::Relu, 0.0), 4).unwrap();
    let mut decayed =
        Sequential::<f64>::new(deep_spec(Init::He, LayerSpec::Relu, lambda), 4).unwrap();
    let params = plain.named_params();
    let squares: f64 = params
        .iter()
        .filter(|(name, _)| name.kind == Kind::Weight)
        .map(|(_, w)| w.norm_squared())
        .sum();
    let (l0, l1) = (plain.gradient(&x, t), decayed.gradient(&x, t));
    assert!((l1 - l0 - 0.5 * lambda * squares).abs() < 1e-12);
    for (((name, g0), (_, g1)), (_, w)) in plain
        .named_gradients()
        .iter()
        .zip(decayed.named_gradients())
        .zip(&params)
    {
        let want = if name.kind == Kind::Weight {
            w * lambda
        } else {
            w * 0.0
        };
        assert!(((g1 - g0) - want).abs().max() < 1e-12, "{name}");
    }
}

#[test]
fn initialisations_have_the_books_spread() {
    let spec = |init| NetSpec {
        input: Shape::flat(400),
        layers: vec![
            LayerSpec::Affine { out: 200 },
            LayerSpec::Relu,
            LayerSpec::Affine { out: 10 },
        ],
        init,
        weight_decay: 0.0,
    };
    for (init, std_w1, std_w2) in [
        (Init::Std(0.01), 0.01, 0.01),
        (
            Init::Xavier,
            (1.0_f64 / 400.0).sqrt(),
            (1.0_f64 / 200.0).sqrt(),
        ),
        (Init::He, (2.0_f64 / 400.0).sqrt(), (2.0_f64 / 200.0).sqrt()),
    ] {
        let params = Sequential::<f64>::new(spec(init), 3)
            .unwrap()
            .named_params();
        for ((name, w), want) in [(&params[0], std_w1), (&params[2], std_w2)] {
            let n = w.len() as f64;
            let mean = w.sum() / n;
            let std = (w.map(|v| (v - mean) * (v - mean)).sum() / n).sqrt();
            assert!(
                (std / want - 1.0).abs() < 0.05,
                "{init} {name}: std {std}, want {want}"
            );
            assert!(
                mean.abs() < 4.0 * want / n.sqrt(),
                "{init} {name}: mean {mean}"
            );
        }
        assert!(params[1].1.iter().all(|&b| b == 0.0), "biases start at 0");
    }
}

/// The spec of a two-layer net builds the very same network as `TwoLayerNet`: the same initial
/// weights and, step after step, the same losses and gradients, bit for bit.
#[test]
fn the_two_layer_spec_trains_exactly_like_two_layer_net() {
    for activation in [Activation::Sigmoid, Activation::Relu] {
        let config = TwoLayerConfig {
            activation,
            ..TwoLayerConfig::default()
        };
        let mut two = TwoLayerNet::<f32>::new(config.clone(), 8).unwrap();
        let mut stack = Sequential::<f32>::new(config.spec(), 8).unwrap();
        let (x, labels) = random_batch(784, 100, 10, 3);
        let x = x.map(|v| v as f32);
        for _ in 0..3 {
            let t = Targets::Labels(&labels);
            assert_eq!(
                two.gradient(&x, t),
                stack.gradient(&x, t),
                "{activation}: loss"
            );
            for net in [&mut two as &mut dyn Trainable<f32>, &mut stack] {
                net.visit_params(&mut |p| p.value.zip_apply(p.grad, |w, g| *w -= 0.5 * g));
            }
        }
        assert_eq!(
            stack.named_params(),
            two.named_params(),
            "{activation}: parameters"
        );
        assert_eq!(stack.predict(&x), two.predict(&x), "{activation}: scores");
    }
}

#[test]
fn a_stack_trains_bit_identically_on_one_and_two_threads() {
    let spec = MultiLayerNetConfig {
        hidden: vec![300, 100],
        activation: Activation::Relu,
        init: Init::He,
        batch_norm: true,
        dropout: Some(0.2),
        weight_decay: 0.01,
    }
    .spec(Shape::new(1, 28, 28), 10);
    let (x, labels) = random_batch(784, 100, 10, 6);
    let x = x.map(|v| v as f32);
    let train = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut net = Sequential::<f32>::new(spec.clone(), 1).unwrap();
            let losses: Vec<f32> = (0..4)
                .map(|_| {
                    let loss = net.gradient(&x, Targets::Labels(&labels));
                    net.visit_params(&mut |p| p.value.zip_apply(p.grad, |w, g| *w -= 0.1 * g));
                    loss
                })
                .collect();
            let scores = net.predict(&x).clone();
            (net.named_params(), losses, scores)
        })
    };
    let (one, two) = (train(1), train(2));
    assert_eq!(one, two);
    assert!(one.1[3] < one.1[0], "the loss falls: {:?}", one.1);
}

#[test]
fn a_snapshot_predicts_what_the_network_does() {
    let mut net = Sequential::<f64>::new(deep_spec(Init::He, LayerSpec::Relu, 0.0), 2).unwrap();
    let (x, labels) = random_batch(6, 9, 5, 2);
    net.gradient(&x, Targets::Labels(&labels)); // moves the running statistics
    let mut copy = net.snapshot();
    assert_eq!(copy.predict(&x), net.predict(&x));
}

#[test]
fn specs_are_checked_before_anything_is_built() {
    let with = |layers: Vec<LayerSpec>| NetSpec {
        input: Shape::new(1, 28, 28),
        layers,
        init: Init::He,
        weight_decay: 0.0,
    };
    let err = |spec: NetSpec| Sequential::<f32>::new(spec, 0).unwrap_err();
    let zero = err(with(vec![
        LayerSpec::Affine { out: 100 },
        LayerSpec::Relu,
        LayerSpec::Affine { out: 0 },
    ]));
    assert!(
        matches!(zero, SpecError::Layer { position: 3, .. }),
        "{zero}"
    );
    assert!(
        zero.to_string()
            .contains("layer 3 (Affine(0)) on an input of shape 100"),
        "{zero}"
    );
    let ratio = err(with(vec![
        LayerSpec::Dropout { ratio: 1.0 },
        LayerSpec::Affine { out: 10 },
    ]));
    assert!(ratio.to_string().contains("ratio is 1"), "{ratio}");
    assert_eq!(err(with(vec![])), SpecError::NoLayers);
    let decay = NetSpec {
        weight_decay: -0.1,
        ..with(vec![LayerSpec::Affine { out: 10 }])
    };
    assert_eq!(err(decay), SpecError::WeightDecay(-0.1));
    let std = NetSpec {
        init: Init::Std(f64::INFINITY),
        ..with(vec![LayerSpec::Affine { out: 10 }])
    };
    assert_eq!(err(std), SpecError::InitStd(f64::INFINITY));
    let empty = NetSpec {
        input: Shape::new(1, 0, 28),
        ..with(vec![LayerSpec::Affine { out: 10 }])
    };
    assert!(matches!(err(empty), SpecError::Input(_)));
    let huge = NetSpec {
        input: Shape::new(usize::MAX, 2, 1),
        ..with(vec![LayerSpec::Affine { out: 10 }])
    };
    assert!(matches!(err(huge), SpecError::Input(_)));
    // Unknown fields in RON name the field.
    let text =
        "(input: (channels: 1, height: 28, width: 28), layers: [Affine(out: 10, bias: false)])";
    let parse = ron::from_str::<NetSpec>(text).unwrap_err().to_string();
    assert!(parse.contains("bias"), "{parse}");
}

/// Errors are typed by what is wrong (nn-cli maps each to its flag by variant), and a network too
/// large is said to be too large: a count that overflowed used to be reported as an input shape
/// holding no value.
#[test]
fn spec_errors_say_what_is_wrong() {
    use nn_core::LayerError;
    let spec = |input: Shape, layers: Vec<LayerSpec>| NetSpec {
        input,
        layers,
        init: Init::He,
        weight_decay: 0.0,
    };
    let dropout = spec(Shape::flat(4), vec![LayerSpec::Dropout { ratio: 1.5 }]);
    assert!(matches!(
        dropout.check(),
        Err(SpecError::Layer {
            position: 1,
            error: LayerError::DropoutRatio(r),
            ..
        }) if r == 1.5
    ));
    let zero = spec(Shape::flat(4), vec![LayerSpec::Affine { out: 0 }]);
    assert!(matches!(
        zero.check(),
        Err(SpecError::Layer {
            error: LayerError::ZeroSize("out"),
            ..
        })
    ));
    let window = spec(
        Shape::new(1, 2, 2),
        vec![LayerSpec::Convolution {
            filters: 1,
            size: 3,
            stride: 1,
            pad: 0,
        }],
    );
    assert!(matches!(
        window.check(),
        Err(SpecError::Layer {
            error: LayerError::Geometry(_),
            ..
        })
    ));
    let overflow = spec(
        Shape::flat(784),
        vec![LayerSpec::Affine { out: usize::MAX }],
    );
    assert!(matches!(
        overflow.check(),
        Err(SpecError::Layer {
            error: LayerError::TooLarge(_),
            ..
        })
    ));
    // A network whose counts would overflow is refused as too large, before it is counted: its
    // input alone keeps more values than a pass may.
    let huge = spec(
        Shape::flat(1 << 32),
        vec![
            LayerSpec::Affine { out: 1 << 31 },
            LayerSpec::Affine { out: 1 << 32 },
        ],
    );
    let err = huge.param_count().unwrap_err();
    assert!(
        matches!(
            err,
            SpecError::Layer {
                position: 1,
                error: LayerError::TooManyValues { .. },
                ..
            }
        ),
        "{err}"
    );
}

/// A dropout layer's training step is what a model file does not keep and a resumed run needs:
/// a network rebuilt from the parameters and state alone draws the masks of step 0 again, and
/// one given the steps too (`visit_steps`) draws the masks the original draws next.
#[test]
fn dropout_steps_are_visited_and_restore_the_next_masks() {
    let spec = deep_spec(Init::He, LayerSpec::Relu, 0.0);
    let mut net = Sequential::<f64>::new(spec.clone(), 9).unwrap();
    let (x, labels) = random_batch(6, 7, 5, 10);
    let t = Targets::Labels(&labels);
    for _ in 0..3 {
        net.gradient(&x, t);
    }
    let mut steps = Vec::new();
    net.visit_steps(&mut |s| steps.push(*s));
    // Two dropout layers, each stepped by each of the three backward passes.
    assert_eq!(steps, [3, 3]);

    // The same parameters and state in a network built anew from the same seed (which gives
    // the dropout layers their seeds): its steps are 0.
    let rebuild = |net: &mut Sequential<f64>| {
        let mut copy = Sequential::<f64>::new(spec.clone(), 9).unwrap();
        let mut values = Vec::new();
        net.visit_params(&mut |p| values.push(p.value.clone()));
        net.visit_state(&mut |s| values.push(s.value.clone()));
        let mut values = values.into_iter();
        copy.visit_params(&mut |p| *p.value = values.next().unwrap());
        copy.visit_state(&mut |s| *s.value = values.next().unwrap());
        copy
    };
    let mut without_steps = rebuild(&mut net);
    let mut with_steps = rebuild(&mut net);
    let mut saved = steps.iter();
    with_steps.visit_steps(&mut |s| *s = *saved.next().unwrap());

    let loss = net.gradient(&x, t);
    let grads = net.named_gradients();
    assert_eq!(with_steps.gradient(&x, t), loss);
    assert_eq!(with_steps.named_gradients(), grads);
    assert_ne!(
        without_steps.gradient(&x, t),
        loss,
        "step 0's masks are not step 3's"
    );
    // A network without dropout has no step to visit.
    let mut plain = Sequential::<f64>::new(
        NetSpec {
            layers: vec![LayerSpec::Affine { out: 5 }],
            ..spec
        },
        0,
    )
    .unwrap();
    let mut count = 0;
    plain.visit_steps(&mut |_| count += 1);
    assert_eq!(count, 0);
}
