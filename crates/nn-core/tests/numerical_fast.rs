//! `FastNumericalGradient` against the naive numerical gradient (the whole loss re-run for every
//! entry, `TwoLayerNet::naive_numerical_gradient`) and against backprop, on small random networks and
//! on 784-50-10 networks with MNIST-like sparse images, for both activations.

use nn_core::kernels::numerical::{FastNumericalGradient, Hidden};
use nn_core::{
    Activation, Float, Matrix, Targets, TwoLayerConfig, TwoLayerGradients, TwoLayerNet,
    TwoLayerParams,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// A network with `N(0, std²)` weights and `N(0, bias_std²)` biases (the constructor's biases
/// are zero, which would leave part of the arithmetic untested).
fn random_net(config: TwoLayerConfig, std: f64, bias_std: f64, seed: u64) -> TwoLayerNet<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut gaussian = |rows, cols, std: f64| {
        Matrix::from_fn(rows, cols, |_, _| {
            std * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut rng)
        })
    };
    let (i, h, o) = (config.input_size, config.hidden_size, config.output_size);
    let params = TwoLayerParams {
        w1: gaussian(i, h, std),
        b1: gaussian(h, 1, bias_std),
        w2: gaussian(h, o, std),
        b2: gaussian(o, 1, bias_std),
    };
    TwoLayerNet::from_params(config, params).unwrap()
}

/// `n` images of `inputs` pixels, each pixel non-zero with probability `density` (MNIST: 0.19)
/// with a value `k/255`, `k` in `1..=255`; from 2 samples on, the last one is entirely black.
/// Random labels.
fn sparse_batch(
    inputs: usize,
    n: usize,
    density: f64,
    classes: u8,
    seed: u64,
) -> (Matrix<f64>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Matrix::from_fn(inputs, n, |_, col| {
        if (n == 1 || col + 1 < n) && rng.random::<f64>() < density {
            f64::from(rng.random_range(1..=255u8)) / 255.0
        } else {
            0.0
        }
    });
    let labels = (0..n).map(|_| rng.random_range(0..classes)).collect();
    (x, labels)
}

/// The fast gradient of `net` (in `T`) and the loss it returns.
fn fast<T: Float>(
    fast: &mut FastNumericalGradient,
    net: &TwoLayerNet<T>,
    x: &Matrix<T>,
    labels: &[u8],
) -> (TwoLayerGradients<T>, f64) {
    let p = net.params();
    let mut g = p.clone();
    let loss = fast.gradient(
        [&p.w1, &p.b1, &p.w2, &p.b2],
        match net.config().activation {
            Activation::Sigmoid => Hidden::Sigmoid,
            Activation::Relu => Hidden::Relu,
        },
        x,
        labels,
        [&mut g.w1, &mut g.b1, &mut g.w2, &mut g.b2],
    );
    (g, loss)
}

fn max_diff(a: &TwoLayerGradients<f64>, b: &TwoLayerGradients<f64>) -> f64 {
    a.max_abs_diff(b)
        .iter()
        .map(|&(_, d)| d)
        .fold(0.0, f64::max)
}

/// Fast against naive to 1e-9 and against backprop to `backprop_tol` (max over the entries),
/// and the loss against `TwoLayerNet::loss`. Returns the two largest differences.
fn check(
    net: &mut TwoLayerNet<f64>,
    x: &Matrix<f64>,
    labels: &[u8],
    backprop_tol: f64,
) -> (f64, f64) {
    let t = Targets::Labels(labels);
    let (got, loss) = fast(&mut FastNumericalGradient::new(), net, x, labels);
    let naive = net.naive_numerical_gradient(x, t);
    net.gradient(x, t);
    let backprop = net.gradients();
    let label = format!("{} batch {}", net.config(), x.ncols());
    assert!(
        (loss - net.loss(x, t)).abs() < 1e-12,
        "{label}: loss {loss}"
    );
    for (name, d) in got.max_abs_diff(&naive) {
        assert!(d <= 1e-9, "{label} {name}: max |fast − naive| = {d:e}");
    }
    for (name, d) in got.max_abs_diff(&backprop) {
        assert!(
            d <= backprop_tol,
            "{label} {name}: max |fast − backprop| = {d:e}"
        );
    }
    // Not vacuous: the gradients are far above the tolerances. (Those of W1 vanish on black
    // images; with ReLU a tiny batch may turn every hidden unit off, leaving only b2's.)
    let black = x.iter().all(|&v| v == 0.0);
    let relu = net.config().activation == Activation::Relu;
    for (name, g) in backprop.named() {
        let may_vanish = relu || black && name == "W1";
        if name == "b2" || !may_vanish {
            assert!(g.abs().max() > 1e-4, "{label} {name} is suspiciously small");
        }
    }
    (max_diff(&got, &naive), max_diff(&got, &backprop))
}

#[test]
fn equals_the_naive_gradient_on_small_random_networks() {
    let shapes = [
        (1, 1, 2, 1),
        (3, 2, 2, 4),
        (7, 5, 4, 6),
        (20, 8, 10, 13),
        (33, 17, 3, 21),
    ];
    for (seed, &(inputs, hidden, classes, batch)) in shapes.iter().enumerate() {
        for activation in [Activation::Sigmoid, Activation::Relu] {
            for density in [0.3, 1.0] {
                let config = TwoLayerConfig {
                    input_size: inputs,
                    hidden_size: hidden,
                    output_size: classes,
                    activation,
                    weight_init_std: 0.0,
                };
                let seed = seed as u64;
                let mut net = random_net(config, 0.8, 0.5, seed);
                let (x, labels) = sparse_batch(inputs, batch, density, classes as u8, seed + 100);
                let (naive, backprop) = check(&mut net, &x, &labels, 1e-6);
                eprintln!(
                    "{} batch {batch} density {density}: fast − naive {naive:.1e}, \
                     fast − backprop {backprop:.1e}",
                    net.config()
                );
            }
        }
    }
}

/// Inputs up to 30 and a wide spread of `W2`: a step of `h·x` moves some hidden output by `s`,
/// and some score by `s` times the spread of its `W2` row, beyond the `2⁻⁸` below which the
/// kernel takes its short exponential: this exercises the general one. (`W1` stays small, so that
/// the loss, and the naive method's rounding error with it, stays moderate.)
#[test]
fn equals_the_naive_gradient_with_large_inputs_and_weights() {
    for activation in [Activation::Sigmoid, Activation::Relu] {
        let config = TwoLayerConfig {
            input_size: 12,
            hidden_size: 6,
            output_size: 5,
            activation,
            weight_init_std: 0.0,
        };
        let wide = random_net(config.clone(), 6.0, 1.0, 21);
        let p = wide.params();
        let w1 = p.w1.clone() / 300.0;
        let mut net = TwoLayerNet::from_params(config, TwoLayerParams { w1, ..p }).unwrap();
        let (x, labels) = sparse_batch(12, 9, 0.6, 5, 22);
        let x = x * 30.0;
        // The largest exponent bound of the kernel, |s|·(max W2[j, ·] − min W2[j, ·]).
        let p = net.params();
        let act = |u: f64| match activation {
            Activation::Sigmoid => nn_core::functions::sigmoid(u),
            Activation::Relu => nn_core::functions::relu(u),
        };
        let mut bound: f64 = 0.0;
        for j in 0..6 {
            let spread = p.w2.row(j).max() - p.w2.row(j).min();
            for n in 0..9 {
                let a = (0..12).map(|i| p.w1[(i, j)] * x[(i, n)]).sum::<f64>() + p.b1[j];
                for i in 0..12 {
                    let s = act(a + nn_core::gradient::H * x[(i, n)]) - act(a);
                    bound = bound.max(s.abs() * spread);
                }
            }
        }
        assert!(bound > 1.0 / 256.0, "{activation}: bound {bound}");
        // Only the naive method is the reference here: steps of h·x = 3e-3 straddle ReLU's kink
        // often, and the central difference's own error grows as (h·x)² (1.6e-5 for sigmoid).
        let (naive, backprop) = check(&mut net, &x, &labels, f64::INFINITY);
        eprintln!(
            "{activation}, bound {bound:.1e}: fast − naive {naive:.1e}, \
             fast − backprop {backprop:.1e}"
        );
    }
}

/// 784-50-10 with weights as after some training (std 0.1, biases 0.1) and MNIST-like images.
fn mnist_shaped(activation: Activation) {
    let config = TwoLayerConfig {
        activation,
        ..TwoLayerConfig::default()
    };
    let mut net = random_net(config, 0.1, 0.1, 5);
    let (x, labels) = sparse_batch(784, 8, 0.19, 10, 6);
    let (naive, backprop) = check(&mut net, &x, &labels, 1e-6);
    eprintln!("{activation}: max |fast − naive| {naive:.1e}, max |fast − backprop| {backprop:.1e}");
}

#[test]
fn equals_the_naive_gradient_on_a_mnist_shaped_sigmoid_network() {
    mnist_shaped(Activation::Sigmoid);
}

#[test]
fn equals_the_naive_gradient_on_a_mnist_shaped_relu_network() {
    mnist_shaped(Activation::Relu);
}

/// A batch of 100 at the book's initial weights (too slow for the naive method in a test), against
/// backprop: equal to 1e-6 everywhere for sigmoid. For ReLU a few hidden pre-activations lie
/// within `h·x` of the kink, where a central difference sees both slopes and backprop one: every
/// entry that differs by more than 1e-6 must be explained by such a sample.
#[test]
fn matches_backprop_on_a_batch_of_100_at_the_books_initial_weights() {
    for activation in [Activation::Sigmoid, Activation::Relu] {
        let config = TwoLayerConfig {
            activation,
            ..TwoLayerConfig::default()
        };
        let mut net = TwoLayerNet::<f64>::new(config, 42).unwrap();
        let (x, labels) = sparse_batch(784, 100, 0.19, 10, 7);
        let (got, _) = fast(&mut FastNumericalGradient::new(), &net, &x, &labels);
        net.gradient(&x, Targets::Labels(&labels));
        let backprop = net.gradients();
        let p = net.params();
        let mut a1 = p.w1.transpose() * &x;
        for mut column in a1.column_iter_mut() {
            column += &p.b1;
        }
        let h = nn_core::gradient::H * (1.0 + 1e-9);
        let mut kinks = 0;
        for (name, g, b) in [("W2", &got.w2, &backprop.w2), ("b2", &got.b2, &backprop.b2)] {
            let d = (g - b).abs().max();
            assert!(
                d < 1e-6,
                "{activation} {name}: max |fast − backprop| = {d:e}"
            );
        }
        for j in 0..50 {
            for i in 0..=784 {
                let (g, b) = if i < 784 {
                    (got.w1[(i, j)], backprop.w1[(i, j)])
                } else {
                    (got.b1[j], backprop.b1[j])
                };
                if (g - b).abs() < 1e-6 {
                    continue;
                }
                let straddles = (0..100).any(|n| {
                    let step = if i < 784 { h * x[(i, n)].abs() } else { h };
                    step > 0.0 && a1[(j, n)].abs() <= step
                });
                assert!(
                    activation == Activation::Relu && straddles,
                    "{activation} entry ({i}, {j}) of [W1; b1]: fast {g:e}, backprop {b:e}"
                );
                kinks += 1;
            }
        }
        eprintln!(
            "{activation}: max |fast − backprop| = {:e}; {kinks} entries differ by more than \
             1e-6, each across a kink",
            max_diff(&got, &backprop)
        );
    }
}

/// Black images with zero biases put every hidden unit of ReLU exactly on its kink: `b1[j] ± h`
/// gives `relu(+h) = h` and `relu(−h) = 0`, a one-sided difference that backprop (whose step
/// function says 0 at 0) does not see. The fast gradient must see what the naive one sees.
#[test]
fn relu_at_its_kink_gives_the_naive_one_sided_difference() {
    let config = TwoLayerConfig {
        input_size: 6,
        hidden_size: 4,
        output_size: 3,
        activation: Activation::Relu,
        weight_init_std: 0.0,
    };
    let mut net = random_net(config, 0.8, 0.0, 9);
    let p = net.params();
    net = TwoLayerNet::from_params(
        net.config().clone(),
        TwoLayerParams {
            b1: Matrix::zeros(4, 1),
            ..p
        },
    )
    .unwrap();
    let x = Matrix::zeros(6, 3);
    let labels = [0, 0, 1]; // not one of each class: their gradients would cancel out
    let t = Targets::Labels(&labels);
    let (got, _) = fast(&mut FastNumericalGradient::new(), &net, &x, &labels);
    let naive = net.naive_numerical_gradient(&x, t);
    assert!(
        max_diff(&got, &naive) <= 1e-9,
        "{:?}",
        got.max_abs_diff(&naive)
    );
    net.gradient(&x, t);
    assert!(net.gradients().b1.iter().all(|&g| g == 0.0));
    assert!(got.b1.abs().max() > 1e-3, "the kink is crossed: {}", got.b1);
}

#[test]
fn same_bits_on_one_and_two_threads_in_f32_and_f64() {
    let mut net = random_net(TwoLayerConfig::default(), 0.1, 0.1, 11);
    let (x, labels) = sparse_batch(784, 100, 0.19, 10, 12);
    let (net32, x32) = (net.cast::<f32>(), x.map(|v| v as f32));
    let on = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut scratch = FastNumericalGradient::new();
            let wide = fast(&mut scratch, &net, &x, &labels);
            let narrow = fast(&mut scratch, &net32, &x32, &labels);
            (wide, narrow)
        })
    };
    let bits64 = |g: &TwoLayerGradients<f64>| g.named().map(|(_, m)| m.map(f64::to_bits));
    let bits32 = |g: &TwoLayerGradients<f32>| g.named().map(|(_, m)| m.map(f32::to_bits));
    let ((one64, loss1), (one32, _)) = on(1);
    let ((two64, loss2), (two32, _)) = on(2);
    assert_eq!(bits64(&one64), bits64(&two64));
    assert_eq!(bits32(&one32), bits32(&two32));
    assert_eq!(loss1.to_bits(), loss2.to_bits());
    // f32 parameters are widened exactly: their gradient is the f64 network's, rounded.
    let wide32 = fast(
        &mut FastNumericalGradient::new(),
        &net32.cast::<f64>(),
        &x32.map(f64::from),
        &labels,
    )
    .0;
    assert_eq!(bits32(&one32), bits32(&wide32.cast::<f32>()));
    net.gradient(&x, Targets::Labels(&labels));
    assert!(max_diff(&one64, &net.gradients()) < 1e-6);
}

#[test]
fn reused_buffers_give_the_results_of_fresh_ones_when_shapes_change() {
    let small = TwoLayerConfig {
        input_size: 20,
        hidden_size: 6,
        output_size: 4,
        activation: Activation::Sigmoid,
        weight_init_std: 0.0,
    };
    let nets = [
        random_net(small.clone(), 0.5, 0.5, 1),
        random_net(
            TwoLayerConfig {
                hidden_size: 9,
                ..small.clone()
            },
            0.5,
            0.5,
            2,
        ),
        random_net(
            TwoLayerConfig {
                activation: Activation::Relu,
                ..small
            },
            0.5,
            0.5,
            3,
        ),
    ];
    let mut scratch = FastNumericalGradient::new();
    for (k, net) in nets.iter().chain(&nets).enumerate() {
        let (x, labels) = sparse_batch(20, 3 + k % 4, 0.4, 4, k as u64);
        let reused = fast(&mut scratch, net, &x, &labels);
        let fresh = fast(&mut FastNumericalGradient::new(), net, &x, &labels);
        assert_eq!(reused, fresh, "call {k}");
    }
}

#[test]
#[should_panic(expected = "label 4 of sample 1 is out of range")]
fn a_label_out_of_range_panics() {
    let net = random_net(
        TwoLayerConfig {
            input_size: 3,
            hidden_size: 2,
            output_size: 4,
            ..TwoLayerConfig::default()
        },
        0.5,
        0.5,
        1,
    );
    let (x, _) = sparse_batch(3, 2, 1.0, 4, 1);
    fast(&mut FastNumericalGradient::new(), &net, &x, &[0, 4]);
}

#[test]
#[should_panic(expected = "x must have 3 rows")]
fn a_batch_of_the_wrong_height_panics() {
    let net = random_net(
        TwoLayerConfig {
            input_size: 3,
            hidden_size: 2,
            output_size: 4,
            ..TwoLayerConfig::default()
        },
        0.5,
        0.5,
        1,
    );
    let (x, _) = sparse_batch(4, 2, 1.0, 4, 1);
    fast(&mut FastNumericalGradient::new(), &net, &x, &[0, 1]);
}
