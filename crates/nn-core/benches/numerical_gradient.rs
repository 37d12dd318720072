//! One iteration of `train --gradient numerical`: the fast numerical gradient
//! (`nn_kernels::numerical::FastNumericalGradient`, through `Model::numerical_gradient`) of the book's 784-50-10 network on a batch of 100 MNIST-like
//! images (19 % non-zero pixels, as MNIST), from `f32` parameters as the trainer holds them, on
//! rayon pools of one and two threads.
//!
//! The naive method (`TwoLayerNet::numerical_gradient`, two whole forward passes per entry) takes
//! seconds per iteration: `cargo run --release -p nn-core --example numerical_gradient_timing`
//! times it beside the fast one.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use nn_core::{Activation, Matrix, Model, Targets, TwoLayerConfig, TwoLayerNet};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

/// `n` images with MNIST's share of non-zero pixels (19 %), values `k/255`, and labels.
fn sparse_batch(n: usize, seed: u64) -> (Matrix<f32>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Matrix::from_fn(784, n, |_, _| {
        if rng.random::<f64>() < 0.19 {
            f32::from(rng.random_range(1..=255u8)) / 255.0
        } else {
            0.0
        }
    });
    let labels = (0..n).map(|_| rng.random_range(0..10u8)).collect();
    (x, labels)
}

fn numerical_gradient(c: &mut Criterion) {
    let (x, labels) = sparse_batch(100, 1);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut group = c.benchmark_group(format!("numerical_gradient_batch100_{threads}threads"));
        group.sample_size(20);
        for activation in [Activation::Sigmoid, Activation::Relu] {
            let config = TwoLayerConfig {
                activation,
                ..TwoLayerConfig::default()
            };
            let mut net = TwoLayerNet::<f32>::new(config, 42).unwrap();
            group.bench_function(BenchmarkId::from_parameter(activation), |b| {
                pool.install(|| {
                    b.iter(|| net.numerical_gradient(black_box(&x), Targets::Labels(&labels)))
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, numerical_gradient);
criterion_main!(benches);
