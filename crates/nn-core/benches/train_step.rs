//! The hot paths of training: one gradient + SGD step at batch 100 (784-50-10, f32), an accuracy
//! pass over 60000 images in chunks, and an f64 gradient check.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use nn_core::{Activation, Matrix, NetConfig, Parameters, PredictScratch, Targets, TwoLayerNet};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

/// `n` random images (pixels in [0, 1)) and labels.
fn batch(n: usize, seed: u64) -> (Matrix<f32>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Matrix::from_fn(784, n, |_, _| rng.random::<f32>());
    let labels = (0..n).map(|_| rng.random_range(0..10u8)).collect();
    (x, labels)
}

fn config(activation: Activation) -> NetConfig {
    NetConfig {
        activation,
        ..NetConfig::default()
    }
}

fn train_step(c: &mut Criterion) {
    let (x, labels) = batch(100, 1);
    let mut group = c.benchmark_group("train_step_batch100");
    for activation in [Activation::Sigmoid, Activation::Relu] {
        let mut net = TwoLayerNet::<f32>::new(config(activation), 0).unwrap();
        group.bench_function(BenchmarkId::from_parameter(activation), |b| {
            b.iter(|| {
                let loss = net.gradient(black_box(&x), Targets::Labels(&labels));
                net.visit_params(&mut |p| p.value.zip_apply(p.grad, |w, g| *w -= 0.1 * g));
                loss
            })
        });
    }
    group.finish();
}

fn accuracy_60000(c: &mut Criterion) {
    // 60 chunks of 1000 columns: the work of one pass over the training set, in a tenth of the memory.
    let (x, labels) = batch(1000, 2);
    let mut group = c.benchmark_group("count_correct_60000");
    group.sample_size(20);
    for activation in [Activation::Sigmoid, Activation::Relu] {
        let net = TwoLayerNet::<f32>::new(config(activation), 0).unwrap();
        let mut scratch = PredictScratch::new();
        group.bench_function(BenchmarkId::from_parameter(activation), |b| {
            b.iter(|| {
                (0..60)
                    .map(|_| net.count_correct(black_box(&x), &labels, &mut scratch))
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

fn gradient_check_f64(c: &mut Criterion) {
    // The full 784-50-10 check takes about ten seconds per run; a 784-5-10 network checks the same
    // code paths in a benchmarkable time.
    let small = NetConfig {
        hidden_size: 5,
        ..NetConfig::default()
    };
    let mut net = TwoLayerNet::<f64>::new(small, 0).unwrap();
    let (x, labels) = batch(3, 3);
    let x = x.map(f64::from);
    let mut group = c.benchmark_group("gradient_check_f64");
    group.sample_size(10);
    group.bench_function("784-5-10_batch3", |b| {
        b.iter(|| {
            net.gradient(&x, Targets::Labels(&labels));
            let numerical = net.numerical_gradient(&x, Targets::Labels(&labels));
            net.gradients().mean_abs_diff(&numerical)
        })
    });
    group.finish();
}

criterion_group!(benches, train_step, accuracy_60000, gradient_check_f64);
criterion_main!(benches);
