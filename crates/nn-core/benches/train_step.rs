//! The hot paths of training: one gradient + SGD step at batch 100 (784-50-10, f32), an accuracy
//! pass over 60000 images in chunks, the matrix products alone, and an f64 gradient check.
//!
//! `*_1thread` and `*_2threads` groups run inside a rayon pool of that size (`install`), where
//! `rayon::join` stays on the pool's own deques; the plain `train_step_batch100` group runs on
//! the bench's main thread, outside any pool, as a caller that never calls `install` would.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nn_core::kernels::{Op, gemm::gemm};
use nn_core::{
    Activation, Matrix, Model, Targets, Trainable, TwoLayerConfig, TwoLayerNet, count_matches,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::hint::black_box;

/// `n` random images (pixels in [0, 1)) and labels.
fn batch(n: usize, seed: u64) -> (Matrix<f32>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Matrix::from_fn(784, n, |_, _| rng.random::<f32>());
    let labels = (0..n).map(|_| rng.random_range(0..10u8)).collect();
    (x, labels)
}

fn config(activation: Activation) -> TwoLayerConfig {
    TwoLayerConfig {
        activation,
        ..TwoLayerConfig::default()
    }
}

/// A pool of `threads` threads, with the kernels' keeper on, as `nn-cli` runs them.
fn pool(threads: usize) -> rayon::ThreadPool {
    nn_core::kernels::keep_warm(true);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

fn train_step(c: &mut Criterion) {
    let (x, labels) = batch(100, 1);
    for (name, threads) in [
        ("train_step_batch100", None),
        ("train_step_batch100_1thread", Some(1)),
        ("train_step_batch100_2threads", Some(2)),
    ] {
        let mut group = c.benchmark_group(name);
        for activation in [Activation::Sigmoid, Activation::Relu] {
            let mut net = TwoLayerNet::<f32>::new(config(activation), 0).unwrap();
            let mut step = || {
                let loss = net.gradient(black_box(&x), Targets::Labels(&labels));
                net.visit_params(&mut |p| p.value.zip_apply(p.grad, |w, g| *w -= 0.1 * g));
                loss
            };
            group.bench_function(BenchmarkId::from_parameter(activation), |b| match threads {
                None => b.iter(&mut step),
                Some(n) => pool(n).install(|| b.iter(&mut step)),
            });
        }
        group.finish();
    }
}

fn accuracy_60000(c: &mut Criterion) {
    // 60 chunks of 1000 columns: the work of one pass over the training set, in a tenth of the memory.
    let (x, labels) = batch(1000, 2);
    let mut group = c.benchmark_group("accuracy_60000");
    group.sample_size(20);
    for activation in [Activation::Sigmoid, Activation::Relu] {
        let mut net = TwoLayerNet::<f32>::new(config(activation), 0).unwrap();
        group.bench_function(BenchmarkId::from_parameter(activation), |b| {
            b.iter(|| {
                (0..60)
                    .map(|_| count_matches(net.predict(black_box(&x)), &labels))
                    .sum::<usize>()
            })
        });
    }
    group.finish();

    // As nn-train evaluates: 30 chunks of 2000, spread over the pool's threads, each thread with
    // its own copy of the network, its products on that thread.
    let (x, labels) = batch(2000, 2);
    for threads in [1, 2] {
        let mut group = c.benchmark_group(format!("accuracy_60000_{threads}threads"));
        group.sample_size(20);
        for activation in [Activation::Sigmoid, Activation::Relu] {
            let net = TwoLayerNet::<f32>::new(config(activation), 0).unwrap();
            group.bench_function(BenchmarkId::from_parameter(activation), |b| {
                pool(threads).install(|| {
                    b.iter(|| {
                        (0..30)
                            .into_par_iter()
                            .map_init(
                                || net.snapshot(),
                                |copy, _| {
                                    nn_core::kernels::serial(|| {
                                        count_matches(copy.predict(black_box(&x)), &labels)
                                    })
                                },
                            )
                            .sum::<usize>()
                    })
                })
            });
        }
        group.finish();
    }
}

/// The products of training and evaluation, and the 2048³ "GEMM peak", in GFLOP/s (criterion's
/// elements per second, one element per floating-point operation).
fn gemm_f32(c: &mut Criterion) {
    let m = |rows, cols| Matrix::<f32>::from_fn(rows, cols, |i, j| ((i * 7 + j * 3) % 11) as f32);
    // (name, op(A) transposed?, A, B transposed?, B): m×n×k as in the name.
    let shapes = [
        ("W1T_x_50x100x784", Op::T, m(784, 50), Op::N, m(784, 100)),
        ("x_dzT_784x50x100", Op::N, m(784, 100), Op::T, m(50, 100)),
        (
            "eval_W1T_x_50x2000x784",
            Op::T,
            m(784, 50),
            Op::N,
            m(784, 2000),
        ),
        ("square_2048", Op::N, m(2048, 2048), Op::N, m(2048, 2048)),
    ];
    for threads in [1, 2] {
        let mut group = c.benchmark_group(format!("gemm_f32_{threads}threads"));
        group.sample_size(10);
        for (name, op_a, a, op_b, b) in &shapes {
            let rows = if *op_a == Op::N { a.nrows() } else { a.ncols() };
            let (k, cols) = if *op_b == Op::N {
                b.shape()
            } else {
                (b.ncols(), b.nrows())
            };
            let mut out = Matrix::zeros(rows, cols);
            group.throughput(Throughput::Elements((2 * rows * cols * k) as u64));
            group.bench_function(*name, |bench| {
                pool(threads).install(|| {
                    bench.iter(|| gemm(1.0, a, *op_a, black_box(b), *op_b, 0.0, &mut out))
                })
            });
        }
        group.finish();
    }
}

fn gradient_check_f64(c: &mut Criterion) {
    // The full 784-50-10 check takes about ten seconds per run; a 784-5-10 network checks the same
    // code paths in a benchmarkable time.
    let small = TwoLayerConfig {
        hidden_size: 5,
        ..TwoLayerConfig::default()
    };
    let mut net = TwoLayerNet::<f64>::new(small, 0).unwrap();
    let (x, labels) = batch(3, 3);
    let x = x.map(f64::from);
    let mut group = c.benchmark_group("gradient_check_f64");
    group.sample_size(10);
    group.bench_function("784-5-10_batch3", |b| {
        b.iter(|| {
            net.gradient(&x, Targets::Labels(&labels));
            let numerical = net.naive_numerical_gradient(&x, Targets::Labels(&labels));
            net.gradients().mean_abs_diff(&numerical)
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    train_step,
    accuracy_60000,
    gemm_f32,
    gradient_check_f64
);
criterion_main!(benches);
