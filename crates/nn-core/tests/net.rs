//! TwoLayerNet: gradient checks on MNIST-shaped data, closed forms, reproducibility.

use nn_core::{
    Activation, Float, Matrix, Model, Targets, Trainable, TwoLayerConfig, TwoLayerNet,
    count_matches,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn mnist_config(activation: Activation) -> TwoLayerConfig {
    TwoLayerConfig {
        activation,
        ..TwoLayerConfig::default()
    }
}

/// `n` random "images" with pixels in [0, 1) and random labels.
fn random_batch(n: usize, seed: u64) -> (Matrix<f64>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Matrix::from_fn(784, n, |_, _| rng.random::<f64>());
    let labels = (0..n).map(|_| rng.random_range(0..10u8)).collect();
    (x, labels)
}

/// The book's gradient check (§5.7.3) on 3 samples of a 784-50-10 network, in f64.
fn gradient_check(activation: Activation) {
    let mut net = TwoLayerNet::<f64>::new(mnist_config(activation), 1).unwrap();
    let (x, labels) = random_batch(3, 2);
    let t = Targets::Labels(&labels);
    let before = net.params();
    net.gradient(&x, t);
    let backprop = net.gradients();
    let numerical = net.naive_numerical_gradient(&x, t);
    assert_eq!(
        net.params(),
        before,
        "numerical_gradient leaves the network unchanged"
    );
    for (name, diff) in backprop.mean_abs_diff(&numerical) {
        eprintln!("{activation} {name}: mean |backprop − numerical| = {diff:e}");
        assert!(
            diff < 1e-6,
            "{activation} {name}: mean |backprop − numerical| = {diff:e}"
        );
    }
    // Not vacuous: the gradients are far from zero compared with the tolerance.
    for (name, g) in backprop.named() {
        assert!(
            g.abs().max() > 1e-4,
            "{activation} {name} is suspiciously small"
        );
    }
    let closed = net.closed_form_gradient(&x, t);
    for (name, diff) in backprop.max_abs_diff(&closed) {
        assert!(
            diff < 1e-12,
            "{activation} {name}: max |layered − closed form| = {diff:e}"
        );
    }
}

#[test]
fn gradient_check_sigmoid() {
    gradient_check(Activation::Sigmoid);
}

#[test]
fn gradient_check_relu() {
    gradient_check(Activation::Relu);
}

#[test]
fn closed_form_and_layered_gradients_agree_with_one_hot_targets_and_larger_batches() {
    for activation in [Activation::Sigmoid, Activation::Relu] {
        let config = TwoLayerConfig {
            weight_init_std: 0.5,
            ..mnist_config(activation)
        };
        let mut net = TwoLayerNet::<f64>::new(config, 3).unwrap();
        let (x, labels) = random_batch(20, 4);
        let t = Matrix::from_fn(10, 20, |k, n| {
            if usize::from(labels[n]) == k {
                1.0
            } else {
                0.0
            }
        });
        net.gradient(&x, Targets::OneHot(&t));
        let closed = net.closed_form_gradient(&x, Targets::OneHot(&t));
        for (name, diff) in net.gradients().max_abs_diff(&closed) {
            assert!(diff < 1e-12, "{activation} {name}: {diff:e}");
        }
    }
}

#[test]
fn zero_weights_give_the_closed_form_loss_and_gradient() {
    // With W = 0 every score is 0: y = 1/10 everywhere, loss = ln 10, dy = (0.1 − t)/N,
    // gb2 = 0.1 − (fraction of each label), gW2 = σ(0)·gb2 = 0.5·gb2, and nothing reaches W1.
    let config = TwoLayerConfig {
        weight_init_std: 0.0,
        ..TwoLayerConfig::default()
    };
    let mut net = TwoLayerNet::<f64>::new(config, 0).unwrap();
    let (x, _) = random_batch(4, 5);
    let labels = [3, 3, 7, 0];
    let loss = net.gradient(&x, Targets::Labels(&labels));
    assert!((loss - 10f64.ln()).abs() < 1e-15);
    let g = net.gradients();
    let fraction = [0.25, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0];
    for (k, fraction) in fraction.into_iter().enumerate() {
        assert!((g.b2[k] - (0.1 - fraction)).abs() < 1e-15);
        assert!(
            g.w2.column(k)
                .iter()
                .all(|&v| (v - 0.5 * (0.1 - fraction)).abs() < 1e-15)
        );
    }
    assert!(g.w1.iter().chain(g.b1.iter()).all(|&v| v == 0.0));
}

#[test]
fn same_seed_same_network_and_the_weights_have_the_requested_spread() {
    let a = TwoLayerNet::<f32>::new(TwoLayerConfig::default(), 42).unwrap();
    let b = TwoLayerNet::<f32>::new(TwoLayerConfig::default(), 42).unwrap();
    let c = TwoLayerNet::<f32>::new(TwoLayerConfig::default(), 43).unwrap();
    let bits = |n: &TwoLayerNet<f32>| {
        n.params()
            .w1
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&a), bits(&b));
    assert_ne!(bits(&a), bits(&c));
    // The f32 network is the f64 one rounded.
    let wide = TwoLayerNet::<f64>::new(TwoLayerConfig::default(), 42).unwrap();
    assert_eq!(wide.params().cast::<f32>(), a.params());
    // 39200 draws of N(0, 0.01²): mean within 4 standard errors of 0, std within 2%.
    let w1 = &wide.params().w1;
    let n = w1.len() as f64;
    let mean = w1.sum() / n;
    let std = (w1.map(|v| (v - mean).powi(2)).sum() / n).sqrt();
    assert!(mean.abs() < 4.0 * 0.01 / n.sqrt(), "mean {mean}");
    assert!((std - 0.01).abs() < 0.0002, "std {std}");
    assert!(
        wide.params()
            .b1
            .iter()
            .chain(wide.params().b2.iter())
            .all(|&v| v == 0.0)
    );
}

/// A 2-2-2 ReLU network whose prediction is the larger input: W1 = W2 = identity.
fn larger_input_net<T: Float>() -> TwoLayerNet<T> {
    let config = TwoLayerConfig {
        input_size: 2,
        hidden_size: 2,
        output_size: 2,
        activation: Activation::Relu,
        weight_init_std: 0.0,
    };
    let eye = Matrix::identity(2, 2);
    let params = nn_core::TwoLayerParams {
        w1: eye.clone(),
        b1: Matrix::zeros(2, 1),
        w2: eye,
        b2: Matrix::zeros(2, 1),
    };
    TwoLayerNet::from_params(config, params).unwrap()
}

#[test]
fn accuracy_of_a_hand_built_network() {
    let mut net = larger_input_net::<f32>();
    let x = Matrix::from_column_slice(2, 5, &[1.0, 0.0, 0.0, 1.0, 3.0, 2.0, 0.5, 0.9, 0.0, 4.0]);
    // Predictions: 0, 1, 0, 1, 1.
    let labels = [0, 1, 1, 1, 0];
    assert_eq!(net.predict(&x).as_slice(), x.as_slice());
    assert_eq!(net.accuracy(&x, &labels), 0.6);
    assert_eq!(count_matches(net.predict(&x), &labels), 3);
    // A chunk of another size reuses the buffers.
    let first = x.columns(0, 2).into_owned();
    assert_eq!(count_matches(net.predict(&first), &labels[..2]), 2);
    assert_eq!(net.accuracy(&Matrix::zeros(2, 0), &[]), 0.0);
    // Snapshots on two threads, each with its own chunk.
    let (left, right) = (x.columns(0, 3).into_owned(), x.columns(3, 2).into_owned());
    let counts = std::thread::scope(|s| {
        let (mut a, mut b) = (net.snapshot(), net.snapshot());
        let a = s.spawn(move || count_matches(a.predict(&left), &labels[..3]));
        let b = s.spawn(move || count_matches(b.predict(&right), &labels[3..]));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(counts, (2, 1));
}

#[test]
fn chunked_counts_agree_with_accuracy_on_random_nets() {
    for activation in [Activation::Sigmoid, Activation::Relu] {
        let config = TwoLayerConfig {
            weight_init_std: 1.0,
            ..mnist_config(activation)
        };
        let mut net = TwoLayerNet::<f32>::new(config, 9).unwrap();
        let (x, labels) = random_batch(250, 10);
        let x = x.map(|v| v as f32);
        let whole = net.accuracy(&x, &labels);
        let mut copy = net.snapshot();
        let chunked: usize = (0..250)
            .step_by(100)
            .map(|start| {
                let n = 100.min(250 - start);
                let chunk = x.columns(start, n).into_owned();
                nn_core::kernels::serial(|| {
                    count_matches(copy.predict(&chunk), &labels[start..start + n])
                })
            })
            .sum();
        assert_eq!(chunked as f64 / 250.0, whole);
        assert!(
            chunked > 0 && chunked < 250,
            "a random net is neither always right nor always wrong"
        );
    }
}

#[test]
fn parameters_are_visited_in_the_fixed_order_and_sgd_lowers_the_loss() {
    let mut net = TwoLayerNet::<f32>::new(TwoLayerConfig::default(), 5).unwrap();
    let (x, labels) = random_batch(10, 6);
    let x = x.map(|v| v as f32);
    let mut seen = Vec::new();
    net.visit_params(&mut |p| seen.push((p.name.to_string(), p.value.shape(), p.grad.shape())));
    let seen: Vec<_> = seen.iter().map(|(n, v, g)| (n.as_str(), *v, *g)).collect();
    assert_eq!(
        seen,
        [
            ("W1", (784, 50), (784, 50)),
            ("b1", (50, 1), (50, 1)),
            ("W2", (50, 10), (50, 10)),
            ("b2", (10, 1), (10, 1))
        ]
    );
    let mut loss = net.gradient(&x, Targets::Labels(&labels));
    for _ in 0..5 {
        net.visit_params(&mut |p| *p.value -= &*p.grad * 0.1);
        let next = net.gradient(&x, Targets::Labels(&labels));
        assert!(
            next < loss,
            "a small step against the gradient lowers the loss: {next} ≥ {loss}"
        );
        loss = next;
    }
}

#[test]
fn f32_gradients_follow_f64_and_batch_size_changes_are_handled() {
    let wide = TwoLayerNet::<f64>::new(mnist_config(Activation::Relu), 11).unwrap();
    let mut narrow = wide.cast::<f32>();
    let mut wide = narrow.cast::<f64>(); // the same values in both precisions
    let (x, labels) = random_batch(7, 12);
    let xs = x.map(|v| v as f32);
    // A different batch size first, to exercise the buffer resizing.
    narrow.gradient(
        &xs.columns(0, 3).into_owned(),
        Targets::Labels(&labels[..3]),
    );
    narrow.gradient(&xs, Targets::Labels(&labels));
    wide.gradient(&x, Targets::Labels(&labels));
    for (name, diff) in narrow
        .gradients()
        .cast::<f64>()
        .max_abs_diff(&wide.gradients())
    {
        assert!(diff < 1e-5, "{name}: {diff:e}");
    }
}

#[test]
fn invalid_configs_are_rejected_with_the_field_named() {
    let zero = TwoLayerConfig {
        hidden_size: 0,
        ..TwoLayerConfig::default()
    };
    let err = TwoLayerNet::<f32>::new(zero, 0).unwrap_err();
    assert!(err.to_string().contains("hidden_size"), "{err}");
    let bad_std = TwoLayerConfig {
        weight_init_std: f64::NAN,
        ..TwoLayerConfig::default()
    };
    assert!(
        TwoLayerNet::<f32>::new(bad_std, 0)
            .unwrap_err()
            .to_string()
            .contains("weight_init_std")
    );
    assert_eq!("ReLU".parse::<Activation>().unwrap(), Activation::Relu);
    assert!(
        "tanh"
            .parse::<Activation>()
            .unwrap_err()
            .to_string()
            .contains("\"tanh\"")
    );
    assert_eq!(Activation::Sigmoid.to_string(), "sigmoid");
}

/// The performance issue's requirement: the large products run on two threads, yet the same seed
/// gives the same bits on one thread and on two, after several SGD steps of the MNIST-sized
/// network, and `count_correct` agrees too.
#[test]
fn training_is_bit_identical_on_one_and_two_threads() {
    let (x64, labels) = random_batch(100, 5);
    let x = x64.map(|v| v as f32);
    for activation in [Activation::Sigmoid, Activation::Relu] {
        let train = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut net = TwoLayerNet::<f32>::new(mnist_config(activation), 3).unwrap();
                let mut losses = Vec::new();
                for _ in 0..5 {
                    losses.push(net.gradient(&x, Targets::Labels(&labels)));
                    net.visit_params(&mut |p| p.value.zip_apply(p.grad, |w, g| *w -= 0.5 * g));
                }
                let correct = count_matches(net.predict(&x), &labels);
                (net.params(), net.gradients(), losses, correct)
            })
        };
        let one = train(1);
        let two = train(2);
        assert_eq!(one.0, two.0, "{activation}: parameters");
        assert_eq!(one.1, two.1, "{activation}: gradients");
        assert_eq!(one.2, two.2, "{activation}: losses");
        assert_eq!(one.3, two.3, "{activation}: count_correct");
        // Training did something: the loss fell from about ln 10.
        assert!((f64::from(one.2[0]) - 10f64.ln()).abs() < 0.05);
        assert!(one.2[4] < one.2[0]);
    }
}
