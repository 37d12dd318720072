//! `normalize_pixels` (runtime-dispatched SIMD) against the plain scalar loop it replaces, on a
//! batch of 100 MNIST images and on an evaluation chunk of 1000.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nn_kernels::elementwise::normalize_pixels;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

/// The loop of the training gather before `normalize_pixels`: the same arithmetic, compiled for
/// the baseline target only.
fn scalar_loop(pixels: &[u8], out: &mut [f32]) {
    for (o, &p) in out.iter_mut().zip(pixels) {
        *o = f32::from(p) / 255.0;
    }
}

fn pixels(c: &mut Criterion) {
    let mut group = c.benchmark_group("normalize_pixels");
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for images in [100, 1000] {
        let n = 784 * images;
        let px: Vec<u8> = (0..n).map(|_| rng.random()).collect();
        let mut out = vec![0.0_f32; n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("scalar_loop", images), &px, |b, px| {
            b.iter(|| scalar_loop(black_box(px), black_box(&mut out)))
        });
        group.bench_with_input(BenchmarkId::new("dispatched", images), &px, |b, px| {
            b.iter(|| normalize_pixels(black_box(px), black_box(&mut out)))
        });
    }
    group.finish();
}

criterion_group!(benches, pixels);
criterion_main!(benches);
