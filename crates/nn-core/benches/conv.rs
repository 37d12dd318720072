//! Convolutional layers at the book's shapes (batch 100, f32): the convolutions of `SimpleConvNet`
//! (ch07) and `DeepConvNet` (ch08), forward and backward, their pooling, and a whole gradient
//! step of each network. Every group runs inside a rayon pool of 1 and of 2 threads.
//!
//! `cargo bench -p nn-core --bench conv`, or one group: `cargo bench -p nn-core --bench conv --
//! conv_forward`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nn_core::im2col::Window;
use nn_core::layers::{Convolution, Layer, Pooling};
use nn_core::{Matrix, Model, NetSpec, Sequential, Shape, Targets};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

const BATCH: usize = 100;

fn random(rows: usize, cols: usize, seed: u64) -> Matrix<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Matrix::from_fn(rows, cols, |_, _| rng.random::<f32>() - 0.25)
}

/// A pool of `threads` threads, with the kernels' keeper on, as `nn-cli` runs them.
fn pool(threads: usize) -> rayon::ThreadPool {
    nn_core::kernels::keep_warm(true);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// The convolutions of the book's networks: name, input, filters, window.
fn convolutions() -> Vec<(&'static str, Shape, usize, Window)> {
    vec![
        (
            "simple1_1x28x28_30x5x5",
            Shape::new(1, 28, 28),
            30,
            Window::square(5, 1, 0),
        ),
        (
            "deep1_1x28x28_16x3x3",
            Shape::new(1, 28, 28),
            16,
            Window::square(3, 1, 1),
        ),
        (
            "deep2_16x28x28_16x3x3",
            Shape::new(16, 28, 28),
            16,
            Window::square(3, 1, 1),
        ),
        (
            "deep3_16x14x14_32x3x3",
            Shape::new(16, 14, 14),
            32,
            Window::square(3, 1, 1),
        ),
        (
            "deep4_32x14x14_32x3x3p2",
            Shape::new(32, 14, 14),
            32,
            Window::square(3, 1, 2),
        ),
        (
            "deep5_32x8x8_64x3x3",
            Shape::new(32, 8, 8),
            64,
            Window::square(3, 1, 1),
        ),
        (
            "deep6_64x8x8_64x3x3",
            Shape::new(64, 8, 8),
            64,
            Window::square(3, 1, 1),
        ),
    ]
}

fn conv_layers(c: &mut Criterion) {
    for threads in [1, 2] {
        let pool = pool(threads);
        for (pass, name) in [
            (0, "conv_forward"),
            (1, "conv_backward"),
            (2, "conv_backward_input"),
        ] {
            let mut group = c.benchmark_group(format!("{name}_{threads}thread"));
            for (label, input, filters, window) in convolutions() {
                if pass == 2 && input.channels != 1 {
                    continue; // only first layers skip dx
                }
                let fan_in = input.channels * window.height * window.width;
                let w = random(filters, fan_in, 1);
                let b = random(filters, 1, 2);
                let mut conv = Convolution::new(w, b, input, window).unwrap();
                let x = random(input.len().unwrap(), BATCH, 3);
                let out_len = conv.output_shape().len().unwrap();
                let dout = random(out_len, BATCH, 4);
                let muladds = (out_len * fan_in * BATCH) as u64;
                let products = if pass == 1 { 2 } else { 1 };
                group.throughput(Throughput::Elements(2 * muladds * products));
                conv.forward(&x);
                group.bench_function(BenchmarkId::from_parameter(label), |bench| {
                    pool.install(|| match pass {
                        0 => bench.iter(|| conv.forward(black_box(&x)).len()),
                        1 => bench.iter(|| {
                            conv.backward(black_box(&x), black_box(&dout), true)
                                .map(|dx| dx.len())
                        }),
                        _ => bench.iter(|| {
                            conv.backward(black_box(&x), black_box(&dout), false)
                                .map(|dx| dx.len())
                        }),
                    })
                });
            }
            group.finish();
        }
    }
}

fn pooling(c: &mut Criterion) {
    let shapes = [
        ("simple_30x24x24", Shape::new(30, 24, 24)),
        ("deep_16x28x28", Shape::new(16, 28, 28)),
    ];
    for threads in [1, 2] {
        let pool = pool(threads);
        let mut group = c.benchmark_group(format!("pooling_{threads}thread"));
        for (label, input) in shapes {
            let mut layer = Pooling::new(input, Window::square(2, 2, 0)).unwrap();
            let x = random(input.len().unwrap(), BATCH, 5);
            let dout = random(layer.output_shape().len().unwrap(), BATCH, 6);
            group.throughput(Throughput::Bytes((input.len().unwrap() * BATCH * 4) as u64));
            group.bench_function(BenchmarkId::new("forward", label), |bench| {
                pool.install(|| bench.iter(|| layer.forward(black_box(&x)).len()))
            });
            group.bench_function(BenchmarkId::new("backward", label), |bench| {
                pool.install(|| {
                    bench.iter(|| {
                        layer
                            .backward(black_box(&x), black_box(&dout), true)
                            .map(|dx| dx.len())
                    })
                })
            });
        }
        group.finish();
    }
}

fn train_steps(c: &mut Criterion) {
    let mnist = Shape::new(1, 28, 28);
    let x = random(784, BATCH, 7).map(|v| v + 0.25);
    let labels: Vec<u8> = (0..BATCH).map(|i| (i % 10) as u8).collect();
    for threads in [1, 2] {
        let pool = pool(threads);
        let mut group = c.benchmark_group(format!("cnn_gradient_{threads}thread"));
        group.sample_size(20);
        for (label, spec) in [
            ("simple_conv_net", NetSpec::simple_conv_net(mnist, 10)),
            ("deep_conv_net", NetSpec::deep_conv_net(mnist, 10)),
        ] {
            let mut net = Sequential::<f32>::new(spec, 1).unwrap();
            group.bench_function(BenchmarkId::from_parameter(label), |bench| {
                pool.install(|| {
                    bench.iter(|| net.gradient(black_box(&x), Targets::Labels(&labels)))
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, conv_layers, pooling, train_steps);
criterion_main!(benches);
