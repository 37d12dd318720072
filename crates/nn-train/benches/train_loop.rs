//! The training loop at MNIST's proportions: 784 inputs, batch 100, and as many evaluated samples
//! per iteration as the book's run (70000 samples every 600 iterations, here 7000 every 60).

use criterion::{Criterion, criterion_group, criterion_main};
use nn_core::{Activation, TwoLayerConfig, TwoLayerNet};
use nn_train::{Dataset, Evaluator, Length, Silent, TrainConfig, train};

/// `len` pseudo-random 28×28 images with labels `i % 10`.
struct Synthetic {
    pixels: Vec<u8>,
    len: usize,
}

impl Synthetic {
    fn new(len: usize, seed: u64) -> Self {
        let mut state = seed;
        let pixels = (0..len * 784)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 56) as u8
            })
            .collect();
        Self { pixels, len }
    }
}

impl Dataset for Synthetic {
    fn len(&self) -> usize {
        self.len
    }
    fn input_size(&self) -> usize {
        784
    }
    fn num_classes(&self) -> usize {
        10
    }
    fn pixels(&self, i: usize) -> &[u8] {
        &self.pixels[i * 784..(i + 1) * 784]
    }
    fn label(&self, i: usize) -> u8 {
        (i % 10) as u8
    }
}

fn two_layer(activation: Activation) -> TwoLayerNet<f32> {
    let config = TwoLayerConfig {
        activation,
        ..TwoLayerConfig::default()
    };
    TwoLayerNet::new(config, 42).unwrap()
}

fn bench(c: &mut Criterion) {
    let (train_data, test_data) = (Synthetic::new(6000, 1), Synthetic::new(1000, 2));
    // Inside a pool, as nn-cli calls it, so that evaluations run beside the loop.
    let pool = rayon::ThreadPoolBuilder::new().build().unwrap();
    let config = TrainConfig {
        length: Length::Iters(120),
        ..TrainConfig::default()
    }
    .check()
    .unwrap();
    for activation in [Activation::Sigmoid, Activation::Relu] {
        c.bench_function(&format!("train 120 iterations, {activation}"), |b| {
            b.iter(|| {
                pool.install(|| {
                    train(
                        &config,
                        two_layer(activation),
                        &train_data,
                        &test_data,
                        &mut Silent,
                    )
                })
                .unwrap()
            })
        });
    }

    let net = two_layer(Activation::Sigmoid);
    let mut evaluator = Evaluator::new(rayon::current_num_threads());
    c.bench_function("accuracy over 6000 samples", |b| {
        b.iter(|| evaluator.accuracy(&net, &train_data))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
